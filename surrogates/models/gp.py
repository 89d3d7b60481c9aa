"""One GP per objective: exact (ARD Matern-5/2) below ``max_exact`` observations, variational above.

Exact model: ``SingleTaskGP(X, z)`` with ``k(x, x') = s^2 Matern_5/2(|x - x'| / l)`` (one
lengthscale per input, log-normal prior scaled with the dimension ``d``), inputs
normalised to the unit cube (optionally Kumaraswamy-warped), outcomes standardised; a
known measurement variance ``Yvar`` (``n x 1``) enters as fixed noise. Hyperparameters
maximise the marginal likelihood (``fit_gpytorch_mll``); a failure is retried from
fresh initial values and then logged and raised as :class:`ModelFitError`.

Approximate model (``n > max_exact``): ``SingleTaskVariationalGP`` with
``n_inducing`` inducing points, trained on the ELBO, so cost stays ``O(n m^2)``.
"""

from __future__ import annotations

import logging
import math
import warnings

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.approximate_gp import SingleTaskVariationalGP
from botorch.models.transforms import Normalize, Standardize
from botorch.models.transforms.input import ChainedInputTransform, Warp
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood, VariationalELBO
from gpytorch.priors import GammaPrior, LogNormalPrior

from loop.errors import CrystaloopError

__all__ = ["ModelFitError", "fit_objective_gp"]

log = logging.getLogger(__name__)


class ModelFitError(CrystaloopError):
    """A surrogate could not be fitted, even after retries."""


def _input_transform(d: int, warp: bool, bounds: torch.Tensor | None) -> Normalize | ChainedInputTransform:
    norm = Normalize(d=d, bounds=bounds)
    if not warp:
        return norm
    prior = LogNormalPrior(0.0, 0.75**0.5)
    kw = dict(d=d, indices=list(range(d)), concentration1_prior=prior, concentration0_prior=prior)
    w = Warp(**kw, bounds=torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64))
    return ChainedInputTransform(normalize=norm, warp=w)


def _priors(d: int, kind: str, fixed_noise: bool) -> dict:
    """Kernel (and likelihood) of the exact GP: ARD Matern-5/2, no outputscale, dim-scaled lengthscale prior.

    ``lognormal``: botorch's ``LogNormal(sqrt 2 + log(d) / 2, sqrt 3)`` lengthscales (Hvarfner et al.
    2024) and its ``LogNormal(-4, 1)`` noise. ``gamma``: BayBE 0.15's preset, the same modes
    (``exp(sqrt 2 - 3) sqrt d`` and ``exp(-5)``) with light tails:
    ``Gamma(3, 2 / (exp(sqrt 2 - 3) sqrt d))`` lengthscales and ``Gamma(2, exp(5))`` noise.
    """
    if kind == "lognormal":
        return {"covar_module": get_covar_module_with_dim_scaled_prior(ard_num_dims=d, use_rbf_kernel=False)}
    if kind != "gamma":
        raise ValueError(f"unknown GP prior {kind!r}; valid: lognormal, gamma")
    ls_prior = GammaPrior(3.0, 2.0 / (math.exp(math.sqrt(2) - 3) * math.sqrt(d)))
    out: dict = {
        "covar_module": MaternKernel(
            ard_num_dims=d, lengthscale_prior=ls_prior,
            lengthscale_constraint=GreaterThan(2.5e-2, transform=None, initial_value=ls_prior.mode),
        )
    }
    if not fixed_noise:
        noise_prior = GammaPrior(2.0, math.exp(5.0))
        out["likelihood"] = GaussianLikelihood(
            noise_prior=noise_prior, noise_constraint=GreaterThan(1e-4, transform=None, initial_value=noise_prior.mode)
        )
    return out


