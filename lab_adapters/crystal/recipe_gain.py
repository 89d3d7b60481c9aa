"""Is recipe optimisation worth doing? The best of a few recipes against the default planner's.

``recipe_best_vs_default_yield_gain`` (issue 16): per target, the default planner's recipe and
up to ``n_recipes - 1`` variants of it (:func:`recipe_variants`) are each measured once
(``screen_seed``); the recipe with the highest yield is then re-measured on ``n_seeds`` fresh
seeds, and so is the default; the target's gain is the difference of the two means. The
figure is the mean gain over the targets. The yield reader is any callable
``(target, recipe, seed) -> yield in [0, 1]``: the target weight fraction read from the
sample's simulated powder pattern, as the crystal lab reads it (:func:`xrd_yield_reader`; the
issue's figure), or the synthesis outcome's own target weight fraction
(:func:`synthesis_yield_reader`, no XRD).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from pymatgen.core import Composition

from lab_adapters.crystal.atmosphere import ATMOSPHERES
from lab_adapters.crystal.precursors import VOLATILE, precursor
from lab_adapters.crystal.recipes import StoichiometricPlanner
from lab_adapters.crystal.synthesis import SynthesisConfig, Target, synthesize_on
from loop.identity import derive_seed
from loop.records import Precursor, Recipe

__all__ = ["GainReport", "recipe_best_vs_default_yield_gain", "recipe_variants", "synthesis_yield_reader", "xrd_yield_reader"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def _key(r: Recipe) -> tuple:
    return (tuple(sorted((p.formula, round(p.amount, 4)) for p in r.precursors)), r.temperature_c, r.time_h, r.atmosphere)


def recipe_variants(
    composition: Composition | str, world: Any, planner: StoichiometricPlanner, n: int, rng: np.random.Generator,
    furnace_max_c: float = 1500.0,
) -> list[Recipe]:
    """The default recipe first, then up to ``n - 1`` distinct variants, one factor at a time as a chemist
    would vary it: each other atmosphere, another commercial precursor per cation, the temperature
    -100/+100 C (then -200/+200), the dwell time x2 (then x0.5, x4), a 10 % excess of a volatile
    element's precursor; past those, random combinations of 2-3 such changes."""
    comp = Composition(composition).reduced_composition
    default = planner.plan(comp, world)
    has_o = "O" in [e.symbol for e in comp.elements]
    atmospheres = [a for a in ATMOSPHERES if a != "N2"] if has_o else ["Ar", "air"]

    def with_precursor(r: Recipe, i: int, formula: str) -> Recipe:
        spec = precursor(r.precursors[i].formula)
        el = spec.cations[0]
        moles = r.precursors[i].amount * Composition(spec.formula)[el] / Composition(formula)[el]
        pre = list(r.precursors)
        pre[i] = Precursor(formula=formula, amount=round(moles, 6))
        return r.model_copy(update={"precursors": pre})

    def with_excess(r: Recipe) -> Recipe | None:
        vol = [i for i, p in enumerate(r.precursors) if set(precursor(p.formula).cations) & set(VOLATILE)]
        if not vol:
            return None
        pre = list(r.precursors)
        pre[vol[0]] = Precursor(formula=pre[vol[0]].formula, amount=round(pre[vol[0]].amount * 1.1, 6))
        return r.model_copy(update={"precursors": pre})

    def single_changes(r: Recipe) -> list[list[Recipe]]:
        """Groups of one-factor changes, most informative first."""
        t0, h0 = float(r.temperature_c or 800.0), float(r.time_h or 12.0)
        groups = [[r.model_copy(update={"atmosphere": a}) for a in atmospheres if a != r.atmosphere]]
        alts = []
        for i, p in enumerate(r.precursors):
            spec = precursor(p.formula)
            others = [s.formula for s in planner.precursor_options(spec.cations[0], comp, world) if s.formula != spec.formula]
            if others:
                alts.append(with_precursor(r, i, others[int(rng.integers(len(others)))]))
        groups.append(alts)
        groups.append([r.model_copy(update={"temperature_c": min(max(t0 + d, 200.0), furnace_max_c)}) for d in (-100.0, 100.0)])
        groups.append([r.model_copy(update={"time_h": h0 * 2.0})])
        groups.append([x for x in [with_excess(r)] if x is not None])
        groups.append([r.model_copy(update={"temperature_c": min(max(t0 + d, 200.0), furnace_max_c)}) for d in (-200.0, 200.0)])
        groups.append([r.model_copy(update={"time_h": h0 * f}) for f in (0.5, 4.0)])
        return groups

    out, seen = [default], {_key(default)}

    def add(r: Recipe) -> None:
        if len(out) < n and _key(r) not in seen:
            seen.add(_key(r))
            out.append(r.model_copy(update={"params": {**default.params, "variant": len(out)}}))

    groups = single_changes(default)
    for group in groups:
        for r in group:
            add(r)
    singles = [r for g in groups for r in g]
    for _ in range(50 * n):
        if len(out) >= n or not singles:
            break
        r = singles[int(rng.integers(len(singles)))]
        for g in rng.permutation(len(groups))[: int(rng.integers(1, 3))]:
            if groups[g]:
                change = single_changes(r)[g]
                if change:
                    r = change[int(rng.integers(len(change)))]
        add(r)
    return out


