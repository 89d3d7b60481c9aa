"""Peak profiles: area-normalised pseudo-Voigt sums and their derivatives.

    pV(x; c, H, eta) = eta L + (1 - eta) G,
    L = (2 / (pi H)) / (1 + 4 t^2),     G = (2 / H) sqrt(ln2 / pi) exp(-4 ln2 t^2),   t = (x - c) / H,

with FWHM ``H`` (degrees 2-theta). Peak widths follow

    H^2 = H_inst^2 + H_size^2 + H_strain^2,
    H_size = (180/pi) K lambda / (L cos theta)   (Scherrer, K = 0.9, L crystallite size in A),
    H_strain = (180/pi) 4 eps tan theta          (micro-strain eps).

A sum over ``m`` peaks on an ``n``-point grid is evaluated only within ``+- WINDOW * H`` of
each centre and accumulated with ``bincount``, so its cost is linear in the points covered.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SCHERRER_K", "WINDOW", "fwhm", "peak_terms", "pseudo_voigt_sum"]

SCHERRER_K = 0.9
WINDOW = 10.0
_GC = 2.0 * math.sqrt(math.log(2.0) / math.pi)
_G4 = 4.0 * math.log(2.0)
_RAD = 180.0 / math.pi


def fwhm(
    two_theta: np.ndarray, wavelength: float, inv_size_nm: float, microstrain: float, inst_fwhm: float
) -> np.ndarray:
    """FWHM (deg) at ``two_theta`` (deg) for ``1/L`` in 1/nm, micro-strain ``eps`` and instrument FWHM (deg)."""
    th = np.radians(np.asarray(two_theta) / 2.0)
    h_size = _RAD * SCHERRER_K * (wavelength / 10.0) * inv_size_nm / np.cos(th)
    h_strain = _RAD * 4.0 * microstrain * np.tan(th)
    return np.sqrt(inst_fwhm**2 + h_size**2 + h_strain**2)


def _windows(
    x: np.ndarray, centers: np.ndarray, widths: np.ndarray, window: float = WINDOW
) -> tuple[np.ndarray, np.ndarray]:
    """Flattened ``(point index, peak index)`` pairs of every peak window (``+- window`` FWHM)."""
    lo = np.searchsorted(x, centers - window * widths)
    hi = np.searchsorted(x, centers + window * widths)
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    peak = np.repeat(np.arange(len(centers)), lens)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    point = starts + np.arange(total)
    return point, peak


def pseudo_voigt_sum(
    x: np.ndarray, centers: np.ndarray, areas: np.ndarray, widths: np.ndarray, eta: float
) -> np.ndarray:
    """``y(x) = sum_k a_k pV(x; c_k, H_k, eta)`` on the increasing grid ``x`` (``(n,)``); returns ``(n,)``."""
    val, _, _, _, point, _ = peak_terms(x, centers, areas, widths, eta)
    return np.bincount(point, weights=val, minlength=len(x))


def peak_terms(
    x: np.ndarray, centers: np.ndarray, areas: np.ndarray, widths: np.ndarray, eta: float, window: float = WINDOW
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (point, peak) pair: value, d/dc, d/dH, d/deta (all times the area) and the indices.

    ``window``: half-width of each peak's support in FWHM (a short one, ~4, for quick screening).
    """
    point, peak = _windows(x, centers, widths, window)
    h = widths[peak]
    a = areas[peak]
    t = (x[point] - centers[peak]) / h
    t2 = t * t
    lor_den = 1.0 + 4.0 * t2
    lor = (2.0 / math.pi) / (h * lor_den)
    gau = (_GC / h) * np.exp(-_G4 * t2)
    val = eta * lor + (1.0 - eta) * gau
    # d/dc: dt/dc = -1/H ; dL/dt = -8 t L / (1 + 4t^2) ; dG/dt = -2 G4 t G
    dlor_dt = -8.0 * t * lor / lor_den
    dgau_dt = -2.0 * _G4 * t * gau
    dval_dt = eta * dlor_dt + (1.0 - eta) * dgau_dt
    dc = -dval_dt / h
    # d/dH at fixed x: -val/H (normalisation) + dval/dt * dt/dH, dt/dH = -t/H
    dh = (-val - dval_dt * t) / h
    de = lor - gau
    return a * val, a * dc, a * dh, a * de, point, peak
