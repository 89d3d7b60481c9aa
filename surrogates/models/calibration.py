"""Leave-one-out calibration of an exact GP's predictive spread (used by goal-directed ranking)."""

from __future__ import annotations

import torch
from botorch.models import SingleTaskGP

__all__ = ["loo_calibrate", "loo_scale"]


def loo_scale(model: SingleTaskGP) -> float:
    """``sqrt(mean z_i^2)`` of the standardised leave-one-out residuals of an exact GP (1 when well calibrated).

    With ``K`` the training covariance (noise included) and ``a = K^-1 (y - m)``, the LOO residual
    of point ``i`` is ``a_i / [K^-1]_ii`` and its predictive variance ``1 / [K^-1]_ii``
    (Rasmussen & Williams 2006, eq. 5.12), so ``z_i = a_i / sqrt([K^-1]_ii)``.
    """
    X = model.train_inputs[0]
    y = model.train_targets
    with torch.no_grad():
        K = model.covar_module(X).to_dense() + torch.diag_embed(model.likelihood.noise.expand(y.shape))
        K = K + 1e-8 * torch.eye(len(y), dtype=K.dtype, device=K.device)
        K_inv = torch.linalg.inv(K)
        z = (K_inv @ (y - model.mean_module(X))) / K_inv.diagonal().clamp_min(1e-12).sqrt()
    return float(z.square().mean().sqrt())


def loo_calibrate(model: object) -> float:
    """Scale an exact GP's kernel and noise by ``c^2 = max(1, loo_scale^2)``; returns ``c``.

    The posterior mean ``k^T K^-1 y`` is unchanged and every posterior variance is multiplied
    by ``c^2``; other models (the approximate GP above ``max_exact``) are left alone (1.0).
    """
    from gpytorch.kernels import ScaleKernel
    from gpytorch.likelihoods import FixedNoiseGaussianLikelihood

    if not isinstance(model, SingleTaskGP) or len(model.train_targets) < 3:
        return 1.0
    c = max(1.0, loo_scale(model))
    if c == 1.0:
        return c
    scaled = ScaleKernel(model.covar_module).to(model.train_targets)
    scaled.outputscale = c * c
    scaled.raw_outputscale.requires_grad_(False)
    model.covar_module = scaled
    lik = model.likelihood
    if isinstance(lik, FixedNoiseGaussianLikelihood):
        lik.noise_covar.noise = lik.noise_covar.noise * c * c
    else:
        lik.noise = lik.noise.detach() * c * c
    model.prediction_strategy = None  # drop the cached posterior
    return c
