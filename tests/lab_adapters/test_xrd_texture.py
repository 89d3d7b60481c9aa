"""March-Dollase preferred orientation: the factor, its derivative, and its refinement on request."""

from __future__ import annotations

import numpy as np
import pytest

from lab_adapters.xrd.analyze import AnalysisConfig, XRDAnalyzer
from lab_adapters.xrd.benchmark import benchmark_world
from lab_adapters.xrd.peaks import phase_peaks
from lab_adapters.xrd.references import ReferenceSet
from lab_adapters.xrd.simulate import PhaseComponent, SimulationConfig, simulate_pattern
from lab_adapters.xrd.texture import Texture, distinct_directions, march_dollase, parse_direction
from loop.errors import InputDataError

LISTED, _ = benchmark_world()
RUTILE = "TiO2_rutile"


def test_factor_is_normalised_and_derivative_matches_finite_difference():
    pk = phase_peaks(LISTED[RUTILE])
    tex = Texture.of(pk, (0, 0, 1))
    assert np.allclose(tex.factor(1.0), 1.0)
    assert not np.allclose(tex.factor(0.7), 1.0)  # texture moves intensity between reflections
    h = 1e-6
    fd = (tex.factor(0.8 + h) - tex.factor(0.8 - h)) / (2 * h)
    assert np.allclose(tex.derivative(0.8), fd, rtol=1e-5, atol=1e-8)
    assert np.allclose(march_dollase(pk, (0, 0, 1), 0.8), tex.factor(0.8))


def test_symmetry_equivalent_directions_are_merged():
    cubic = phase_peaks(LISTED["MnO"])  # rock salt: [100], [010], [001] are one direction
    dirs = [t.direction for t in distinct_directions(cubic)]
    assert len(dirs) == 3  # <100>, <110>, <111>
    tetragonal = phase_peaks(LISTED[RUTILE])
    assert len(distinct_directions(tetragonal)) > len(dirs)


@pytest.mark.parametrize("text", ["0,0,1", "001", "0 0 1", (0, 0, 1)])
def test_parse_direction(text):
    assert parse_direction(text) == (0, 0, 1)


@pytest.mark.parametrize("text", ["0,0", "abc", "0,0,0"])
def test_bad_direction_is_refused(text):
    with pytest.raises(InputDataError, match="Miller"):
        parse_direction(text)
    with pytest.raises((InputDataError, ValueError)):
        AnalysisConfig(preferred_orientation={RUTILE: text})


@pytest.fixture(scope="module")
def textured_pattern():
    comps = [PhaseComponent(LISTED[RUTILE], 0.7, crystallite_size_nm=60, po_direction=(0, 0, 1), po_r=0.7),
             PhaseComponent(LISTED["CaO"], 0.3, crystallite_size_nm=60)]
    return simulate_pattern(comps, SimulationConfig(counts=20000), seed=3)


def test_refined_texture_recovers_r_and_fractions(textured_pattern):
    refs = ReferenceSet.from_structures({k: LISTED[k] for k in (RUTILE, "CaO", "MnO", "CaTiO3")})
    plain = XRDAnalyzer(refs).fit(textured_pattern)
    fit = XRDAnalyzer(refs, AnalysisConfig(preferred_orientation={RUTILE: "0,0,1"})).fit(textured_pattern)
    rutile = next(p for p in fit.phases if p.name == RUTILE)
    assert rutile.texture is not None and rutile.texture[0] == (0, 0, 1)
    assert rutile.texture[1] == pytest.approx(0.7, abs=0.05)
    assert fit.rwp < 0.8 * plain.rwp
    wf = {p.name: p.weight_fraction for p in fit.phases}
    assert wf[RUTILE] == pytest.approx(0.7, abs=0.03)
    record = next(p for p in fit.analysis.phases if p.name == RUTILE)
    assert record.preferred_orientation[:3] == [0, 0, 1]
    assert next(p for p in fit.phases if p.name == "CaO").texture is None


def test_auto_finds_the_direction_and_leaves_untextured_phases_alone(textured_pattern):
    refs = ReferenceSet.from_structures({k: LISTED[k] for k in (RUTILE, "CaO", "MnO", "CaTiO3")})
    fit = XRDAnalyzer(refs, AnalysisConfig(preferred_orientation={"*": "auto"})).fit(textured_pattern)
    tex = {p.name: p.texture for p in fit.phases}
    assert tex[RUTILE] is not None and tex[RUTILE][0] == (0, 0, 1)
    assert tex["CaO"] is None  # a random powder: the F-test does not support an r
