"""The distinct-support test, its overlapped-phase branch, and a minor phase under a major one."""

from __future__ import annotations

import numpy as np
import pytest

from lab_adapters.xrd.analyze import XRDAnalyzer
from lab_adapters.xrd.benchmark import benchmark_world
from lab_adapters.xrd.evidence import support
from lab_adapters.xrd.references import ReferenceSet
from lab_adapters.xrd.simulate import PhaseComponent, SimulationConfig, simulate_pattern

X = np.linspace(10, 80, 3501)


def _peak(x0: float, h: float) -> np.ndarray:
    return h * np.exp(-0.5 * ((X - x0) / 0.05) ** 2)


def test_distinct_peaks_present_are_supported():
    curve = _peak(20, 100) + _peak(30, 80)
    s = support(curve, curve.copy(), _peak(50, 500), window=5, var=np.full(len(X), 10.0))
    assert s.distinct > 0.95 and s.passes(0.4)


def test_missing_own_peaks_fail():
    curve = _peak(20, 100) + _peak(30, 80)
    own = _peak(20, 100)  # the 30 deg line is not in the data
    s = support(curve, own, np.zeros(len(X)), window=5, var=np.full(len(X), 10.0))
    assert s.distinct < 0.7 and s.present_where_dominant < 0.9


def test_overlapped_phase_passes_only_with_a_good_fit():
    """A phase whose strong line sits under another's: supported by its small distinct line only
    when the fit is at the counting noise."""
    curve = _peak(40, 100) + _peak(55, 30)  # 40 deg under a major line, 55 deg its own
    others = _peak(40, 2000)
    var = np.full(len(X), 4.0)
    good = support(curve, curve + np.random.default_rng(0).normal(0, 2, len(X)), others, window=5, var=var)
    assert good.distinct < 0.4  # the strict rule alone refuses it
    assert good.gof < 3 and good.present_where_dominant > 0.9 and good.dominated_detection > 1
    assert good.passes(0.4)
    misfit = curve + 40 * np.sin(X)  # the same phase in a fit far from the noise
    bad = support(curve, misfit, others, window=5, var=var)
    assert bad.gof > 3 and not bad.passes(0.4)


def test_minor_perovskite_under_a_spinel_is_found():
    """CaMnO3 (10 wt %) beside Mn2TiO4 and CaTiO3: its strongest lines lie under theirs."""
    listed, _ = benchmark_world()
    comps = [PhaseComponent(listed["CaMnO3"], 0.1, crystallite_size_nm=40),
             PhaseComponent(listed["Mn2TiO4"], 0.7, crystallite_size_nm=40),
             PhaseComponent(listed["CaTiO3"], 0.2, crystallite_size_nm=40)]
    pat = simulate_pattern(comps, SimulationConfig(counts=20000), seed=5)
    fit = XRDAnalyzer(ReferenceSet.from_structures(listed)).fit(pat)
    got = {p.name: p.weight_fraction for p in fit.analysis.phases}
    assert set(got) == {"CaMnO3", "Mn2TiO4", "CaTiO3"}
    assert got["CaMnO3"] == pytest.approx(0.1, abs=0.04)


def test_lines_beside_the_counts_fail_the_position_test():
    """An unknown phase's lines near (not at) the candidate's: present within the window, but off centre."""
    curve = _peak(20, 100) + _peak(30, 80) + _peak(45, 60)
    shifted = _peak(20.12, 100) + _peak(29.88, 80) + _peak(45.12, 60)  # 0.12 deg: two widths of window/2 = 3 points
    var = np.full(len(X), 4.0)
    off = support(curve, shifted, np.zeros(len(X)), window=6, var=var)
    assert off.distinct > 0.4  # the windowed presence test alone would keep it
    assert off.position_rms > 0.5 and not off.passes(0.4)
    on = support(curve, curve.copy(), np.zeros(len(X)), window=6, var=var)
    assert on.position_rms < 0.05 and on.passes(0.4)
