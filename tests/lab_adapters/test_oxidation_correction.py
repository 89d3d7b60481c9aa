"""The world's oxidation-state correction puts its binary transition-metal oxides on experiment."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition, Lattice, Structure

from lab_adapters.crystal.oxidation_correction import (
    OxidationCorrection,
    average_oxidation_states,
    fit_oxidation_correction,
)
from lab_adapters.crystal.precursors import experimental_enthalpy
from lab_adapters.crystal.world import World, WorldConfig
from surrogates.hull import Hull, ReferencePhase

# an error per Mn atom that grows with the oxidation state, as semilocal functionals give
MN_ERROR = {"MnO": 0.03, "Mn3O4": -0.29, "Mn2O3": -0.56, "MnO2": -0.91}


def exp_per_atom(formula: str) -> float:
    return experimental_enthalpy(formula) / Composition(formula).num_atoms


def world_formation(formula: str) -> float:
    """Formation energy per atom with ``MN_ERROR`` per Mn atom on top of experiment."""
    comp = Composition(formula)
    return exp_per_atom(formula) + MN_ERROR.get(formula, 0.0) * comp["Mn"] / comp.num_atoms


def test_average_oxidation_states_handle_mixed_valence_and_peroxides():
    assert average_oxidation_states("Mn3O4")["Mn"] == pytest.approx(8 / 3)
    assert average_oxidation_states("LiMn2O4")["Mn"] == pytest.approx(3.5)
    assert average_oxidation_states("Li2O2")["O"] == pytest.approx(-1)


def test_fit_puts_every_binary_oxide_on_experiment_and_leaves_the_rest_alone():
    phases = [(Composition(f), world_formation(f)) for f in [*MN_ERROR, "Li2O", "Li2O2"]]
    phases.append((Composition("MnO2"), world_formation("MnO2") + 0.2))  # a higher polymorph is not fitted
    corr = fit_oxidation_correction(phases)
    assert set(corr.lines) == {"Mn"}  # Li has one oxidation state in both of its oxides
    for f in MN_ERROR:
        assert world_formation(f) + corr.per_atom(f) == pytest.approx(exp_per_atom(f), abs=1e-9)
    for f in ("Li2O", "Li2O2", "Mn", "LiMn", "MnF2", "Li"):  # one-valent, metals, intermetallics, fluorides
        assert corr.per_atom(f) == 0.0
    # a ternary gets its Mn's oxidation state: LiMn2O4 (Mn 3.5) halfway between Mn2O3 and MnO2 per Mn
    mid = -(MN_ERROR["Mn2O3"] + MN_ERROR["MnO2"]) / 2
    assert corr.per_atom("LiMn2O4") == pytest.approx(2 * mid / 7)
    # above the highest fitted state the last segment continues; below the lowest it runs to 0 at ox 0
    assert corr.per_atom("Mn2O7") == pytest.approx(-2 * (MN_ERROR["MnO2"] + 3 * (MN_ERROR["MnO2"] - MN_ERROR["Mn2O3"])) / 9)
    assert corr.lines["Mn"].error(1.0) == pytest.approx(MN_ERROR["MnO"] / 2)
    assert OxidationCorrection().per_atom("MnO2") == 0.0


def _structure(formula: str) -> Structure:
    """A placeholder cell of ``formula`` (the hull needs only compositions and energies here)."""
    comp = Composition(formula)
    species = [el.symbol for el, n in comp.items() for _ in range(int(n))]
    coords = [[i / len(species), 0.5 * (i % 2), 0.25 * (i % 4)] for i in range(len(species))]
    return Structure(Lattice.cubic(3.0 * len(species) ** (1 / 3) + 2.0), species, coords)


def test_the_world_applies_it_to_its_hull_and_candidates(tmp_path):
    e_el = {"Mn": -9.0, "O": -4.9}
    phases = [ReferencePhase("builtin:bcc:Mn", _structure("Mn"), e_el["Mn"]), ReferencePhase("builtin:dimer:O2", _structure("O2"), e_el["O"])]
    for f in MN_ERROR:
        comp = Composition(f)
        e = world_formation(f) + sum(comp.get_atomic_fraction(el) * e_el[el] for el in ("Mn", "O"))
        phases.append(ReferencePhase(f"known:{f}", _structure(f), e))
    hull = Hull(["Mn", "O"], phases, "test")
    on = World(WorldConfig(elements=["Mn", "O"]), hull, tmp_path, "k")
    off = World(WorldConfig(elements=["Mn", "O"], oxidation_correction=False), hull, tmp_path, "k")
    for f in MN_ERROR:
        ph = next(p for p in on.hull.phases if p.name == f"known:{f}")
        assert on.hull.formation_energy_per_atom(f, ph.energy_per_atom) == pytest.approx(exp_per_atom(f), abs=1e-9)
        ph0 = next(p for p in off.hull.phases if p.name == f"known:{f}")
        assert off.hull.formation_energy_per_atom(f, ph0.energy_per_atom) == pytest.approx(world_formation(f), abs=1e-9)
    s = _structure("MnO2")
    assert on.energy_per_atom(s, -6.0) == pytest.approx(-6.0 + on.correction.per_atom("MnO2"))
    assert off.energy_per_atom(s, -6.0) == -6.0
    assert on.energy_tag != off.energy_tag
    assert on.as_dict()["model_hull"] == hull.as_dict()  # the cache keeps the potential's energies
