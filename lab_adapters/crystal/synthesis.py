"""Solid-state synthesis in the simulated world: what forms from a recipe.

A recipe's precursors (:mod:`.precursors`, weighed in moles or grams) are heated at ``T`` for
``t`` hours in an atmosphere (:mod:`.atmosphere`). The model, with equations and sources in
docs/synthesis.md:

1. **Volatile loss.** An element of :data:`.precursors.VOLATILE` evaporates from its free
   precursor at ``k_v(T) = 0.01 h^-1 exp(-(E_v / k_B)(1/T - 1/T_v))`` until the precursor
   reacts (its first step's rate ``k_r``), and from the compounds it forms at
   ``bound_volatility * k_v`` (see :func:`_volatile_loss`); the loss is taken from the
   precursor's amount, so the sample ends up poor in that element.
2. **Reaction path** (:mod:`.reactions`, ARROWS): pairwise reactions, the largest driving
   force first, in the grand potential of the atmosphere's oxygen; carbonates, hydroxides and
   nitrates enter as their oxide residue with an effective energy lowered by their
   decomposition free energy ``dG_dec(T)`` (released CO2/H2O/NO2). Every oxide's energy is
   its free energy at ``T``, ``E - T S_rel`` with the solids' entropy of :mod:`.oxide_entropy`.
3. **Kinetics.** Each step s (driving force ``dG_s`` per atom, onset ``T_s``: the mean
   reactivity temperature of its reactants, :func:`.precursors.reactive_temperature_c`) runs
   at the rate

       k_s = (1 / tau) * exp(-(g0 / |dG_s|)^2) * min(exp(-(Q / k_B)(1/T - 1/T_s)), a_max) * h_s * n_s

   -- a nucleation factor (classical nucleation theory: the barrier scales as 1/dG^2, so
   steps with |dG| below ~50 meV/atom are sluggish, the A-Lab's main failure mode: Szymanski
   et al., Nature 624, 86 (2023)), an Arrhenius factor about the Tammann onset, a hidden
   per-reaction factor ``h_s ~ LogNormal(0, hidden_sd)`` fixed by the world's kinetics seed,
   and run-to-run noise ``n_s ~ LogNormal(0, run_sd)``. The fraction of the sample at each
   stage of the path follows the linear kinetics ``dp/dt = K p`` (solved with a matrix
   exponential). A target off the path (metastable, or unstable at this oxygen potential) forms
   directly from stage s (when the path never reaches it) if it lies below that stage's
   assemblage (``D_s < 0``: the remaining driving force), at the same kind of rate times a
   hidden per-target factor times ``min(1, exp((|D_s| - |dG_s+1|) / selectivity_ev))`` (the
   path's next step wins when it has more driving force), and decays back to the final
   assemblage when it lies above it, at ``decay`` times that rate.
4. **Products**: the stages' assemblages weighted by their fractions, plus the target state
   (target + the hull phases of what is left), as weight fractions. Gases leave.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Composition, Structure

from lab_adapters.crystal.atmosphere import K_B, delta_mu_o, normalize_atmosphere
from lab_adapters.crystal.oxide_entropy import relative_entropy_per_atom
from lab_adapters.crystal.precursors import VOLATILE, precursor, reactive_temperature_c
from lab_adapters.crystal.reactions import (
    EnergyLandscape,
    LandscapePhase,
    PathStage,
    Solid,
    grand_energy,
    reaction_path,
)
from loop.errors import InputDataError
from loop.identity import derive_seed
from loop.records import Recipe

__all__ = [
    "FurnaceLimits",
    "Product",
    "SynthesisConfig",
    "SynthesisOutcome",
    "Target",
    "hidden_factor",
    "landscape_of",
    "synthesize",
    "synthesize_on",
    "target_in",
    "validate_recipe",
]

GASES = {"O", "F", "N", "Cl", "H"}
"""Elements whose elemental phase is a gas and leaves the sample."""


class FurnaceLimits(BaseModel):
    """What the furnace can do; a recipe outside is rejected with the field named."""

    model_config = ConfigDict(extra="forbid")

    t_min_c: float = Field(20.0, description="lowest temperature, deg C (room temperature: nothing heats)")
    t_max_c: float = Field(1500.0, description="highest temperature, deg C (a box furnace with SiC/MoSi2 elements)")
    time_max_h: float = Field(240.0, gt=0, description="longest dwell, hours")
    max_precursors: int = Field(6, ge=1, description="most precursors in one recipe")


class SynthesisConfig(BaseModel):
    """Parameters of the synthesis model (see the module docs)."""

    model_config = ConfigDict(extra="forbid")

    tau_h: float = Field(2.0, gt=0, description="hours; time constant of a step with a large driving force at its onset")
    nucleation_ev: float = Field(0.04, gt=0, description="g0, eV/atom: a step with |dG| = g0 runs at 1/e of the full rate")
    activation_ev: float = Field(2.0, gt=0, description="Q, eV: Arrhenius activation about the Tammann onset")
    max_speedup: float = Field(30.0, ge=1, description="a_max: cap of the Arrhenius factor above the onset")
    tammann: float = Field(0.667, gt=0, le=1, description="T_onset / T_melt (kelvin) of a solid")
    hidden_sd: float = Field(0.5, ge=0, description="sd of log of the hidden per-reaction and per-target rate factors")
    run_sd: float = Field(0.25, ge=0, description="sd of log of the run-to-run rate noise")
    selectivity_ev: float = Field(0.02, gt=0, description="eV/atom; a target with less driving force than the path's next step forms at exp(-shortfall / this)")
    decay: float = Field(0.3, ge=0, description="decay rate of a metastable target, relative to its formation rate")
    bound_volatility: float = Field(0.02, ge=0, le=1, description="volatility of an element once reacted, relative to its free precursor")
    min_driving_force: float = Field(0.002, ge=0, description="eV/atom; pairs with less do not react")
    success_fraction: float = Field(0.5, ge=0, le=1, description="target weight fraction counted as a success")
    kinetics_seed: int | None = Field(None, description="seed of the hidden kinetics (default: the lab seed)")
    furnace: FurnaceLimits = Field(default_factory=FurnaceLimits)


@dataclass
class Product:
    """A phase in the sample: label, structure (None: not in the world, e.g. a carbonate) and weight fraction."""

    label: str
    structure: Structure | None
    weight_fraction: float
    formula: str


@dataclass
class SynthesisOutcome:
    success: bool
    expected_yield: float
    """Target weight fraction without the run-to-run noise."""
    conversion: float
    """Fraction of the sample past the starting assemblage."""
    products: list[Product] = field(default_factory=list)
    path: list[PathStage] = field(default_factory=list)
    lost: dict[str, float] = field(default_factory=dict)
    """Fraction of each volatile element lost."""
    delta_mu_o: float | None = None

    @property
    def target_fraction(self) -> float:
        return sum(p.weight_fraction for p in self.products if p.label == "target")

    def diffracting_products(self) -> list[Product]:
        """The products with a structure (what a powder pattern can show), weight fractions as in the
        whole sample: a carbonate left unreacted has no structure in the world and is not among them."""
        return [p for p in self.products if p.structure is not None]


@dataclass(frozen=True)
class Target:
    """What the recipe is for: composition, formation energy per atom, structure, and its landscape phase if any."""

    composition: Composition
    energy_per_atom: float
    structure: Structure | None = None
    landscape_name: str | None = None


def hidden_factor(key: str, seed: int, sd: float) -> float:
    """A rate factor fixed per (kinetics seed, key): LogNormal(0, sd)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, derive_seed(key)])
    return float(np.exp(rng.normal(0.0, sd)))


