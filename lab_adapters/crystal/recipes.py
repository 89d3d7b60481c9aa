"""Recipe planners (entry-point group ``crystaloop.recipes``): how to make a target composition.

A planner turns a target composition into a :class:`loop.records.Recipe` for a world (anything
with ``elements``: a :class:`~lab_adapters.crystal.world.World` or an
:class:`~lab_adapters.crystal.reactions.EnergyLandscape`). The default, ``stoichiometric``,
follows a solid-state chemist's rules of thumb, and only them (it never reads the world's
energies):

- precursors: per cation, a commercial precursor (:mod:`.precursors`) whose residue lies in
  the world, never the target itself: the cation's oxidation state in the target first (to
  the nearest unit), then the usual choice (rank); oxides/carbonates/... for an oxide
  target, fluorides for a fluoride, fluorides for the most electropositive cations of an
  oxyfluoride until its fluorine is supplied;
- amounts: moles of precursor per mole of target formula unit, balanced on the cations;
- temperature: the cation-weighted mean of the precursors' reactivity temperatures (Tammann's
  rule on the precursors' own melting points, or their decomposition onset,
  :func:`.precursors.reactive_temperature_c`) plus ``margin_c``; at least ``calcine_margin_c``
  above the decomposition of carbonates, hydroxides and nitrates; at most the volatility
  onset of a volatile element (:data:`.precursors.VOLATILE`); clipped to ``[t_min_c, t_max_c]``.
  Huo et al., Chem. Mater. 34, 7323 (2022) found precursor melting points the strongest
  predictor of literature synthesis temperatures;
- dwell time: ``base_time_h`` per cation;
- atmosphere: from the target's oxidation states (pymatgen's guess): a multivalent cation
  below the state it takes in air at ~800 C (:data:`AIR_STATE`) gets inert gas (``Ar``) or,
  for hard-to-reduce ones, ``H2/Ar``; one well above it gets ``O2``; fluorides get ``Ar``.

>>> StoichiometricPlanner(StoichiometricPlanner.Config(), context).plan("LiMn2O4", world)  # doctest: +SKIP
"""

from __future__ import annotations

import abc
import functools
from typing import Any

from pydantic import Field
from pymatgen.core import Composition, Element

from lab_adapters.crystal.precursors import VOLATILE, PrecursorSpec, precursors_for, reactive_temperature_c
from loop.errors import StructureError
from loop.interfaces import Plugin, PluginConfig
from loop.records import Precursor, Recipe

__all__ = ["AIR_STATE", "RecipePlanner", "StoichiometricPlanner", "create_planner"]

AIR_STATE: dict[str, float] = {
    "Mn": 3.0, "Fe": 3.0, "Co": 2.67, "Ni": 2.0, "Cu": 2.0, "Cr": 3.0, "Ti": 4.0, "V": 5.0, "Nb": 5.0,
    "Mo": 6.0, "W": 6.0, "Ce": 4.0, "Sn": 4.0, "Pb": 2.0, "Sb": 3.0, "Bi": 3.0,
}
"""Oxidation state a multivalent cation takes in air around 800 C (its stable oxide there)."""

_HARD_TO_REDUCE = {"Mn", "Fe", "Ti", "V", "Nb", "Mo", "W", "Ce", "Ni"}
"""Cations whose lower oxidation states need a reducing gas (their lower oxides need pO2 far below 1e-5 bar)."""


class RecipePlanner(Plugin, abc.ABC):
    """Plans a synthesis recipe for a target composition in a world."""

    @abc.abstractmethod
    def plan(self, composition: Composition | str, world: Any) -> Recipe:
        """The recipe for one formula unit of ``composition``."""


class StoichiometricConfig(PluginConfig):
    tammann: float = Field(0.667, gt=0, le=1.0, description="T_onset / T_melt (kelvin) of a precursor (Tammann's rule)")
    margin_c: float = Field(100.0, description="deg C above the precursors' mean reactivity temperature")
    calcine_margin_c: float = Field(50.0, ge=0, description="deg C above the decomposition of carbonates, hydroxides, nitrates")
    t_min_c: float = Field(300.0, description="lowest planned temperature, deg C")
    t_max_c: float = Field(1300.0, description="highest planned temperature, deg C")
    base_time_h: float = Field(6.0, gt=0, description="dwell hours per cation")


def _target_states(comp: Composition) -> dict[str, float]:
    """The target's cation oxidation states (pymatgen's first guess; empty when it has none)."""
    return dict(_states_of(comp.reduced_formula))


@functools.lru_cache(maxsize=1024)
def _states_of(formula: str) -> tuple[tuple[str, float], ...]:
    comp = Composition(formula)
    if comp.num_atoms > 60:
        return ()
    guesses = comp.oxi_state_guesses()
    return tuple((k, float(v)) for k, v in guesses[0].items()) if guesses else ()


