"""Pre-filter: the candidates worth scoring with the full acquisition at large pools.

Every candidate gets an optimistic vector ``u_j = sign_j mu_j + 2 sigma_j`` per objective
(standardised over the pool), and windows / constraints the log of their marginal
probability of being met; ``log w`` (feasibility, synthesizability) is added to every
score. With one objective the top ``m`` by ``u + log P + log w`` are kept. With several,
a hypervolume acquisition values points anywhere on the front, also where one objective is
extreme and the sum of the ``u_j`` is poor, so the ``m`` places are shared between the
sum and each objective's own ``u_j`` (``m / (k + 1)`` each for ``k`` objectives, then
filled up by the sum): the candidates a scalarised score would drop at the ends of the
front stay in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from surrogates.acquisition.batch import marginal_moments
from surrogates.acquisition.build import OutcomeSpec

__all__ = ["prefilter"]


def prefilter(model, X: torch.Tensor, specs: Sequence[OutcomeSpec], log_w: np.ndarray, m: int) -> np.ndarray:  # noqa: ANN001
    """Indices (into ``X``) of at most ``m`` candidates to score with the acquisition."""
    mu, sd = marginal_moments(model, X)
    lw = torch.as_tensor(log_w, dtype=X.dtype, device=X.device).clamp_min(-1e6)
    base = lw.clone()
    normal = torch.distributions.Normal(torch.zeros((), dtype=X.dtype), torch.ones((), dtype=X.dtype))
    cols = []
    for s in specs:
        if s.role in ("maximize", "minimize"):
            col = s.sign * mu[:, s.index] + 2 * sd[:, s.index]
            cols.append((col - col.mean()) / col.std().clamp_min(1e-12))
        else:  # windows and constraints: log of the marginal probability of meeting them
            mean, d = mu[:, s.index], sd[:, s.index].clamp_min(1e-9)
            hi = normal.cdf((s.hi - mean) / d) if s.hi is not None else torch.ones_like(mean)
            lo = normal.cdf((s.lo - mean) / d) if s.lo is not None else torch.zeros_like(mean)
            base += torch.log((hi - lo).clamp_min(1e-300))
    total = base + (torch.stack(cols).sum(0) if cols else 0.0)
    m = min(m, len(X))
    if len(cols) < 2:
        return torch.topk(total, m).indices.cpu().numpy()
    share = m // (len(cols) + 1)
    picked: list[int] = []
    seen: set[int] = set()
    for score in [total, *(c + base for c in cols)]:
        for i in torch.topk(score, share).indices.tolist():
            if i not in seen:
                seen.add(i)
                picked.append(i)
    for i in torch.argsort(total, descending=True).tolist():
        if len(picked) >= m:
            break
        if i not in seen:
            seen.add(i)
            picked.append(i)
    return np.asarray(picked, dtype=np.int64)
