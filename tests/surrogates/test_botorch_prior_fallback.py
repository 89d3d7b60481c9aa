"""Before the yield can be modelled (every yield 0), the botorch ranker ranks by the computed e_hull prior, and says so."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from loop.interfaces import PluginContext
from loop.objectives import Objective
from loop.records import Candidate
from surrogates.botorch_ranker import BotorchRanker


def _rocksalt(a: float, e_hull: float) -> Candidate:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    c = Candidate.from_structure(s)
    return c.model_copy(update={"metadata": {**c.metadata, "e_hull": e_hull}})


def test_fallback_ranks_by_the_screens_e_hull_and_labels_it(tmp_path):
    ctx = PluginContext(work_dir=tmp_path, seed=0, objectives=[Objective(name="yield", goal="maximize")])
    ranker = BotorchRanker(BotorchRanker.Config(), ctx)
    cands = [_rocksalt(4.0 + 0.1 * i, e) for i, e in enumerate([0.30, 0.01, 0.15, 0.45])]
    ranker.fit([], [])
    picks = ranker.select(cands, 2, [])
    assert [p.candidate_id for p in picks] == [cands[1].id, cands[2].id]
    note = ranker.ranking_note()
    assert "computed e_hull for 4 of 4" in (note.fallback or "")
