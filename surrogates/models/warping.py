"""Monotone outcome warpings ``z = w(y)`` fitted on the training outcomes.

A GP on ``z`` instead of ``y`` copes with heavy tails (conductivities spanning decades)
and outliers. Every warping is strictly increasing, so "larger is better" is kept, and
invertible, so predictions are reported in the lab's units:

- ``none``: ``z = y``.
- ``power``: Yeo-Johnson with the maximum-likelihood ``lambda`` (standardised after).
- ``copula``: ``z = Phi^-1(F_n(y))`` with the empirical CDF ``F_n`` (mid-ranks,
  ``u = (r - 0.5) / n``), linear between training points and linear extrapolation
  beyond them (slope of the outermost pair).

Known measurement noise maps by the delta method, ``var_z = (dw/dy)^2 var_y``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import stats

__all__ = ["OutcomeWarp", "WarpKind"]

WarpKind = Literal["none", "power", "copula"]


class OutcomeWarp:
    """``fit(y)`` then ``forward(y) -> z``, ``inverse(z) -> y``, ``slope(y) = dz/dy``."""

    def __init__(self, kind: WarpKind = "none") -> None:
        if kind not in ("none", "power", "copula"):
            raise ValueError(f"unknown outcome warping {kind!r}; valid: none, power, copula")
        self.kind = kind
        self._lam = 1.0
        self._mu = 0.0
        self._sd = 1.0
        self._ys: np.ndarray | None = None
        self._zs: np.ndarray | None = None

    def fit(self, y: np.ndarray) -> OutcomeWarp:
        y = np.asarray(y, dtype=float).ravel()
        if self.kind == "power" and np.ptp(y) > 0:
            self._mu, self._sd = float(y.mean()), float(y.std()) or 1.0
            _, self._lam = stats.yeojohnson((y - self._mu) / self._sd)
            self._lam = float(np.clip(self._lam, -3.0, 3.0))
        elif self.kind == "copula":
            ys = np.unique(y)
            if len(ys) < 2:
                self._ys = self._zs = None
                return self
            ranks = stats.rankdata(y, method="average")
            u = (ranks - 0.5) / len(y)
            z = stats.norm.ppf(u)
            self._ys = ys
            self._zs = np.array([z[y == v].mean() for v in ys])
        return self

    def _yj(self, x: np.ndarray, lam: float) -> np.ndarray:
        return stats.yeojohnson(x, lmbda=lam)

    def forward(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if self.kind == "power":
            return self._yj((y - self._mu) / self._sd, self._lam)
        if self.kind == "copula" and self._ys is not None:
            return _interp_extrap(y, self._ys, self._zs)
        return y.copy()

    def inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        if self.kind == "power":
            lam = self._lam
            x = np.where(
                z >= 0,
                (np.power(np.maximum(z * lam + 1, 1e-12), 1 / lam) - 1) if abs(lam) > 1e-8 else np.expm1(z),
                (1 - np.power(np.maximum(1 - (2 - lam) * z, 1e-12), 1 / (2 - lam))) if abs(lam - 2) > 1e-8 else -np.expm1(-z),
            )
            return x * self._sd + self._mu
        if self.kind == "copula" and self._ys is not None:
            return _interp_extrap(z, self._zs, self._ys)
        return z.copy()

    def slope(self, y: np.ndarray) -> np.ndarray:
        """``dz/dy`` by central differences (scale-aware step)."""
        y = np.asarray(y, dtype=float)
        if self.kind == "none" or (self.kind == "copula" and self._ys is None):
            return np.ones_like(y)
        h = 1e-4 * (np.abs(y) + (self._sd if self.kind == "power" else np.ptp(self._ys) or 1.0))  # type: ignore[arg-type]
        return (self.forward(y + h) - self.forward(y - h)) / (2 * h)


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    out = np.interp(x, xp, fp)
    lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0])
    hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    out = np.where(x < xp[0], fp[0] + (x - xp[0]) * lo_slope, out)
    return np.where(x > xp[-1], fp[-1] + (x - xp[-1]) * hi_slope, out)
