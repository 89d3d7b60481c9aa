from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.models import ModelListGP

from surrogates.acquisition import OutcomeSpec, build_acquisition, greedy_discrete
from surrogates.models.gp import fit_objective_gp


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = torch.tensor(rng.random((30, 3)))
    return X, -((X - 0.3) ** 2).sum(1, keepdim=True), -((X - 0.7) ** 2).sum(1, keepdim=True), torch.tensor(rng.random((60, 3)))


@pytest.mark.slow
@pytest.mark.parametrize("m", [2])  # lazy applies to incremental qLogNEHVI only (see batch.py)
def test_lazy_greedy_same_batch_as_full_rescoring(m):
    X, y1, y2, C = _data()
    models = [fit_objective_gp(X, y1), fit_objective_gp(X, y2)][:m]
    model = models[0] if m == 1 else ModelListGP(*models)
    specs = [OutcomeSpec(0, "a", "maximize"), OutcomeSpec(1, "b", "maximize")][:m]
    picks = {}
    for lazy in (False, True):
        acqf = build_acquisition(model, specs, X, mc_samples=32, seed=3)
        picks[lazy], scores = greedy_discrete(acqf, C, 4, lazy=lazy, chunk=16)
        assert len(set(picks[lazy])) == 4 and all(np.isfinite(scores))
    assert picks[True] == picks[False]


def test_multi_objective_skips_fused_kernel_compile():
    from botorch.acquisition.multi_objective import logei

    X, y1, y2, _ = _data(1)
    model = ModelListGP(fit_objective_gp(X, y1), fit_objective_gp(X, y2))
    build_acquisition(model, [OutcomeSpec(0, "a", "maximize"), OutcomeSpec(1, "b", "minimize")], X, mc_samples=16)
    assert logei._load_attempted  # decided without a JIT compile (or a pre-built kernel was importable)
