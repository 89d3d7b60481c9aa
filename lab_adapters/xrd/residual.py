"""Peaks that no reference phase explains: the unidentified residual of a fit.

The residual ``r = y - m`` of the final fit is smoothed with an area-normalised
pseudo-Voigt kernel ``k`` of the fitted peak width (a matched filter for one peak),
``g = r * k``, with the noise of ``g`` propagated from the counting variance,
``sigma_g^2 = var(y) * k^2``. A point is an unidentified peak when

- ``g / sigma_g >= min_snr`` and ``g`` is a local maximum (a peak, not noise);
- no reflection of an identified phase lies within one peak width of it, and the residual
  there is at least ``dominance`` times the modelled phase intensity at the same angle (a new
  peak, not the misfit of a known one: texture or an intensity error moves intensity between
  a phase's own reflections, never to where it has none);
- its height is at least ``min_height`` of the tallest net peak of the pattern.

The share of a peak is the positive residual within +-2 FWHM of it over the total net
(above-background) intensity. The residual is *detected* when the peaks together carry at
least ``min_share`` of the net intensity.
"""

from __future__ import annotations

import math

import numpy as np

from loop.records import UnidentifiedPeak, UnidentifiedResidual

__all__ = ["unidentified_residual"]


def _kernel(step: float, fwhm: float, eta: float) -> np.ndarray:
    k = np.arange(-int(4 * fwhm / step), int(4 * fwhm / step) + 1) * step
    lor = (2 / math.pi / fwhm) / (1 + 4 * (k / fwhm) ** 2)
    gau = 2 / fwhm * math.sqrt(math.log(2) / math.pi) * np.exp(-4 * math.log(2) * (k / fwhm) ** 2)
    ker = (eta * lor + (1 - eta) * gau) * step
    return ker / np.sqrt(np.sum(ker**2))


def unidentified_residual(
    x: np.ndarray, y: np.ndarray, model: np.ndarray, background: np.ndarray, variance: np.ndarray,
    fwhm: float, eta: float, min_snr: float, dominance: float, min_height: float, min_share: float,
    reflections: np.ndarray | None = None, max_peaks: int = 20,
) -> UnidentifiedResidual:
    """The unexplained peaks of a fit (see the module docstring); ``reflections``: identified phases' peak angles."""
    step = float(np.median(np.diff(x)))
    fwhm = max(fwhm, 2 * step)
    phases = np.maximum(model - background, 0.0)
    net_total = float(np.maximum(y - background, 0.0).sum())
    r = y - model
    ker = _kernel(step, fwhm, eta)
    g = np.convolve(r, ker, mode="same")
    sig = np.sqrt(np.maximum(np.convolve(variance, ker**2, mode="same"), 1e-12))
    snr = g / sig
    half = max(1, int(round(fwhm / step)))
    tallest = float(phases.max()) if phases.size else 0.0
    peaks: list[UnidentifiedPeak] = []
    taken = np.zeros(len(x), dtype=bool)
    order = np.argsort(-snr)
    for i in order[: 50 * max_peaks]:
        if snr[i] < min_snr or len(peaks) >= max_peaks:
            break
        if taken[i]:
            continue
        lo, hi = max(0, i - half), min(len(x), i + half + 1)
        if snr[i] < snr[lo:hi].max():
            continue
        height = float(np.mean(r[max(0, i - 1) : i + 2]))
        if height < min_height * tallest or height < dominance * float(phases[i]):
            continue
        if reflections is not None and len(reflections) and np.min(np.abs(reflections - x[i])) <= fwhm:
            continue
        wlo, whi = max(0, i - 2 * half), min(len(x), i + 2 * half + 1)
        share = float(np.maximum(r[wlo:whi], 0.0).sum()) / net_total if net_total > 0 else 0.0
        taken[wlo:whi] = True
        peaks.append(UnidentifiedPeak(two_theta=round(float(x[i]), 3), height=round(height, 2),
                                      share=round(min(share, 1.0), 5)))
    total = min(sum(p.share for p in peaks), 1.0)
    peaks.sort(key=lambda p: p.two_theta)
    return UnidentifiedResidual(detected=bool(peaks) and total >= min_share, intensity_share=round(total, 5),
                                peaks=peaks)
