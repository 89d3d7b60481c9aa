"""Sequential-greedy batch selection over a discrete candidate set.

For ``j = 1..q``: set ``X_pending = [pending; chosen so far]`` on the acquisition, score
every remaining candidate ``x`` by ``alpha(x | X_pending) + log w(x)`` (``w``: feasibility
and synthesizability multipliers, so ``log w`` adds to a log-acquisition) and take the
best. A pending experiment is therefore never proposed again, and the batch spreads
over ideas that are not yet being measured.
"""

from __future__ import annotations

import torch
from botorch.acquisition import AcquisitionFunction

__all__ = ["evaluate_acquisition", "greedy_discrete"]


@torch.no_grad()
def evaluate_acquisition(acqf: AcquisitionFunction, X: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """``alpha(x)`` for each row of ``X`` (``n x d``) -> ``n``, in chunks to bound memory."""
    out = [acqf(X[i : i + chunk].unsqueeze(-2)) for i in range(0, len(X), chunk)]
    return torch.cat(out) if out else torch.zeros(0, dtype=X.dtype, device=X.device)


def greedy_discrete(
    acqf: AcquisitionFunction,
    X: torch.Tensor,
    q: int,
    *,
    X_pending: torch.Tensor | None = None,
    log_weight: torch.Tensor | None = None,
    chunk: int = 2048,
) -> tuple[list[int], list[float]]:
    """Indices (into ``X``, ``n x d``) of ``q`` distinct picks and their scores."""
    n = len(X)
    chosen: list[int] = []
    scores: list[float] = []
    mask = torch.zeros(n, dtype=torch.bool, device=X.device)
    for _ in range(min(q, n)):
        extra = X[chosen] if chosen else None
        pend = extra if X_pending is None else (X_pending if extra is None else torch.cat([X_pending, extra]))
        acqf.set_X_pending(pend)
        vals = evaluate_acquisition(acqf, X, chunk)
        if log_weight is not None:
            vals = vals + log_weight
        vals = torch.where(torch.isfinite(vals), vals, torch.full_like(vals, -1e30))
        vals[mask] = -float("inf")
        i = int(torch.argmax(vals))
        chosen.append(i)
        scores.append(float(vals[i]))
        mask[i] = True
    acqf.set_X_pending(X_pending)
    return chosen, scores
