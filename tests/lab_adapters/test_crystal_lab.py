"""The crystal lab end to end: recipe, synthesis, XRD pattern and fit, yield and properties."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from lab_adapters.crystal.lab import CrystalLab
from lab_adapters.crystal.synthesis import synthesize
from lab_adapters.xrd import read_pattern
from loop.clock import SimulatedClock
from loop.errors import ConfigError
from loop.interfaces import PluginContext
from loop.records import Candidate, ExperimentRequest, Precursor, Recipe

KINDS = ["fcc", "bcc", "dimer", "rocksalt", "fluorite", "rutile"]


def make_lab(tmp_path, cache, **over) -> CrystalLab:
    opts = {
        "elements": ["Li", "O"], "prototype_kinds": KINDS, "reference_fmax": 0.2, "reference_steps": 30,
        "world_cache_dir": str(cache), "truth": {"fmax": 0.2, "steps": 30}, "latency_s": 100, "capacity": 2,
    }
    opts.update(over)
    return CrystalLab(CrystalLab.Config(**opts), PluginContext(work_dir=tmp_path, seed=3, clock=SimulatedClock()))


def test_config_names_bad_options(tmp_path):
    with pytest.raises(ValidationError, match="unknown properties"):
        CrystalLab.Config(elements=["Li", "O"], properties=["colour"])
    with pytest.raises(ValidationError, match="computed, not measured"):
        CrystalLab.Config(elements=["Li", "O"], properties=["e_hull"])
    cfg = CrystalLab.Config(elements=["Li", "O"])
    assert cfg.potential == {"kind": "chgnet", "options": {"model_name": "r2scan"}} and cfg.hidden_error is not None
    with pytest.raises(ConfigError, match="band_gap_model"):
        make_lab(tmp_path, tmp_path / "w", properties=["band_gap"])
    caps = make_lab(tmp_path, tmp_path / "w").capabilities()
    assert caps.xrd and {"yield", "novel"} <= set(caps.properties) and caps.recipe_kind == "synthesis" and caps.elements == ["Li", "O"]


@pytest.mark.slow
def test_experiments_return_xrd_yields_files_and_properties(tmp_path):
    lab = make_lab(tmp_path / "lab", tmp_path / "worlds")
    world = lab.world
    li2o_phase = next(p for p in world.stable_phases if p.formula == "Li2O")
    li2o = li2o_phase.structure
    rocksalt = next(p for p in world.hull.phases if p.name == "rocksalt:LiO").structure
    cands = [Candidate.from_structure(li2o), Candidate.from_structure(rocksalt)]
    reqs = [ExperimentRequest(request_id=f"q{i}", candidate=c, round=0) for i, c in enumerate(cands)]
    reqs.append(ExperimentRequest(
        request_id="cold", candidate=cands[1], round=0,
        recipe=Recipe(precursors=[Precursor(formula="Li2O", amount=1.0)], temperature_c=25.0, time_h=0.0),
    ))
    lab.submit(reqs)
    assert lab.poll() == []  # nothing before the latency
    lab.context.clock.advance_to(1000)
    obs = {o.request_id: o for o in lab.poll()}
    assert set(obs) == {"q0", "q1", "cold"}
    for rid, o in obs.items():
        assert o.success and o.phase_analysis is not None and o.phase_analysis.rwp is not None
        assert o.values["yield"].value == o.phase_analysis.target_fraction
        xy, fit = (o.raw_files[1], o.raw_files[2])
        assert o.xrd_pattern == xy and fit.endswith(".fit.csv")
        pattern = read_pattern(xy)
        assert pattern.two_theta[0] == pytest.approx(10.0) and pattern.two_theta[-1] == pytest.approx(80.0)
        header = open(fit).readline().strip().split(",")
        assert header[:3] == ["two_theta", "observed", "fit"] and set(header[3:]) == {p.name for p in o.phase_analysis.phases}
        # the XRD analysis recovers the yield the synthesis produced (replayed with the lab's own draws)
        truth = lab.truth(next(c for c in cands if c.id == o.candidate_id))
        recipe = lab.plan_recipe(next(r.recipe for r in reqs if r.request_id == rid), truth.formula)
        outcome = synthesize(truth.relaxed, truth.e_hull, recipe, world, lab.cfg.synthesis, lab.seed, lab.request_rng(rid))
        assert all(p.formula != truth.formula for p in recipe.precursors)  # never the target as precursor
        assert o.phase_analysis.target_fraction == pytest.approx(outcome.target_fraction, abs=0.05)
    # the stable oxide made by the planner's recipe: the target, with sample properties and never an energy
    assert {"density", "bulk_modulus", "yield"} <= set(obs["q0"].values)
    for o in obs.values():
        assert not {"e_hull", "formation_energy", "energy_per_atom"} & set(o.values)
    # measured novelty: the world's own Li2O is named as the known phase it is, and is never novel
    assert obs["q0"].phase_analysis.target_known_as == world.phase_label(li2o_phase) and obs["q0"].values["novel"].value == 0.0
    for o in obs.values():
        pa = o.phase_analysis
        found = pa.target_fraction >= lab.cfg.min_target_fraction
        assert o.values["novel"].value == (1.0 if found and pa.target_known_as is None else 0.0)
    # nothing reacted: the precursor is there, the target is not found and sample properties are not measured
    cold = obs["cold"]
    assert cold.phase_analysis.target_fraction < 0.05 and "density" not in cold.values and "yield" in cold.values
    # the lab tells the campaign its recipe up front (stored in the ledger before submission)
    planned = lab.recipe_for(cands[1])
    assert planned is not None and planned.precursors and planned.temperature_c
    # a restarted lab re-delivers from its journal the same answers
    again = make_lab(tmp_path / "lab", tmp_path / "worlds")
    again.context.clock.advance_to(1000)
    replay = {o.request_id: o for o in again.poll()}
    assert replay["q1"].values["yield"].value == obs["q1"].values["yield"].value
    assert replay["q1"].values == obs["q1"].values


@pytest.mark.slow
def test_without_xrd_the_true_products_are_reported_with_a_noisy_yield(tmp_path):
    lab = make_lab(tmp_path / "lab", tmp_path / "worlds", xrd=False, yield_noise=0.0, noise={})
    li2o = next(p for p in lab.world.stable_phases if p.formula == "Li2O").structure
    lab.submit([ExperimentRequest(request_id="a", candidate=Candidate.from_structure(li2o), round=0)])
    lab.context.clock.advance_to(1000)
    (o,) = lab.poll()
    assert o.xrd_pattern is None and o.phase_analysis is not None
    assert sum(p.weight_fraction for p in o.phase_analysis.phases) == pytest.approx(1.0, abs=1e-4)
    assert o.values["density"].uncertainty is None  # no noise configured
    assert np.isfinite(o.values["density"].value) and "e_hull" not in o.values


@pytest.mark.slow
def test_a_half_reacted_precursor_is_read_as_part_of_the_sample(tmp_path):
    """Every yield of the test above is 0 or 1 (the Li-O world has no stable phase to leave beside Li2O), so it
    cannot see a wrong reading in between; here the peroxide half decomposes (Li2O2 -> Li2O + 1/2 O2, 300 C, 12 h)."""
    lab = make_lab(tmp_path / "lab", tmp_path / "worlds")
    li2o = Candidate.from_structure(next(p for p in lab.world.stable_phases if p.formula == "Li2O").structure)
    recipe = Recipe(precursors=[Precursor(formula="Li2O2", amount=1.0)], temperature_c=300.0, time_h=12.0, atmosphere="Ar")
    lab.submit([ExperimentRequest(request_id="half", candidate=li2o, round=0, recipe=recipe)])
    lab.context.clock.advance_to(1000)
    (o,) = lab.poll()
    truth = lab.truth(li2o)
    outcome = synthesize(truth.relaxed, truth.e_hull, lab.plan_recipe(recipe, truth.formula), lab.world, lab.cfg.synthesis,
                         lab.seed, lab.request_rng("half"))
    assert 0.2 < outcome.target_fraction < 0.8  # what the furnace made: Li2O beside unreacted Li2O2
    # the analyst knows the metastable peroxide (a known phase of the system, not only the stable ones)
    assert "Li2O2" in {p.formula for p in o.phase_analysis.phases}
    assert o.values["yield"].value == pytest.approx(outcome.target_fraction, abs=0.1)
