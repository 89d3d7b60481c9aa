from __future__ import annotations

from loop.interfaces import PluginContext
from loop.records import Candidate
from surrogates.passthrough import PassthroughScreen
from surrogates.random_ranker import RandomRanker


def test_random_ranker_is_seeded_and_excludes_pending(tmp_path):
    cands = [Candidate.from_params({"x": float(i)}) for i in range(50)]
    r = RandomRanker(None, PluginContext(work_dir=tmp_path, seed=3))
    r.fit([], [])
    a = r.select(cands, 5, pending=cands[:10])
    b = r.select(list(reversed(cands)), 5, pending=cands[:10])
    assert [s.candidate_id for s in a] == [s.candidate_id for s in b]  # order-independent
    assert not {s.candidate_id for s in a} & {c.id for c in cands[:10]}
    other = RandomRanker(None, PluginContext(work_dir=tmp_path, seed=4))
    other.fit([], [])
    assert [s.candidate_id for s in other.select(cands, 5, [])] != [s.candidate_id for s in a]


def test_passthrough_rejects_non_finite_params(tmp_path):
    good = Candidate.from_params({"x": 1.0})
    bad = Candidate(id="p-bad", params={"x": float("nan")})
    d = PassthroughScreen(None, PluginContext(work_dir=tmp_path)).screen([good, bad], [])
    assert d[0].kept and not d[1].kept and "non-finite" in d[1].reason
