"""Batched posteriors that compute the rows shared by every batch element once.

A discrete acquisition scores ``b`` candidates as a ``b x q x d`` batch in which most rows
are the same for every element: the pending points that MC acquisitions append
(``[x; X_pending]``), or the baseline that qLogNEHVI prepends (``[X_baseline; x]``). A GP
posterior of that batch recomputes the shared rows' cross-covariances with the training
data ``b`` times, and an inducing-point GP factorises its inducing covariance once per
batch element (gpytorch expands the inducing points to the batch shape): at 1,000
observations or 500 inducing points that is nearly all of a selection's time.

:func:`shared_rows_posterior` computes one joint posterior over the unique rows (shared
rows once, then every element's own rows; in chunks of elements) and gathers each
element's ``q x q`` covariance and mean from it: the same distribution, the same base
samples, the same values up to floating-point rounding. :class:`SharedRowsModel` wraps a
model so that any botorch acquisition uses it.
"""

from __future__ import annotations

import torch
from botorch.models import ModelListGP
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from linear_operator.operators import DenseLinearOperator
from torch import Tensor

__all__ = ["SharedRowsModel", "shared_rows_posterior", "supports_shared_rows"]

MAX_JOINT = 768  # rows of one joint posterior (its covariance is MAX_JOINT^2 per output)


def _outputs(model: Model) -> list[Model] | None:
    """The single-output models whose posteriors make up ``model``'s, or None if unsupported."""
    subs = list(model.models) if isinstance(model, ModelListGP) else [model]
    for sub in subs:
        if getattr(sub, "num_outputs", None) != 1 or getattr(sub, "batch_shape", None) != torch.Size():
            return None
        tf = getattr(sub, "outcome_transform", None)
        if tf is not None and not getattr(tf, "_is_linear", False):
            return None
    return subs


def supports_shared_rows(model: Model) -> bool:
    return _outputs(model) is not None


def shared_rows_posterior(model: Model, X: Tensor, max_joint: int = MAX_JOINT) -> GPyTorchPosterior | None:
    """The posterior of ``X`` (``b x q x d``) as ``model.posterior(X)`` gives it; None when not
    applicable (other shapes, no shared rows, unsupported models: call ``model.posterior``)."""
    subs = _outputs(model)
    if subs is None or X.dim() != 3 or X.shape[0] < 2:
        return None
    b, q, d = X.shape
    shared = (X == X[:1]).all(dim=-1).all(dim=0)  # q: rows equal in every element
    s = int(shared.sum())
    if s == 0:
        return None
    own = (~shared).nonzero().squeeze(-1)
    k = q - s
    S = X[0, shared]
    # position of row j of element i in the joint [S; chunk's own rows]
    slot = torch.empty(q, dtype=torch.long, device=X.device)
    slot[shared] = torch.arange(s, device=X.device)
    per = max(1, (max_joint - s) // max(k, 1))
    means: list[list[Tensor]] = [[] for _ in subs]
    covs: list[list[Tensor]] = [[] for _ in subs]
    for lo in range(0, b, per):
        V = X[lo : lo + per][:, own]  # c x k x d
        c = V.shape[0]
        U = torch.cat([S, V.reshape(-1, d)])
        idx = slot.expand(c, q).clone()
        if k:
            idx[:, own] = s + torch.arange(c * k, device=X.device).reshape(c, k)
        for j, sub in enumerate(subs):
            dist = sub.posterior(U).distribution
            mean, cov = dist.mean, dist.covariance_matrix
            means[j].append(mean[idx])
            covs[j].append(cov[idx.unsqueeze(-1), idx.unsqueeze(-2)])
    # a linear operator, as gpytorch's own posteriors: a plain tensor would be factorised here
    mvns = [MultivariateNormal(torch.cat(m), DenseLinearOperator(torch.cat(cv))) for m, cv in zip(means, covs, strict=True)]
    mvn = mvns[0] if len(mvns) == 1 else MultitaskMultivariateNormal.from_independent_mvns(mvns=mvns)
    return GPyTorchPosterior(distribution=mvn)


class SharedRowsModel(Model):
    """``model`` with :func:`shared_rows_posterior` for batched inputs; everything else is ``model``'s."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    @property
    def num_outputs(self) -> int:
        return self.model.num_outputs

    @property
    def batch_shape(self) -> torch.Size:
        return self.model.batch_shape

    def posterior(self, X: Tensor, output_indices: list[int] | None = None, observation_noise: bool | Tensor = False,
                  posterior_transform=None, **kwargs) -> GPyTorchPosterior:  # noqa: ANN001, ANN003
        if output_indices is None and observation_noise is False and posterior_transform is None and not kwargs:
            post = shared_rows_posterior(self.model, X)
            if post is not None:
                return post
        return self.model.posterior(
            X, output_indices=output_indices, observation_noise=observation_noise, posterior_transform=posterior_transform, **kwargs
        )
