"""Recipe planners: the stoichiometric default and the plug-in lookup."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition

from lab_adapters.crystal.recipes import StoichiometricPlanner, create_planner
from lab_adapters.crystal.world import WorldConfig, build_world
from loop.errors import ConfigError, PluginNotFoundError, StructureError
from loop.interfaces import PluginContext

KINDS = ["fcc", "bcc", "dimer", "rocksalt", "fluorite", "rutile"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    from surrogates.potentials.factory import create_potential

    pot = create_potential("chgnet", PluginContext(work_dir=tmp_path_factory.mktemp("pot")))
    cfg = WorldConfig(elements=["Li", "O"], prototype_kinds=KINDS, fmax=0.2, steps=30, cache_dir=str(tmp_path_factory.mktemp("w")))
    return build_world(cfg, pot)


@pytest.mark.slow
def test_stoichiometric_recipe_uses_the_simplest_oxide_in_the_target_ratio(world, tmp_path):
    planner = create_planner({"kind": "stoichiometric", "options": {"t_min_c": 0}}, PluginContext(work_dir=tmp_path))
    assert isinstance(planner, StoichiometricPlanner)
    r = planner.plan("Li2O2", world)
    assert [(p.formula, p.amount) for p in r.precursors] == [("Li2O", 1.0)]
    assert r.atmosphere == "air" and r.time_h == planner.config.base_time_h
    assert planner.config.t_min_c <= r.temperature_c <= planner.config.t_max_c
    # Li atoms balance: amount x Li per precursor formula unit = Li in the target
    li = sum(p.amount * Composition(p.formula)["Li"] for p in r.precursors)
    assert li == pytest.approx(2.0)
    hot = create_planner({"kind": "stoichiometric", "options": {"tammann": 1.2, "t_min_c": 0}}, PluginContext(work_dir=tmp_path))
    assert hot.plan("Li2O2", world).temperature_c > r.temperature_c
    with pytest.raises(StructureError, match="outside the world"):
        planner.plan("NaCl", world)


def test_planner_lookup_names_unknown_kinds_and_bad_options(tmp_path):
    with pytest.raises(PluginNotFoundError, match="stoichiometric"):
        create_planner({"kind": "alchemy"}, PluginContext(work_dir=tmp_path))
    with pytest.raises(ConfigError) as err:
        create_planner({"kind": "stoichiometric", "options": {"tammann": -1}}, PluginContext(work_dir=tmp_path))
    assert "lab.options.recipe.options.tammann" in str(err.value)