def _moles(amount: float, unit: str, formula: str) -> float:
    if unit == "mol":
        return amount
    if unit == "mmol":
        return amount / 1000.0
    grams = amount if unit == "g" else amount / 1000.0
    return grams / float(Composition(formula).weight)


def validate_recipe(recipe: Recipe, land: EnergyLandscape, limits: FurnaceLimits, target: Composition | str | None = None) -> None:
    """A clear error naming the field when the recipe cannot run in this furnace and world."""

    def bad(field_: str, why: str) -> None:
        raise InputDataError(why, source=field_)

    if not recipe.precursors:
        bad("recipe.precursors", "no precursors")
    if len(recipe.precursors) > limits.max_precursors:
        bad("recipe.precursors", f"{len(recipe.precursors)} precursors; the furnace takes at most {limits.max_precursors}")
    if recipe.temperature_c is None or not limits.t_min_c <= recipe.temperature_c <= limits.t_max_c:
        bad("recipe.temperature_c", f"{recipe.temperature_c} deg C is outside the furnace's {limits.t_min_c:g}-{limits.t_max_c:g} deg C")
    if recipe.time_h is None or not 0.0 <= recipe.time_h <= limits.time_max_h:
        bad("recipe.time_h", f"{recipe.time_h} h is outside the furnace's 0-{limits.time_max_h:g} h")
    normalize_atmosphere(recipe.atmosphere)
    reduced = Composition(target).reduced_formula if target is not None else None
    for i, p in enumerate(recipe.precursors):
        if reduced is not None and Composition(p.formula).reduced_formula == reduced:
            bad(f"recipe.precursors[{i}].formula", f"{p.formula} is the target itself")
        spec = precursor(p.formula)
        outside = sorted({e.symbol for e in Composition(spec.residue).elements} - set(land.elements))
        if outside:
            bad(f"recipe.precursors[{i}].formula", f"{p.formula} brings {outside}, outside the world {'-'.join(land.elements)}")
        if not (p.amount > 0 and math.isfinite(p.amount)):
            bad(f"recipe.precursors[{i}].amount", f"{p.amount} is not a positive amount")


