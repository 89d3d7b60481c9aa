from __future__ import annotations

import numpy as np
import pytest
import torch

from surrogates.models import FeasibilityModel, OutcomeWarp, SynthesizabilityModel, fit_objective_gp, smact_prior
from surrogates.models.synthesizability import brier_score, reliability_curve


@pytest.mark.parametrize("kind", ["none", "power", "copula"])
def test_warp_monotone_and_invertible(kind):
    y = np.exp(np.random.default_rng(0).normal(size=40) * 2)
    w = OutcomeWarp(kind).fit(y)
    grid = np.linspace(y.min() - 1, y.max() + 1, 200)
    z = w.forward(grid)
    assert np.all(np.diff(z) > 0)
    assert np.allclose(w.inverse(z), grid, rtol=1e-6, atol=1e-6)
    assert np.all(w.slope(y) > 0)


def test_gp_fits_and_predicts_known_noise():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(30, 2, generator=g, dtype=torch.float64)
    y = torch.sin(6 * X[:, :1]) + X[:, 1:]
    m = fit_objective_gp(X, y, Yvar=torch.full_like(y, 1e-4))
    with torch.no_grad():
        post = m.posterior(X)
    assert torch.allclose(post.mean, y, atol=0.05)


def test_gp_variational_above_max_exact():
    from botorch.models.approximate_gp import SingleTaskVariationalGP

    X = torch.rand(60, 2, dtype=torch.float64)
    m = fit_objective_gp(X, X.sum(-1, keepdim=True), max_exact=50, n_inducing=16)
    assert isinstance(m, SingleTaskVariationalGP)


def test_feasibility_learns_failures():
    X = np.linspace(0, 1, 40)[:, None]
    ok = X[:, 0] < 0.5
    p = FeasibilityModel().fit(X, ok).predict(np.array([[0.1], [0.9]]))
    assert p[0] > 0.7 > 0.3 > p[1]
    assert FeasibilityModel().fit(X, np.ones(40, bool)).predict(X).min() == 1.0


def test_smact_prior_orders_chemistry():
    assert smact_prior("SrTiO3") > smact_prior("NaCl2")
    assert smact_prior("SrTiO3", e_hull=0.3) < smact_prior("SrTiO3", e_hull=0.0)
    # below the known hull (a decomposition energy) the prior keeps rising, continuously, and stays below 1
    below = [smact_prior("SrTiO3", e_hull=e) for e in (-1e-9, -0.05, -0.2)]
    assert below[0] == pytest.approx(smact_prior("SrTiO3", e_hull=0.0)) and below[0] < below[1] < below[2] < 1.0


def test_synth_model_updates_prior_and_calibration():
    X = np.linspace(0, 1, 60)[:, None]
    formed = (X[:, 0] > 0.5).astype(float)
    prior = np.full(60, 0.5)
    m = SynthesizabilityModel().fit(X, prior, formed)
    p = m.predict(X, prior)
    assert p[-1] > 0.8 and p[0] < 0.2
    assert brier_score(p, formed) < brier_score(prior, formed)
    assert sum(c for *_, c in reliability_curve(p, formed)) == 60


def _rounding_level_column(n: int = 12) -> np.ndarray:
    """``n x 2``: a varying column and one whose values are equal up to rounding (std ~1e-17, not 0)."""
    rng = np.random.default_rng(0)
    col = np.full(n, 0.1)
    col[::3] = np.nextafter(0.1, 1.0)
    assert 0 < col.std() < 1e-15
    return np.column_stack([rng.random(n), col])


def test_synth_model_ignores_a_column_constant_up_to_rounding():
    X = _rounding_level_column()
    m = SynthesizabilityModel().fit(X, np.full(len(X), 0.7), np.zeros(len(X)))
    inside = m.predict(X[:1], np.array([0.7]))
    # a candidate differing only in the column the data never varied in: no evidence either way
    outside = m.predict(np.array([[X[0, 0], 0.5]]), np.array([0.7]))
    assert 0.01 < inside[0] < 0.99
    assert outside[0] == pytest.approx(inside[0], rel=1e-6)


def test_feasibility_model_ignores_a_column_constant_up_to_rounding():
    X = _rounding_level_column()
    ok = X[:, 0] > 0.3
    assert (~ok).sum() >= 2
    m = FeasibilityModel().fit(X, ok)
    inside = m.predict(X[:1])
    outside = m.predict(np.array([[X[0, 0], 0.5]]))
    assert outside[0] == pytest.approx(inside[0], rel=1e-6)
