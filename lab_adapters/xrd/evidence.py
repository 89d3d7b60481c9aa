"""Whether a phase earns its place in a fit: significance, detection limit and peak support.

**Significance (F-test on chi^2 over resolution elements).** Removing phase ``p``
(``b = 4`` parameters: scale, strain, two widths) raises ``chi^2`` from ``chi^2_1`` to ``chi^2_0``.
Neighbouring residuals of a powder fit are not independent: a misfit spans a peak width, so
the number of independent residuals is the number of resolution elements of the scan,

    n_eff = min(n, (2theta_max - 2theta_min) / FWHM),

and, with ``P`` refined parameters,

    F = ((chi^2_0 - chi^2_1) / b) / (chi^2_1 / (n_eff - P)),   p = P(F_{b, n_eff - P} > F).

The phase's confidence is ``1 - p``. Scaling the misfit by ``chi^2_1 / (n_eff - P)`` (the
reduced chi^2 of the full fit, Hamilton's R-factor ratio test in F form: Hamilton, Acta Cryst.
18, 502 (1965)) instead of 1 keeps systematic misfit (texture, an unlisted phase, profile
shape) from making every extra phase "significant" the way the plain chi^2 test does.

**Detection limit (counting statistics, Currie 1968).** The counts of the phase's strongest
peak inside +-1 FWHM must exceed ``k sqrt(sum of the other counts there)`` (``k = 3.29``
is Currie's detection limit at 5 % false positives and negatives).

**Distinct support.** Whether the data holds the peaks that only this phase explains: with
``u = y - (everything else)`` the counts left for the phase, ``v = s_p T_p`` its curve and ``o``
the other phases' curves, each summed over a moving window of ``+-2`` peak widths (``U, V, O``;
a small shift or width error is not a missing peak),

    support = sum_x V^2 [V >= O / 2] [U >= PRESENT V] / sum_x V^2,     PRESENT = 1/3,

where ``o`` holds only the other phases whose peaks are at most ``BACKDROP = 3`` times as wide
as this phase's: a much broader phase underneath (nanocrystalline) is a backdrop, not a
competitor.

It is near 1 for a phase whose peaks stand apart and are all there (intensity errors of texture
or absorption up to a factor of 3 included), and near 0 for a phase that only soaks up the
misfit of others (its peaks sit under theirs) or whose own strong reflections are missing.

**Line positions.** The presence test above tolerates +-2 peak widths, so the lines of an
unreferenced phase can "hold" a wrong phase whose lines fall near theirs: alpha-Bi2O3's
27.4 deg line sits under rutile (110). After the zero, displacement and strain refinement, a
phase that is there puts its lines where the counts are. So for each line region it dominates
(contiguous points where its curve exceeds 5 % of its maximum), the centroid of the counts
left to it must match its model's centroid:

    position_rms = sqrt( sum_R V_R (c_R(u+) - c_R(v))^2 / sum_R V_R ) / FWHM <= POSITION_MAX = 0.5,

with ``c_R`` the centroid over region ``R`` and ``V_R`` its model counts. On the Dara set it
refuses the distractors that took Bi2O3's lines and keeps every phase that is in the samples
(docs/benchmarks.md).

**Overlapped phases.** A real minor phase whose strongest lines sit under a major phase's
(a perovskite beside a spinel) also scores low. Its only evidence is in intensity ratios: the
lines it shares raise the other phase's lines by the right amounts. That evidence is worth
something only where the model describes the data to within the counting noise. So a phase
below ``min_support`` is still supported when all three of these hold:

- the fit with it reaches a reduced chi^2 (``sum w (y - m)^2 / n``) of at most
  ``OVERLAP_MAX_GOF = 3``;
- at least ``OVERLAP_PRESENT = 90 %`` of the intensity it dominates is present;
- those present, dominated counts pass the detection limit above (``k = 3.29``), summed where
  the phase's windowed curve exceeds 1 % of its maximum.

Measured patterns with unmodelled phases, texture or profile misfit sit far above
reduced chi^2 3, so there the strict rule alone applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import f as f_dist

__all__ = ["Support", "competitors", "detection_ratio", "effective_points", "f_test", "support"]

CURRIE_K = 3.29
PRESENT = 1.0 / 3.0
DOMINANT = 0.5
BACKDROP = 3.0
OVERLAP_MAX_GOF = 3.0
OVERLAP_PRESENT = 0.9
POSITION_MAX = 0.5


def effective_points(x: np.ndarray, fwhm: float) -> float:
    """``n_eff``: resolution elements of the scan, at most its number of points (see the module docstring)."""
    return float(min(len(x), (float(x[-1]) - float(x[0])) / max(fwhm, 1e-6)))


def f_test(chi2_without: float, chi2_with: float, n_eff: float, n_params: int, b: int = 4) -> tuple[float, float]:
    """``(F, p)`` for the ``b`` extra parameters that lower chi^2 from ``chi2_without`` to ``chi2_with``."""
    dof = max(n_eff - n_params, 1.0)
    if chi2_with <= 0:
        return math.inf, 0.0
    f = max(chi2_without - chi2_with, 0.0) / b / (chi2_with / dof)
    return f, float(f_dist.sf(f, b, dof))


def detection_ratio(curve: np.ndarray, x: np.ndarray, fwhm: float, var_rest: np.ndarray) -> float:
    """Counts of the phase's strongest peak over ``CURRIE_K`` times the noise of the rest there (>= 1: detected).

    ``var_rest`` (``(n,)``) is the variance of the counts without the phase (background and other phases).
    """
    if curve.max() <= 0:
        return 0.0
    i = int(np.argmax(curve))
    win = np.abs(x - x[i]) <= fwhm
    signal = float(curve[win].sum())
    noise = math.sqrt(max(float(var_rest[win].sum()), 1e-12))
    return signal / (CURRIE_K * noise)


def competitors(widths: np.ndarray, i: int) -> np.ndarray:
    """Mask of the phases whose peak width is at most ``BACKDROP`` times phase ``i``'s (``i`` excluded)."""
    mask = np.asarray(widths) <= BACKDROP * widths[i]
    mask[i] = False
    return mask


