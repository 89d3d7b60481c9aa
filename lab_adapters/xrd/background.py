"""Background estimation for powder patterns (SNIP peak clipping) and a smooth basis.

SNIP (Ryan et al., 1988; Morhac 2009) on the LLS-transformed counts
``v = log(log(sqrt(y + 1) + 1) + 1)``: for ``k = m, m-1, ..., 1`` points,
``v_i <- min(v_i, (v_{i-k} + v_{i+k}) / 2)``, then back-transform. Features narrower than
about ``2 m`` points (peaks) are clipped; broader ones (air scatter, fluorescence, the
amorphous hump of a glass holder) are kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["chebyshev_basis", "snip"]


def snip(y: np.ndarray, half_window: int) -> np.ndarray:
    """SNIP background of ``y`` (``(n,)``, >= 0) with clipping half-width ``half_window`` points."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    m = int(max(1, min(half_window, (n - 1) // 2)))
    v = np.log(np.log(np.sqrt(np.maximum(y, 0.0) + 1.0) + 1.0) + 1.0)
    # pad by reflection so the ends are clipped like the interior
    pad = np.concatenate([v[m:0:-1], v, v[-2 : -m - 2 : -1]])
    for k in range(m, 0, -1):
        mid = pad[m:-m] if m else pad
        avg = 0.5 * (pad[m - k : len(pad) - m - k] + pad[m + k : len(pad) - m + k])
        pad[m : len(pad) - m] = np.minimum(mid, avg)
    out = pad[m : len(pad) - m]
    return (np.exp(np.exp(out) - 1.0) - 1.0) ** 2 - 1.0


def chebyshev_basis(x: np.ndarray, degree: int) -> np.ndarray:
    """Chebyshev polynomials ``T_0..T_degree`` of ``x`` mapped onto [-1, 1]; shape ``(n, degree + 1)``."""
    t = 2.0 * (x - x[0]) / max(x[-1] - x[0], 1e-12) - 1.0
    return np.polynomial.chebyshev.chebvander(t, degree)
