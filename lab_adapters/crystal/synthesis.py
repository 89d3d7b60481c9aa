"""Solid-state synthesis in the simulated world: what forms from a recipe.

For a target of composition ``x`` with energy above hull ``E_h`` (eV/atom) and a recipe at
temperature ``T`` (deg C) for ``t`` hours, with hidden per-composition kinetics (drawn
from a generator keyed by ``(kinetics seed, reduced formula)``, so they are fixed for a
world and unknown to the campaign): a slowness ``k ~ LogNormal(0, kinetic_spread)`` and a
shift ``dT ~ Normal(0, t_shift_sd)`` of the best temperature ``T* = T_rule(x) + dT``
(``T_rule``: the default planner's Tammann rule):

    conversion   c = (1 - exp(-t / (tau_h k))) * sigmoid((T - T* + onset_c) / 40)
    selectivity  f_T = exp(-((T - T*) / t_width_c)^2)
    P(success)   = p_max * exp(-max(E_h, 0) / e_scale) * f_T

On success the target takes a share ``u ~ U(min_target_share, 1)`` of the reacted mass and
the rest of the reacted mass goes to the hull decomposition of ``x``; otherwise all the
reacted mass goes to the decomposition. The unreacted ``1 - c`` stays as the recipe's
precursors. Atom fractions of the decomposition are turned into weight fractions
``w_i ~ f_i m_i`` (``m_i`` mass per atom); gases (O2, N2, ...) leave the sample.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Composition, Structure

from lab_adapters.crystal.recipes import StoichiometricPlanner
from lab_adapters.crystal.world import World
from loop.records import Recipe

__all__ = ["Product", "SynthesisConfig", "SynthesisOutcome", "hidden_kinetics", "synthesize"]


class SynthesisConfig(BaseModel):
    """Parameters of the synthesis model (see the module docs)."""

    model_config = ConfigDict(extra="forbid")

    p_max: float = Field(0.95, ge=0, le=1, description="success probability of a stable target at the best temperature")
    e_scale: float = Field(0.05, gt=0, description="eV/atom; P(success) falls as exp(-E_hull / e_scale)")
    t_width_c: float = Field(250.0, gt=0, description="deg C; width of the temperature window of the target")
    onset_c: float = Field(250.0, ge=0, description="deg C below T* where the precursors start to react")
    tau_h: float = Field(3.0, gt=0, description="reaction time constant (hours) at k = 1")
    kinetic_spread: float = Field(0.5, ge=0, description="sd of log k, the hidden per-composition slowness")
    t_shift_sd: float = Field(100.0, ge=0, description="deg C; sd of the hidden shift of the best temperature")
    min_target_share: float = Field(0.6, ge=0, le=1, description="least share of the reacted mass the target takes on success")
    kinetics_seed: int | None = Field(None, description="seed of the hidden kinetics (default: the lab seed)")


@dataclass
class Product:
    """A phase in the sample: label, structure and weight fraction."""

    label: str
    structure: Structure
    weight_fraction: float
    formula: str


@dataclass
class SynthesisOutcome:
    success: bool
    p_success: float
    conversion: float
    products: list[Product] = field(default_factory=list)

    @property
    def target_fraction(self) -> float:
        return sum(p.weight_fraction for p in self.products if p.label == "target")


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def hidden_kinetics(formula: str, seed: int, config: SynthesisConfig) -> tuple[float, float]:
    """``(k, dT)`` of a reduced formula: slowness factor and best-temperature shift (deg C)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, _stable_int(Composition(formula).reduced_formula)])
    return float(np.exp(rng.normal(0.0, config.kinetic_spread))), float(rng.normal(0.0, config.t_shift_sd))


def _mass_per_atom(comp: Composition) -> float:
    return float(comp.weight) / comp.num_atoms


def synthesize(
    target: Structure, e_hull: float, recipe: Recipe, world: World, config: SynthesisConfig, seed: int, rng: np.random.Generator
) -> SynthesisOutcome:
    """What forms when ``recipe`` is run for ``target`` (see the module docs)."""
    comp = target.composition.reduced_composition
    k, shift = hidden_kinetics(comp.reduced_formula, seed, config)
    t_best = StoichiometricPlanner(StoichiometricPlanner.Config(), None).plan(comp, world).temperature_c or 800.0
    t_best += shift
    temp = recipe.temperature_c if recipe.temperature_c is not None else 25.0
    hours = recipe.time_h if recipe.time_h is not None else 0.0
    conversion = (1.0 - math.exp(-hours / (config.tau_h * k))) / (1.0 + math.exp(-(temp - t_best + config.onset_c) / 40.0))
    f_t = math.exp(-(((temp - t_best) / config.t_width_c) ** 2))
    p = config.p_max * math.exp(-max(e_hull, 0.0) / config.e_scale) * f_t
    success = bool(rng.random() < p)
    share = float(rng.uniform(config.min_target_share, 1.0)) if success else 0.0

    mass: dict[str, tuple[Structure, str, float]] = {}

    def add(label: str, structure: Structure, formula: str, w: float) -> None:
        if w > 0:
            s, f, w0 = mass.get(label, (structure, formula, 0.0))
            mass[label] = (s, f, w0 + w)

    add("target", target, comp.reduced_formula, conversion * share)
    rest = conversion * (1.0 - share)
    if rest > 0:
        decomp = [(ph, f) for ph, f in world.hull.decomposition(comp) if not world.is_gas(ph)]
        masses = [f * _mass_per_atom(ph.composition) for ph, f in decomp]
        total = sum(masses)
        for (ph, _), m in zip(decomp, masses, strict=True):
            add(world.phase_label(ph), ph.structure, ph.formula, rest * m / total)
    by_formula = {p.formula: p for p in world.solid_stable_phases()}
    pre = [(by_formula[x.formula], x.amount) for x in recipe.precursors if x.formula in by_formula]
    pre_mass = [a * float(ph.composition.reduced_composition.weight) for ph, a in pre]
    if pre and sum(pre_mass) > 0:
        for (ph, _), m in zip(pre, pre_mass, strict=True):
            add(world.phase_label(ph), ph.structure, ph.formula, (1.0 - conversion) * m / sum(pre_mass))
    total = sum(w for _, _, w in mass.values())
    products = [Product(label, s, w / total, f) for label, (s, f, w) in mass.items()] if total > 0 else []
    return SynthesisOutcome(success, p, conversion, sorted(products, key=lambda x: -x.weight_fraction))
