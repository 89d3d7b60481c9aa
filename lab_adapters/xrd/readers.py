"""Readers for the powder-pattern files that diffractometers and their software write.

:func:`read_pattern` dispatches on the suffix:

- ``.xy``, ``.xye``, ``.txt``, ``.dat``, ``.csv``, ``.asc``: 2-4 numeric columns (whitespace,
  comma or semicolon separated): 2-theta, intensity, then the ESD (``.xye``, or a column
  named ``esd``/``sigma``/``error``) or a background/fit column (ignored). Comment lines
  (``#``, ``!``, ``'``, ``%``, ``;``) and non-numeric header lines before the data are skipped.
- ``.xrdml`` (PANalytical XML), read with ``xrayutilities``; the wavelengths come from
  ``usedWavelength`` (K-alpha1, K-alpha2 and their ratio).
- ``.ras`` (Rigaku), read with ``xrayutilities``; counts are intensity times the attenuator
  factor, wavelengths from ``*HW_XG_WAVE_LENGTH_ALPHA1/2``.
- Bruker ``.raw`` and ``.brml``, GSAS ``.gsa``/``.gsas``/``.fxye``: no maintained Python
  reader covers them for our Python, so they get a clear "unsupported format" error that
  says which version the file is and how to convert it.

Wavelength: the file's, else ``wavelength`` if given, else Cu K-alpha1 + K-alpha2 (ratio 0.5),
recorded as ``wavelength_origin == "assumed"`` so that a report can say so. A ``wavelength``
that contradicts the file's by more than 0.5 % is an error unless ``force_wavelength`` is set
(then it wins and a warning is recorded in ``metadata["warnings"]``).

An x axis in d-spacing or Q (a header that says so, or an axis that ends below 12 deg and
would be a 2-theta scan of no use) is an error: the analysis needs 2-theta.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from lab_adapters.xrd.pattern import KA2_RATIO, XRDPattern, emission_lines
from loop.errors import InputDataError

__all__ = ["PATTERN_SUFFIXES", "UNSUPPORTED_SUFFIXES", "read_pattern"]

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".xy", ".xye", ".txt", ".dat", ".csv", ".asc"}
PATTERN_SUFFIXES = TEXT_SUFFIXES | {".xrdml", ".ras"}
UNSUPPORTED_SUFFIXES = {".raw", ".brml", ".gsa", ".gsas", ".fxye", ".gss"}
_SPLIT = re.compile(r"[\s,;]+")
_HEADER_KEY = re.compile(r"^[#!'%;]?\s*(wavelength_A|lines_A)\s*=\s*(\S+)", re.MULTILINE)
_ESD_NAMES = ("esd", "sigma", "error", "err", "std", "uncertainty", "sd")
_NOT_TWO_THETA = {"d", "dspacing", "d-spacing", "d_spacing", "dvalue", "d-value", "q", "qvalue", "q-value"}
_MIN_TWO_THETA_END = 12.0
_RELATIVE_TOLERANCE = 0.005


def read_pattern(
    path: str | Path, wavelength: str | float | None = None, force_wavelength: bool = False
) -> XRDPattern:
    """Read a pattern file (see the module docstring for formats and the wavelength rules)."""
    p = Path(path)
    if not p.is_file():
        raise InputDataError("no such pattern file", source=str(p))
    suffix = p.suffix.lower()
    if suffix in UNSUPPORTED_SUFFIXES:
        raise InputDataError(_unsupported_message(p), source=str(p))
    if suffix == ".xrdml":
        tt, yy, esd, file_lines = _read_xrdml(p)
    elif suffix == ".ras":
        tt, yy, esd, file_lines = _read_ras(p)
    elif suffix in TEXT_SUFFIXES:
        tt, yy, esd, file_lines = _read_columns(p)
    else:
        known = ", ".join(sorted(PATTERN_SUFFIXES))
        raise InputDataError(f"unknown pattern format {suffix!r}; readable formats: {known}", source=str(p))
    lam, lines, origin, warnings = _choose_wavelength(p, file_lines, wavelength, force_wavelength)
    meta: dict[str, float | str] = {}
    if warnings:
        meta["warnings"] = "; ".join(warnings)
        for w in warnings:
            logger.warning("%s: %s", p, w)
    if origin == "assumed":
        logger.info("%s carries no wavelength; assuming Cu K-alpha1 + K-alpha2 (ratio %.1f)", p, KA2_RATIO)
    return XRDPattern(tt, yy, lam, str(p), meta, esd, lines, origin)


# ----------------------------------------------------------------- wavelength
def _choose_wavelength(
    path: Path, file_lines: tuple[tuple[float, float], ...] | None, given: str | float | None, force: bool
) -> tuple[float, tuple[tuple[float, float], ...] | None, str, list[str]]:
    if given is None:
        if file_lines:
            return file_lines[0][0], (file_lines if len(file_lines) > 1 else None), "file", []
        lam, lines = emission_lines(None)
        return lam, lines, "assumed", []
    lam, lines = emission_lines(given)
    if file_lines:
        stored = file_lines[0][0]
        if abs(lam - stored) > _RELATIVE_TOLERANCE * stored:
            msg = (f"--wavelength {given} ({lam:.5f} A) contradicts the file's K-alpha1 of {stored:.5f} A")
            if not force:
                raise InputDataError(msg + "; drop --wavelength, or force it if the file's header is wrong",
                                     source=str(path))
            return lam, lines, "given", [msg + " (forced)"]
    return lam, lines, "given", []


def _unsupported_message(path: Path) -> str:
    suffix = path.suffix.lower()
    head = path.read_bytes()[:8]
    if suffix == ".raw":
        version = {b"RAW ": "v1", b"RAW2": "v2", b"RAW1.01": "v3", b"RAW4.00": "v4"}
        found = next((v for k, v in version.items() if head.startswith(k)), None)
        what = f"Bruker RAW {found}" if found else "a .raw file that is not a known Bruker RAW version"
        return (f"unsupported format: {what}; no maintained reader covers Bruker RAW here. "
                "Export the scan as .xy or .xrdml (e.g. DIFFRAC.EVA 'Save as', or PowDLL) and read that")
    if suffix == ".brml":
        return "unsupported format: Bruker BRML; export the scan as .xy or .xrdml and read that"
    return f"unsupported format: GSAS {suffix}; convert to .xy (2-theta, intensity, esd) or .xrdml and read that"


# ----------------------------------------------------------------- text columns
def _read_columns(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple | None]:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError as exc:
        raise InputDataError(f"not a text file ({exc.reason} at byte {exc.start})", source=str(path)) from exc
    rows: list[list[float]] = []
    header: list[str] = []
    width = None
    lines = text.splitlines()
    last = max((i for i, raw in enumerate(lines, start=1) if raw.strip()), default=0)
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line[0] in "#!'%;":
            header.append(line)
            continue
        parts = [t for t in _SPLIT.split(line) if t]
        try:
            values = [float(t) for t in parts]
        except ValueError:
            if not rows:  # a header line such as "2theta,intensity,esd"
                header.append(line)
                continue
            raise InputDataError(f"line {lineno}: non-numeric value in {line[:60]!r}", source=str(path)) from None
        if width is None:
            if not 2 <= len(values) <= 4:
                raise InputDataError(
                    f"line {lineno}: expected 2-4 columns (2-theta, intensity[, esd or background]), "
                    f"found {len(values)}", source=str(path))
            width = len(values)
        elif len(values) != width:
            hint = " (truncated file?)" if lineno == last and len(values) < width else ""
            raise InputDataError(f"line {lineno}: expected {width} columns like the lines before, found "
                                 f"{len(values)}{hint}", source=str(path))
        rows.append(values)
    if not rows:
        raise InputDataError("no numeric data rows (empty or truncated file)", source=str(path))
    _check_axis(path, header, rows[0][0], rows[-1][0])
    arr = np.asarray(rows, dtype=float)
    if len(arr) > 1 and np.all(np.diff(arr[:, 0]) < 0):  # a descending scan is still a valid grid
        arr = arr[::-1]
    esd = arr[:, 2] if width >= 3 and _third_is_esd(path, header) else None
    return arr[:, 0], arr[:, 1], esd, _header_lines(header)


def _third_is_esd(path: Path, header: list[str]) -> bool:
    """``.xye`` or a header naming the third column as an ESD; otherwise it is background/fit and ignored."""
    if path.suffix.lower() == ".xye":
        return True
    for line in header:
        names = [t.lower() for t in _SPLIT.split(line.lstrip("#!'%;").strip()) if t]
        if len(names) >= 3:
            return any(names[2].startswith(n) for n in _ESD_NAMES)
    return False


def _check_axis(path: Path, header: list[str], first: float, last: float) -> None:
    for line in header:
        body = line.lstrip("#!'%;").strip()
        if _HEADER_KEY.match(line):
            continue
        tokens = [t for t in _SPLIT.split(body) if t]
        name = re.sub(r"[(\[].*$", "", tokens[0].lower()) if tokens else ""
        if name in _NOT_TWO_THETA:
            raise InputDataError(f"the x column is {tokens[0]!r}, not 2-theta; convert the pattern to 2-theta "
                                 "(degrees) first", source=str(path))
    hi, lo = max(first, last), min(first, last)
    if hi < _MIN_TWO_THETA_END and hi - lo > 2.0:  # a narrow zoom below 12 deg can still be 2-theta
        raise InputDataError(f"the x axis runs {min(first, last):g}-{hi:g}: that looks like d-spacing (A) or Q "
                             "(1/A), not 2-theta in degrees; convert it first", source=str(path))


def _header_lines(header: list[str]) -> tuple[tuple[float, float], ...] | None:
    found = {k: v for k, v in (m.groups() for line in header for m in [_HEADER_KEY.match(line)] if m)}
    if "lines_A" in found:
        try:
            return tuple((float(a), float(b)) for a, b in (item.split(":") for item in found["lines_A"].split(",")))
        except ValueError:
            return None
    if "wavelength_A" in found:
        try:
            return ((float(found["wavelength_A"]), 1.0),)
        except ValueError:
            return None
    return None


# ----------------------------------------------------------------- PANalytical XRDML
def _read_xrdml(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple | None]:
    from xrayutilities.io.panalytical_xml import XRDMLFile

    try:
        root = ET.parse(path).getroot()  # well-formedness and the wavelength block
    except ET.ParseError as exc:
        raise InputDataError(f"malformed or truncated XRDML ({exc})", source=str(path)) from exc
    axes = {el.get("axis") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "positions"}
    if "2Theta" not in axes:
        raise InputDataError(f"XRDML scan has no 2Theta axis (axes: {sorted(a for a in axes if a)}); "
                             "a 2-theta powder scan is needed", source=str(path))
    try:
        scans = XRDMLFile(str(path)).scans
    except Exception as exc:  # xrayutilities raises several types for files that lack what it expects
        logger.debug("xrayutilities cannot read %s (%s); reading its dataPoints directly", path, exc)
        return _read_xrdml_points(root, path)
    if not scans:
        raise InputDataError("XRDML holds no scan", source=str(path))
    if len(scans) > 1:
        logger.warning("%s holds %d scans; using the first", path, len(scans))
    scan = scans[0]
    data = scan.ddict
    key = "counts" if "counts" in data else ("intensities" if "intensities" in data else None)
    if key is None or "2Theta" not in data:
        raise InputDataError("XRDML has no 2Theta positions or counts", source=str(path))
    yy = np.asarray(data[key], dtype=float).ravel()
    tt = np.asarray(data["2Theta"], dtype=float).ravel()
    att = data.get("beamAttenuationFactors")
    if att is not None and np.size(att) == yy.size:
        yy = yy * np.asarray(att, dtype=float).ravel()
    if tt.size != yy.size:
        raise InputDataError(f"XRDML has {tt.size} 2Theta positions for {yy.size} counts", source=str(path))
    esd = np.sqrt(np.maximum(yy, 1.0)) if key == "counts" else None
    return tt, yy, esd, _xrdml_lines(root)


def _read_xrdml_points(root: ET.Element, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple | None]:
    """The first ``dataPoints`` block of a minimal XRDML (start/end or listed 2Theta positions)."""
    points = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "dataPoints"), None)
    if points is None:
        raise InputDataError("XRDML has no <dataPoints> element", source=str(path))
    counts, positions = None, None
    for child in points:
        name = child.tag.rsplit("}", 1)[-1]
        if name == "positions" and child.get("axis") == "2Theta":
            positions = {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in child}
        elif name in ("counts", "intensities") and counts is None:
            counts = (name, child.text or "")
    if counts is None or not counts[1].strip() or positions is None:
        raise InputDataError("XRDML has no 2Theta positions or counts", source=str(path))
    try:
        yy = np.array(counts[1].split(), dtype=float)
        if "listPositions" in positions:
            tt = np.array(positions["listPositions"].split(), dtype=float)
        else:
            tt = np.linspace(float(positions["startPosition"]), float(positions["endPosition"]), yy.size)
    except (KeyError, ValueError) as exc:
        raise InputDataError(f"XRDML positions or counts are not numeric ({exc})", source=str(path)) from exc
    if tt.size != yy.size:
        raise InputDataError(f"XRDML has {tt.size} 2Theta positions for {yy.size} counts", source=str(path))
    esd = np.sqrt(np.maximum(yy, 1.0)) if counts[0] == "counts" else None
    return tt, yy, esd, _xrdml_lines(root)


def _xrdml_lines(root: ET.Element) -> tuple[tuple[float, float], ...] | None:
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] != "usedWavelength":
            continue
        vals = {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in el}
        try:
            k1 = float(vals["kAlpha1"])
        except (KeyError, ValueError):
            return None
        try:
            k2, ratio = float(vals["kAlpha2"]), float(vals.get("ratioKAlpha2KAlpha1", KA2_RATIO))
        except (KeyError, ValueError):
            return ((k1, 1.0),)
        return ((k1, 1.0), (k2, ratio)) if ratio > 0 and k2 != k1 else ((k1, 1.0),)
    return None


# ----------------------------------------------------------------- Rigaku RAS
def _read_ras(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple | None]:
    from xrayutilities.io.rigaku_ras import RASFile

    text = path.read_bytes().decode("ascii", "ignore")
    if "*RAS_INT_START" not in text:
        raise InputDataError("RAS file has no *RAS_INT_START data block", source=str(path))
    if "*RAS_INT_END" not in text:
        raise InputDataError("RAS file ends inside its data block (truncated)", source=str(path))
    try:
        scans = RASFile(path.name, path=str(path.parent)).scans
    except Exception as exc:
        raise InputDataError(f"cannot read RAS: {type(exc).__name__}: {exc}", source=str(path)) from exc
    if not scans:
        raise InputDataError("RAS file holds no scan", source=str(path))
    scan = scans[0]
    axis = scan.scan_axis
    if "theta" not in axis.lower():
        raise InputDataError(f"RAS scan axis is {axis!r}, not 2-theta", source=str(path))
    data = scan.data
    tt = np.asarray(data[axis], dtype=float)
    counts = np.asarray(data["int"], dtype=float) * np.asarray(data["att"], dtype=float)
    header = "".join(scan.header)
    k1 = re.search(r"\*HW_XG_WAVE_LENGTH_ALPHA1\s+\"?([0-9.]+)", header)
    k2 = re.search(r"\*HW_XG_WAVE_LENGTH_ALPHA2\s+\"?([0-9.]+)", header)
    lines = None
    if k1:
        lines = ((float(k1.group(1)), 1.0),) + (((float(k2.group(1)), KA2_RATIO),) if k2 else ())
    return tt, counts, np.sqrt(np.maximum(counts, 1.0)), lines
