"""Sequential-greedy batch selection over a discrete candidate set.

For ``j = 1..q``: set ``X_pending = [pending; chosen so far]`` on the acquisition, score
every remaining candidate ``x`` by ``alpha(x | X_pending) + log w(x)`` (``w``: feasibility
and synthesizability multipliers, so ``log w`` adds to a log-acquisition) and take the
best. A pending experiment is therefore never proposed again, and the batch spreads
over ideas that are not yet being measured.

Lazy evaluation (``lazy=True``, used for incremental qLogNEHVI only): its value is the
hypervolume improvement over the front of baseline *and* pending points, which per
posterior sample can only fall when a point joins ``X_pending``, so the scores of step
``j`` bound those of step ``j + 1`` from above. (qLogNEI and the window probability score
the whole set ``{x} + pending``, which grows with the pending set, so they are always
fully re-scored.) Step ``j + 1`` then
re-scores candidates in order of their previous score, ``chunk`` at a time, and stops as
soon as the best re-scored value is at least the bound of the next unscored candidate
(the classic lazy greedy): the same pick as a full re-scoring, at a fraction of the cost.

``acqf_rest``: another acquisition for picks ``2..q`` (e.g. a qUCB first pick, then
qLogNEI with the first pick as a pending point, the ranker's ``batch_acquisition``); the
first pick is then the one ``acqf`` makes alone, and the lazy bounds restart with it.
"""

from __future__ import annotations

import torch
from botorch.acquisition import AcquisitionFunction

__all__ = ["evaluate_acquisition", "greedy_discrete", "marginal_moments"]


@torch.no_grad()
def evaluate_acquisition(acqf: AcquisitionFunction, X: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """``alpha(x)`` for each row of ``X`` (``n x d``) -> ``n``, in chunks to bound memory."""
    out = [acqf(X[i : i + chunk].unsqueeze(-2)) for i in range(0, len(X), chunk)]
    return torch.cat(out) if out else torch.zeros(0, dtype=X.dtype, device=X.device)


@torch.no_grad()
def marginal_moments(model, X: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """Posterior mean and standard deviation (``n x m`` each) of every row of ``X``.

    One joint posterior over all ``n`` rows builds the ``n x n`` covariance (gigabytes and
    tens of seconds at 10k candidates), and ``n`` batches of one row are slow too (a batched
    distance per row); chunks of a few hundred rows, of which only the diagonal is read, are
    the fastest (0.54 s for 10k candidates and 1k observations, 2 outputs, against 1.5 s
    in chunks of 4,096 and 3.9 s batched, 2 cores).
    """
    means, sds = [], []
    for i in range(0, len(X), chunk):
        post = model.posterior(X[i : i + chunk])
        means.append(post.mean.reshape(len(X[i : i + chunk]), -1))
        sds.append(post.variance.clamp_min(0).sqrt().reshape(len(X[i : i + chunk]), -1))
    if not means:
        return X.new_zeros((0, model.num_outputs)), X.new_zeros((0, model.num_outputs))
    return torch.cat(means), torch.cat(sds)


def _clean(vals: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(vals), vals, torch.full_like(vals, -1e30))


def greedy_discrete(
    acqf: AcquisitionFunction,
    X: torch.Tensor,
    q: int,
    *,
    X_pending: torch.Tensor | None = None,
    log_weight: torch.Tensor | None = None,
    chunk: int = 512,
    lazy: bool = True,
    acqf_rest: AcquisitionFunction | None = None,
) -> tuple[list[int], list[float]]:
    """Indices (into ``X``, ``n x d``) of ``q`` distinct picks and their scores."""
    n = len(X)
    first = acqf
    chosen: list[int] = []
    scores: list[float] = []
    bound: torch.Tensor | None = None  # scores of the previous step: upper bounds (lazy)
    for step in range(min(q, n)):
        if step == 1 and acqf_rest is not None:
            acqf, bound = acqf_rest, None  # a new acquisition: the old scores bound nothing
        lazy_now = lazy and bool(getattr(acqf, "incremental_nehvi", False))
        extra = X[chosen] if chosen else None
        pend = extra if X_pending is None else (X_pending if extra is None else torch.cat([X_pending, extra]))
        acqf.set_X_pending(pend)
        if bound is None or not lazy_now:
            vals = evaluate_acquisition(acqf, X, chunk)
            if log_weight is not None:
                vals = vals + log_weight
            vals = _clean(vals)
            vals[chosen] = -float("inf")
        else:
            vals = bound.clone()
            vals[chosen] = -float("inf")
            order = torch.argsort(vals, descending=True)
            done = 0
            while done < n:
                idx = order[done : done + chunk]
                new = evaluate_acquisition(acqf, X[idx], chunk)
                if log_weight is not None:
                    new = new + log_weight[idx]
                new = _clean(new)
                new[torch.isin(idx, torch.tensor(chosen, device=idx.device))] = -float("inf")
                vals[idx] = new
                done += len(idx)
                best = float(torch.max(vals[order[:done]]))
                if done >= n or best >= float(vals[order[done]]):
                    break
            # candidates never re-scored keep their (upper-bound) previous value, all below ``best``
        i = int(torch.argmax(vals))
        chosen.append(i)
        scores.append(float(vals[i]))
        bound = vals
    for a in (first, acqf_rest):
        if a is not None:
            a.set_X_pending(X_pending)
    return chosen, scores
