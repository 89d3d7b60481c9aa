"""The e_hull breakdown of bench world: by subsystem, near the hull, against the world without its error."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pymatgen.core import Composition

from lab_adapters.crystal.bench_world_breakdown import (
    breakdown,
    elemental_choices,
    same_reference_records,
    subsystem,
    with_elemental_references,
)


def test_offsets_are_found_per_subsystem_and_near_the_hull():
    records = [
        # Li-Mn: the screen sits 0.2 above the world on every alloy (a hull offset)
        {"formula": "LiMn", "screen": 0.5, "world": 0.3, "world_no_error": 0.31},
        {"formula": "Li3Mn", "screen": 0.4, "world": 0.2, "world_no_error": 0.2},
        # Mn-O: scatter without offset, near the hull
        {"formula": "MnO2", "screen": 0.05, "world": 0.02, "world_no_error": 0.04},
        {"formula": "Mn2O3", "screen": 0.01, "world": 0.04, "world_no_error": 0.01},
        {"formula": "LiMnO2", "screen": None, "world": 0.1},  # not scored by the screen: left out
    ]
    b = breakdown(records, near_hull=0.1)
    assert b["all"]["n"] == 4 and b["all"]["mae"] == pytest.approx((0.2 + 0.2 + 0.03 + 0.03) / 4)
    assert b["by_subsystem"]["Li-Mn"]["mean_offset"] == pytest.approx(0.2)
    assert b["by_subsystem"]["Mn-O"]["mean_offset"] == pytest.approx(0.0) and b["by_subsystem"]["Mn-O"]["mae"] == pytest.approx(0.03)
    assert b["by_subsystem"]["Mn-O"]["mae_no_error"] == pytest.approx(0.005)
    assert b["near_hull"]["n"] == 2 and b["near_hull"]["mae"] == pytest.approx(0.03)
    assert b["far_from_hull"]["n"] == 2 and b["far_from_hull"]["mae"] == pytest.approx(0.2)
    assert b["mae_minus_subsystem_offsets"] == pytest.approx((0 + 0 + 0.03 + 0.03) / 4)
    assert subsystem("OLi2") == "Li-O"


def test_elemental_choice_is_each_element_lowest_phase():
    @dataclass
    class Phase:
        name: str
        composition: Composition
        energy_per_atom: float

    phases = [Phase("builtin:bcc:Mn", Composition("Mn"), -9.0), Phase("builtin:diamond:Mn", Composition("Mn"), -9.2),
              Phase("known:MnO_225", Composition("MnO"), -8.0), Phase("builtin:bcc:Li", Composition("Li"), -1.9)]
    got = elemental_choices(phases)
    assert got == {"Li": {"reference": "builtin:bcc:Li", "energy_per_atom": -1.9},
                   "Mn": {"reference": "builtin:diamond:Mn", "energy_per_atom": -9.2}}


def test_same_elemental_prototypes_recompute_both_hulls_from_each_side_energies():
    from surrogates.hull.hull import Hull, ReferencePhase

    def el(name: str, symbol: str, e: float) -> ReferencePhase:
        return ReferencePhase(name, None, e, True, symbol)

    screen_hull = Hull(["Li", "Mn"], [el("builtin:fcc:Li", "Li", -1.90), el("builtin:hcp:Mn", "Mn", -9.00)])
    world_hull = Hull(["Li", "Mn"], [el("builtin:bcc:Li", "Li", -2.00), el("builtin:diamond:Mn", "Mn", -9.40)])
    s_protos = {"Li": {"fcc": el("builtin:fcc:Li", "Li", -1.90), "bcc": el("builtin:bcc:Li", "Li", -1.95)},
                "Mn": {"hcp": el("builtin:hcp:Mn", "Mn", -9.00), "bcc": el("builtin:bcc:Mn", "Mn", -8.95)}}
    w_protos = {"Li": {"bcc": el("builtin:bcc:Li", "Li", -2.00)},
                "Mn": {"diamond": el("builtin:diamond:Mn", "Mn", -9.40), "bcc": el("builtin:bcc:Mn", "Mn", -9.05)}}
    rec = {"formula": "LiMn", "screen_energy": -5.0, "world_energy": -5.3}
    rec["screen"] = screen_hull.e_above_hull("LiMn", -5.0)
    rec["world"] = world_hull.e_above_hull("LiMn", -5.3)
    assert rec["screen"] == pytest.approx(0.45) and rec["world"] == pytest.approx(0.4)
    (same,) = same_reference_records([rec], lambda els: screen_hull, world_hull, s_protos, w_protos, {"Li": "bcc", "Mn": "bcc"})
    assert same["screen"] == pytest.approx(-5.0 + (1.95 + 8.95) / 2)   # 0.45
    assert same["world"] == pytest.approx(-5.3 + (2.00 + 9.05) / 2)    # 0.225: the world's diamond Mn no longer sets its hull
    swapped = with_elemental_references(world_hull, {"Mn": w_protos["Mn"]["bcc"]})
    assert {p.name for p in swapped.phases} == {"builtin:bcc:Li", "builtin:bcc:Mn"}