@dataclass(frozen=True)
class Support:
    """Distinct support of a phase (see the module docstring)."""

    distinct: float  # share of V^2 that the phase dominates and the data holds
    present_where_dominant: float  # share of the dominated V^2 that the data holds
    dominated_detection: float  # counts of the present, dominated part over CURRIE_K sigma
    gof: float  # reduced chi^2 of the fit with the phase
    position_rms: float = 0.0  # RMS centroid offset of its dominated lines, in FWHM

    def passes(self, min_support: float) -> bool:
        """Its lines where the counts are, and distinct peaks or an overlapped phase whose intensity
        ratios a good fit can vouch for."""
        if self.position_rms > POSITION_MAX:
            return False
        if self.distinct >= min_support:
            return True
        return (self.gof <= OVERLAP_MAX_GOF and self.present_where_dominant >= OVERLAP_PRESENT
                and self.dominated_detection >= 1.0)


def support(curve: np.ndarray, own_counts: np.ndarray, others: np.ndarray, window: int = 1,
            var: np.ndarray | None = None) -> Support:
    """Distinct support of the phase's curve (see the module docstring).

    ``own_counts``: counts minus background and the other phases; ``others``: the other phases'
    curves; ``window``: half-width, in points, of the moving sum applied to all three; ``var``:
    the variance of the counts (for the detection and goodness-of-fit terms; without it, only
    ``distinct`` is meaningful).
    """
    v0 = np.maximum(curve, 0.0)
    v, u, o = v0, own_counts, np.maximum(others, 0.0)
    if window > 1:
        box = np.ones(2 * window + 1)
        v, u, o = (np.convolve(a, box, mode="same") for a in (v, u, o))
    den = float(v @ v)
    if den <= 0:
        return Support(0.0, 0.0, 0.0, math.inf)
    dom = v >= DOMINANT * o
    held = dom & (u >= PRESENT * v)
    w = v * v
    dom_w = float(w @ dom)
    if var is None:
        return Support(float(w @ held) / den, 0.0, 0.0, math.inf)
    lines = held & (v > 0.01 * float(v.max()))  # where the phase puts counts, not the empty stretches between
    sig = float(var[lines].sum())
    detection = float(v0[lines].sum()) / (CURRIE_K * math.sqrt(sig)) if sig > 0 else 0.0
    gof = float(np.mean((own_counts - curve) ** 2 / var))
    return Support(float(w @ held) / den, float(w @ held) / dom_w if dom_w > 0 else 0.0, detection, gof,
                   _position_rms(v0, own_counts, dom, max(window / 2.0, 1.0)))


def _position_rms(v0: np.ndarray, own_counts: np.ndarray, dom: np.ndarray, fwhm_points: float) -> float:
    """RMS offset (in FWHM) between the centroids of the counts and of the model over each dominated line."""
    idx = np.flatnonzero(dom & (v0 > 0.05 * float(v0.max())))
    if not len(idx):
        return math.inf
    num = den = 0.0
    for seg in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
        up, vs = np.maximum(own_counts[seg], 0.0), v0[seg]
        if up.sum() <= 0 or vs.sum() <= 0:
            continue
        delta = float(seg @ up) / float(up.sum()) - float(seg @ vs) / float(vs.sum())
        num += float(vs.sum()) * delta * delta
        den += float(vs.sum())
    return math.sqrt(num / den) / fwhm_points if den > 0 else math.inf
