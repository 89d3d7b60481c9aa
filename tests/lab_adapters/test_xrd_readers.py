"""Readers on real measured files (the Dara .xrdml set) and on minimally edited copies of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab_adapters.xrd.pattern import XRDPattern, write_xy
from lab_adapters.xrd.readers import read_pattern
from loop.errors import InputDataError

DARA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "xrd_dara"
REAL = DARA / "patterns" / "TiO2_0p4009-ZnO_0p6010--2min.xrdml"

pytestmark = pytest.mark.skipif(not REAL.is_file(), reason=f"measured patterns not found at {DARA}")


@pytest.fixture(scope="module")
def real() -> XRDPattern:
    return read_pattern(REAL)


def test_real_xrdml_counts_grid_and_doublet(real):
    assert len(real) == 2071
    assert real.two_theta[0] == pytest.approx(10.0217, abs=1e-3)
    assert real.two_theta[-1] == pytest.approx(99.996, abs=1e-3)
    assert real.intensity[:3].tolist() == [1946.0, 1927.0, 1893.0]
    # the file's Cu K-alpha1/K-alpha2 and their ratio, not a mean wavelength
    assert real.lines == ((1.540598, 1.0), (1.544426, 0.5))
    assert real.wavelength_origin == "file"
    assert real.esd is not None and real.esd[0] == pytest.approx(np.sqrt(1946.0))


def _edit_counts(tmp_path: Path, name: str, edit) -> Path:
    text = REAL.read_text(encoding="utf-8-sig")
    head, rest = text.split('<counts unit="counts">', 1)
    values, tail = rest.split("</counts>", 1)
    parts = values.split()
    edit(parts)
    out = tmp_path / name
    out.write_text(head + '<counts unit="counts">' + " ".join(parts) + "</counts>" + tail, encoding="utf-8")
    return out


def test_truncated_xrdml_names_the_file(tmp_path):
    data = REAL.read_bytes()
    cut = tmp_path / "cut.xrdml"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputDataError, match="truncated") as err:
        read_pattern(cut)
    assert "cut.xrdml" in str(err.value)


@pytest.mark.parametrize(("value", "message"), [("NaN", "NaN"), ("-12", "negative counts")])
def test_nan_or_negative_counts_in_a_real_file(tmp_path, value, message):
    def edit(parts):
        parts[100] = value

    path = _edit_counts(tmp_path, "bad.xrdml", edit)
    with pytest.raises(InputDataError, match=message) as err:
        read_pattern(path)
    assert "bad.xrdml" in str(err.value)


def test_wavelength_that_contradicts_the_file(tmp_path):
    with pytest.raises(InputDataError, match="contradicts the file's K-alpha1"):
        read_pattern(REAL, "MoKa")
    forced = read_pattern(REAL, "MoKa", force_wavelength=True)
    assert forced.wavelength == pytest.approx(0.7093)
    assert "contradicts" in str(forced.metadata["warnings"])
    # agreeing with the file is fine: CuKa1 is the file's K-alpha1 within 0.5 %
    assert read_pattern(REAL, "CuKa1").wavelength == pytest.approx(1.54056)


def test_d_spacing_and_q_files_are_refused(tmp_path, real):
    lam = real.lines[0][0]
    d = lam / (2 * np.sin(np.radians(real.two_theta / 2)))
    with_header = tmp_path / "d.xy"
    np.savetxt(with_header, np.column_stack([d[::-1], real.intensity[::-1]]), header="d(A) intensity")
    with pytest.raises(InputDataError, match="not 2-theta"):
        read_pattern(with_header)
    q = 2 * np.pi / d  # Q = 4 pi sin(theta) / lambda
    bare = tmp_path / "q.xy"
    np.savetxt(bare, np.column_stack([q, real.intensity]))
    with pytest.raises(InputDataError, match="d-spacing .* or Q"):
        read_pattern(bare)


def test_three_and_four_column_exports(tmp_path, real):
    esd = np.sqrt(np.maximum(real.intensity, 1))
    xye = tmp_path / "a.xye"
    np.savetxt(xye, np.column_stack([real.two_theta, real.intensity, esd]))
    p = read_pattern(xye)
    assert p.esd is not None and np.allclose(p.esd, esd, rtol=1e-6)
    assert p.wavelength_origin == "assumed" and p.lines is not None  # Cu K-alpha1 + K-alpha2, said so
    fit_export = tmp_path / "b.xy"
    bkg = np.full(len(real), 1500.0)
    np.savetxt(fit_export, np.column_stack([real.two_theta, real.intensity, bkg, real.intensity - bkg]),
               header="2theta intensity background net")
    p = read_pattern(fit_export)
    assert p.esd is None  # a background column is not an ESD
    assert np.allclose(p.intensity, real.intensity)
    named = tmp_path / "c.csv"
    np.savetxt(named, np.column_stack([real.two_theta, real.intensity, esd]), delimiter=",",
               header="2theta,intensity,esd", comments="")
    assert read_pattern(named).esd is not None


def test_xy_round_trip_keeps_the_doublet(tmp_path, real):
    back = read_pattern(write_xy(real, tmp_path / "copy.xy"))
    assert np.allclose(back.lines, real.lines, atol=1e-6)
    assert back.wavelength_origin == "file"
    assert np.allclose(back.intensity, real.intensity)


def test_rigaku_ras(tmp_path, real):
    n = len(real)
    step = (real.two_theta[-1] - real.two_theta[0]) / (n - 1)
    header = [
        "*RAS_DATA_START", "*RAS_HEADER_START", '*FILE_COMMENT ""', '*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"',
        '*HW_XG_WAVE_LENGTH_ALPHA2 "1.544414"', '*MEAS_SCAN_AXIS_X_INTERNAL "TwoThetaTheta"',
        f'*MEAS_DATA_COUNT "{n}"', f'*MEAS_SCAN_STEP "{step:.6f}"', '*MEAS_SCAN_SPEED "10.0"',
        "*RAS_HEADER_END", "*RAS_INT_START",
    ]
    rows = [f"{t:.4f} {y / 2:.1f} 2.0" for t, y in zip(real.two_theta, real.intensity, strict=True)]
    ras = tmp_path / "scan.ras"
    ras.write_text("\n".join(header + rows + ["*RAS_INT_END", "*RAS_DATA_END", ""]))
    p = read_pattern(ras)
    assert np.allclose(p.intensity, real.intensity)  # counts = intensity x attenuator factor
    assert p.lines == ((1.540593, 1.0), (1.544414, 0.5))
    truncated = tmp_path / "cut.ras"
    truncated.write_text("\n".join(header + rows[:50]))
    with pytest.raises(InputDataError, match="truncated"):
        read_pattern(truncated)


@pytest.mark.parametrize(
    ("name", "head", "message"),
    [
        ("scan.raw", b"RAW1.01\x00\x00", "Bruker RAW v3"),
        ("scan.raw", b"RAW4.00\x00\x00", "Bruker RAW v4"),
        ("scan.raw", b"\x00\x01junk", "not a known Bruker RAW version"),
        ("scan.brml", b"PK\x03\x04", "Bruker BRML"),
        ("scan.gsa", b"BANK 1", "GSAS"),
        ("scan.fxye", b"BANK 1", "GSAS"),
    ],
)
def test_unsupported_formats_say_how_to_convert(tmp_path, name, head, message):
    path = tmp_path / name
    path.write_bytes(head + b"\x00" * 64)
    with pytest.raises(InputDataError, match=message) as err:
        read_pattern(path)
    assert "convert" in str(err.value).lower() or "export" in str(err.value).lower()
    assert name in str(err.value)