class _Furnace:
    """Turns formulas and landscape phases into :class:`Solid` s at one temperature and atmosphere."""

    def __init__(self, land: EnergyLandscape, temperature_c: float, mu: float | None, tammann: float) -> None:
        self.land, self.t_c, self.mu, self.tammann = land, temperature_c, mu, tammann
        self._solids: dict[str, Solid] = {}

    def of_phase(self, phase: LandscapePhase) -> Solid:
        if phase.name not in self._solids:
            comp = phase.composition
            self._solids[phase.name] = Solid(
                phase.name, comp.reduced_formula, comp, phase.energy_per_atom, float(comp.weight) / comp.num_atoms,
                reactive_temperature_c(comp.reduced_formula, self.tammann), phase.structure)
        return self._solids[phase.name]

    def of_precursor(self, formula: str) -> tuple[Solid, float]:
        """The solid of a precursor and its atoms (in the landscape's elements) per precursor formula unit."""
        spec = precursor(formula)
        pre = Composition(spec.formula)
        if {e.symbol for e in pre.elements} <= set(self.land.elements):
            phase = self.land.lowest(spec.formula)
            if phase is None:
                energy = self.land.hull_energy(pre)
                phase = LandscapePhase(f"{pre.reduced_formula}_precursor", pre, energy, None)
            solid = self.of_phase(phase)
            return solid, float(pre.num_atoms)
        res = Composition(spec.residue)
        base = self.land.lowest(spec.residue)
        e_res = base.energy_per_atom if base is not None else self.land.hull_energy(res)
        atoms = spec.residue_per_unit() * res.num_atoms
        dg = spec.decomposition_free_energy(self.t_c + 273.15)
        solid = Solid(f"{pre.reduced_formula}_precursor", pre.reduced_formula, res, e_res - dg / atoms,
                      float(pre.weight) / atoms, reactive_temperature_c(spec.formula, self.tammann), None)
        return solid, float(atoms)

    def amount(self, solid: Solid, atoms: float) -> float:
        """Atoms -> the path's amount unit (non-oxygen atoms when oxygen is open)."""
        return atoms * (1.0 - solid.x_open) if self.mu is not None else atoms


def _rate(d_g: float, t_c: float, onset_c: float, cfg: SynthesisConfig) -> float:
    if d_g >= 0:
        return 0.0
    nucleation = math.exp(-((cfg.nucleation_ev / abs(d_g)) ** 2))
    t, t0 = t_c + 273.15, onset_c + 273.15
    arrhenius = min(math.exp(-(cfg.activation_ev / K_B) * (1.0 / t - 1.0 / t0)), cfg.max_speedup)
    return nucleation * arrhenius / cfg.tau_h


