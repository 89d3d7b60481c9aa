"""Recipe planners (entry-point group ``crystaloop.recipes``): how to make a target composition.

A planner turns a target composition into a :class:`loop.records.Recipe` in a world. The
default, ``stoichiometric``, mixes the world's simplest precursors in the target's ratio:

- precursors: for each cation element ``M`` (every element but the anion), the stable
  binary ``M_a X_b`` of the world's hull with the fewest atoms per formula unit (ties:
  the first by formula), else the element;
  the anion comes from the atmosphere (``air`` for oxygen, ``N2``, ``F2``... else ``Ar``).
- amounts: moles of precursor per mole of target formula unit, ``n_M / a`` for a precursor
  carrying ``a`` atoms of ``M`` per formula unit;
- temperature: Tammann's rule, ``T = tammann * mean_M T_melt(M)`` (kelvin, precursor
  elements' melting points weighted by the target's cation fractions), plus
  ``per_cation_c`` per extra cation, clipped to ``[t_min_c, t_max_c]`` (deg C);
- dwell time: ``time_h = base_time_h * n_cations`` (more cations, slower interdiffusion).

>>> StoichiometricPlanner(StoichiometricPlanner.Config(), context).plan("LiMn2O4", world)  # doctest: +SKIP
"""

from __future__ import annotations

import abc
from typing import Any

from pydantic import Field
from pymatgen.core import Composition, Element

from lab_adapters.crystal.world import World
from loop.errors import StructureError
from loop.interfaces import Plugin, PluginConfig
from loop.records import Precursor, Recipe

__all__ = ["RecipePlanner", "StoichiometricPlanner", "create_planner"]

_ATMOSPHERE = {"O": "air", "N": "N2", "F": "F2", "Cl": "Cl2", "H": "H2", "S": "H2S"}


class RecipePlanner(Plugin, abc.ABC):
    """Plans a synthesis recipe for a target composition in a world."""

    @abc.abstractmethod
    def plan(self, composition: Composition | str, world: World) -> Recipe:
        """The recipe for one formula unit of ``composition``."""


class StoichiometricConfig(PluginConfig):
    tammann: float = Field(0.6, gt=0, le=1.5, description="T / T_melt of the precursors (Tammann's rule)")
    per_cation_c: float = Field(100.0, ge=0, description="extra deg C per cation beyond the first")
    t_min_c: float = Field(400.0, description="lowest furnace temperature, deg C")
    t_max_c: float = Field(1400.0, description="highest furnace temperature, deg C")
    base_time_h: float = Field(6.0, gt=0, description="dwell hours per cation")


class StoichiometricPlanner(RecipePlanner):
    """Simplest binary precursors (or elements) in the target's ratio; Tammann temperature."""

    Config = StoichiometricConfig
    name = "stoichiometric"
    version = "1"

    config: StoichiometricConfig

    def precursor_for(self, element: str, world: World) -> tuple[str, int]:
        """Reduced formula of the precursor carrying ``element``, and its ``element`` atoms per formula unit."""
        anion = world.anion
        options = []
        for p in world.solid_stable_phases():
            els = {e.symbol for e in p.composition.elements}
            if els == {element} or (anion is not None and element != anion and els == {element, anion}):
                comp = p.composition.reduced_composition
                options.append((len(els) == 1, comp.num_atoms, p.formula, int(round(comp[element]))))
        if not options:
            raise StructureError(f"world {'-'.join(world.elements)} has no stable solid carrying {element}")
        # a binary (oxide, nitride, ...) before the element; then the smallest formula unit
        _, _, formula, count = min(options)
        return formula, count

    def plan(self, composition: Composition | str, world: World) -> Recipe:
        comp = Composition(composition).reduced_composition
        if not world.covers(comp):
            raise StructureError(f"{comp.reduced_formula} is outside the world {'-'.join(world.elements)}")
        anion = world.anion
        cations = [e.symbol for e in comp.elements if e.symbol != anion] or [e.symbol for e in comp.elements]
        precursors = []
        for el in sorted(cations):
            formula, count = self.precursor_for(el, world)
            precursors.append(Precursor(formula=formula, amount=round(comp[el] / count, 6)))
        total = sum(comp[c] for c in cations)
        melt = sum(comp[c] / total * float(Element(c).melting_point or 1000.0) for c in cations)
        t_c = self.config.tammann * melt - 273.15 + self.config.per_cation_c * (len(cations) - 1)
        t_c = min(max(t_c, self.config.t_min_c), self.config.t_max_c)
        atmosphere = _ATMOSPHERE.get(anion or "", "Ar") if anion in comp else "Ar"
        return Recipe(
            precursors=precursors,
            temperature_c=round(t_c, 1),
            time_h=self.config.base_time_h * len(cations),
            atmosphere=atmosphere,
            params={"planner": self.name, "target": comp.reduced_formula},
        )


def create_planner(spec: dict[str, Any] | str | None, context: Any) -> RecipePlanner:
    """A planner from the registry (``crystaloop.recipes``), else the built-in ``stoichiometric``."""
    from pydantic import ValidationError

    from loop import registry
    from loop.errors import ConfigError

    spec = {"kind": spec, "options": {}} if isinstance(spec, str) else dict(spec or {"kind": "stoichiometric"})
    kind = spec.get("kind", "stoichiometric")
    if kind in registry.available("recipes"):
        return registry.create("recipes", spec, context, where="lab.options.recipe")  # type: ignore[return-value]
    if kind != "stoichiometric":
        from loop.errors import PluginNotFoundError

        raise PluginNotFoundError("crystaloop.recipes", kind, ["stoichiometric", *registry.available("recipes")])
    try:
        options = StoichiometricConfig.model_validate(dict(spec.get("options") or {}))
    except ValidationError as exc:
        raise ConfigError("lab", registry.validation_problems(exc, "lab.options.recipe.options")) from None
    return StoichiometricPlanner(options, context)