def fit_objective_gp(
    X: torch.Tensor,
    z: torch.Tensor,
    *,
    Yvar: torch.Tensor | None = None,
    bounds: torch.Tensor | None = None,
    input_warp: bool = False,
    max_exact: int = 2000,
    n_inducing: int = 256,
    retries: int = 2,
    init_state: dict | None = None,
    optimize: bool = True,
    fast: bool = True,
    prior: str = "lognormal",
    name: str = "objective",
) -> SingleTaskGP | SingleTaskVariationalGP:
    """Fit one GP to ``X`` (``n x d``) and outcomes ``z`` (``n x 1``); ``bounds`` is ``2 x d``.

    ``init_state``: a previous model's ``state_dict`` to warm-start the optimiser (used
    only when the shapes match). ``optimize=False`` keeps ``init_state``'s hyperparameters
    and only conditions on the data (an exact GP's posterior is then ``O(n^3)`` once, no
    optimiser); it needs ``init_state`` and falls back to a fit when the shapes differ.
    ``prior``: the hyperparameter priors of the exact GP, ``lognormal`` or ``gamma`` (see :func:`_priors`).
    """
    n, d = X.shape
    last_exc: Exception | None = None
    for attempt in range(retries + 1):
        try:
            if n > max_exact:
                model = _variational(X, z, bounds=bounds, n_inducing=min(n_inducing, n))
                mll = VariationalELBO(model.likelihood, model.model, num_data=n)
            else:
                model = SingleTaskGP(
                    X,
                    z,
                    train_Yvar=Yvar,
                    **_priors(d, prior, Yvar is not None),
                    input_transform=_input_transform(d, input_warp, bounds),
                    outcome_transform=Standardize(m=1),
                )
                mll = ExactMarginalLogLikelihood(model.likelihood, model)
                loaded = False
                if init_state is not None and attempt == 0:
                    try:
                        state = _compatible(init_state, model.state_dict())
                        model.load_state_dict(state, strict=False)
                        loaded = len(state) == len(_compatible(model.state_dict(), model.state_dict()))
                    except RuntimeError:
                        pass
            model = model.to(X)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if n > max_exact:
                    _fit_elbo(model, mll, X, z)
                elif not (loaded and not optimize):
                    if not (fast and _try_fast(model, name)):
                        fit_gpytorch_mll(mll)
            model.eval()
            return model
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then reported
            last_exc = exc
            log.warning("GP fit for %s failed (attempt %d of %d): %s", name, attempt + 1, retries + 1, exc)
            torch.manual_seed(1234 + attempt)
    raise ModelFitError(f"GP for {name!r} could not be fitted on {n} observations: {last_exc}") from last_exc


def _try_fast(model: SingleTaskGP, name: str) -> bool:
    from surrogates.models.fastfit import fast_fit_exact_gp

    try:
        fast_fit_exact_gp(model)
        return True
    except Exception as exc:  # noqa: BLE001 - the botorch optimiser is the fallback
        log.info("fast GP fit for %s failed (%s); using fit_gpytorch_mll", name, exc)
        return False


def _compatible(state: dict, target: dict) -> dict:
    """Hyperparameters of ``state`` whose names and shapes match ``target`` (training data and the
    data-dependent normalisation/standardisation buffers excluded; learned input warps kept)."""
    return {
        k: v
        for k, v in state.items()
        if k in target and target[k].shape == v.shape and "train" not in k and "outcome_transform" not in k
        and not any(t in k for t in ("_offset", "_coefficient", "_min_range", "_bounds"))
    }


def _fit_elbo(model: SingleTaskVariationalGP, mll: VariationalELBO, X: torch.Tensor, z: torch.Tensor, steps: int = 150) -> None:
    """Adam on the negative ELBO for a fixed number of full-batch steps (bounded cost)."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    Xt = model.transform_inputs(X) if hasattr(model, "transform_inputs") else X
    zt = model.outcome_transform(z)[0].squeeze(-1) if getattr(model, "outcome_transform", None) is not None else z.squeeze(-1)
    for _ in range(steps):
        opt.zero_grad()
        loss = -mll(model.model(Xt), zt)
        loss.backward()
        opt.step()


def _variational(X: torch.Tensor, z: torch.Tensor, *, bounds: torch.Tensor | None, n_inducing: int) -> SingleTaskVariationalGP:
    d = X.shape[-1]
    return SingleTaskVariationalGP(
        X,
        z,
        inducing_points=n_inducing,
        covar_module=get_covar_module_with_dim_scaled_prior(ard_num_dims=d, use_rbf_kernel=False),
        input_transform=Normalize(d=d, bounds=bounds),
        outcome_transform=Standardize(m=1),
    )