def _phi(assemblage: dict[str, float], solids: dict[str, Solid], mu: float | None) -> float:
    return sum(n * grand_energy(solids[k], mu) for k, n in assemblage.items())


def _atoms(assemblage: dict[str, float], solids: dict[str, Solid], mu: float | None) -> float:
    return sum(n / (1.0 - solids[k].x_open) if mu is not None else n for k, n in assemblage.items())


def synthesize_on(
    land: EnergyLandscape, target: Target, recipe: Recipe, config: SynthesisConfig, seed: int, rng: np.random.Generator
) -> SynthesisOutcome:
    """What forms when ``recipe`` is run for ``target`` on ``land`` (see the module docs)."""
    validate_recipe(recipe, land, config.furnace, target.composition)
    t_c, hours = float(recipe.temperature_c or 25.0), float(recipe.time_h or 0.0)
    land, target = _at_temperature(land, target, t_c)
    mu_raw = delta_mu_o(t_c, recipe.atmosphere)
    mu = land.open_mu(mu_raw)
    furnace = _Furnace(land, t_c, mu, config.tammann)

    # 1. precursors (moles) -> solids, less what evaporates before and after they react
    weighed = [(precursor(p.formula), _moles(p.amount, p.unit, p.formula)) for p in recipe.precursors]
    lost = _volatile_loss(weighed, land, furnace, mu, t_c, hours, config)
    start: dict[str, tuple[Solid, float]] = {}
    for spec, moles in weighed:
        solid, atoms_per_unit = furnace.of_precursor(spec.formula)
        for el in spec.cations:
            moles *= 1.0 - lost.get(el, 0.0)
        old = start.get(solid.name, (solid, 0.0))[1]
        start[solid.name] = (solid, old + furnace.amount(solid, moles * atoms_per_unit))

    # 2. the ARROWS path
    path = reaction_path(start, land, mu, furnace.of_phase, config.min_driving_force)
    solids = {k: s for k, (s, _) in start.items()}
    for stage in path:
        for name in stage.assemblage:
            if name not in solids:
                solids[name] = furnace.of_phase(land.phase(name))
    target_solid = _target_solid(land, target, furnace)
    solids[target_solid.name] = target_solid

    # the target state: as much target as the composition allows, the rest on the hull
    total = Composition()
    for k, n in path[0].assemblage.items():
        s = solids[k]
        total += land.reduced_space(s.composition, mu).fractional_composition * n
    t_red = land.reduced_space(target.composition, mu).fractional_composition
    n_t = min(total[el] / t_red[el] for el in t_red.elements)
    rest = Composition({el: max(total[el] - n_t * t_red[el], 0.0) for el in total.elements})
    target_state = {target_solid.name: n_t}
    if rest.num_atoms > 1e-9 * total.num_atoms:
        for phase, frac in land.hull_decomposition(rest, mu):
            s = furnace.of_phase(phase)
            solids[s.name] = s
            target_state[s.name] = target_state.get(s.name, 0.0) + frac * rest.num_atoms

    # 3. kinetics over the stages
    n_st = len(path)
    # the target forms directly (not via the path) when the path never reaches it: metastable, or
    # not stable at this oxygen potential
    direct = not any(target_solid.name in st.assemblage for st in path)
    m = np.zeros((n_st + 1, n_st + 1))  # pools: stages 0..n-1, then the target state
    noise = (lambda: float(np.exp(rng.normal(0.0, config.run_sd)))) if config.run_sd > 0 else (lambda: 1.0)
    rates_no_noise = np.zeros_like(m)
    phi_t = _phi(target_state, solids, mu)
    target_key = f"target:{target.composition.reduced_formula}"
    h_target = hidden_factor(target_key, seed, config.hidden_sd)
    for s in range(n_st):
        if s + 1 < n_st:
            step = path[s + 1]
            key = f"step:{'+'.join(sorted(solids[k].formula for k in step.reactants))}->{'+'.join(sorted(step.products))}"
            k = _rate(step.driving_force, t_c, step.onset_c, config) * hidden_factor(key, seed, config.hidden_sd)
            rates_no_noise[s + 1, s] = k
            m[s + 1, s] = k * noise()
        if direct:
            asm = path[s].assemblage
            d = (phi_t - _phi(asm, solids, mu)) / max(_atoms(asm, solids, mu), 1e-12)
            onset = sum(n * solids[k].reactive_c for k, n in asm.items()) / max(sum(asm.values()), 1e-12)
            if d < 0:
                # ARROWS: the step with the larger driving force goes first; the target competes with the
                # path's next step only as far as its own driving force keeps up with that step's
                nxt = path[s + 1].driving_force if s + 1 < n_st else 0.0
                selectivity = min(1.0, math.exp((abs(d) - abs(nxt)) / config.selectivity_ev))
                k = _rate(d, t_c, onset, config) * h_target * selectivity
                rates_no_noise[n_st, s] = k
                m[n_st, s] = k * noise()
            elif s == n_st - 1 and d > 0:
                k = config.decay * _rate(-d, t_c, target_solid.reactive_c, config) * h_target
                rates_no_noise[s, n_st] = k
                m[s, n_st] = k * noise()

    def pools(rates: np.ndarray) -> np.ndarray:
        from scipy.linalg import expm

        k = rates - np.diag(rates.sum(axis=0))
        p0 = np.zeros(n_st + 1)
        p0[0] = 1.0
        return np.clip(expm(k * hours) @ p0, 0.0, None) if hours > 0 else p0

    states = [st.assemblage for st in path] + [target_state]
    products = _products(pools(m), states, solids, target_solid.name, mu)
    expected = _products(pools(rates_no_noise), states, solids, target_solid.name, mu)
    y = sum(p.weight_fraction for p in products if p.label == "target")
    conversion = 1.0 - float(pools(m)[0])
    return SynthesisOutcome(
        success=y >= config.success_fraction, expected_yield=sum(p.weight_fraction for p in expected if p.label == "target"),
        conversion=conversion, products=products, path=path[1:], lost=lost, delta_mu_o=mu_raw)


