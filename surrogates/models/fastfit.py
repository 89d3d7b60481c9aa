"""A lean marginal-likelihood fit for the exact GP of :func:`surrogates.models.gp.fit_objective_gp`.

``fit_gpytorch_mll`` spends ~8 ms of Python/gpytorch overhead per likelihood evaluation on
a 50-point GP, i.e. ~0.25 s per fit; a pool campaign fits hundreds of times. This module
maximises the *same* objective as ``ExactMarginalLogLikelihood`` of the model built there
(``SingleTaskGP``, ARD Matern-5/2 kernel without outputscale, constant mean, Gaussian noise
with the botorch priors), written directly in torch, then writes the optimum into the model:

    L(theta) = [log N(y | c 1, K_l + diag(s)) + sum_i log p_l(l_i) + log p_s(s)] / n

with ``y`` the standardised outcomes, ``X`` the normalised inputs (the model's own
transforms), ``K_l(x, x') = (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r)``,
``r = |(x - x') / l|``, ``l_i >= 0.025`` and ``s >= 1e-4`` (or the known noise ``s_j`` per
observation). The priors ``p_l`` and ``p_s`` are read off the model (:class:`Prior`): botorch's
``LogNormal(sqrt 2 + log(d) / 2, sqrt 3)`` and ``LogNormal(-4, 1)``, or Gamma priors (BayBE's
preset: ``Gamma(3, 2 / (exp(sqrt 2 - 3) sqrt d))`` and ``Gamma(2, exp(5))``), densities of the
value itself, as gpytorch adds them. ``theta = (log l, log s, c)`` is optimised by
L-BFGS-B with exact gradients (autograd) from the model's current values (warm start).

Models with learned input warping (``Normalize`` then botorch's Kumaraswamy ``Warp``) are fitted
the same way with ``theta`` extended by ``(log c1, log c0)`` per input, ``X`` replaced by
``w(X) = 1 - (1 - X^c1)^c0`` and the warp's concentration priors added
(:func:`neg_mll_warped`; numpy gradient by the chain rule through ``dL/dw``). Other input
transforms raise ``ValueError`` (the caller falls back to ``fit_gpytorch_mll``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood
from scipy.optimize import minimize

__all__ = ["Prior", "fast_fit_exact_gp", "neg_mll", "neg_mll_warped"]

_SQRT5 = math.sqrt(5.0)
_LS_MIN, _NOISE_MIN = 2.5e-2, 1e-4
_C_MIN, _C_MAX = 0.05, 20.0  # bounds of the learned warp's concentrations


@dataclass(frozen=True)
class Prior:
    """A prior density on a positive hyperparameter ``x``: ``lognormal(a=loc, b=scale)`` or
    ``gamma(a=concentration, b=rate)``; ``logpdf`` and its derivative in ``v = log x``."""

    kind: Literal["lognormal", "gamma"]
    a: float
    b: float

    @classmethod
    def of(cls, prior: object) -> Prior:
        """The :class:`Prior` of a gpytorch ``LogNormalPrior`` / ``GammaPrior`` (``ValueError`` otherwise)."""
        from gpytorch.priors import GammaPrior, LogNormalPrior

        if isinstance(prior, LogNormalPrior):
            return cls("lognormal", float(prior.loc.reshape(-1)[0]), float(prior.scale.reshape(-1)[0]))
        if isinstance(prior, GammaPrior):
            return cls("gamma", float(prior.concentration.reshape(-1)[0]), float(prior.rate.reshape(-1)[0]))
        raise ValueError(f"fast fit handles LogNormal and Gamma priors, not {type(prior).__name__}")

    def logpdf(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        """``(sum log p(exp v), d log p / d v)`` (numpy)."""
        if self.kind == "lognormal":
            lp = -0.5 * ((v - self.a) / self.b) ** 2 - math.log(self.b) - 0.5 * math.log(2 * math.pi) - v
            return float(lp.sum()), -(v - self.a) / self.b**2 - 1.0
        x = np.exp(v)
        lp = self.a * math.log(self.b) - math.lgamma(self.a) + (self.a - 1.0) * v - self.b * x
        return float(lp.sum()), (self.a - 1.0) - self.b * x

    def logpdf_torch(self, x: torch.Tensor) -> torch.Tensor:
        """``sum log p(x)`` (torch reference)."""
        if self.kind == "lognormal":
            return _lognormal_logpdf(x, self.a, self.b).sum()
        return (self.a * math.log(self.b) - math.lgamma(self.a) + (self.a - 1.0) * torch.log(x) - self.b * x).sum()


def _default_priors(d: int) -> tuple[Prior, Prior]:
    """botorch's dim-scaled lengthscale prior and its noise prior."""
    return Prior("lognormal", math.sqrt(2) + 0.5 * math.log(d), math.sqrt(3)), Prior("lognormal", -4.0, 1.0)


