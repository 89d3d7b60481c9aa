"""The botorch ranker's weights besides its GP: the e_hull-informed p_synth prior, its update, constraints and ties."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from loop.interfaces import PluginContext
from loop.objectives import Constraint
from loop.records import Candidate, Measurement, Observation
from surrogates.models.prior_weights import PriorWeights


def _rocksalt(a: float, e_hull: float | None) -> Candidate:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    c = Candidate.from_structure(s)
    return c if e_hull is None else c.model_copy(update={"metadata": {**c.metadata, "e_hull": e_hull}})


def _X(cands: list[Candidate]) -> np.ndarray:
    return np.array([[c.structure.lattice.a] for c in cands])


def test_prior_falls_with_the_screens_e_hull_and_ties_are_kept_only_when_asked(tmp_path):
    prior = PriorWeights(PluginContext(work_dir=tmp_path, seed=0))
    cands = [_rocksalt(4.0 + 0.1 * i, e) for i, e in enumerate([0.30, 0.01, 0.15])]
    p = prior.synth_prior(cands)
    assert p[1] > p[2] > p[0]
    ok = np.ones(3, dtype=bool)
    lw = prior.fallback_log_weight(cands, _X(cands), ok)
    assert lw is not None and np.argmax(lw) == 1

    same = [_rocksalt(4.0 + 0.1 * i, None) for i in range(3)]  # one formula, no e_hull: equal weights
    assert prior.fallback_log_weight(same, _X(same), ok) is None
    tied = prior.fallback_log_weight(same, _X(same), ok, ties=True)
    assert tied is not None and np.ptp(tied) == 0 and np.all(tied <= 0)


def test_formed_outcomes_update_p_synth_and_a_constraint_excludes_the_rest(tmp_path):
    ctx = PluginContext(work_dir=tmp_path, seed=0, constraints=[Constraint(name="p_synth", op=">=", value=0.5)])
    prior = PriorWeights(ctx)
    cands = [_rocksalt(4.0 + 0.2 * i, 0.05) for i in range(6)]
    obs = [Observation(request_id=f"r{i}", candidate_id=c.id, values={"yield": Measurement(value=1.0 if i < 3 else 0.0)})
           for i, c in enumerate(cands)]
    X = _X(cands)
    before = prior.p_synth(cands, X)
    prior.fit(X, np.ones(6, dtype=bool), cands, obs)
    after = prior.p_synth(cands, X)
    assert np.all(after[:3] > before[:3]) and np.all(after[3:] < before[3:])
    lw = prior.log_weight(cands, X)
    assert np.all(np.isfinite(lw[:3])) and np.all(np.isneginf(lw[3:]))
