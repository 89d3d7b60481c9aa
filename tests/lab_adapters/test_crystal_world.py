"""The crystal lab's world: ionic prototypes, hull built once, cached on disk."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from lab_adapters.crystal import world as world_mod
from lab_adapters.crystal.prototypes import ionic_prototypes
from lab_adapters.crystal.world import WorldConfig, build_world
from loop.interfaces import PluginContext

KINDS = ["fcc", "bcc", "dimer", "rocksalt", "fluorite", "rutile"]


@pytest.fixture(scope="module")
def potential(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    from surrogates.potentials.factory import create_potential

    return create_potential("chgnet", PluginContext(work_dir=tmp_path_factory.mktemp("pot")))


def small_config(tmp_path, **over) -> WorldConfig:
    opts = {"elements": ["O", "Li"], "prototype_kinds": KINDS, "fmax": 0.2, "steps": 30, "cache_dir": str(tmp_path), **over}
    return WorldConfig(**opts)


def test_ionic_prototypes_decorate_cations_and_the_anion():
    names = [p.name for p in ionic_prototypes(["Li", "Mn", "O"])]
    assert "spinel:LiMn2O4" in names and "spinel:MnLi2O4" in names
    assert "corundum:Mn2O3" in names and "rutile:LiO2" in names and "wurtzite:MnO" in names
    assert not any("O2Li" in n or n.endswith(":OLi") for n in names)  # O is never the cation
    spinel = next(p for p in ionic_prototypes(["Li", "Mn", "O"], ["spinel"]) if p.name == "spinel:LiMn2O4")
    assert spinel.structure.composition.reduced_formula == "LiMn2O4" and len(spinel.structure) == 14
    assert ionic_prototypes(["Li"]) == []
    with pytest.raises(ValueError, match="unknown ionic prototypes"):
        ionic_prototypes(["Li", "O"], ["garnet"])


def test_world_config_names_bad_input(tmp_path):
    with pytest.raises(ValidationError, match="unknown element"):
        WorldConfig(elements=["Li", "Xx"])
    with pytest.raises(ValidationError, match="unknown prototypes"):
        WorldConfig(elements=["Li", "O"], prototype_kinds=["garnet"])
    assert small_config(tmp_path).elements == ["Li", "O"]


@pytest.mark.slow
def test_world_is_built_once_and_read_back_from_its_cache(tmp_path, potential):
    world_mod._MEMO.clear()  # worlds built by other tests in this process live elsewhere
    world = build_world(small_config(tmp_path), potential)
    assert world.directory.parent == tmp_path
    assert world.anion == "O"
    stable = {p.formula for p in world.stable_phases}
    assert {"Li", "O2"} <= stable and "Li2O" in stable  # the elements and the fluorite oxide
    assert all(not world.is_gas(p) for p in world.solid_stable_phases())
    assert "fcc:Li" in {p.name for p in world.hull.phases} or "bcc:Li" in {p.name for p in world.hull.phases}
    path = world.directory / "world.json"
    assert path.is_file() and json.loads(path.read_text())["key"] == world.key
    stamp = path.stat().st_mtime_ns
    world_mod._MEMO.clear()  # a new process: read from disk, no relaxation
    again = build_world(small_config(tmp_path), potential)
    assert path.stat().st_mtime_ns == stamp
    assert again.key == world.key and again.directory == world.directory
    assert [p.energy_per_atom for p in again.hull.phases] == pytest.approx([p.energy_per_atom for p in world.hull.phases])
    # other settings are another world
    other = small_config(tmp_path, steps=31)
    from lab_adapters.crystal.world import _references, world_key
    from surrogates.hull import potential_identity

    assert world_key(other, potential_identity(potential), _references(other)) != world.key


@pytest.mark.slow
def test_world_of_known_phases_with_builtin_elements_and_a_hidden_error(tmp_path, potential, data_dir):
    from lab_adapters.crystal.hidden_error import HiddenErrorConfig

    world_mod._MEMO.clear()
    cfg = small_config(tmp_path, references=[str(data_dir / "references" / "li-mn-ti-o-f")],
                       hidden_error=HiddenErrorConfig(sigma=0.05, seed=0))
    world = build_world(cfg, potential)
    names = {p.name for p in world.hull.phases}
    assert "known:Li2O_225" in names and not any(n.startswith(("rocksalt:", "fluorite:")) for n in names)
    assert sum(n.startswith("builtin:") for n in names) == 2  # Li and O: the shipped set has no elements
    assert world.reference_source == "known phases"
    assert world.phase_label(next(p for p in world.hull.phases if p.name == "known:Li2O_225")) == "Li2O_225"
    # the world's energies are the potential's plus the hidden error, phase by phase
    model = {p.name: p.energy_per_atom for p in world.model_hull.phases}
    shifts = [p.energy_per_atom - model[p.name] for p in world.hull.phases]
    assert all(s == pytest.approx(world.hidden_error_of(p.structure)) for s, p in zip(shifts, world.hull.phases, strict=True))
    assert max(shifts) - min(shifts) > 0.005
    assert "Li2O" in {p.formula for p in world.stable_phases}
