"""The e_hull ranker: lowest computed e_hull first, candidates without one last, ties seeded."""

from __future__ import annotations

from loop.interfaces import PluginContext
from loop.records import Candidate
from surrogates.hull_ranker import HullRanker


def _cand(i: int, e_hull: float | None) -> Candidate:
    meta = {} if e_hull is None else {"e_hull": e_hull}
    return Candidate.from_params({"x": float(i)}, metadata=meta)


def test_greedy_by_e_hull_with_missing_values_last(tmp_path):
    ranker = HullRanker(None, PluginContext(work_dir=tmp_path, seed=3))
    cands = [_cand(0, 0.20), _cand(1, None), _cand(2, -0.01), _cand(3, 0.05)]
    ranker.fit(cands, [])
    picks = ranker.select(cands, 4, [])
    assert [p.candidate_id for p in picks] == [cands[i].id for i in (2, 3, 0, 1)]
    assert "e_hull" in ranker.ranking_note().acquisition


def test_ties_are_broken_by_seed_and_id_not_by_order(tmp_path):
    cands = [_cand(i, 0.1) for i in range(6)]
    a = HullRanker(None, PluginContext(work_dir=tmp_path, seed=1)).select(cands, 3, [])
    b = HullRanker(None, PluginContext(work_dir=tmp_path, seed=1)).select(list(reversed(cands)), 3, [])
    assert [p.candidate_id for p in a] == [p.candidate_id for p in b]
