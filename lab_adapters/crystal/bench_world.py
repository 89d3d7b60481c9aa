"""``crystaloop bench world``: how far the screen's computed hull is from the simulated world's.

The screen is the ``mlip`` screen as campaigns use it: CHGNet 0.3.0 (PBE), MP2020
corrections, a hull of the known phases (``references``) with built-in elemental references.
The world is the crystal lab's: CHGNet r2SCAN, the hidden error
(:mod:`lab_adapters.crystal.hidden_error`), a hull of the same known phases relaxed with
the world's potential. Figures (eV/atom; Spearman's rank correlation ``rho``):

- ``screen_vs_world_e_hull_mae = mean |E_hull,screen - E_hull,world|`` and
  ``screen_vs_world_spearman`` on ``n`` candidates (default 200) of the demo's generator
  (``random_crystal`` over Li-Mn-O, at most 8 atoms, at least 2 elements; seed 0), each
  relaxed by the screen (CHGNet 0.3.0, 40 FIRE steps, fmax 0.1 eV/A; candidates whose
  relaxation does not converge are rejected and not scored) and then, as the lab does, from
  the screen's relaxed structure by the world (CHGNet r2SCAN, 60 steps); reference phases get
  60 steps;
- the same on the known phases themselves (``..._known``: each phase against each hull)
  and against the world without its hidden error (``..._no_error``);
- ``formation_mae_perov5_raw`` / ``..._corrected``: CHGNet 0.3.0 formation energies on
  perov-5 against ``heat_ref`` (:mod:`surrogates.hull.formation_bench`);
- ``recipe_best_vs_default_yield_gain`` (stage ``recipes``, also in ``all``): on the known
  ternaries of the whole reference folder (22 in the shipped Li-Mn-Ti-O-F set), the best of
  at most 10 recipes re-measured on 5 fresh seeds minus the default planner's yield on the
  same seeds, every yield read from the sample's simulated powder pattern by the lab's XRD
  fit (:mod:`.recipe_gain`, :func:`.recipe_gain.xrd_yield_reader`; energies: CHGNet 0.3.0
  single points aligned by fitted elemental references, :mod:`.synthesis_bench`).

The benchmark drives a generator (through the registry), the screen and the simulated
world, so it lives with the lab, which may use ``surrogates`` physics. It reads the world's
truth only to score the screen; nothing here feeds back into a campaign.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loop.interfaces import PluginContext

__all__ = ["run_world_bench"]

log = logging.getLogger(__name__)

DEMO_GENERATOR = {"kind": "random_crystal", "options": {"elements": ["Li", "Mn", "O"], "max_atoms": 8, "min_elements": 2}}


def _pair_figures(screen: Sequence[float], world: Sequence[float]) -> tuple[float, float]:
    from scipy.stats import spearmanr

    a, b = np.asarray(screen, dtype=float), np.asarray(world, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return math.nan, math.nan
    return float(np.mean(np.abs(a[ok] - b[ok]))), float(spearmanr(a[ok], b[ok]).statistic)


SCREEN_STEPS = 40
TRUTH_STEPS = 60
REFERENCE_STEPS = 60


def _setup(references: Path, n: int, seed: int, elements: Sequence[str]) -> tuple[Any, list[Any], Any, Path]:
    """(context, proposals, cache folder, work folder) shared by the stages."""
    from loop import registry
    from loop.tables import cache_dir

    els = sorted(set(elements))
    cache = cache_dir() / "bench-world"
    root = cache / f"work-{'-'.join(els)}-{n}-{seed}"
    ctx = PluginContext(work_dir=root, seed=seed, device="cpu")
    gen_spec = {"kind": DEMO_GENERATOR["kind"], "options": {**DEMO_GENERATOR["options"], "elements": els}}
    generator = registry.create("generators", gen_spec, ctx)
    proposals = generator.sample(n, None, np.random.default_rng(seed))
    log.info("bench world: %d proposals from %s (seed %d)", len(proposals), gen_spec["kind"], seed)
    return ctx, proposals, cache, root


def _screen(references: Path, els: list[str], ctx: Any, cache: Path) -> Any:  # noqa: ANN401 - MLIPScreen
    from surrogates.screening.screen import MLIPScreen, MLIPScreenConfig

    return MLIPScreen(MLIPScreenConfig(
        potential="chgnet", potential_options={"model_name": "0.3.0", "device": "cpu"}, elements=els,
        references=[str(references)], max_e_hull=1e9, fmax=0.1, steps=SCREEN_STEPS, hull_fmax=0.1, hull_steps=REFERENCE_STEPS,
        hull_cache_dir=str(cache / "screen-hulls"), ray="never", check_composition=False,
    ), ctx)


def _world(references: Path, els: list[str], ctx: Any, cache: Path) -> tuple[Any, Any]:  # noqa: ANN401
    from lab_adapters.crystal.hidden_error import HiddenErrorConfig
    from lab_adapters.crystal.lab import WORLD_POTENTIAL
    from lab_adapters.crystal.world import WorldConfig, build_world
    from surrogates.potentials.factory import create_potential

    world_pot = create_potential({"kind": WORLD_POTENTIAL["kind"], "options": {**WORLD_POTENTIAL["options"], "device": "cpu"}}, ctx)
    world = build_world(WorldConfig(
        elements=els, references=[str(references)], hidden_error=HiddenErrorConfig(), fmax=0.1, steps=REFERENCE_STEPS,
        cache_dir=str(cache / "worlds"),
    ), world_pot)
    return world, world_pot


def run_world_bench(
    references: Path,
    perov5: Path | None,
    *,
    n: int = 200,
    seed: int = 0,
    elements: Sequence[str] = ("Li", "Mn", "O"),
    stage: str = "all",
    workers: int = 1,
) -> dict[str, Any]:
    """The figures of the module docstring, as a dict (plus counts and settings).

    ``stage="oxides"`` compares the world's oxide formation enthalpies with experiment
    (:mod:`.oxide_check`); ``stage="screen"`` runs (and caches) only the screen, ``"world"`` the screen (cached) and
    the world's truths; ``"recipes"`` only the recipe figure; ``"breakdown"`` the split of
    :mod:`.bench_world_breakdown` (screen and world cached); ``"all"`` reads the caches and
    computes every figure.
    """
    from lab_adapters.crystal.hidden_error import HiddenErrorConfig
    from lab_adapters.crystal.truth import TruthConfig, ground_truth
    from loop.tables import cache_dir

    t0 = time.perf_counter()
    if stage == "recipes":
        return {**recipe_figures(references, workers=workers), "stage": "recipes", "wall_s": time.perf_counter() - t0}
    els = sorted(set(elements))
    if stage == "oxides":
        from lab_adapters.crystal.oxide_check import oxide_enthalpy_errors, redox_temperatures
        from lab_adapters.crystal.synthesis import landscape_of

        cache = cache_dir() / "bench-world"
        world, _ = _world(references, els, PluginContext(work_dir=cache / "oxides", seed=seed, device="cpu"), cache)
        land = landscape_of(world)
        return {**oxide_enthalpy_errors(land, world.correction), "correction": world.correction.summary(), "redox": redox_temperatures(land),
                "stage": "oxides", "wall_s": time.perf_counter() - t0}
    ctx, proposals, cache, _root = _setup(references, n, seed, els)
    truth_cfg = TruthConfig(fmax=0.1, steps=TRUTH_STEPS)
    truths: dict[str, Any] = {}
    screen = _screen(references, els, ctx, cache)
    decisions = screen.screen(proposals, [])
    log.info("bench world: screen done (%.0f s)", time.perf_counter() - t0)
    if stage == "screen":
        screen.hull(els)
        return {"stage": "screen", "n": len(decisions), "wall_s": time.perf_counter() - t0}
    world, world_pot = _world(references, els, ctx, cache)
    # as the lab does: the world relaxes the structure it receives, the screen's relaxed one
    by_id = {p.id: p for p in proposals}
    scored = [d for d in decisions if d.e_hull is not None and d.relaxed_structure is not None]
    for i, d in enumerate(scored):
        cand = by_id[d.candidate_id].model_copy(update={"relaxed_structure": d.relaxed_structure})
        truths[cand.id] = ground_truth(cand, world, world_pot, truth_cfg)
        if i % 20 == 0:
            log.info("bench world: world truth %d of %d (%.0f s)", i, len(scored), time.perf_counter() - t0)
    if stage == "world":
        return {"stage": "world", "n": len(truths), "wall_s": time.perf_counter() - t0}
    s_vals, w_vals, w0_vals, records = [], [], [], []
    for d in decisions:
        truth = truths.get(d.candidate_id)
        if d.e_hull is None or truth is None or truth.e_hull is None:
            continue
        s_vals.append(float(d.e_hull))
        w_vals.append(float(truth.e_hull))
        w0_vals.append(float(truth.model_e_hull) if truth.model_e_hull is not None else math.nan)
        s_hull = screen.hull(sorted({e.symbol for e in d.relaxed_structure.composition.elements}))
        records.append({"formula": truth.formula, "screen": s_vals[-1], "world": w_vals[-1], "world_no_error": w0_vals[-1],
                        "screen_energy": s_hull.hull_energy_per_atom(truth.formula) + s_vals[-1] if not isinstance(s_hull, str) else None,
                        "world_energy": world.hull.hull_energy_per_atom(truth.formula) + w_vals[-1]})
    mae, rho = _pair_figures(s_vals, w_vals)
    mae0, rho0 = _pair_figures(s_vals, w0_vals)

    # the known phases against each hull
    screen_hull = screen.hull(els)
    assert not isinstance(screen_hull, str), screen_hull
    sk, wk, wk0, known_formulas = [], [], [], []
    world_by_name = {p.name: p for p in world.hull.phases}
    model_by_name = {p.name: p for p in world.model_hull.phases}
    for ph in screen_hull.phases:
        if not ph.name.startswith("known:") or ph.name not in world_by_name:
            continue
        known_formulas.append(ph.composition.reduced_formula)
        sk.append(screen_hull.e_above_hull(ph.composition, ph.energy_per_atom))
        w = world_by_name[ph.name]
        wk.append(world.hull.e_above_hull(w.composition, w.energy_per_atom))
        m = model_by_name[ph.name]
        wk0.append(world.model_hull.e_above_hull(m.composition, m.energy_per_atom))
    if stage == "breakdown":
        from lab_adapters.crystal.bench_world_breakdown import breakdown, elemental_choices

        known = [{"formula": f, "screen": a, "world": b, "world_no_error": c}
                 for f, a, b, c in zip(known_formulas, sk, wk, wk0, strict=True)]
        return {
            "stage": "breakdown", "n_candidates": len(records), "n_proposed": len(proposals), "seed": seed,
            "candidates": breakdown(records), "known_phases": breakdown(known),
            "elemental_references": {"screen": elemental_choices(screen_hull.phases), "world": elemental_choices(world.hull.phases),
                                     "world_no_error": elemental_choices(world.model_hull.phases)},
            "same_elemental_prototypes": _same_reference_what_if(records, screen, world, world_pot, els),
            "records": records, "wall_s": time.perf_counter() - t0,
        }
    mae_k, rho_k = _pair_figures(sk, wk)
    mae_k0, rho_k0 = _pair_figures(sk, wk0)

    out: dict[str, Any] = {
        "screen_vs_world_e_hull_mae": mae,
        "screen_vs_world_spearman": rho,
        "screen_vs_world_e_hull_mae_known": mae_k,
        "screen_vs_world_spearman_known": rho_k,
        "screen_vs_world_e_hull_mae_no_error": mae0,
        "screen_vs_world_spearman_no_error": rho0,
        "screen_vs_world_e_hull_mae_known_no_error": mae_k0,
        "screen_vs_world_spearman_known_no_error": rho_k0,
        "n_candidates": len(s_vals),
        "n_proposed": len(proposals),
        "n_known": len(sk),
        "seed": seed,
        "elements": els,
        "screen": f"mlip, chgnet 0.3.0, correction {screen.correction()}, hull of {screen.reference_source}, {SCREEN_STEPS} steps",
        "world": f"chgnet r2scan + hidden error (sigma {HiddenErrorConfig().sigma} eV/atom)"
                 f"{' + oxidation-state correction' if world.config.oxidation_correction else ''}, "
                 f"hull of {world.reference_source}, {TRUTH_STEPS} steps",
    }
    if perov5 is not None:
        from surrogates.hull.formation_bench import formation_energy_mae
        from surrogates.potentials.factory import create_potential

        pot = create_potential({"kind": "chgnet", "options": {"model_name": "0.3.0", "device": "cpu"}}, ctx)
        f = formation_energy_mae(perov5, pot, cache_dir())
        out.update({
            "formation_mae_perov5_raw": f["formation_mae_raw"],
            "formation_mae_perov5_corrected": f["formation_mae_corrected"],
            "formation_perov5": {k: v for k, v in f.items() if not k.startswith("formation_mae")},
        })
    out.update(recipe_figures(references, workers=workers))
    out["wall_s"] = time.perf_counter() - t0
    return out


def _same_reference_what_if(records: list[dict[str, Any]], screen: Any, world: Any, world_pot: Any, els: list[str]) -> dict[str, Any]:  # noqa: ANN401
    """The candidates' figures when screen and world use the same built-in prototype per element (see
    :mod:`.bench_world_breakdown`): with the screen's choices, and with the world's."""
    from lab_adapters.crystal.bench_world_breakdown import (
        breakdown,
        elemental_choices,
        prototype_energies,
        same_reference_records,
    )

    s_protos = prototype_energies(els, screen.potential(), fmax=0.1, steps=REFERENCE_STEPS)
    w_protos = prototype_energies(els, world_pot, fmax=0.1, steps=REFERENCE_STEPS)
    for per in w_protos.values():  # the world's energies carry its hidden error, as its hull does
        for k, ph in per.items():
            per[k] = type(ph)(ph.name, ph.structure, world.energy_per_atom(ph.structure, ph.energy_per_atom), ph.converged)
    screen_hull = screen.hull(els)
    assert not isinstance(screen_hull, str), screen_hull

    def kinds(hull: Any) -> dict[str, str]:  # noqa: ANN401
        return {el: r["reference"].split(":")[1] for el, r in elemental_choices(hull.phases).items() if r["reference"].startswith("builtin:")}

    usable = [r for r in records if r.get("screen_energy") is not None]
    out: dict[str, Any] = {}
    for label, choice in (("screen_choice", kinds(screen_hull)), ("world_choice", kinds(world.hull))):
        choice = {el: k for el, k in choice.items() if k in s_protos.get(el, {}) and k in w_protos.get(el, {})}
        b = breakdown(same_reference_records(usable, screen.hull, world.hull, s_protos, w_protos, choice))
        out[label] = {"choice": choice, "all": b["all"], "near_hull": b["near_hull"], "by_subsystem": b["by_subsystem"]}
    out["prototype_energies"] = {side: {el: {k: ph.energy_per_atom for k, ph in per.items()} for el, per in protos.items()}
                                 for side, protos in (("screen", s_protos), ("world", w_protos))}
    return out


def recipe_figures(references: Path, n_recipes: int = 10, n_seeds: int = 5, workers: int = 1) -> dict[str, Any]:
    """``recipe_best_vs_default_yield_gain`` with yields read from XRD, and its parts (see the module docs)."""
    import tempfile

    from lab_adapters.crystal.synthesis_bench import run_synthesis_bench

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        f = run_synthesis_bench(references, Path(work), n_recipes=n_recipes, n_seeds=n_seeds, xrd=True, workers=workers)
    log.info("bench world: recipes done (%.0f s)", time.perf_counter() - t0)
    return {
        "recipe_best_vs_default_yield_gain": f["recipe_best_vs_default_yield_gain"],
        "recipe_default_yield": f["default_yield_mean"],
        "recipe_best_yield": f["best_yield_mean"],
        "recipe_n_targets": f["n_targets"],
        "recipe_settings": {"n_recipes": n_recipes, "n_seeds": n_seeds, "kinetics_seed": f["kinetics_seed"], "yield": f["yield"],
                            "energies": f["energies"]},
        "recipe_targets": [{k: r[k] for k in ("target", "default_yield", "best_yield", "gain", "e_hull",
                                              "default_recipe_short", "best_recipe_short")} for r in f["targets"]],
    }
