"""Powder XRD patterns: the :class:`XRDPattern` record, file readers and a writer.

A pattern is a strictly increasing 2-theta grid (degrees, shape ``(n,)``) with the
intensity (counts, ``>= 0``, shape ``(n,)``) measured at each angle, the X-ray wavelength
(Angstrom) and the file it came from.

The source's emission lines ``lines = ((lambda_1, 1.0), (lambda_2, r), ...)`` say how each
reflection is split (Cu K-alpha1/K-alpha2 with ``r = 0.5`` for an unmonochromated tube);
``None`` means one line at ``wavelength``. ``esd`` (``(n,)``, optional) is the standard
deviation of each intensity when the file gives one. File readers live in
:mod:`lab_adapters.xrd.readers`.

>>> write_xy(p, "copy.xy")                            # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS

from loop.errors import InputDataError

__all__ = [
    "CU_KA",
    "KA2_RATIO",
    "MIN_POINTS",
    "XRDPattern",
    "emission_lines",
    "resolve_wavelength",
    "write_xy",
]

CU_KA = WAVELENGTHS["CuKa"]
KA2_RATIO = 0.5
MIN_POINTS = 20


def resolve_wavelength(value: str | float | None) -> float:
    """Angstrom from a name (``CuKa``, ``CuKa1``, ``MoKa``, ...) or a number; ``None`` is Cu K-alpha.

    >>> round(resolve_wavelength("CuKa"), 5)
    1.54184
    """
    if value is None:
        return CU_KA
    if isinstance(value, (int, float)):
        lam = float(value)
    else:
        text = str(value).strip()
        if text in WAVELENGTHS:
            lam = WAVELENGTHS[text]
        else:
            try:
                lam = float(text)
            except ValueError:
                valid = ", ".join(sorted(WAVELENGTHS))
                raise InputDataError(f"unknown wavelength {text!r}; use a number in Angstrom or one of {valid}") from None
    if not (0.1 < lam < 5.0) or not math.isfinite(lam):
        raise InputDataError(f"wavelength {lam} Angstrom is outside 0.1-5 Angstrom")
    return lam


def emission_lines(value: str | float | None) -> tuple[float, tuple[tuple[float, float], ...] | None]:
    """``(wavelength, lines)`` for a source name or number; ``None`` is Cu K-alpha1 + K-alpha2.

    A tube name without a line (``CuKa``, ``MoKa``) is the K-alpha1/K-alpha2 doublet
    (ratio 0.5); ``CuKa1`` or a number is one line (a monochromated beam).

    >>> emission_lines("CuKa")
    (1.54056, ((1.54056, 1.0), (1.54439, 0.5)))
    >>> emission_lines(1.2)
    (1.2, None)
    """
    name = "CuKa" if value is None else value
    if isinstance(name, str) and name.strip() in WAVELENGTHS and f"{name.strip()}1" in WAVELENGTHS:
        k1, k2 = WAVELENGTHS[f"{name.strip()}1"], WAVELENGTHS.get(f"{name.strip()}2")
        if k2 is not None:
            return k1, ((k1, 1.0), (k2, KA2_RATIO))
    return resolve_wavelength(name), None


@dataclass(frozen=True, eq=False)
class XRDPattern:
    """A powder pattern: ``two_theta`` (deg, ``(n,)``, strictly increasing), ``intensity`` (``(n,)``, >= 0)."""

    two_theta: np.ndarray
    intensity: np.ndarray
    wavelength: float = CU_KA
    source: str | None = None
    metadata: dict[str, float | str] = field(default_factory=dict)
    esd: np.ndarray | None = None
    lines: tuple[tuple[float, float], ...] | None = None
    wavelength_origin: str = "given"

    def __post_init__(self) -> None:
        tt = np.ascontiguousarray(self.two_theta, dtype=float)
        yy = np.ascontiguousarray(self.intensity, dtype=float)
        object.__setattr__(self, "two_theta", tt)
        object.__setattr__(self, "intensity", yy)
        validate_arrays(tt, yy, self.source)
        if self.esd is not None:
            esd = np.ascontiguousarray(self.esd, dtype=float)
            if esd.shape != tt.shape:
                raise InputDataError(f"ESD column has {esd.shape} values for {tt.shape} points", source=self.source)
            if not np.all(np.isfinite(esd)) or (esd < 0).any():
                i = int(np.argmax(~np.isfinite(esd) | (esd < 0)))
                raise InputDataError(f"ESD {esd[i]:g} at 2-theta {tt[i]:g} is not a finite value >= 0", source=self.source)
            object.__setattr__(self, "esd", esd)

    @property
    def emission(self) -> tuple[tuple[float, float], ...]:
        """The emission lines ``((lambda, relative intensity), ...)``: ``lines`` or one line at ``wavelength``."""
        return self.lines if self.lines else ((self.wavelength, 1.0),)

    def __len__(self) -> int:
        return len(self.two_theta)

    def cropped(self, lo: float, hi: float) -> XRDPattern:
        """The part of the pattern with ``lo <= 2theta <= hi``."""
        m = (self.two_theta >= lo) & (self.two_theta <= hi)
        esd = self.esd[m] if self.esd is not None else None
        return XRDPattern(self.two_theta[m], self.intensity[m], self.wavelength, self.source, dict(self.metadata),
                          esd, self.lines, self.wavelength_origin)


def validate_arrays(two_theta: np.ndarray, intensity: np.ndarray, source: str | None) -> None:
    """Raise :class:`InputDataError` unless the arrays form a usable pattern."""
    if two_theta.ndim != 1 or intensity.shape != two_theta.shape:
        raise InputDataError(
            f"2-theta and intensity must be 1-d arrays of one length, got {two_theta.shape} and {intensity.shape}",
            source=source,
        )
    if len(two_theta) < MIN_POINTS:
        raise InputDataError(f"only {len(two_theta)} points; a pattern needs at least {MIN_POINTS}", source=source)
    bad = ~np.isfinite(two_theta)
    if bad.any():
        raise InputDataError(f"2-theta is not finite at point {int(np.argmax(bad)) + 1}", source=source)
    bad = ~np.isfinite(intensity)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputDataError(f"intensity is NaN/inf at 2-theta {two_theta[i]:g} (point {i + 1})", source=source)
    if (intensity < 0).any():
        i = int(np.argmax(intensity < 0))
        raise InputDataError(
            f"negative counts {intensity[i]:g} at 2-theta {two_theta[i]:g} (point {i + 1})", source=source
        )
    steps = np.diff(two_theta)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        raise InputDataError(
            f"2-theta is not strictly increasing at point {i + 2} ({two_theta[i]:g} then {two_theta[i + 1]:g})",
            source=source,
        )
    if two_theta[0] <= 0 or two_theta[-1] >= 180:
        raise InputDataError(
            f"2-theta range {two_theta[0]:g}-{two_theta[-1]:g} deg is outside (0, 180) deg", source=source
        )


def write_xy(pattern: XRDPattern, path: str | Path) -> Path:
    """Write two whitespace-separated columns with a comment header holding the wavelength and lines."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = f"wavelength_A={pattern.wavelength:.6f}"
    if pattern.lines:
        header += "\nlines_A=" + ",".join(f"{lam:.6f}:{rel:g}" for lam, rel in pattern.lines)
    header += "\n2theta_deg intensity"
    np.savetxt(p, np.column_stack([pattern.two_theta, pattern.intensity]), fmt="%.5f %.3f", header=header)
    return p
