"""Reflection lists of crystal phases, computed once with pymatgen and cached.

A :class:`PhasePeaks` stores, for each merged reflection ``k`` of a phase, its d-spacing
``d_k`` (Angstrom) and its wavelength-independent strength ``F2m_k = sum |F_hkl|^2`` over
the symmetry-equivalent ``hkl`` (multiplicity included, per unit cell, no Lorentz-
polarisation). The integrated intensity at wavelength ``lambda`` is then

    I_k = F2m_k * LP(theta_k),   LP(theta) = (1 + cos^2 2theta) / (sin^2 theta cos theta),
    sin theta_k = lambda / (2 d_k (1 + e))      (isotropic lattice strain e).

The quantitative scale (Hill & Howard, 1987): a phase of weight fraction ``w`` in a mixture
contributes ``S * I_k`` with ``S proportional to w / (M V)``, where ``M`` is the mass of the
unit-cell contents (amu) and ``V`` its volume (A^3); conversely ``w_p = S_p (MV)_p / sum_j S_j (MV)_j``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
from pymatgen.analysis.diffraction.xrd import XRDCalculator
from pymatgen.core import Structure

from loop.errors import StructureError

__all__ = ["PhasePeaks", "lorentz_polarization", "phase_peaks", "two_theta_of"]

logger = logging.getLogger(__name__)

_D_MIN = 0.55  # Angstrom: reflections up to 2theta ~ 180 deg with Cu, ~ 80 deg with Mo
_CACHE: dict[tuple[str, float], PhasePeaks] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class PhasePeaks:
    """Reflections of one phase: ``d`` (``(n,)`` A), ``f2m`` (``(n,)``), hkl families per reflection."""

    name: str
    formula: str
    structure: Structure
    d: np.ndarray
    f2m: np.ndarray
    families: list[list[tuple[tuple[int, ...], int]]] = field(repr=False)
    cell_mass: float = 0.0
    cell_volume: float = 0.0

    @property
    def disordered(self) -> bool:
        """True for a structure with partial occupancies (its pattern is the average structure's)."""
        return not self.structure.is_ordered

    @property
    def mass_volume(self) -> float:
        """``M V``: cell mass (amu) times cell volume (A^3), the weight-fraction factor."""
        return self.cell_mass * self.cell_volume

    def intensities(self, wavelength: float, strain: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(two_theta_deg, I)`` of the reflections visible at ``wavelength`` with lattice strain ``strain``."""
        tt = two_theta_of(self.d * (1.0 + strain), wavelength)
        ok = np.isfinite(tt)
        return tt[ok], self.f2m[ok] * lorentz_polarization(tt[ok])


def two_theta_of(d: np.ndarray, wavelength: float) -> np.ndarray:
    """``2 theta = 2 asin(lambda / 2d)`` in degrees; NaN where the reflection is out of reach."""
    s = wavelength / (2.0 * np.asarray(d, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.where(s < 1.0, np.degrees(2.0 * np.arcsin(np.minimum(s, 1.0))), np.nan)


def lorentz_polarization(two_theta_deg: np.ndarray) -> np.ndarray:
    """Unpolarised-beam Lorentz-polarisation factor (as in pymatgen's XRDCalculator)."""
    th = np.radians(np.asarray(two_theta_deg) / 2.0)
    return (1.0 + np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))


def _structure_key(structure: Structure) -> str:
    blob = json.dumps(structure.as_dict(), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()


def phase_peaks(structure: Structure, name: str | None = None) -> PhasePeaks:
    """Compute (or fetch from the process cache) the reflection list of ``structure``.

    Uses pymatgen's :class:`XRDCalculator` at a short wavelength so that reflections down
    to ``d = 0.55 A`` are listed; ``F2m`` is its unscaled intensity divided by ``LP``.
    """
    key = (_structure_key(structure), 0.0)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        if name is None or hit.name == name:
            return hit
        return PhasePeaks(name, hit.formula, hit.structure, hit.d, hit.f2m, hit.families, hit.cell_mass, hit.cell_volume)
    if len(structure) == 0:
        raise StructureError(f"structure {name or ''} has no sites")
    if not structure.is_ordered:
        logger.debug("phase %s is disordered; pymatgen uses occupancy-weighted scattering factors", name)
    lam = 1.0
    calc = XRDCalculator(wavelength=lam)
    tt_max = float(np.degrees(2 * np.arcsin(min(lam / (2 * _D_MIN), 0.999))))
    try:
        pat = calc.get_pattern(structure, scaled=False, two_theta_range=(1.0, tt_max))
    except (ValueError, KeyError, TypeError) as exc:
        raise StructureError(f"cannot compute the diffraction of {name or structure.formula}: {exc}") from exc
    tt = np.asarray(pat.x, dtype=float)
    d = np.asarray(pat.d_hkls, dtype=float)
    f2m = np.asarray(pat.y, dtype=float) / lorentz_polarization(tt)
    families = [[(tuple(int(v) for v in h["hkl"]), int(h["multiplicity"])) for h in fam] for fam in pat.hkls]
    keep = f2m > 1e-9 * max(float(f2m.max(initial=0.0)), 1e-30)
    if not keep.any():
        raise StructureError(f"structure {name or structure.formula} has no reflections with d >= {_D_MIN} A")
    order = np.argsort(-d[keep])
    idx = np.flatnonzero(keep)[order]
    peaks = PhasePeaks(
        name=name or structure.composition.reduced_formula,
        formula=structure.composition.reduced_formula,
        structure=structure,
        d=d[idx],
        f2m=f2m[idx],
        families=[families[i] for i in idx],
        cell_mass=float(structure.composition.weight),
        cell_volume=float(structure.volume),
    )
    with _LOCK:
        _CACHE[key] = peaks
    return peaks
