"""Probability that a batch holds at least one point inside every window / constraint.

For posterior samples ``Z`` (``S x b x q x m``) and conditions ``c_j(Z) <= 0``::

    f(x_i) = prod_j sigmoid(-c_j(Z_i) / tau)                    (soft "x_i satisfies all")
    alpha(X) = log mean_S [1 - prod_i (1 - f(x_i))]           (P(some x_i satisfies all))

Pending points (``X_pending``) join every batch, so a candidate scores by what it adds
beyond the experiments already running. For one candidate and one window ``[lo, hi]``
this is ``log P(lo <= f(x) <= hi)``, the target-window probability.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from botorch.acquisition.monte_carlo import MCAcquisitionFunction
from botorch.models.model import Model
from botorch.sampling import MCSampler
from botorch.utils.transforms import concatenate_pending_points, t_batch_mode_transform

__all__ = ["qLogProbabilityFeasible"]


class qLogProbabilityFeasible(MCAcquisitionFunction):
    """``X``: ``b x q x d`` -> ``b`` log probabilities.

    >>> acq = qLogProbabilityFeasible(model, [lambda Z: Z[..., 0] - 3.0, lambda Z: 1.5 - Z[..., 0]])
    """

    def __init__(
        self,
        model: Model,
        constraints: list[Callable[[torch.Tensor], torch.Tensor]],
        sampler: MCSampler | None = None,
        X_pending: torch.Tensor | None = None,
        tau: float = 1e-2,
    ) -> None:
        from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective

        # the conditions read the raw samples Z; the identity objective only satisfies
        # botorch's check for multi-output models (windows plus modelled constraints)
        objective = IdentityMCMultiOutputObjective() if model.num_outputs > 1 else None
        super().__init__(model=model, sampler=sampler, X_pending=X_pending, objective=objective)
        if not constraints:
            raise ValueError("qLogProbabilityFeasible needs at least one condition")
        self.constraints = constraints
        self.tau = tau

    @concatenate_pending_points
    @t_batch_mode_transform()
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        posterior = self.model.posterior(X)
        Z = self.get_posterior_samples(posterior)  # S x b x q x m
        log_ok = sum(torch.nn.functional.logsigmoid(-c(Z) / self.tau) for c in self.constraints)  # S x b x q
        log_miss = torch.log1p(-log_ok.exp().clamp(max=1 - 1e-12)).sum(-1)  # S x b
        log_hit = torch.log(-torch.expm1(log_miss.clamp(max=-1e-12)))  # log(1 - prod(1 - f))
        n = torch.tensor(float(log_hit.shape[0]), dtype=X.dtype, device=X.device)
        return torch.logsumexp(log_hit, dim=0) - torch.log(n)
