"""Run the rediscovery benchmark: worlds x arms x seeds, resumable, and its JSON.

Order of work: every world config is read and checked first (bad input fails before any
campaign runs); then per world its reachability (cached), and, when reachable, per seed and
arm (seed-major, so arms of a seed share the relaxation and truth caches) one campaign
(``workers > 1``: the campaigns of every seed in one queue of that many processes, after the shared
screen hull is built, so no worker waits for a seed's slowest arm; the caches are files written
atomically, and a candidate's relaxation
does not depend on what it was batched with, so the figures are those of one process). Each
finished run's figures are written to ``<root>/results/<world>/<settings>-<config hash>/<arm>/seed<k>.json``
and read back on the next call, so an interrupted benchmark resumes where it stopped; a
campaign folder left by an interrupted run is resumed by the campaign's own recovery.

Figures per world and arm (over seeds; ``budget + 1`` for a run without a rediscovery)::

    median_first   median experiments to the first rediscovery
    rediscovered   hidden phases rediscovered within budget, summed over seeds
    new_hits       new-material hits (distinct candidates), summed over seeds
    relaxations    MLIP relaxations the arm's screen ran or read from the cache (step-limit
                   rejections included), summed
    proposals      candidates the generator proposed, and of those decorated from a template
                   (substitution's products carry their template too), summed
    seconds        wall time, summed
    ratio_vs_best  the best other arm's median_first / ours (> 1: ours needs fewer);
                   null when the world is unreachable or ours did not run

and per reachable world its ``ceiling`` (:func:`~loop.bench.rediscover.success.seed_ceiling`): the
seeds in which a reachable hidden phase forms at all, and the lowest median any arm can reach.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from loop.bench.rediscover.arms import ARMS, OURS, BenchPaths, BenchSettings, campaign_config, check_arms, lab_options
from loop.bench.rediscover.success import ceiling_summary, reachability, score_campaign, seed_ceiling
from loop.bench.rediscover.worlds import RediscoveryWorld, load_world
from loop.errors import ConfigError

__all__ = ["check_world", "run_arm", "run_rediscover", "summarize_arm"]

log = logging.getLogger(__name__)


def check_world(world: RediscoveryWorld, arms: Sequence[str], paths: BenchPaths, settings: BenchSettings) -> None:
    """Configuration-time checks of a world against every arm's generator (see the module docs of worlds/arms)."""
    problems: list[tuple[str, str]] = []
    sizes = {n: len(s.get_primitive_structure()) for n, s in world.hidden_structures().items()}
    for arm in arms:
        for variant in ARMS[arm].variants:
            cfg = campaign_config(world, arm, variant, 0, paths, settings)
            opts = cfg.generator.options
            space = set(opts.get("elements") or [])
            for name in world.hidden:
                outside = sorted(world.phases[name].elements - space)
                if outside:
                    problems.append(("hide", f"hidden phase {name} has elements {outside} outside the search space "
                                             f"of arm {arm}'s generator ({sorted(space)})"))
    too_big = {n: k for n, k in sizes.items() if k > settings.max_atoms}
    if isinstance(world.spec.hide, list) and too_big:
        problems.append(("hide", f"hidden phase(s) {too_big} have more sites in the primitive cell than the generators' "
                                 f"max_atoms {settings.max_atoms}"))
    elif len(too_big) == len(sizes):
        problems.append(("hide", f"every hidden phase {too_big} is larger than the generators' max_atoms {settings.max_atoms}"))
    elif too_big:
        log.info("world %s: hidden phases %s exceed max_atoms %d (unreachable)", world.name, too_big, settings.max_atoms)
    if problems:
        raise ConfigError(world.source, sorted(set(problems)))


def _lab(world: RediscoveryWorld, paths: BenchPaths, seed: int, noise_key: str) -> Any:  # noqa: ANN401
    from loop import registry
    from loop.interfaces import PluginContext

    ctx = PluginContext(work_dir=paths.root / "labs" / f"{world.name}-{noise_key}", seed=seed)
    return registry.create("labs", {"kind": "crystal", "options": {**lab_options(world), "noise_key": noise_key}}, ctx)


