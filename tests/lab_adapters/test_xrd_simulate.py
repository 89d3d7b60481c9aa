from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from lab_adapters.xrd.peaks import phase_peaks
from lab_adapters.xrd.simulate import PhaseComponent, SimulationConfig, march_dollase, simulate_pattern
from loop.errors import InputDataError

MNO = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.445), ["Mn", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
RUTILE = Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"],
                                   [[0, 0, 0], [0.305, 0.305, 0]])


def _tt(d, lam=1.54184):
    return math.degrees(2 * math.asin(lam / (2 * d)))


def test_seeded_and_reproducible():
    comps = [PhaseComponent(MNO, 1.0)]
    a = simulate_pattern(comps, seed=3)
    b = simulate_pattern(comps, seed=3)
    c = simulate_pattern(comps, seed=4)
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert not np.array_equal(a.intensity, c.intensity)
    assert a.two_theta[0] == pytest.approx(10) and a.two_theta[-1] == pytest.approx(80)
    assert (a.intensity >= 0).all()


def test_peak_positions_follow_lattice_and_strain():
    cfg = SimulationConfig(noise=False, background=0.0)
    pat = simulate_pattern([PhaseComponent(MNO, 1.0, crystallite_size_nm=80)], cfg)
    top = pat.two_theta[np.argmax(pat.intensity)]
    assert top == pytest.approx(_tt(4.445 / 2), abs=0.03)  # (200) is the strongest rock-salt line
    strained = simulate_pattern([PhaseComponent(MNO, 1.0, crystallite_size_nm=80, lattice_strain=0.005)], cfg)
    assert strained.two_theta[np.argmax(strained.intensity)] == pytest.approx(_tt(4.445 * 1.005 / 2), abs=0.03)


def test_scherrer_broadening_and_ka2_doublet():
    cfg = SimulationConfig(noise=False, background=0.0, inst_fwhm=0.02)

    def width_at(pat, center):
        m = (pat.two_theta > center - 3) & (pat.two_theta < center + 3)
        y = pat.intensity[m]
        return float(np.sum(y > y.max() / 2)) * cfg.step

    c = _tt(4.445 / 2)
    w10 = width_at(simulate_pattern([PhaseComponent(MNO, 1.0, crystallite_size_nm=10)], cfg), c)
    w100 = width_at(simulate_pattern([PhaseComponent(MNO, 1.0, crystallite_size_nm=100)], cfg), c)
    expected10 = math.degrees(0.9 * 0.154184 / (10 * math.cos(math.radians(c / 2))))
    assert w10 == pytest.approx(expected10, rel=0.2)
    assert w100 < w10 / 4
    # K-alpha doublet: at high angle the (222)/(400) lines split by the Ka1/Ka2 dispersion
    dbl = simulate_pattern([PhaseComponent(MNO, 1.0, crystallite_size_nm=200)], cfg.model_copy(update={"ka2": True}))
    d400 = 4.445 / (2 * math.sqrt(3))  # (222)
    m = (dbl.two_theta > _tt(d400) - 1) & (dbl.two_theta < _tt(d400) + 1)
    y, x = dbl.intensity[m], dbl.two_theta[m]
    maxima = x[1:-1][(y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > 0.2 * y.max())]
    assert len(maxima) == 2
    split = _tt(d400, 1.54439) - _tt(d400, 1.54056)
    assert maxima[1] - maxima[0] == pytest.approx(split, abs=0.04)


def test_displacement_shifts_peaks_down():
    cfg = SimulationConfig(noise=False, background=0.0, displacement_mm=0.2)
    pat = simulate_pattern([PhaseComponent(MNO, 1.0, crystallite_size_nm=80)], cfg)
    c = _tt(4.445 / 2)
    expected = c - math.degrees(2 * 0.2 * math.cos(math.radians(c / 2)) / 240)
    assert pat.two_theta[np.argmax(pat.intensity)] == pytest.approx(expected, abs=0.025)


def test_march_dollase_texture():
    pk = phase_peaks(RUTILE, "rutile")
    assert np.allclose(march_dollase(pk, (0, 0, 1), 1.0), 1.0)
    fac = march_dollase(pk, (0, 0, 1), 0.7)
    fam = [f[0][0] for f in pk.families]
    i002 = fam.index((0, 0, 2))
    i110 = fam.index((1, 1, 0))
    assert fac[i002] == pytest.approx(0.7**-3, rel=1e-6)  # all (00l) normals lie along the axis
    assert fac[i110] == pytest.approx(0.7**1.5, rel=1e-6)  # perpendicular: (1/r)^(-3/2)


def test_weight_fractions_do_not_depend_on_the_cell_choice():
    """Hill-Howard scale w / (M V): a primitive and a conventional cell of one phase weigh the same.

    The conventional rock-salt cell has 4x the mass, 4x the volume and 16x |F|^2 of the
    primitive one; with a scale proportional to w alone the conventional cell would count 4x.
    """
    cfg = SimulationConfig(noise=False)
    prim = MNO.get_primitive_structure()
    assert len(prim) * 4 == len(MNO)
    a = simulate_pattern([PhaseComponent(MNO, 0.3), PhaseComponent(RUTILE, 0.7)], cfg)
    b = simulate_pattern([PhaseComponent(prim, 0.3), PhaseComponent(RUTILE, 0.7)], cfg)
    np.testing.assert_allclose(a.intensity, b.intensity, rtol=1e-6)
    c = simulate_pattern([PhaseComponent(MNO, 0.6), PhaseComponent(RUTILE, 0.4)], cfg)
    assert np.abs(c.intensity - a.intensity).max() > 0.05 * cfg.counts


def test_bad_inputs():
    with pytest.raises(InputDataError, match="at least one phase"):
        simulate_pattern([])
    with pytest.raises(InputDataError, match="K-alpha2"):
        simulate_pattern([PhaseComponent(MNO, 1.0)], SimulationConfig(ka2=True, wavelength="MoKa"))


def test_empty_sample_on_request_is_background_only():
    """A sample with nothing crystalline the world can show (only an unreacted carbonate)."""
    cfg = SimulationConfig(noise=False, background=150.0, background_low_angle=0.0)
    pat = simulate_pattern([], cfg, allow_empty=True)
    assert np.allclose(pat.intensity, 150.0)