def _elements(world: Any) -> list[str]:
    return list(world.elements)


class StoichiometricPlanner(RecipePlanner):
    """Usual commercial precursors in the target's ratio; temperature, time and atmosphere by rules."""

    Config = StoichiometricConfig
    name = "stoichiometric"
    version = "2"

    config: StoichiometricConfig

    def precursor_options(self, element: str, target: Composition, world: Any) -> list[PrecursorSpec]:
        """Precursors that can carry ``element`` into ``target`` in ``world`` (best first; never the target)."""
        has_o, has_f = "O" in [e.symbol for e in target.elements], "F" in [e.symbol for e in target.elements]
        out = []
        for spec in precursors_for(element, _elements(world)):
            if Composition(spec.formula).reduced_formula == target.reduced_formula:
                continue
            if has_f and not has_o and spec.kind != "fluoride":
                continue
            if has_o and not has_f and spec.kind == "fluoride":
                continue
            out.append(spec)
        if not out:
            raise StructureError(f"no commercial precursor carries {element} into {target.reduced_formula} "
                                 f"in the world {'-'.join(_elements(world))}")
        state = _target_states(target).get(element)
        if state is not None:  # the cation's oxidation state in the target first, then the usual choice
            out.sort(key=lambda s: (round(abs((s.oxidation_state if s.oxidation_state is not None else state) - state) + 0.01),
                                    s.rank, s.formula))
        return out

    def choose_precursors(self, comp: Composition, world: Any) -> list[PrecursorSpec]:
        cations = sorted((e.symbol for e in comp.elements if e.symbol not in ("O", "F")), key=lambda e: (Element(e).X, e))
        if not cations:
            raise StructureError(f"{comp.reduced_formula} has no cation to take from a precursor")
        options = {el: self.precursor_options(el, comp, world) for el in cations}
        need_f = comp["F"] if "O" in [e.symbol for e in comp.elements] else 0.0
        chosen: dict[str, PrecursorSpec] = {}
        f_have = 0.0
        for el in cations:  # most electropositive first
            opts = options[el]
            if need_f > 0 and f_have < need_f - 1e-6:
                fl = [s for s in opts if s.kind == "fluoride"]
                if fl:
                    chosen[el] = fl[0]
                    f_have += comp[el] / Composition(fl[0].formula)[el] * Composition(fl[0].formula)["F"]
                    continue
            non_f = [s for s in opts if s.kind != "fluoride"] or opts
            chosen[el] = non_f[0]
        return [chosen[el] for el in sorted(chosen)]

    def temperature_c(self, comp: Composition, specs: list[PrecursorSpec]) -> float:
        weights = [comp[s.cations[0]] for s in specs]
        t = sum(w * reactive_temperature_c(s.formula, self.config.tammann) for w, s in zip(weights, specs, strict=True)) / sum(weights)
        t += self.config.margin_c
        calcine = [s.decomposition_c for s in specs if s.kind in ("carbonate", "hydroxide", "nitrate") and s.decomposition_c]
        if calcine:
            t = max(t, max(calcine) + self.config.calcine_margin_c)
        volatile = [VOLATILE[e.symbol][0] for e in comp.elements if e.symbol in VOLATILE]
        if volatile:
            t = min(t, min(volatile))
        return min(max(t, self.config.t_min_c), self.config.t_max_c)

    @staticmethod
    def atmosphere(comp: Composition) -> str:
        symbols = {e.symbol for e in comp.elements}
        if "O" not in symbols:
            return "Ar"
        states = _target_states(comp)
        if not states:
            return "air"
        low = [el for el in states if el in AIR_STATE and states[el] < AIR_STATE[el] - 0.5]
        if low:
            return "H2/Ar" if any(el in _HARD_TO_REDUCE for el in low) else "Ar"
        if any(el in AIR_STATE and states[el] > AIR_STATE[el] + 0.6 for el in states):
            return "O2"
        return "Ar" if "F" in symbols and comp["F"] > comp["O"] else "air"

    def plan(self, composition: Composition | str, world: Any) -> Recipe:
        comp = Composition(composition).reduced_composition
        outside = sorted({e.symbol for e in comp.elements} - set(_elements(world)))
        if outside:
            raise StructureError(f"{comp.reduced_formula} is outside the world {'-'.join(_elements(world))}")
        specs = self.choose_precursors(comp, world)
        precursors = [Precursor(formula=s.formula, amount=round(comp[s.cations[0]] / Composition(s.formula)[s.cations[0]], 6))
                      for s in specs]
        return Recipe(
            precursors=precursors,
            temperature_c=round(self.temperature_c(comp, specs), 1),
            time_h=self.config.base_time_h * len(specs),
            atmosphere=self.atmosphere(comp),
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