def world_reachability(world: RediscoveryWorld, paths: BenchPaths, settings: BenchSettings, base_seed: int) -> dict[str, Any]:
    """:func:`~loop.bench.rediscover.success.reachability` of the world's hidden phases (cached on disk)."""
    path = paths.root / "results" / f"{world.name}-{world.key()}" / f"reachability-a{settings.max_atoms}-s{base_seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    phases = reachability(_lab(world, paths, base_seed, "request"), world.hidden, settings.max_atoms)
    out = {"reachable": any(p["reachable"] for p in phases.values()), "phases": phases,
           "seconds": round(time.perf_counter() - t0, 1)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out


def world_ceiling(world: RediscoveryWorld, reach: dict[str, Any], paths: BenchPaths, settings: BenchSettings,
                  seeds: Sequence[int]) -> dict[str, Any]:
    """:func:`~loop.bench.rediscover.success.seed_ceiling` of the reachable hidden phases per seed (cached per seed),
    summarised (:func:`~loop.bench.rediscover.success.ceiling_summary`)."""
    phases = sorted(name for name, p in reach["phases"].items() if p.get("reachable"))
    per_seed: dict[int, dict[str, float]] = {}
    for seed in seeds:
        path = paths.root / "results" / f"{world.name}-{world.key()}" / f"ceiling-a{settings.max_atoms}" / f"seed{seed}.json"
        if path.is_file():
            per_seed[seed] = json.loads(path.read_text())
            continue
        per_seed[seed] = seed_ceiling(_lab(world, paths, seed, "candidate"), phases, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(per_seed[seed]))
    out = ceiling_summary(per_seed, settings.budget)
    log.info("world %s: a reachable hidden phase forms in seeds %s of %d; no arm's median can be below %s",
             world.name, out["formable_seeds"], len(per_seed), out["median_first"])
    return out


def _ledger_counts(directory: Path) -> tuple[int, dict[str, int]]:
    """MLIP relaxations of the campaign's screen, and its proposals: all, and those decorated from a template."""
    from loop.store import Ledger

    ledger = Ledger.for_directory(directory, None)
    try:
        relaxations = sum(1 for d in ledger.screen_decisions()
                          if d.relaxed_structure is not None or d.energy_per_atom is not None
                          or d.reason.startswith("relaxation"))
        cands = ledger.candidates()
        return relaxations, {"all": len(cands), "from_templates": sum("template" in c.metadata for c in cands)}
    finally:
        ledger.close()


def run_arm(world: RediscoveryWorld, arm: str, variant: str, seed: int, paths: BenchPaths, settings: BenchSettings,
            scorer: Any) -> dict[str, Any]:  # noqa: ANN401
    """One campaign (or its cached result): its score, relaxations and seconds."""
    from loop.campaign.engine import Campaign

    config = campaign_config(world, arm, variant, seed, paths, settings)
    result = paths.result(world, arm, variant, seed, settings, config)
    if result.is_file():
        return json.loads(result.read_text())
    directory = paths.campaign(world, arm, variant, seed)
    t0 = time.perf_counter()
    campaign = None
    if (directory / "config.yaml").is_file():
        campaign = Campaign.open(directory)
        if campaign.config.model_dump(mode="json") != config.model_dump(mode="json"):
            log.warning("%s holds a campaign of other settings: started again", directory)
            campaign.close()
            campaign = None
            shutil.rmtree(directory)
        else:
            log.info("resuming %s", directory)
    if campaign is None:
        campaign = Campaign.create(config, directory)
    with campaign:
        campaign.run()
    seconds = time.perf_counter() - t0
    score = score_campaign(directory, scorer, world.hidden)
    relaxations, proposals = _ledger_counts(directory)
    out = {"world": world.name, "arm": arm, "variant": variant, "seed": seed, **score.as_dict(),
           "relaxations": relaxations, "proposals": proposals, "seconds": round(seconds, 1)}
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps(out, indent=1))
    return out


def warm_screen_hull(world: RediscoveryWorld, paths: BenchPaths, settings: BenchSettings, seed: int) -> None:
    """Build the screen's hull of the known phases once (cached on disk), before campaigns run side by side."""
    from loop import registry
    from loop.interfaces import PluginContext

    config = campaign_config(world, OURS, "", seed, paths, settings)
    screen = registry.create("screens", config.screen, PluginContext(work_dir=paths.root / "warm", seed=seed), "screen")
    hull = screen.hull(world.elements)  # type: ignore[attr-defined]
    if isinstance(hull, str):
        log.warning("screen hull of %s not prepared: %s", world.name, hull)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_arm_in_worker(source: str, arm: str, variant: str, seed: int, root: str, settings: BenchSettings) -> dict[str, Any]:
    """:func:`run_arm` in a worker process: the world, paths and scoring lab rebuilt there."""
    world = load_world(source)
    paths = BenchPaths(Path(root))
    return run_arm(world, arm, variant, seed, paths, settings, _lab(world, paths, seed, "candidate"))


def summarize_arm(runs: Sequence[dict[str, Any]], budget: int) -> dict[str, Any]:
    """The figures of one arm (variant) over its seeds."""
    firsts = [r["first_rediscovery"] if r["first_rediscovery"] is not None else budget + 1 for r in runs]
    return {
        "median_first": float(statistics.median(firsts)) if firsts else None,
        "rediscovered": sum(len(r["rediscovered"]) for r in runs),
        "new_hits": sum(len(r["new_hits"]) for r in runs),
        "relaxations": sum(int(r["relaxations"]) for r in runs),
        "proposals": {k: sum(int(r.get("proposals", {}).get(k, 0)) for r in runs) for k in ("all", "from_templates")},
        "seconds": round(sum(float(r["seconds"]) for r in runs), 1),
        "per_seed": firsts,
        "seeds": [r["seed"] for r in runs],
    }


