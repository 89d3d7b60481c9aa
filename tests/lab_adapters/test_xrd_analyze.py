from __future__ import annotations

import numpy as np
import pytest

from lab_adapters.xrd.analyze import AnalysisConfig, XRDAnalyzer, analyze_pattern
from lab_adapters.xrd.benchmark import benchmark_world
from lab_adapters.xrd.references import ReferenceSet
from lab_adapters.xrd.simulate import PhaseComponent, SimulationConfig, simulate_pattern
from loop.errors import InputDataError
from loop.records import PhaseAnalysis

LISTED, UNLISTED = benchmark_world()


@pytest.fixture(scope="module")
def analyzer():
    return XRDAnalyzer(ReferenceSet.from_structures(LISTED))


def _fractions(analysis):
    return {p.name: p.weight_fraction for p in analysis.phases}


def test_single_phase_is_found_alone(analyzer):
    pat = simulate_pattern([PhaseComponent(LISTED["MnTiO3"], 1.0, crystallite_size_nm=40)], seed=1)
    fit = analyzer.fit(pat, target="MnTiO3")
    assert _fractions(fit.analysis) == {"MnTiO3": pytest.approx(1.0)}
    assert fit.analysis.target_fraction == pytest.approx(1.0)
    assert fit.rwp < 0.1
    assert 0 < fit.analysis.confidence <= 1
    PhaseAnalysis.model_validate_json(fit.analysis.model_dump_json())


def test_mixture_fractions_strain_and_target(analyzer):
    comps = [
        PhaseComponent(LISTED["CaTiO3"], 0.3, crystallite_size_nm=25, lattice_strain=0.003),
        PhaseComponent(LISTED["TiO2_rutile"], 0.6, crystallite_size_nm=60),
        PhaseComponent(LISTED["MnO"], 0.1, crystallite_size_nm=15),
    ]
    fit = analyzer.fit(simulate_pattern(comps, SimulationConfig(counts=20000), seed=2), target="CaTiO3")
    got = _fractions(fit.analysis)
    assert set(got) == {"CaTiO3", "TiO2_rutile", "MnO"}
    assert got["CaTiO3"] == pytest.approx(0.3, abs=0.03)
    assert got["TiO2_rutile"] == pytest.approx(0.6, abs=0.03)
    assert got["MnO"] == pytest.approx(0.1, abs=0.03)
    assert fit.analysis.target_fraction == pytest.approx(got["CaTiO3"])
    strain = {p.name: p.strain for p in fit.phases}
    assert strain["CaTiO3"] == pytest.approx(0.003, abs=0.0015)
    assert abs(strain["TiO2_rutile"]) < 0.0015


def test_robust_to_unmodelled_effects_and_unlisted_impurity(analyzer):
    """K-alpha2, displacement, zero shift, amorphous hump, texture and a 3 wt% unlisted phase."""
    comps = [
        PhaseComponent(LISTED["Mn2TiO4"], 0.65, crystallite_size_nm=30, po_direction=(1, 1, 1), po_r=0.85),
        PhaseComponent(LISTED["CaO"], 0.35, crystallite_size_nm=70),
        PhaseComponent(UNLISTED["CaCO3"], 0.03, crystallite_size_nm=50),
    ]
    cfg = SimulationConfig(ka2=True, displacement_mm=0.1, zero_shift=0.04, hump=0.8, hump_center=22, counts=8000)
    fit = analyzer.fit(simulate_pattern(comps, cfg, seed=5))
    got = _fractions(fit.analysis)
    assert set(got) == {"Mn2TiO4", "CaO"}
    assert got["CaO"] == pytest.approx(0.35, abs=0.06)


def test_pattern_of_unlisted_phases_only_is_reported_unidentified(analyzer):
    pat = simulate_pattern([PhaseComponent(UNLISTED["TiO2_anatase"], 1.0)], seed=3)
    fit = analyzer.fit(pat)
    assert all(p.weight_fraction < 0.5 or not p.kept_on_evidence for p in fit.analysis.phases)
    u = fit.analysis.unidentified
    assert u is not None and u.detected
    # anatase's strongest line (101) is at 25.3 deg with Cu K-alpha
    assert any(abs(p.two_theta - 25.3) < 0.3 for p in u.peaks)
    assert u.intensity_share > 0.3


def test_cropped_range_and_unknown_target(analyzer):
    pat = simulate_pattern([PhaseComponent(LISTED["CaO"], 0.5), PhaseComponent(LISTED["Ti2O3"], 0.5)], seed=4)
    res = analyze_pattern(pat, analyzer.references, AnalysisConfig(two_theta_min=20, two_theta_max=70))
    assert set(_fractions(res)) == {"CaO", "Ti2O3"}
    with pytest.raises(InputDataError, match="not a reference phase"):
        analyzer.fit(pat, target="Unobtainium")


def test_deterministic(analyzer):
    pat = simulate_pattern([PhaseComponent(LISTED["CaMnO3"], 0.7), PhaseComponent(LISTED["MnO"], 0.3)], seed=6)
    a, b = analyzer.fit(pat).analysis, analyzer.fit(pat).analysis
    assert a == b
    assert np.isfinite(a.rwp)


def test_evidence_is_reported_per_phase(analyzer):
    pat = simulate_pattern([PhaseComponent(LISTED["CaO"], 0.7), PhaseComponent(LISTED["MnTiO3"], 0.3)], seed=7)
    fit = analyzer.fit(pat)
    for p in fit.analysis.phases:
        assert p.kept_on_evidence is True
        assert p.confidence is not None and p.confidence > 0.999
        assert p.lattice is not None and len(p.lattice) == 6
    cao = next(p for p in fit.analysis.phases if p.name == "CaO")
    assert cao.lattice[0] == pytest.approx(LISTED["CaO"].lattice.a, rel=0.003)
    assert fit.analysis.unidentified is not None and not fit.analysis.unidentified.detected


def test_disordered_reference_is_fitted_with_a_warning():
    from pymatgen.core import Structure

    ordered = LISTED["MnO"]
    disordered = Structure(ordered.lattice, [{"Mn": 0.5, "Fe": 0.5} if s.specie.symbol == "Mn" else s.species
                                             for s in ordered], ordered.frac_coords)
    refs = ReferenceSet.from_structures({"MnFeO_ss": disordered, "CaO": LISTED["CaO"]})
    fit = XRDAnalyzer(refs).fit(simulate_pattern([PhaseComponent(disordered, 1.0)], seed=8))
    assert [p.name for p in fit.analysis.phases] == ["MnFeO_ss"]
    assert any("partial occupancies" in w for w in fit.analysis.warnings)