def _matern52(X: torch.Tensor, ls: torch.Tensor) -> torch.Tensor:
    Z = X / ls
    d2 = (Z.unsqueeze(-2) - Z.unsqueeze(-3)).pow(2).sum(-1)
    r = torch.sqrt(d2.clamp_min(1e-30)) * (d2 > 0)
    return (1 + _SQRT5 * r + (5.0 / 3.0) * d2) * torch.exp(-_SQRT5 * r)


def _lognormal_logpdf(x: torch.Tensor, loc: float, scale: float) -> torch.Tensor:
    lx = torch.log(x)
    return -0.5 * ((lx - loc) / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi) - lx


def neg_mll(
    theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, fixed_noise: torch.Tensor | None,
    priors: tuple[Prior, Prior] | None = None,
) -> torch.Tensor:
    """``-L(theta)`` (see module docstring); ``theta = (log l (d), [log s], c)``, ``X`` ``n x d``, ``y`` ``n``;
    ``priors``: (lengthscale, noise), botorch's by default."""
    n, d = X.shape
    p_l, p_s = priors or _default_priors(d)
    ls = torch.exp(theta[:d])
    if fixed_noise is None:
        noise = torch.exp(theta[d]).expand(n)
        c = theta[d + 1]
    else:
        noise, c = fixed_noise, theta[d]
    K = _matern52(X, ls) + torch.diag(noise)
    L = None
    for jitter in (0.0, 1e-8, 1e-6, 1e-4):
        L, info = torch.linalg.cholesky_ex(K + jitter * torch.eye(n, dtype=K.dtype) if jitter else K)
        if int(info) == 0:
            break
    else:
        raise torch.linalg.LinAlgError("kernel matrix is not positive definite")
    r = (y - c).unsqueeze(-1)
    a = torch.cholesky_solve(r, L)
    ll = -0.5 * (r * a).sum() - torch.log(torch.diagonal(L)).sum() - 0.5 * n * math.log(2 * math.pi)
    ll = ll + p_l.logpdf_torch(ls)
    if fixed_noise is None:
        ll = ll + p_s.logpdf_torch(noise[:1])
    return -ll / n


def _neg_mll_np(
    v: np.ndarray, X: np.ndarray, y: np.ndarray, fixed_noise: np.ndarray | None, priors: tuple[Prior, Prior] | None = None,
    grad_x: bool = False,
) -> tuple[float, np.ndarray] | tuple[float, np.ndarray, np.ndarray]:
    """``-L`` and its gradient in numpy (the hot path; :func:`neg_mll` is the torch reference).

    ``X``: ``n x d``. With ``K^-1 r = a`` and ``W = a a^T - K^-1``: ``dL/dtheta =
    tr(W dK/dtheta) / 2`` (+ prior terms), where for the Matern-5/2 kernel
    ``dK/dlog l_i = B * D2_i / l_i^2`` with ``B = 5/3 (1 + sqrt5 r) exp(-sqrt5 r)`` and
    ``D2_i = (x_i - x_i')^2``; ``sum(W B D2_i) = 2 x_i^2 . rowsum(W B) - 2 x_i^T (W B) x_i``
    (``O(n^2 d)`` time, ``O(n^2)`` memory).

    ``grad_x``: also return ``d(-L)/dX`` (``n x d``), from ``dL/dx_ik = -(x_ik rowsum(W B)_i -
    ((W B) X)_ik) / l_k^2`` (the chain rule of learned input warping).
    """
    from scipy.linalg import cho_factor, cho_solve

    n, d = X.shape
    p_l, p_s = priors or _default_priors(d)
    ls = np.exp(v[:d])
    Z = X / ls
    sq = (Z * Z).sum(1)
    S = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T), 0.0)  # r^2
    S[np.diag_indices(n)] = 0.0
    r = np.sqrt(np.maximum(S, 0.0))
    e = np.exp(-_SQRT5 * r)
    K = (1 + _SQRT5 * r + (5.0 / 3.0) * S) * e
    if fixed_noise is None:
        noise = np.exp(v[d])
        c = v[d + 1]
        K[np.diag_indices(n)] += noise
    else:
        c = v[d]
        K[np.diag_indices(n)] += fixed_noise
    for jitter in (0.0, 1e-8, 1e-6, 1e-4):
        try:
            cf = cho_factor(K + jitter * np.eye(n) if jitter else K, lower=True, check_finite=False)
            break
        except np.linalg.LinAlgError:
            continue
    else:
        return (float("inf"), np.zeros_like(v), np.zeros_like(X)) if grad_x else (float("inf"), np.zeros_like(v))
    res = y - c
    a = cho_solve(cf, res, check_finite=False)
    Kinv = cho_solve(cf, np.eye(n), check_finite=False)
    W = np.outer(a, a) - Kinv
    ll = -0.5 * res @ a - np.log(np.diag(cf[0])).sum() - 0.5 * n * math.log(2 * math.pi)
    lp, dlp = p_l.logpdf(v[:d])
    ll += lp
    g = np.zeros_like(v)
    base = (5.0 / 3.0) * (1 + _SQRT5 * r) * e * W
    rows, bX = base.sum(1), base @ X
    quad = 2.0 * (X * X).T @ rows - 2.0 * (bX * X).sum(0)  # sum(base * D2_i) per i
    g[:d] = 0.5 * quad / ls**2 + dlp
    if fixed_noise is None:
        lp, dlp = p_s.logpdf(v[d : d + 1])
        ll += lp
        g[d] = 0.5 * np.trace(W) * noise + dlp[0]
        g[d + 1] = a.sum()
    else:
        g[d] = a.sum()
    if grad_x:
        gx = -(X * rows[:, None] - bX) / ls**2
        return float(-ll / n), -g / n, -gx / n
    return float(-ll / n), -g / n


