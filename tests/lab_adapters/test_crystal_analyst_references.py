"""The crystal lab's XRD analyst knows the known phases and the target, never the phases hidden from it."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from lab_adapters.crystal.lab import CrystalLab
from lab_adapters.crystal.world import World
from loop.interfaces import PluginContext
from surrogates.hull import ReferencePhase


class _World:
    """The two methods of a world that the analyst's reference set reads."""

    def __init__(self, phases: list[ReferencePhase]) -> None:
        self.phases = phases

    def solid_stable_phases(self) -> list[ReferencePhase]:
        return self.phases

    phase_label = staticmethod(World.phase_label)


def test_hidden_phases_are_left_out_of_the_xrd_references(tmp_path):
    rs = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    mg = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.2, 5.2), ["Mg"], [[1 / 3, 2 / 3, 0.25]])
    phases = [ReferencePhase("known:MgO_225", rs, -6.0), ReferencePhase("builtin:hcp:Mg", mg, -1.5)]
    target = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.3, 5.2), ["Mg", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.38]])
    ctx = PluginContext(work_dir=tmp_path, seed=0)
    for hidden, expected in (([], {"MgO_225", "Mg_hcp", "MgO_target"}), (["MgO_225"], {"Mg_hcp", "MgO_target"})):
        lab = CrystalLab(CrystalLab.Config(elements=["Mg", "O"], unknown_to_analyst=hidden), ctx)
        lab._world = _World(phases)  # type: ignore[assignment]
        assert set(lab._references(target, "MgO_target")) == expected