def _better(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a`` beats ``b``: lower median, then more rediscoveries."""
    return (a["median_first"], -a["rediscovered"]) < (b["median_first"], -b["rediscovered"])


def _run_parallel(world: RediscoveryWorld, tasks: Sequence[tuple[int, str, str]], paths: BenchPaths,
                  settings: BenchSettings, workers: int, threads: int) -> Iterator[dict[str, Any]]:
    """The campaigns ``(seed, arm, variant)`` of a world in ``workers`` processes, one queue for all
    seeds (a worker never waits for a seed's slowest arm); results as they finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # torch and sqlite do not survive a fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(threads,)) as pool:
        futures = [pool.submit(_run_arm_in_worker, world.source, arm, variant, seed, str(paths.root), settings)
                   for seed, arm, variant in tasks]
        for f in as_completed(futures):
            yield f.result()


def run_rediscover(
    configs: Sequence[Path], *, seeds: int, arms: Sequence[str], settings: BenchSettings, root: Path, base_seed: int = 0,
    on_result: Callable[[dict[str, Any]], None] | None = None, reachability_only: bool = False, workers: int = 1,
    threads: int = 1,
) -> dict[str, Any]:
    """The benchmark's JSON (see the module docs and docs/benchmarks.md); ``reachability_only``: no arm runs.

    ``workers``: campaigns of a seed run in this many processes at once (``threads`` torch threads each).
    """
    check_arms(list(arms))
    if settings.budget < settings.batch:
        raise ConfigError("bench rediscover", [("budget", f"budget {settings.budget} is below one round "
                                                          f"({settings.batch} experiments)")])
    if seeds < 1:
        raise ConfigError("bench rediscover", [("seeds", f"at least one seed, got {seeds}")])
    if workers < 1:
        raise ConfigError("bench rediscover", [("workers", f"at least one worker, got {workers}")])
    paths = BenchPaths(Path(root))
    worlds = [load_world(c) for c in configs]
    names = [w.name for w in worlds]
    if len(set(names)) != len(names):
        raise ConfigError("bench rediscover", [("name", f"world names repeat: {names}")])
    for w in worlds:
        check_world(w, arms, paths, settings)
    out: dict[str, Any] = {"worlds": {}, "settings": vars(settings) | {"seeds": seeds, "base_seed": base_seed},
                           "arms": {a: {"generator": ARMS[a].generator, "ranker": ARMS[a].ranker,
                                        "variants": list(ARMS[a].variants)} for a in arms}}
    for world in worlds:
        t0 = time.perf_counter()
        reach = world_reachability(world, paths, settings, base_seed)
        entry: dict[str, Any] = {"reachable": reach["reachable"], "hidden": world.hidden, "reachability": reach["phases"],
                                 "arms": {}, "ratio_vs_best": None}
        out["worlds"][world.name] = entry
        if not reach["reachable"]:
            log.info("world %s is unreachable: no arm runs (%s)", world.name, reach["phases"])
            continue
        entry["ceiling"] = world_ceiling(world, reach, paths, settings, range(base_seed, base_seed + seeds))
        if reachability_only:
            continue
        tasks = [(base_seed + i, arm, variant) for i in range(seeds) for arm in arms for variant in ARMS[arm].variants]
        if workers > 1:
            warm_screen_hull(world, paths, settings, base_seed)
            results: Iterable[dict[str, Any]] = _run_parallel(world, tasks, paths, settings, workers, threads)
        else:
            results = (run_arm(world, arm, variant, seed, paths, settings, _lab(world, paths, seed, "candidate"))
                       for seed, arm, variant in tasks)  # the truth is the world's; the lab's seed is the campaign's
        by_task: dict[tuple[int, str, str], dict[str, Any]] = {}
        for r in results:
            by_task[(r["seed"], r["arm"], r["variant"])] = r
            log.info("%s %s%s seed %d: first rediscovery %s, %s rediscovered, %d new (%.0f s)", world.name, r["arm"],
                     f" ({r['variant']})" if r["variant"] else "", r["seed"], r["first_rediscovery"], r["rediscovered"],
                     len(r["new_hits"]), r["seconds"])
            if on_result is not None:
                on_result(r)
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for seed, arm, variant in tasks:  # seed order within each arm, however they finished
            runs.setdefault((arm, variant), []).append(by_task[(seed, arm, variant)])
        for arm in arms:
            summaries = {v: summarize_arm(runs[(arm, v)], settings.budget) for v in ARMS[arm].variants}
            best_variant = next(iter(summaries))
            for v, s in summaries.items():
                if _better(s, summaries[best_variant]):
                    best_variant = v
            row = dict(summaries[best_variant])
            if best_variant:
                row["variant"] = best_variant
                row["variants"] = summaries
            entry["arms"][arm] = row
        ours = entry["arms"].get(OURS, {}).get("median_first")
        others = [r["median_first"] for a, r in entry["arms"].items() if a != OURS]
        if ours and others:
            entry["ratio_vs_best"] = min(others) / ours
        entry["seconds"] = round(time.perf_counter() - t0, 1)
    return out
