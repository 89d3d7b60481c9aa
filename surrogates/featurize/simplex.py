"""Compositional (mixture) inputs: detect inputs that are parts of a whole, and transform them.

A blend's inputs are fractions or percentages of one total (P3HT's five contents sum to
100 +- 0.1 %, Perovskite's three fractions to 1 +- 0.01), so they live on a simplex: one
input is determined by the others, and the difference between 0 and 2 % of a component
matters more than the one between 50 and 52 %. :class:`SimplexRule` watches every feature
row the ranker sees and holds while all inputs are non-negative, there are at least two,
and every row sums to the same total within 1 % (the spread of the row sums is at most 2 %
of their midpoint). :func:`simplex_transform` maps such rows to

- ``closure``: the fractions ``f = x / sum(x)`` (the lab's rounding of the total removed);
- ``sqrt``: ``sqrt(f)``, the square-root (Hellinger) map of the simplex onto the positive
  orthant of the unit sphere: Euclidean distance there is the Hellinger distance between
  compositions, which stretches small fractions (a trace of a component differs from none)
  and handles the zeros blends have, unlike log-ratios;
- ``clr``: the centred log-ratio ``log(f + eps) - mean(log(f + eps))`` (Aitchison geometry),
  with a pseudo-fraction ``eps = 0.01`` for the zeros.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["SIMPLEX_TOLERANCE", "SimplexRule", "SimplexTransform", "simplex_transform"]

SimplexTransform = Literal["closure", "sqrt", "clr"]
SIMPLEX_TOLERANCE = 0.01
_CLR_EPS = 0.01


def simplex_transform(X: np.ndarray, kind: SimplexTransform) -> np.ndarray:
    """Rows of ``X`` (non-negative, each summing to about one total) mapped by ``kind`` (see module docstring)."""
    sums = X.sum(1, keepdims=True)
    f = X / np.where(sums > 0, sums, 1.0)
    if kind == "closure":
        return f
    if kind == "sqrt":
        return np.sqrt(np.clip(f, 0.0, None))
    if kind == "clr":
        logs = np.log(np.clip(f, 0.0, None) + _CLR_EPS)
        return logs - logs.mean(1, keepdims=True)
    raise ValueError(f"unknown simplex transform {kind!r}")


class SimplexRule:
    """Whether every row seen so far lies on one simplex; also the range of the transformed rows seen.

    Once a row breaks the rule it stays broken (a design space does not become a mixture later).
    """

    def __init__(self, kind: SimplexTransform) -> None:
        self.kind = kind
        self.holds = True
        self._lo_sum = np.inf
        self._hi_sum = -np.inf
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None

    def see(self, X: np.ndarray) -> None:
        if not self.holds or not len(X):
            return
        if X.ndim != 2 or X.shape[1] < 2 or not np.isfinite(X).all() or (X < 0).any():
            self.holds = False
            return
        sums = X.sum(1)
        self._lo_sum, self._hi_sum = min(self._lo_sum, sums.min()), max(self._hi_sum, sums.max())
        mid = 0.5 * (self._lo_sum + self._hi_sum)
        if mid <= 0 or self._hi_sum - self._lo_sum > (2 * SIMPLEX_TOLERANCE + 1e-9) * mid:
            self.holds = False
            return
        Z = simplex_transform(X, self.kind)
        lo, hi = Z.min(0), Z.max(0)
        if self.lo is None or self.lo.shape != lo.shape:
            self.lo, self.hi = lo, hi
        else:
            self.lo, self.hi = np.minimum(self.lo, lo), np.maximum(self.hi, hi)
