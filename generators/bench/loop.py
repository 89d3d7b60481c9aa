"""The closed-loop benchmark: experiments to the campaign's goal, per generator + ranker arm.

One committed campaign config (``experiments/bench_loop.yaml``: objectives, goal, budget,
proposals, screen, lab and the generator's search limits) is run once per arm and seed.
Only the generator and ranker *kinds* differ between arms:

- ``gflownet_bo``: the config as written (GFlowNet generator, botorch ranker): ours;
- ``random``: ``random_crystal`` generator + ``random`` ranker;
- ``gflownet_random``: GFlowNet generator + ``random`` ranker.

A kind other than the config's gets the config's options that its own ``Config`` accepts
(so the search limits, which every crystal generator shares through ``EnvConfig``, stay
identical; training options of the GFlowNet are the same in both GFlowNet arms). Seed ``i``
runs the campaign with ``seed = base_seed + i`` in every arm (the same hidden synthesis
kinetics of the world for all arms of a seed). For each run::

    n(run) = first experiment whose observation meets the goal (1-based), else budget + 1
    ratio_vs_X = median_seeds n(X) / median_seeds n(ours)     (> 1: ours needs fewer)

The lab's ground truth (MLIP relaxation etc.) is cached on disk per candidate id under
the crystaloop cache (:func:`loop.tables.cache_dir`, ``$CRYSTALOOP_CACHE``), so a candidate
met again in another seed or arm is not recomputed; each run reports how many truth files
it added (``truth_computed``).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loop.config import CampaignConfig, parse_config
from loop.errors import ConfigError

__all__ = [
    "ARMS",
    "OURS",
    "ArmSpec",
    "RunResult",
    "arm_config",
    "experiments_to_goal",
    "run_loop_bench",
    "summarize_runs",
    "truth_files",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArmSpec:
    """The generator and ranker kinds of one arm (``None``: the config's own)."""

    generator: str | None
    ranker: str | None


OURS = "gflownet_bo"
ARMS: dict[str, ArmSpec] = {
    OURS: ArmSpec(None, None),
    "random": ArmSpec("random_crystal", "random"),
    "gflownet_random": ArmSpec(None, "random"),
}


@dataclass
class RunResult:
    """One campaign run of one arm and seed."""

    arm: str
    seed: int
    experiments: int
    experiments_to_goal: int
    goal_reached: bool
    failed: int
    truth_computed: int
    seconds: float


def experiments_to_goal(first_hit: int | None, budget: int) -> int:
    """``first_hit`` (1-based) when the goal was met, else ``budget + 1``."""
    return int(first_hit) if first_hit is not None else int(budget) + 1


def _stage_options(kind: str, options: Mapping[str, Any], group: str) -> dict[str, Any]:
    """``options`` restricted to the fields that plug-in ``kind``'s Config accepts."""
    from loop import registry

    cls = registry.load(group, kind)
    fields = set(cls.Config.model_fields)
    return {k: v for k, v in options.items() if k in fields}


def arm_config(base: CampaignConfig, arm: str, seed: int) -> CampaignConfig:
    """The campaign of ``arm`` at ``seed``: ``base`` with the arm's kinds (see the module docs)."""
    if arm not in ARMS:
        raise ConfigError("bench loop", [("arm", f"unknown arm {arm!r}; valid: {', '.join(ARMS)}")])
    spec = ARMS[arm]
    data = base.model_dump(mode="json")
    data["seed"] = int(seed)
    data["name"] = f"{base.name}-{arm}-s{seed}"
    for stage, kind, group in (("generator", spec.generator, "generators"), ("ranker", spec.ranker, "rankers")):
        if kind is not None and kind != data[stage]["kind"]:
            data[stage] = {"kind": kind, "options": _stage_options(kind, data[stage].get("options") or {}, group)}
    return parse_config(data, source=f"bench loop arm {arm}")


def truth_files(cache: Path) -> int:
    """Ground-truth records cached under ``cache`` (``worlds/<world>/truth/<settings>/<id>.json``)."""
    return sum(1 for _ in (cache / "worlds").glob("*/truth/*/*.json")) if (cache / "worlds").is_dir() else 0


def _run_one(config: CampaignConfig, directory: Path, cache: Path) -> tuple[int | None, int, int, int]:
    from loop.campaign.engine import Campaign

    before = truth_files(cache)
    with Campaign.create(config, directory) as campaign:
        campaign.run()
        summary = campaign.summary()
    return summary.first_goal_hit_at, summary.experiments_done, summary.experiments_failed, truth_files(cache) - before


def summarize_runs(results: Sequence[RunResult], arms: Sequence[str], budget: int) -> dict[str, Any]:
    """Per-arm medians and the ratios of each other arm's median to ours."""
    out: dict[str, Any] = {"budget": budget, "results": {}}
    for arm in arms:
        runs = [r for r in results if r.arm == arm]
        if not runs:
            continue
        n = [r.experiments_to_goal for r in runs]
        out["results"][arm] = {
            "median_experiments": float(statistics.median(n)),
            "per_seed": n,
            "seeds": [r.seed for r in runs],
            "goal_reached_fraction": sum(r.goal_reached for r in runs) / len(runs),
            "truth_computed": sum(r.truth_computed for r in runs),
            "experiments_run": sum(r.experiments for r in runs),
            "seconds": round(sum(r.seconds for r in runs), 1),
        }
    ours = out["results"].get(OURS, {}).get("median_experiments")
    for arm in arms:
        if arm == OURS or arm not in out["results"]:
            continue
        other = out["results"][arm]["median_experiments"]
        out[f"ratio_vs_{arm}"] = other / ours if ours else None
    out["runs"] = [asdict(r) for r in results]
    return out


def run_loop_bench(
    base: CampaignConfig,
    seeds: int,
    workdir: Path,
    *,
    arms: Sequence[str] = tuple(ARMS),
    base_seed: int = 0,
    cache: Path | None = None,
    on_result: Callable[[RunResult], None] | None = None,
) -> dict[str, Any]:
    """Run every arm for ``seeds`` seeds (seed-major, so arms of a seed share the truth cache)."""
    from loop.tables import cache_dir

    if base.goal is None:
        raise ConfigError("bench loop", [("goal", "the benchmark counts experiments to the goal: set one")])
    budget = base.budget.experiments
    if budget is None:
        raise ConfigError("bench loop", [("budget.experiments", "the benchmark needs an experiment budget")])
    if not base.budget.stop_on_goal:
        log.info("budget.stop_on_goal is off: runs go on after the first hit (n counts the first one)")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ConfigError("bench loop", [("arms", f"unknown arms {unknown}; valid: {', '.join(ARMS)}")])
    cache = Path(cache) if cache is not None else cache_dir()
    results: list[RunResult] = []
    for i in range(seeds):
        seed = base_seed + i
        for arm in arms:
            cfg = arm_config(base, arm, seed)
            t0 = time.perf_counter()
            first, done, failed, computed = _run_one(cfg, Path(workdir) / arm / f"seed{seed}", cache)
            res = RunResult(
                arm=arm,
                seed=seed,
                experiments=done,
                experiments_to_goal=experiments_to_goal(first, budget),
                goal_reached=first is not None,
                failed=failed,
                truth_computed=computed,
                seconds=round(time.perf_counter() - t0, 1),
            )
            log.info("bench loop: %s seed %d -> %d experiments to goal (%s)", arm, seed, res.experiments_to_goal,
                     "reached" if res.goal_reached else "not reached")
            results.append(res)
            if on_result is not None:
                on_result(res)
    out = summarize_runs(results, arms, budget)
    out.update(config=base.name, seeds=seeds, base_seed=base_seed, arms={a: asdict(ARMS[a]) for a in arms})
    return out