def fast_fit_exact_gp(model, maxiter: int = 200) -> float:  # noqa: ANN001 - a botorch SingleTaskGP
    """Maximise the marginal likelihood of ``model`` in place; returns the final ``-L``.

    Raises ``ValueError`` for model structures this fit does not mirror (other input transforms, other priors).
    """
    from botorch.models.transforms.input import ChainedInputTransform, Normalize, Warp

    tf = getattr(model, "input_transform", None)
    warp = None
    if isinstance(tf, ChainedInputTransform) and list(tf.keys()) == ["normalize", "warp"] and isinstance(tf["warp"], Warp):
        tf, warp = tf["normalize"], tf["warp"]
    if tf is not None and not isinstance(tf, Normalize):
        raise ValueError("fast fit handles Normalize (optionally followed by a Kumaraswamy Warp) input transforms only")
    model.train()
    X0 = model.train_inputs[0]
    with torch.no_grad():
        X = tf(X0) if tf is not None else X0
        y = model.train_targets.detach()
    fixed = isinstance(model.likelihood, FixedNoiseGaussianLikelihood)
    fixed_noise = model.likelihood.noise.detach().reshape(-1) if fixed else None
    d = X.shape[-1]
    ls0 = model.covar_module.lengthscale.detach().reshape(-1).clamp_min(_LS_MIN)
    parts = [torch.log(ls0)]
    if not fixed:
        parts.append(torch.log(model.likelihood.noise.detach().reshape(-1)[:1].clamp_min(_NOISE_MIN)))
    parts.append(model.mean_module.constant.detach().reshape(-1)[:1])
    x0 = torch.cat(parts).to(torch.float64).cpu().numpy()
    Xn = X.detach().to(torch.float64).cpu().numpy()
    yd = y.to(torch.float64).cpu().numpy()
    fn = None if fixed_noise is None else fixed_noise.to(torch.float64).cpu().numpy()

    priors = (Prior.of(model.covar_module.lengthscale_prior), Prior.of(model.likelihood.noise_covar.noise_prior) if not fixed else None)
    bounds = [(math.log(_LS_MIN), math.log(1e4))] * d + ([] if fixed else [(math.log(_NOISE_MIN), math.log(10.0))]) + [(None, None)]
    ng = len(x0)  # GP hyperparameters; the warp's log concentrations (c1 then c0) follow

    if warp is None:
        def f(v: np.ndarray) -> tuple[float, np.ndarray]:
            return _neg_mll_np(v, Xn, yd, fn, priors)  # type: ignore[arg-type, return-value]
    else:
        c = torch.cat([warp.concentration1.detach().reshape(-1), warp.concentration0.detach().reshape(-1)])
        x0 = np.concatenate([x0, np.log(c.clamp(_C_MIN, _C_MAX).to(torch.float64).cpu().numpy())])
        bounds += [(math.log(_C_MIN), math.log(_C_MAX))] * (2 * d)
        wp = getattr(warp, "concentration1_prior", None)
        warp_prior = Prior.of(wp) if wp is not None else None
        eps = float(warp._eps)

        def f(v: np.ndarray) -> tuple[float, np.ndarray]:
            return _neg_mll_np_warped(v, Xn, yd, fn, priors, warp_prior, eps)

        if not np.isfinite(f(x0)[0]):
            raise RuntimeError("fast warped GP fit: the starting point has no finite likelihood")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):  # tiny matrices: BLAS threads only contend (~80x slower under load)
        res = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter})
    if not np.isfinite(res.fun):
        raise RuntimeError(f"fast GP fit diverged: {res.message}")
    v = torch.as_tensor(res.x, dtype=X0.dtype, device=X0.device)
    with torch.no_grad():
        model.covar_module.lengthscale = torch.exp(v[:d]).reshape(model.covar_module.lengthscale.shape)
        if not fixed:
            model.likelihood.noise = torch.exp(v[d : d + 1]).reshape(model.likelihood.noise.shape)
        model.mean_module.constant = v[ng - 1 : ng].reshape(model.mean_module.constant.shape)
        if warp is not None:
            warp.concentration1.copy_(torch.exp(v[ng : ng + d]).reshape(warp.concentration1.shape))
            warp.concentration0.copy_(torch.exp(v[ng + d :]).reshape(warp.concentration0.shape))
    return float(res.fun)




