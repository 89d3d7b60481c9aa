"""The ranker's own e_hull estimate (short CHGNet relaxation) and its prior-ranked fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from loop.interfaces import PluginContext
from loop.objectives import Objective
from loop.records import Candidate
from surrogates.botorch_ranker import BotorchRanker
from surrogates.models.hull_estimate import HullEstimateConfig, HullEstimator
from tests.surrogates._mlip_data import rocksalt


def _layered() -> Structure:
    """NaCl with every Na next to Na and Cl next to Cl: far above the hull after a short relaxation."""
    return Structure(Lattice.tetragonal(3.0, 7.0), ["Na", "Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.0], [0, 0, 0.5], [0.5, 0.5, 0.5]])


def _cfg(tmp_path) -> HullEstimateConfig:
    return HullEstimateConfig(steps=10, prototype_kinds=["bcc", "dimer", "rocksalt"], cache_dir=str(tmp_path / "cache"))


@pytest.mark.slow
def test_short_relaxation_ranks_rocksalt_first_and_is_cached(tmp_path):
    ctx = PluginContext(work_dir=tmp_path, objectives=[Objective(name="e_hull", goal="minimize")])
    good, bad = Candidate.from_structure(rocksalt(5.5)), Candidate.from_structure(_layered())
    no_structure = Candidate.from_params({"a": 1.0})
    est = HullEstimator(_cfg(tmp_path), ctx)
    e = est.estimate([good, bad, no_structure])
    assert e[good.id] < 0.05 < e[bad.id] and math.isnan(e[no_structure.id])
    assert len(list((tmp_path / "cache" / "relax").rglob("*.json"))) == 2
    again = HullEstimator(_cfg(tmp_path), ctx)  # a resumed campaign reads the disk cache
    assert again.estimate([good, bad]) == pytest.approx({good.id: e[good.id], bad.id: e[bad.id]})

    # before any observation the ranker ranks by its prior: charge-neutral chemistry times exp(-e_hull / 0.1)
    ranker = BotorchRanker(BotorchRanker.Config(e_hull_estimate=_cfg(tmp_path)), ctx)
    ranker.fit([], [])
    assert ranker.fallback is not None
    picks = ranker.select([bad, good], 1, [])
    assert [p.candidate_id for p in picks] == [good.id]
    assert np.isfinite(ranker.e_hull_estimates([good, bad])).all()
    acq = ranker.acquisition([bad, good], [])
    assert acq[1] > acq[0]


def test_fallback_without_chemistry_is_the_seeded_random_batch(tmp_path):
    ctx = PluginContext(work_dir=tmp_path, seed=3, objectives=[Objective(name="y", goal="maximize")])
    pool = [Candidate.from_params({"a": float(i)}) for i in range(10)]
    first = BotorchRanker(BotorchRanker.Config(), ctx).select(pool, 4, [])
    second = BotorchRanker(BotorchRanker.Config(), ctx).select(pool, 4, [])
    assert [s.candidate_id for s in first] == [s.candidate_id for s in second]
    assert len({s.candidate_id for s in first}) == 4


def test_a_potential_that_cannot_load_leaves_the_chemistry_prior(tmp_path, caplog):
    ctx = PluginContext(work_dir=tmp_path, objectives=[Objective(name="e_hull", goal="minimize")])
    cfg = HullEstimateConfig(potential="mace", potential_options={"model": str(tmp_path / "missing.model")}, cache_dir=str(tmp_path))
    cands = [Candidate.from_structure(rocksalt(5.5)), Candidate.from_structure(_layered())]
    est = HullEstimator(cfg, ctx)
    assert all(math.isnan(v) for v in est.estimate(cands).values())
    assert "could not be loaded" in caplog.text
    ranker = BotorchRanker(BotorchRanker.Config(e_hull_estimate=cfg), ctx)
    ranker.fit([], [])
    assert len(ranker.select(cands, 2, [])) == 2  # the same SMACT prior for both: the seeded random batch


def test_prior_scores_keep_one_scale_across_calls_even_when_a_call_is_all_ties(tmp_path):
    """The GFlowNet scores its exact target in parts: a part whose candidates all sit at the prior's floor
    (far above the hull) must not come back as random scores that outrank the other parts' log weights."""
    ctx = PluginContext(work_dir=tmp_path, objectives=[Objective(name="yield", goal="maximize")])
    ranker = BotorchRanker(BotorchRanker.Config(), ctx)
    ranker.fit([], [])

    def with_e_hull(lattice: float, e_hull: float) -> Candidate:
        c = Candidate.from_structure(rocksalt(lattice))
        return c.model_copy(update={"metadata": {"e_hull": e_hull}})

    far = [with_e_hull(5.0 + 0.1 * i, 2.0) for i in range(4)]  # p_synth at its floor for every one: ties
    near = [with_e_hull(6.0, 0.02), with_e_hull(6.2, 0.3)]
    tied, spread = ranker.acquisition(far, []), ranker.acquisition(near, [])
    assert np.ptp(tied) == 0 and (tied <= 0).all()  # the tie comes back as the tied log weight, not random
    assert spread.min() > tied.max()  # one scale: near the hull beats far above it, across calls
