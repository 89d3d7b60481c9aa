"""The crystal lab's XRD analyst knows the known phases (stable or not) and the target, never the phases
hidden from it."""

from __future__ import annotations

from types import SimpleNamespace

from pymatgen.core import Lattice, Structure

from lab_adapters.crystal.world import World
from lab_adapters.crystal.xrd_sample import xrd_references
from surrogates.hull import ReferencePhase


class _World:
    """What the analyst's reference set reads of a world: its hull's phases, gases and labels."""

    def __init__(self, phases: list[ReferencePhase]) -> None:
        self.hull = SimpleNamespace(phases=phases)

    is_gas = staticmethod(World.is_gas)
    phase_label = staticmethod(World.phase_label)


def test_hidden_phases_are_left_out_of_the_xrd_references():
    rs = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    mg = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.2, 5.2), ["Mg"], [[1 / 3, 2 / 3, 0.25]])
    peroxide = Structure.from_spacegroup("Pa-3", Lattice.cubic(4.8), ["Mg", "O"], [[0, 0, 0], [0.41, 0.41, 0.41]])
    o2 = Structure(Lattice.cubic(10.0), ["O", "O"], [[0, 0, 0], [0.12, 0, 0]])
    phases = [ReferencePhase("known:MgO_225", rs, -6.0), ReferencePhase("builtin:hcp:Mg", mg, -1.5),
              ReferencePhase("known:MgO2_205", peroxide, -4.0),  # above the hull: still a known phase
              ReferencePhase("dimer:O2", o2, -4.9)]  # a gas: no powder pattern
    target = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.3, 5.2), ["Mg", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.38]])
    world = _World(phases)
    for hidden, expected in ((set(), {"MgO_225", "Mg_hcp", "MgO2_205", "MgO_target"}),
                             ({"MgO_225"}, {"Mg_hcp", "MgO2_205", "MgO_target"})):
        assert set(xrd_references(world, target, "MgO_target", hidden)) == expected  # type: ignore[arg-type]