def neg_mll_warped(
    theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, fixed_noise: torch.Tensor | None,
    priors: tuple[Prior, Prior | None], warp_prior: Prior | None, eps: float,
) -> torch.Tensor:
    """``-L`` of the GP on Kumaraswamy-warped inputs: ``theta = (theta_gp, log c1 (d), log c0 (d))``
    with ``theta_gp`` as in :func:`neg_mll`; ``X`` in the unit cube; ``w(x) = 1 - (1 - x^c1)^c0``
    (botorch's ``kumaraswamy_warp``); the concentrations' prior (``warp_prior``) is added like the others."""
    from botorch.models.transforms.input import kumaraswamy_warp

    d = X.shape[-1]
    c1, c0 = torch.exp(theta[-2 * d : -d]), torch.exp(theta[-d:])
    Xw = kumaraswamy_warp(X, c0=c0, c1=c1, eps=eps)
    val = neg_mll(theta[: -2 * d], Xw, y, fixed_noise, priors)  # type: ignore[arg-type]
    if warp_prior is not None:
        val = val - (warp_prior.logpdf_torch(c1) + warp_prior.logpdf_torch(c0)) / X.shape[0]
    return val


def _neg_mll_np_warped(
    v: np.ndarray, X: np.ndarray, y: np.ndarray, fixed_noise: np.ndarray | None,
    priors: tuple[Prior, Prior | None], warp_prior: Prior | None, eps: float,
) -> tuple[float, np.ndarray]:
    """:func:`neg_mll_warped` and its gradient in numpy: with ``x' = (1 - 2 eps) x + eps``,
    ``p = x'^c1``, ``w = 1 - (1 - p)^c0``: ``dw/dlog c0 = -(1 - p)^c0 log(1 - p) c0`` and
    ``dw/dlog c1 = c0 (1 - p)^(c0 - 1) p log(x') c1``, chained with ``dL/dw`` of :func:`_neg_mll_np`."""
    n, d = X.shape
    c1, c0 = np.exp(v[-2 * d : -d]), np.exp(v[-d:])
    xc = np.clip(X * (1 - 2 * eps) + eps, eps, 1.0 - eps)
    p = xc**c1
    q = 1.0 - p
    qc0 = q**c0
    Xw = 1.0 - qc0
    val, g_gp, gx = _neg_mll_np(v[: -2 * d], Xw, y, fixed_noise, priors, grad_x=True)  # type: ignore[arg-type, misc]
    if not np.isfinite(val):
        return val, np.zeros_like(v)
    dw_c0 = -qc0 * np.log(q) * c0
    dw_c1 = c0 * (qc0 / q) * p * np.log(xc) * c1
    g = np.concatenate([g_gp, (gx * dw_c1).sum(0), (gx * dw_c0).sum(0)])
    if warp_prior is not None:
        lp1, d1 = warp_prior.logpdf(v[-2 * d : -d])
        lp0, d0 = warp_prior.logpdf(v[-d:])
        val -= (lp1 + lp0) / n
        g[-2 * d : -d] -= d1 / n
        g[-d:] -= d0 / n
    return val, g