def _volatile_loss(
    weighed: list[tuple[Any, float]], land: EnergyLandscape, furnace: _Furnace, mu: float | None, t_c: float, hours: float,
    config: SynthesisConfig,
) -> dict[str, float]:
    """Fraction of each volatile element lost: from the free precursor at ``k_v`` while it competes with
    its first reaction (rate ``k_r``), then from the compounds it forms at ``bound_volatility * k_v``:

        lost = k_v / (k_v + k_r) (1 - exp(-(k_v + k_r) t)) + (1 - that) (1 - exp(-bound_volatility k_v t))
    """
    volatile = [(spec, el) for spec, _ in weighed for el in spec.cations if el in VOLATILE]
    if not volatile or hours <= 0:
        return {}
    start = {}
    for spec, moles in weighed:
        solid, atoms = furnace.of_precursor(spec.formula)
        start[solid.name] = (solid, start.get(solid.name, (solid, 0.0))[1] + furnace.amount(solid, moles * atoms))
    path = reaction_path(start, land, mu, furnace.of_phase, config.min_driving_force, max_steps=4)
    t_k = t_c + 273.15
    lost: dict[str, float] = {}
    for spec, el in volatile:
        name = furnace.of_precursor(spec.formula)[0].name
        k_r = next((_rate(st.driving_force, t_c, st.onset_c, config) for st in path[1:] if name in st.reactants), 0.0)
        t_v, e_v = VOLATILE[el]
        k_v = 0.01 * math.exp(-(e_v / K_B) * (1.0 / t_k - 1.0 / (t_v + 273.15)))
        free = k_v / (k_v + k_r) * (1.0 - math.exp(-(k_v + k_r) * hours))
        lost[el] = free + (1.0 - free) * (1.0 - math.exp(-config.bound_volatility * k_v * hours))
    return lost


_AT_T: dict[tuple[int, float], tuple[EnergyLandscape, EnergyLandscape]] = {}
_AT_T_SIZE = 8
"""Landscapes at temperature kept (the most recent; each holds its own grand diagrams)."""


