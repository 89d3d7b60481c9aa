"""Powder XRD patterns: the :class:`XRDPattern` record, file readers and a writer.

A pattern is a strictly increasing 2-theta grid (degrees, shape ``(n,)``) with the
intensity (counts, ``>= 0``, shape ``(n,)``) measured at each angle, the X-ray wavelength
(Angstrom) and the file it came from.

Readers (:func:`read_pattern` dispatches on the suffix):

- ``.xy``, ``.txt``, ``.dat``, ``.csv``: two numeric columns (whitespace, comma or
  semicolon separated); ``#``/``!``/``'`` comment lines and a leading non-numeric header
  line are skipped.
- ``.xrdml`` (PANalytical XML): ``positions`` (``startPosition``/``endPosition`` or
  ``listPositions``) of the 2Theta axis and ``counts`` or ``intensities``; the wavelength
  is read from ``usedWavelength`` (K-alpha1) when present.

Every malformed file raises :class:`loop.errors.InputDataError` naming the file and what is
wrong: NaN/inf or negative counts, a row with the wrong number of columns, a
non-monotonic or too short angle grid, a truncated file.

>>> p = read_pattern("sample.xy")                     # doctest: +SKIP
>>> write_xy(p, "copy.xy")                            # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS

from loop.errors import InputDataError

__all__ = [
    "CU_KA",
    "MIN_POINTS",
    "XRDPattern",
    "read_pattern",
    "resolve_wavelength",
    "write_xy",
]

CU_KA = WAVELENGTHS["CuKa"]
MIN_POINTS = 20
_TEXT_SUFFIXES = {".xy", ".txt", ".dat", ".csv", ".asc"}
_SPLIT = re.compile(r"[\s,;]+")
_WAVELENGTH_COMMENT = re.compile(r"^[#!']\s*wavelength_A=([0-9.]+)", re.MULTILINE)


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


@dataclass(frozen=True, eq=False)
class XRDPattern:
    """A powder pattern: ``two_theta`` (deg, ``(n,)``, strictly increasing), ``intensity`` (``(n,)``, >= 0)."""

    two_theta: np.ndarray
    intensity: np.ndarray
    wavelength: float = CU_KA
    source: str | None = None
    metadata: dict[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tt = np.ascontiguousarray(self.two_theta, dtype=float)
        yy = np.ascontiguousarray(self.intensity, dtype=float)
        object.__setattr__(self, "two_theta", tt)
        object.__setattr__(self, "intensity", yy)
        validate_arrays(tt, yy, self.source)

    def __len__(self) -> int:
        return len(self.two_theta)

    def cropped(self, lo: float, hi: float) -> XRDPattern:
        """The part of the pattern with ``lo <= 2theta <= hi``."""
        m = (self.two_theta >= lo) & (self.two_theta <= hi)
        return XRDPattern(self.two_theta[m], self.intensity[m], self.wavelength, self.source, dict(self.metadata))


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


def read_pattern(path: str | Path, wavelength: str | float | None = None) -> XRDPattern:
    """Read a pattern file; ``wavelength`` overrides the one stored in the file (default Cu K-alpha)."""
    p = Path(path)
    if not p.is_file():
        raise InputDataError("no such pattern file", source=str(p))
    suffix = p.suffix.lower()
    if suffix == ".xrdml":
        return _read_xrdml(p, wavelength)
    if suffix in _TEXT_SUFFIXES:
        tt, yy, stored = _read_columns(p)
        lam = resolve_wavelength(wavelength) if wavelength is not None or stored is None else stored
        return XRDPattern(tt, yy, lam, str(p))
    raise InputDataError(
        f"unknown pattern format {suffix!r}; use one of {', '.join(sorted(_TEXT_SUFFIXES | {'.xrdml'}))}",
        source=str(p),
    )


def _read_columns(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InputDataError(f"not a text file ({exc.reason} at byte {exc.start})", source=str(path)) from exc
    rows: list[tuple[float, float]] = []
    seen_data = False
    stored = _WAVELENGTH_COMMENT.search(text)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!'%;":
            continue
        parts = [t for t in _SPLIT.split(line) if t]
        try:
            values = [float(t) for t in parts]
        except ValueError:
            if not seen_data:  # a header line such as "2theta,intensity"
                continue
            raise InputDataError(f"line {lineno}: non-numeric value in {line[:60]!r}", source=str(path)) from None
        if len(values) != 2:
            hint = " (truncated file?)" if lineno == _last_data_line(text) and len(values) < 2 else ""
            raise InputDataError(
                f"line {lineno}: expected 2 columns (2-theta, intensity), found {len(values)}{hint}", source=str(path)
            )
        seen_data = True
        rows.append((values[0], values[1]))
    if not rows:
        raise InputDataError("no numeric data rows (empty or truncated file)", source=str(path))
    arr = np.asarray(rows, dtype=float)
    tt, yy = arr[:, 0], arr[:, 1]
    if len(tt) > 1 and np.all(np.diff(tt) < 0):  # a descending scan is still a valid grid
        tt, yy = tt[::-1], yy[::-1]
    return tt, yy, (float(stored.group(1)) if stored else None)


def _last_data_line(text: str) -> int:
    lines = text.splitlines()
    for i in range(len(lines), 0, -1):
        if lines[i - 1].strip():
            return i
    return 0


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_xrdml(path: Path, wavelength: str | float | None) -> XRDPattern:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputDataError(f"malformed or truncated XRDML ({exc})", source=str(path)) from exc
    lam: float | None = None
    data_points = None
    for el in root.iter():
        name = _local(el.tag)
        if name == "usedWavelength" and lam is None:
            for child in el:
                if _local(child.tag) == "kAlpha1" and child.text:
                    lam = float(child.text)
        if name == "dataPoints" and data_points is None:
            data_points = el
    if data_points is None:
        raise InputDataError("XRDML has no <dataPoints> element", source=str(path))
    counts_el = None
    positions = None
    for child in data_points:
        name = _local(child.tag)
        if name == "positions" and child.get("axis") == "2Theta":
            positions = child
        elif name in ("counts", "intensities") and counts_el is None:
            counts_el = child
    if counts_el is None or not (counts_el.text or "").strip():
        raise InputDataError("XRDML has no <counts> or <intensities> data", source=str(path))
    if positions is None:
        raise InputDataError("XRDML has no 2Theta <positions>", source=str(path))
    try:
        yy = np.array([float(t) for t in counts_el.text.split()], dtype=float)
    except ValueError as exc:
        raise InputDataError(f"XRDML counts are not numeric ({exc})", source=str(path)) from exc
    tt = _xrdml_positions(positions, len(yy), path)
    lam_used = resolve_wavelength(wavelength) if wavelength is not None else (lam or CU_KA)
    return XRDPattern(tt, yy, lam_used, str(path))


def _xrdml_positions(el: ET.Element, n: int, path: Path) -> np.ndarray:
    values: dict[str, str] = {_local(c.tag): (c.text or "").strip() for c in el}
    if "listPositions" in values:
        tt = np.array([float(t) for t in values["listPositions"].split()], dtype=float)
        if len(tt) != n:
            raise InputDataError(f"XRDML lists {len(tt)} 2Theta positions for {n} counts", source=str(path))
        return tt
    if "startPosition" in values and "endPosition" in values:
        start, end = float(values["startPosition"]), float(values["endPosition"])
        if n < 2:
            raise InputDataError(f"XRDML holds only {n} counts", source=str(path))
        return np.linspace(start, end, n)
    raise InputDataError("XRDML 2Theta positions have neither start/end nor a list", source=str(path))


def write_xy(pattern: XRDPattern, path: str | Path) -> Path:
    """Write two whitespace-separated columns with a comment header holding the wavelength."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = f"wavelength_A={pattern.wavelength:.6f}\n2theta_deg intensity"
    np.savetxt(p, np.column_stack([pattern.two_theta, pattern.intensity]), fmt="%.5f %.3f", header=header)
    return p
