from __future__ import annotations

import json

import pytest
from pymatgen.core import Composition, Lattice, Structure

from loop.errors import StructureError
from loop.interfaces import PluginContext
from surrogates.hull import Hull, ReferencePhase, build_reference_hull, prototypes
from surrogates.potentials.mace import MACEPotential
from tests.surrogates._mlip_data import bcc_na, chgnet, cscl, rocksalt, tiny_mace_dir


def _phase(name: str, species: list[str], e: float) -> ReferencePhase:
    coords = [[i / len(species), 0, 0] for i in range(len(species))]
    return ReferencePhase(name, Structure(Lattice.cubic(3.0 * len(species)), species, coords), e)


def _toy() -> Hull:
    return Hull(
        ["Na", "Cl"],
        [_phase("Na", ["Na"], -1.0), _phase("Cl", ["Cl"], -2.0), _phase("NaCl", ["Na", "Cl"], -3.5), _phase("NaCl3", ["Na", "Cl", "Cl", "Cl"], -2.0)],
        potential="toy",
    )


def test_hull_math_on_known_phases():
    hull = _toy()
    # NaCl: -3.5 vs the elements' mix -1.5 -> formation -2.0, on the hull
    assert hull.formation_energy_per_atom("NaCl", -3.5) == pytest.approx(-2.0)
    assert hull.e_above_hull("NaCl", -3.5) == pytest.approx(0.0, abs=1e-9)
    # NaCl3 at -2.0: hull at x_Cl = 0.75 is 0.5 * NaCl + 0.5 * Cl = -2.75 -> 0.75 above
    assert hull.e_above_hull("NaCl3", -2.0) == pytest.approx(0.75)
    assert hull.e_above_hull("NaCl", -3.6) == pytest.approx(-0.1)  # below the hull is negative
    decomp = {p.name: f for p, f in hull.decomposition("NaCl3")}
    assert decomp == pytest.approx({"NaCl": 0.5, "Cl": 0.5})
    assert {p.name for p in hull.stable_phases} == {"Na", "Cl", "NaCl"}
    with pytest.raises(StructureError, match="outside the hull"):
        hull.e_above_hull("KCl", -3.0)
    with pytest.raises(StructureError, match="no elemental reference"):
        Hull(["Na", "Cl"], [_phase("Na", ["Na"], -1.0)])
    again = Hull.from_dict(json.loads(json.dumps(hull.as_dict())))
    assert again.e_above_hull("NaCl3", -2.0) == pytest.approx(0.75)


def test_prototypes_decorate_the_chemical_system():
    names = [p.name for p in prototypes(["Na", "Cl"])]
    assert "rocksalt:ClNa" in names and "fluorite:NaCl2" in names and "fluorite:ClNa2" in names
    assert "dimer:Cl2" in names and "dimer:Na2" not in names
    ternary = [p.name for p in prototypes(["Li", "Mn", "O"]) if p.name.startswith("perovskite")]
    assert len(ternary) == 6
    only = prototypes(["Na", "Cl"], ["rocksalt", "bcc"])
    assert sorted(p.name for p in only) == ["bcc:Cl", "bcc:Na", "rocksalt:ClNa"]
    with pytest.raises(ValueError, match="unknown prototypes"):
        prototypes(["Na"], ["nonsense"])
    for p in prototypes(["Na", "Cl"]):
        assert Composition(p.name.split(":")[1]).reduced_composition == p.structure.composition.reduced_composition


class CountingMACE(MACEPotential):
    calls = 0

    def relax(self, structures, **kw):
        type(self).calls += len(structures)
        return super().relax(structures, **kw)


def test_reference_hull_is_cached_by_system_and_potential(tmp_path):
    pot = CountingMACE(CountingMACE.Config(model=str(tiny_mace_dir())), PluginContext(work_dir=tmp_path))
    refs = [rocksalt(), cscl(), bcc_na()]
    hull = build_reference_hull(["Na", "Cl"], pot, tmp_path / "cache", structures=refs, prototype_kinds=["bcc"], steps=40)
    n = CountingMACE.calls
    assert n == 5  # bcc Na, bcc Cl + three user structures
    assert {p.name for p in hull.phases} >= {"bcc:Na", "bcc:Cl", "user:NaCl:0"}
    assert len(list((tmp_path / "cache").glob("hull-Cl-Na-*.json"))) == 1
    cached = build_reference_hull(["Cl", "Na"], pot, tmp_path / "cache", structures=refs, prototype_kinds=["bcc"], steps=40)
    assert CountingMACE.calls == n  # nothing relaxed again
    assert cached.e_above_hull("NaCl", -3.0) == pytest.approx(hull.e_above_hull("NaCl", -3.0))
    # other settings are another key
    build_reference_hull(["Na", "Cl"], pot, tmp_path / "cache", structures=refs, prototype_kinds=["bcc"], steps=41)
    assert CountingMACE.calls == 2 * n
    with pytest.raises(StructureError, match="outside"):
        build_reference_hull(["Na"], pot, None, structures=[rocksalt()], include_prototypes=False)


@pytest.mark.slow
def test_chgnet_hull_of_na_cl_puts_rocksalt_on_the_hull(tmp_path):
    hull = build_reference_hull(["Na", "Cl"], chgnet(), tmp_path, prototype_kinds=["bcc", "dimer", "rocksalt", "cscl"], steps=80)
    stable = {p.name for p in hull.stable_phases}
    assert "rocksalt:ClNa" in stable and "cscl:ClNa" not in stable
    rs = next(p for p in hull.phases if p.name == "rocksalt:ClNa")
    assert hull.formation_energy_per_atom(rs.composition, rs.energy_per_atom) < -1.5  # NaCl is strongly bound
    assert 5.4 < rs.structure.lattice.a * 2**0.5 < 5.9  # a close to 5.64 A
    assert [p.formula for p, _ in hull.decomposition("Na2Cl")] == ["NaCl", "Na"]