def _at_temperature(land: EnergyLandscape, target: Target, t_c: float) -> tuple[EnergyLandscape, Target]:
    """``land`` and ``target`` with the solids' entropy at ``t_c``: ``G = E - T S_rel`` (:mod:`.oxide_entropy`)."""
    t_k = t_c + 273.15
    key = (id(land), round(t_c, 1))
    hit = _AT_T.pop(key, None)
    if hit is None or hit[0] is not land:
        phases = [LandscapePhase(p.name, p.composition, p.energy_per_atom - t_k * relative_entropy_per_atom(p.composition), p.structure)
                  for p in land.phases]
        hit = (land, EnergyLandscape(phases, land.elements))
    _AT_T[key] = hit  # the most recent last
    while len(_AT_T) > _AT_T_SIZE:
        _AT_T.pop(next(iter(_AT_T)))
    shifted = target.energy_per_atom - t_k * relative_entropy_per_atom(target.composition)
    return hit[1], Target(target.composition, shifted, target.structure, target.landscape_name)


def _target_solid(land: EnergyLandscape, target: Target, furnace: _Furnace) -> Solid:
    if target.landscape_name is not None:
        s = furnace.of_phase(land.phase(target.landscape_name))
    else:
        comp = target.composition
        s = Solid("target", comp.reduced_formula, comp, target.energy_per_atom, float(comp.weight) / comp.num_atoms,
                  reactive_temperature_c(comp.reduced_formula, furnace.tammann), target.structure)
    return s


def _products(
    p: np.ndarray, states: list[dict[str, float]], solids: dict[str, Solid], target_name: str, mu: float | None
) -> list[Product]:
    mass: dict[str, float] = {}
    for weight, asm in zip(p, states, strict=True):
        for k, n in asm.items():
            s = solids[k]
            if len(s.composition.elements) == 1 and s.composition.elements[0].symbol in GASES:
                continue
            atoms = n / (1.0 - s.x_open) if mu is not None else n
            mass[k] = mass.get(k, 0.0) + weight * atoms * s.mass_per_atom
    total = sum(mass.values())
    out = [
        Product("target" if k == target_name else k, solids[k].structure, w / total, solids[k].formula)
        for k, w in mass.items() if total > 0 and w / total > 1e-6
    ]
    return sorted(out, key=lambda x: -x.weight_fraction)


# -- the world adapter (what lab.py calls) -------------------------------------------------------------
_LANDSCAPES: dict[str, EnergyLandscape] = {}


def landscape_of(world: Any) -> EnergyLandscape:
    """The energy landscape of a :class:`~lab_adapters.crystal.world.World`: its hull phases by formation
    energy, named by ``world.phase_label`` (what the lab's XRD references are called); gases kept."""
    key = f"{world.key}-{world.energy_tag}" if hasattr(world, "energy_tag") else str(id(world))
    if key not in _LANDSCAPES:
        diagram = world.hull.diagram
        phases, seen = [], set()
        entries = {e.name: e for e in diagram.all_entries}
        for ph in world.hull.phases:
            entry = entries[ph.name]
            label = world.phase_label(ph)
            label = label if label not in seen else f"{label}#{len(seen)}"
            seen.add(label)
            e = float(diagram.get_form_energy_per_atom(entry))
            phases.append(LandscapePhase(label, ph.composition, e, None if world.is_gas(ph) else ph.structure))
        _LANDSCAPES[key] = EnergyLandscape(phases, list(world.elements))
    return _LANDSCAPES[key]


def target_in(land: EnergyLandscape, structure: Structure, e_hull: float) -> Target:
    """The target of a structure with ``e_hull`` on ``land``: a landscape phase when one matches it."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    comp = structure.composition.reduced_composition
    energy = land.hull_energy(comp) + max(float(e_hull), 0.0)
    matcher = StructureMatcher()
    for ph in land.phases:
        if ph.structure is not None and ph.composition.reduced_formula == comp.reduced_formula and matcher.fit(ph.structure, structure):
            return Target(comp, ph.energy_per_atom, structure, ph.name)
    return Target(comp, energy, structure, None)


def synthesize(
    target: Structure, e_hull: float, recipe: Recipe, world: Any, config: SynthesisConfig, seed: int, rng: np.random.Generator
) -> SynthesisOutcome:
    """What forms when ``recipe`` is run for ``target`` (``e_hull`` on the world's hull) in ``world``."""
    land = landscape_of(world)
    return synthesize_on(land, target_in(land, target, e_hull), recipe, config, seed, rng)
