from __future__ import annotations

import numpy as np
import pytest
import torch
from gpytorch.mlls import ExactMarginalLogLikelihood

from surrogates.models.fastfit import _neg_mll_np, fast_fit_exact_gp, neg_mll
from surrogates.models.gp import fit_objective_gp


def _mll(model) -> float:
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with torch.no_grad():
        return float(mll(model(*model.train_inputs), model.train_targets))


@pytest.mark.parametrize("fixed", [False, True])
def test_numpy_objective_and_gradient_match_torch_reference(fixed):
    rng = np.random.default_rng(0)
    X, y = rng.random((25, 3)), rng.normal(size=25)
    noise = np.full(25, 0.05) if fixed else None
    v = rng.normal(size=4 if fixed else 5) * 0.5
    t = torch.tensor(v, requires_grad=True)
    ref = neg_mll(t, torch.tensor(X), torch.tensor(y), None if noise is None else torch.tensor(noise))
    (g,) = torch.autograd.grad(ref, t)
    val, grad = _neg_mll_np(v, X, y, noise)
    assert val == pytest.approx(float(ref.detach()), rel=1e-10)
    np.testing.assert_allclose(grad, g.numpy(), atol=1e-9)


def test_fast_fit_reaches_botorch_optimum():
    rng = np.random.default_rng(1)
    X = torch.tensor(rng.random((40, 3)))
    z = (torch.sin(6 * X[:, :1]) + X[:, 1:2] ** 2 + 0.05 * torch.tensor(rng.normal(size=(40, 1)))).double()
    fast = fit_objective_gp(X, z, fast=True)
    slow = fit_objective_gp(X, z, fast=False)
    assert _mll(fast) >= _mll(slow) - 1e-3


def test_conditioning_without_refit_keeps_hyperparameters():
    rng = np.random.default_rng(2)
    X = torch.tensor(rng.random((30, 2)))
    z = X.sum(1, keepdim=True) + 0.01 * torch.tensor(rng.normal(size=(30, 1)))
    m1 = fit_objective_gp(X[:25], z[:25])
    state = m1.state_dict()
    m2 = fit_objective_gp(X, z, init_state=state, optimize=False)
    assert torch.allclose(m2.covar_module.lengthscale, m1.covar_module.lengthscale)
    m3 = fit_objective_gp(X, z, init_state=state, optimize=True)
    assert _mll(m3) >= _mll(m2) - 1e-9


@pytest.mark.parametrize("fixed", [False, True])
def test_warped_objective_and_gradient_match_torch_reference(fixed):
    from surrogates.models.fastfit import Prior, _default_priors, _neg_mll_np_warped, neg_mll_warped

    rng = np.random.default_rng(5)
    X, y = rng.random((25, 3)), rng.normal(size=25)
    noise = np.full(25, 0.05) if fixed else None
    v = np.concatenate([rng.normal(size=4 if fixed else 5) * 0.5, rng.normal(size=6) * 0.5])
    priors, warp_prior = _default_priors(3), Prior("lognormal", 0.0, 0.75**0.5)
    t = torch.tensor(v, requires_grad=True)
    ref = neg_mll_warped(t, torch.tensor(X), torch.tensor(y), None if noise is None else torch.tensor(noise), priors, warp_prior, 1e-7)
    (g,) = torch.autograd.grad(ref, t)
    val, grad = _neg_mll_np_warped(v, X, y, noise, priors, warp_prior, 1e-7)
    assert val == pytest.approx(float(ref.detach()), rel=1e-10)
    np.testing.assert_allclose(grad, g.numpy(), atol=1e-9)


def test_fast_warped_fit_reaches_botorch_optimum_and_learns_the_warp():
    from botorch.models.transforms.input import Warp

    rng = np.random.default_rng(6)
    X = torch.tensor(rng.random((60, 3)))
    z = (torch.sin(6 * X[:, :1] ** 3) + 0.02 * torch.tensor(rng.normal(size=(60, 1)))).double()  # steep near x0 = 1
    bounds = torch.stack([torch.zeros(3), torch.ones(3)]).double()
    fast = fit_objective_gp(X, z, input_warp=True, fast=True, bounds=bounds)
    slow = fit_objective_gp(X, z, input_warp=True, fast=False, bounds=bounds)
    plain = fit_objective_gp(X, z, input_warp=False, bounds=bounds)
    assert isinstance(fast.input_transform["warp"], Warp)
    assert _mll(fast) >= _mll(slow) - 1e-3
    assert _mll(fast) > _mll(plain)
    c1 = fast.input_transform["warp"].concentration1.detach()
    assert float(c1[0]) > 1.2  # stretches the steep end of x0 (identity: c1 = c0 = 1)


def test_fast_fit_handles_the_warped_model_itself():
    """The warped model takes the fast path (no silent fallback to fit_gpytorch_mll)."""
    from botorch.models import SingleTaskGP

    from surrogates.models.gp import _input_transform

    X = torch.rand(20, 2, dtype=torch.float64)
    model = SingleTaskGP(X, X.sum(1, keepdim=True) ** 2, input_transform=_input_transform(2, True, None))
    before = model.input_transform["warp"].concentration0.detach().clone()
    assert np.isfinite(fast_fit_exact_gp(model))
    assert not torch.equal(model.input_transform["warp"].concentration0.detach(), before)


@pytest.mark.parametrize("fixed", [False, True])
def test_gamma_priors_objective_and_gradient_match_torch_reference(fixed):
    from surrogates.models.fastfit import Prior

    rng = np.random.default_rng(3)
    X, y = rng.random((20, 4)), rng.normal(size=20)
    noise = np.full(20, 0.05) if fixed else None
    priors = (Prior("gamma", 3.0, 4.9), Prior("gamma", 2.0, 148.4))
    v = rng.normal(size=5 if fixed else 6) * 0.5
    t = torch.tensor(v, requires_grad=True)
    ref = neg_mll(t, torch.tensor(X), torch.tensor(y), None if noise is None else torch.tensor(noise), priors)
    (g,) = torch.autograd.grad(ref, t)
    val, grad = _neg_mll_np(v, X, y, noise, priors)
    assert val == pytest.approx(float(ref.detach()), rel=1e-10)
    np.testing.assert_allclose(grad, g.numpy(), atol=1e-9)


def test_fast_fit_with_gamma_priors_reaches_botorch_optimum():
    from gpytorch.priors import GammaPrior

    rng = np.random.default_rng(4)
    X = torch.tensor(rng.random((40, 3)))
    z = (torch.sin(6 * X[:, :1]) + X[:, 1:2] ** 2 + 0.05 * torch.tensor(rng.normal(size=(40, 1)))).double()
    fast = fit_objective_gp(X, z, fast=True, prior="gamma")
    slow = fit_objective_gp(X, z, fast=False, prior="gamma")
    assert isinstance(fast.covar_module.lengthscale_prior, GammaPrior)
    assert isinstance(fast.likelihood.noise_covar.noise_prior, GammaPrior)
    assert _mll(fast) >= _mll(slow) - 1e-3
