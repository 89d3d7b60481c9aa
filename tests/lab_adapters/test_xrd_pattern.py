from __future__ import annotations

import numpy as np
import pytest

from lab_adapters.xrd.pattern import XRDPattern, resolve_wavelength, write_xy
from lab_adapters.xrd.readers import read_pattern
from loop.errors import InputDataError


def _grid(n=100):
    x = np.linspace(10, 80, n)
    return x, 100 + 50 * np.sin(x)


def _write(tmp_path, name, rows):
    p = tmp_path / name
    p.write_text("\n".join(rows) + "\n")
    return p


def test_xy_round_trip_keeps_values_and_wavelength(tmp_path):
    x, y = _grid()
    pat = XRDPattern(x, y, wavelength=0.70930)
    path = write_xy(pat, tmp_path / "a.xy")
    back = read_pattern(path)
    np.testing.assert_allclose(back.two_theta, x, atol=1e-5)
    np.testing.assert_allclose(back.intensity, y, atol=1e-3)
    assert back.wavelength == pytest.approx(0.7093)
    assert back.source == str(path)
    # an explicit wavelength overrides the stored one
    with pytest.raises(InputDataError, match="contradicts"):
        read_pattern(path, "CuKa")  # the file says Mo
    assert read_pattern(path, "CuKa", force_wavelength=True).wavelength == pytest.approx(1.54056)


def test_csv_with_header_and_descending_scan(tmp_path):
    x, y = _grid()
    rows = ["2theta,intensity"] + [f"{a},{b}" for a, b in zip(x[::-1], y[::-1], strict=True)]
    pat = read_pattern(_write(tmp_path, "a.csv", rows))
    assert np.all(np.diff(pat.two_theta) > 0)
    np.testing.assert_allclose(pat.intensity, y)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([f"{10 + i * 0.1} {'nan' if i == 30 else 5}" for i in range(50)], "NaN"),
        ([f"{10 + i * 0.1} {-3 if i == 7 else 5}" for i in range(50)], "negative counts"),
        ([f"{10 + i * 0.1} 5 1 2 3" for i in range(50)], "expected 2-4 columns"),
        ([f"{10 + (i if i != 20 else 5) * 0.1} 5" for i in range(50)], "not strictly increasing"),
        ([f"{10 + i * 0.1} 5" for i in range(5)], "at least"),
        ([f"{10 + i * 0.1} 5" for i in range(50)] + ["15.0"], "truncated"),
        ([], "no numeric data"),
    ],
)
def test_bad_text_files_raise_naming_the_file(tmp_path, rows, message):
    path = _write(tmp_path, "bad.xy", rows)
    with pytest.raises(InputDataError, match=message) as info:
        read_pattern(path)
    assert str(path) in str(info.value)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(InputDataError, match="unknown pattern format"):
        read_pattern(_write(tmp_path, "a.foo", ["1 2"]))
    with pytest.raises(InputDataError, match="no such pattern file"):
        read_pattern(tmp_path / "missing.xy")


XRDML = """<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5">
 <xrdMeasurement measurementType="Scan">
  <usedWavelength intended="K-Alpha 1"><kAlpha1 unit="Angstrom">1.5405980</kAlpha1>
   <kAlpha2 unit="Angstrom">1.5444260</kAlpha2><ratioKAlpha2KAlpha1>0.5</ratioKAlpha2KAlpha1></usedWavelength>
  <scan><dataPoints>
   <positions axis="2Theta" unit="deg"><startPosition>10.0</startPosition><endPosition>80.0</endPosition></positions>
   <positions axis="Omega" unit="deg"><startPosition>5.0</startPosition><endPosition>40.0</endPosition></positions>
   <counts unit="counts">{counts}</counts>
  </dataPoints></scan>
 </xrdMeasurement>
</xrdMeasurements>
"""


def test_xrdml_reader(tmp_path):
    counts = " ".join(str(i % 17 + 3) for i in range(351))
    path = tmp_path / "scan.xrdml"
    path.write_text(XRDML.format(counts=counts))
    pat = read_pattern(path)
    assert len(pat) == 351
    assert pat.two_theta[0] == 10.0 and pat.two_theta[-1] == 80.0
    assert pat.wavelength == pytest.approx(1.540598)
    truncated = tmp_path / "cut.xrdml"
    truncated.write_text(XRDML.format(counts=counts)[:-200])
    with pytest.raises(InputDataError, match="truncated") as info:
        read_pattern(truncated)
    assert "cut.xrdml" in str(info.value)


def test_wavelength_names():
    assert resolve_wavelength("MoKa") == pytest.approx(0.71073)
    assert resolve_wavelength("1.2") == pytest.approx(1.2)
    with pytest.raises(InputDataError, match="unknown wavelength"):
        resolve_wavelength("Unobtainium")
