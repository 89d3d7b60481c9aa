"""The synthesis benchmark behind ``crystaloop bench.synthesis`` (see :mod:`.recipe_gain`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lab_adapters.crystal.recipe_gain import (
    GainReport,
    recipe_best_vs_default_yield_gain,
    recipe_variants,
    synthesis_yield_reader,
    xrd_yield_reader,
)
from lab_adapters.crystal.recipes import StoichiometricPlanner
from lab_adapters.crystal.reference_landscape import fere_landscape, read_reference_cifs, single_point_energies
from lab_adapters.crystal.synthesis import SynthesisConfig, Target
from loop.identity import derive_seed
from loop.records import Recipe

__all__ = ["forked_gain", "known_ternary_targets", "run_synthesis_bench"]

log = logging.getLogger(__name__)


def known_ternary_targets(land: Any) -> list[Target]:
    """The lowest-energy phase of each composition with exactly three elements."""
    best: dict[str, Any] = {}
    for ph in land.phases:
        f = ph.composition.reduced_formula
        if len(ph.composition.elements) == 3 and (f not in best or ph.energy_per_atom < best[f].energy_per_atom):
            best[f] = ph
    return [Target(ph.composition.reduced_composition, ph.energy_per_atom, ph.structure, ph.name) for _, ph in sorted(best.items())]


_FORKED: dict[str, Any] = {}


def _gain_rows(indices: list[int]) -> list[dict[str, Any]]:
    """A forked worker's share of the targets (see :func:`forked_gain`)."""
    return _FORKED["gain"]([_FORKED["targets"][i] for i in indices]).rows


def forked_gain(gain: Callable[[list[Any]], GainReport], targets: list[Any], workers: int) -> GainReport:
    """``gain(targets)``, with the (independent) targets dealt round-robin to ``workers`` forked processes
    when ``workers > 1``; the rows come back in the targets' order. ``gain`` is inherited by the
    workers, never pickled, so it may be a closure."""
    if workers <= 1 or len(targets) <= 1:
        return gain(targets)
    import multiprocessing

    _FORKED["gain"], _FORKED["targets"] = gain, targets
    chunks = [list(range(i, len(targets), workers)) for i in range(min(workers, len(targets)))]
    try:
        with multiprocessing.get_context("fork").Pool(len(chunks)) as pool:
            parts = pool.map(_gain_rows, chunks, chunksize=1)
    finally:
        _FORKED.clear()
    rows: list[dict[str, Any]] = [{}] * len(targets)
    for chunk, part in zip(chunks, parts, strict=True):
        for i, row in zip(chunk, part, strict=True):
            rows[i] = row
    return GainReport(rows=rows)


def _short(r: Recipe) -> str:
    pre = "+".join(f"{p.amount:g}{p.formula}" for p in r.precursors)
    return f"{pre} {r.temperature_c:g}C {r.time_h:g}h {r.atmosphere}"


def run_synthesis_bench(
    references: Path, work_dir: Path, n_recipes: int = 10, n_seeds: int = 5, kinetics_seed: int = 0,
    config: SynthesisConfig | None = None, xrd: bool = False, max_targets: int | None = None, workers: int = 1,
) -> dict[str, Any]:
    """``recipe_best_vs_default_yield_gain`` on the known ternaries of ``references`` (:mod:`.recipe_gain`).

    ``xrd``: yields read from the simulated powder pattern by the lab's analyzer (the issue's figure);
    else the synthesis outcome's target weight fraction. ``max_targets``: the first n targets only.
    ``workers`` > 1: the targets (independent) are shared among that many forked processes."""
    from loop.interfaces import PluginContext
    from loop.tables import cache_dir
    from surrogates.potentials.factory import create_potential

    structures = read_reference_cifs(references)
    pot = create_potential({"kind": "chgnet", "options": {"model_name": "0.3.0"}}, PluginContext(work_dir=work_dir))
    energies = single_point_energies(structures, pot, cache_dir() / "synthesis")
    land, fit = fere_landscape(structures, energies)
    planner = StoichiometricPlanner(StoichiometricPlanner.Config(), None)
    config = config or SynthesisConfig()
    targets = known_ternary_targets(land)[:max_targets]
    reader = (xrd_yield_reader if xrd else synthesis_yield_reader)(land, config, kinetics_seed)

    def recipes_for(t: Target) -> list[Recipe]:
        rng = np.random.default_rng([derive_seed(t.composition.reduced_formula), kinetics_seed])
        return recipe_variants(t.composition, land, planner, n_recipes, rng, config.furnace.t_max_c)

    def gain(subset: list[Target]) -> GainReport:
        return recipe_best_vs_default_yield_gain(subset, recipes_for, reader, n_recipes=n_recipes, n_seeds=n_seeds,
                                                 name_of=lambda t: t.composition.reduced_formula)

    report = forked_gain(gain, targets, workers)
    e_hull = {t.composition.reduced_formula: land.e_above_hull(t.composition, t.energy_per_atom) for t in targets}
    rows = []
    for row in report.rows:
        rows.append({**row, "e_hull": e_hull[row["target"]],
                     "default_recipe_short": _short(Recipe.model_validate(row["default_recipe"])),
                     "best_recipe_short": _short(Recipe.model_validate(row["best_recipe"]))})
    return {
        "recipe_best_vs_default_yield_gain": report.gain,
        "default_yield_mean": report.default_yield,
        "best_yield_mean": report.best_yield,
        "n_targets": len(targets),
        "n_recipes": n_recipes,
        "n_seeds": n_seeds,
        "kinetics_seed": kinetics_seed,
        "yield": "target weight fraction read from the simulated powder pattern (the lab's XRD fit)" if xrd
                 else "target weight fraction of the simulated synthesis (no XRD)",
        "energies": f"{getattr(pot, 'identity', 'chgnet')} single points, FERE-aligned",
        "fere_mu": fit.mu,
        "fere_fit_mae": fit.fit_mae,
        "fere_n_fitted": len(fit.fitted),
        "fere_held_out": {f: {"model": a, "experiment": b} for f, (a, b) in fit.held_out.items()},
        "targets": rows,
    }