@dataclass
class GainReport:
    """Per-target rows and the mean gain."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gain(self) -> float:
        return float(np.mean([r["gain"] for r in self.rows])) if self.rows else float("nan")

    @property
    def default_yield(self) -> float:
        return float(np.mean([r["default_yield"] for r in self.rows])) if self.rows else float("nan")

    @property
    def best_yield(self) -> float:
        return float(np.mean([r["best_yield"] for r in self.rows])) if self.rows else float("nan")


def recipe_best_vs_default_yield_gain(
    targets: Sequence[T],
    recipes_for: Callable[[T], list[Recipe]],
    yield_of: Callable[[T, Recipe, int], float],
    n_recipes: int = 10,
    n_seeds: int = 5,
    screen_seed: int = 0,
    fresh_seed: int = 1000,
    name_of: Callable[[T], str] = str,
) -> GainReport:
    """The mean over ``targets`` of (best recipe of ``recipes_for(t)[:n_recipes]``, re-measured) - (its first,
    the default), on the same ``n_seeds`` fresh seeds (see the module docs)."""
    report = GainReport()
    seeds = [fresh_seed + j for j in range(n_seeds)]
    for t in targets:
        recipes = recipes_for(t)[:n_recipes]
        screened = [yield_of(t, r, screen_seed) for r in recipes]
        best = int(np.argmax(screened))
        y_best = float(np.mean([yield_of(t, recipes[best], s) for s in seeds]))
        y_def = float(np.mean([yield_of(t, recipes[0], s) for s in seeds]))
        report.rows.append({
            "target": name_of(t), "n_recipes": len(recipes), "default_yield": y_def, "best_yield": y_best,
            "gain": y_best - y_def, "best_recipe": recipes[best].model_dump(mode="json"),
            "default_recipe": recipes[0].model_dump(mode="json"),
        })
        log.info("%s: default %.2f, best of %d %.2f", name_of(t), y_def, len(recipes), y_best)
    return report


def synthesis_yield_reader(land: Any, config: SynthesisConfig, kinetics_seed: int) -> Callable[[Target, Recipe, int], float]:
    """Yield = the target weight fraction of the synthesis outcome (no XRD); the world's hidden kinetics fixed
    by ``kinetics_seed``, the run noise by ``seed``."""

    def read(target: Target, recipe: Recipe, seed: int) -> float:
        rng = np.random.default_rng([seed, derive_seed(target.composition.reduced_formula)])
        return synthesize_on(land, target, recipe, config, kinetics_seed, rng).target_fraction

    return read


def xrd_references_on(land: Any, target: Target, recipe: Recipe, target_label: str) -> dict[str, Any]:  # noqa: ANN401
    """What the analyzer is given, as in the crystal lab: the landscape's known solids, stable or not (what
    a lab takes from ICSD for its chemical system), within the elements that went into the furnace (the
    target's and the precursors'), minus any the target duplicates and repeats of an earlier phase
    (StructureMatcher, as the known-phase loader skips them), plus the target's own structure."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    els = {e.symbol for e in target.composition.elements}
    for p in recipe.precursors:
        els |= {e.symbol for e in Composition(p.formula).elements} & set(land.elements)
    matcher = StructureMatcher()
    refs: dict[str, Any] = {}
    for ph in land.phases:
        if ph.structure is None or not {e.symbol for e in ph.composition.elements} <= els:
            continue
        formula = ph.composition.reduced_formula
        if ph.name == target.landscape_name or (
            formula == target.composition.reduced_formula and target.structure is not None and matcher.fit(ph.structure, target.structure)
        ):
            continue
        if any(s.composition.reduced_formula == formula and matcher.fit(ph.structure, s) for s in refs.values()):
            continue
        refs[ph.name] = ph.structure
    refs[target_label] = target.structure
    return refs


def xrd_yield_reader(
    land: Any, config: SynthesisConfig, kinetics_seed: int, settings: Any = None,  # noqa: ANN401
) -> Callable[[Target, Recipe, int], float]:
    """Yield = the target weight fraction that the whole-pattern fit reads from the sample's simulated powder
    pattern (:func:`lab_adapters.crystal.xrd_sample.fit_sample`, the crystal lab's instrument and analyzer;
    ``settings``: a ``CrystalLabConfig``, default the lab's defaults). Same seeds as
    :func:`synthesis_yield_reader`; a sample with nothing diffracting reads 0. Deterministic, so repeated
    calls (the default recipe when it is also the best) are answered from memory."""
    from lab_adapters.crystal.lab import CrystalLabConfig
    from lab_adapters.crystal.xrd_sample import fit_sample
    from lab_adapters.xrd import ReferenceSet

    settings = settings or CrystalLabConfig(elements=list(land.elements))
    ref_sets: dict[tuple, Any] = {}
    memo: dict[tuple, float] = {}

    def read(target: Target, recipe: Recipe, seed: int) -> float:
        formula = target.composition.reduced_formula
        key = (formula, recipe.model_dump_json(exclude={"params"}), seed)
        if key in memo:
            return memo[key]
        rng = np.random.default_rng([seed, derive_seed(formula)])
        outcome = synthesize_on(land, target, recipe, config, kinetics_seed, rng)
        label = f"{formula}_target"
        refs = xrd_references_on(land, target, recipe, label)
        ref_key = (formula, tuple(sorted(refs)))
        if ref_key not in ref_sets:
            ref_sets[ref_key] = ReferenceSet.from_structures(refs)
        if not outcome.diffracting_products():
            memo[key] = 0.0
            return 0.0
        _, fit = fit_sample(outcome, ref_sets[ref_key], label, settings, rng)
        memo[key] = float(fit.analysis.target_fraction or 0.0)
        return memo[key]

    return read
