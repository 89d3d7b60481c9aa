"""``crystaloop bench rediscover`` and ``crystaloop bench loop-prior``: benchmarks over whole campaigns.

Registered as entry points ``bench.rediscover`` and ``bench.loop-prior`` in group
``crystaloop.commands``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

__all__ = ["bench_loop_prior", "bench_rediscover", "bench_rediscover_target"]

log = logging.getLogger(__name__)

QUICK_BUDGET = 8
"""``--quick``: two rounds of 4 experiments, one seed, the first world only."""


@click.command("rediscover")
@click.argument("configs", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--seeds", default=10, show_default=True, type=int, help="seeds per arm (campaign seed = base + i)")
@click.option("--base-seed", default=0, show_default=True, type=int)
@click.option("--arms", default=None, help="comma-separated arms (default: all)")
@click.option("--budget", default=None, type=int, help="experiments per campaign (default 24; --quick: 8)")
@click.option("--quick", is_flag=True, help="smoke version: the first world, one seed, budget 8")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="campaigns, caches and per-run results (default: <crystaloop cache>/rediscover); a rerun resumes")
@click.option("--reachability-only", is_flag=True, help="decide each world's reachability and stop (no arm runs)")
@click.option("--threads", default=1, show_default=True, type=int, help="torch threads (per worker)")
@click.option("--workers", default=1, show_default=True, type=int,
              help="campaigns run in this many processes at once, one queue for every seed (the figures do not change)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_rediscover(configs: tuple[Path, ...], seeds: int, base_seed: int, arms: str | None, budget: int | None, quick: bool,
                     workdir: Path | None, reachability_only: bool, threads: int, workers: int, json_path: Path | None) -> None:
    """Rediscovery: hide known phases of each world (CONFIGS, default experiments/rediscover/*.yaml) and count
    lab experiments until each arm makes one phase-pure."""
    import torch

    from loop.bench.rediscover.arms import ARMS, OURS, BenchSettings
    from loop.bench.rediscover.run import run_rediscover
    from loop.tables import cache_dir

    torch.set_num_threads(threads)
    paths = list(configs) or sorted(Path("experiments/rediscover").glob("*.yaml"))
    if not paths:
        raise click.UsageError("no world configs given and none in experiments/rediscover/")
    if quick:
        paths, seeds = paths[:1], 1
    settings = BenchSettings(budget=budget if budget is not None else (QUICK_BUDGET if quick else BenchSettings.budget))
    chosen = [a.strip() for a in arms.split(",")] if arms else list(ARMS)
    t0 = time.perf_counter()
    out = run_rediscover(paths, seeds=seeds, arms=chosen, settings=settings, root=workdir or cache_dir() / "rediscover",
                         base_seed=base_seed, reachability_only=reachability_only, workers=workers, threads=threads)
    out["configs"] = [str(p) for p in paths]
    out["seconds"] = round(time.perf_counter() - t0, 1)
    click.echo(f"rediscovery benchmark: {len(paths)} world(s), {seeds} seed(s) from {base_seed}, budget {settings.budget} "
               f"(none: {settings.budget + 1})")
    for name, w in out["worlds"].items():
        ratio = "null" if w["ratio_vs_best"] is None else f"{w['ratio_vs_best']:.2f}"
        click.echo(f"  {name}: reachable {str(w['reachable']).lower()}, hidden {len(w['hidden'])}, ratio_vs_best {ratio}")
        for phase, r in w["reachability"].items():
            click.echo(f"    {phase:<18} sites {r.get('primitive_sites', '?'):>3}  default-recipe yields "
                       f"{[round(y, 2) for y in r.get('yields', [])]}  {'reachable' if r['reachable'] else 'unreachable'}")
        if "ceiling" in w:
            c = w["ceiling"]
            click.echo(f"    ceiling: a reachable hidden phase forms in {len(c['formable_seeds'])} of {len(c['yields'])} seeds "
                       f"{c['formable_seeds']}; lowest median any arm can reach {c['median_first']:.0f}")
        for arm, r in w["arms"].items():
            tag = f" [{r['variant']}]" if "variant" in r else ""
            click.echo(f"    {arm:<24}{'median_first':>13} {r['median_first']:>5.1f}  rediscovered {r['rediscovered']:>2}  "
                       f"new {r['new_hits']:>2}  relaxations {r['relaxations']:>4}  {r['seconds']:>7.0f} s{tag}"
                       + ("  (ours)" if arm == OURS else ""))
    click.echo(f"  seconds {out['seconds']}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=2, default=float))
        click.echo(f"wrote {json_path}")


@click.command("rediscover-target")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--spreads", default="none,6,3,1", show_default=True,
              help="exact_spread values to compare (none: the target as it is)")
@click.option("--per-parent", default="none", show_default=True,
              help="caps of a round's proposals per parent structure to compare (none: no cap)")
@click.option("--rounds", default=3, show_default=True, type=int)
@click.option("--draws", default=1000, show_default=True, type=int, help="simulated campaigns per setting")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="as for bench rediscover (its caches are reused; default: <crystaloop cache>/rediscover)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_rediscover_target(config: Path, spreads: str, per_parent: str, rounds: int, draws: int, seed: int,
                            workdir: Path | None, json_path: Path | None) -> None:
    """How often ours' generator proposes a hidden phase of the world CONFIG by each round, from its round-0 target
    (no relaxation, ranking or experiment; docs/benchmarks.md, "Session 13")."""
    from loop.bench.rediscover.concentration import run_target_check
    from loop.tables import cache_dir

    def values(text: str, kind: type) -> list:
        return [None if v.strip().lower() == "none" else kind(v) for v in text.split(",")]

    t0 = time.perf_counter()
    out = run_target_check(config, workdir or cache_dir() / "rediscover", values(spreads, float), rounds=rounds,
                           draws=draws, per_parent=values(per_parent, int), seed=seed)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    click.echo(f"{out['world']}: round-0 target over {out['matches']['terminals']} terminals, {out['proposals']} proposals "
               f"a round, {draws} draws")
    for stem, found in out["matches"].items():
        if stem != "terminals":
            click.echo(f"  {stem}: " + ", ".join(f"{m['template']} ({m['formula']}) rank {m['rank']}" for m in found))
    click.echo(f"  {'spread':>6} {'per parent':>10} {'perplexity':>10}  P(proposed by round 0..{rounds - 1}), per hidden phase")
    for row in out["odds"]:
        odds = "  ".join(f"{stem} {p}" for stem, p in row["by_round"].items())
        click.echo(f"  {str(row['spread']):>6} {str(row['per_parent']):>10} {row['perplexity']:>10.0f}  {odds}")
    click.echo(f"  seconds {out['seconds']}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=2, default=float))
        click.echo(f"wrote {json_path}")


_LOOP_CONFIG = click.argument(
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("experiments/crystal_demo.yaml"),
    required=False,
)


@click.command("loop-prior")
@_LOOP_CONFIG
@click.option("--seeds", default=12, show_default=True, type=int, help="first-round proposals of this many campaign seeds")
@click.option("--base-seed", default=0, show_default=True, type=int)
@click.option("--steps", default="1,5,10", show_default=True, help="comma-separated relaxation steps of the estimate")
@click.option("--threads", default=1, show_default=True, type=int, help="torch threads")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_loop_prior(config: Path, seeds: int, base_seed: int, steps: str, threads: int, json_path: Path | None) -> None:
    """How well the ranker's short-relaxation e_hull estimate picks the proposals that meet the goal's e_hull."""
    import torch

    from loop.bench.prior_check import run_prior_check
    from loop.config import load_config

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    out = run_prior_check(load_config(config), seeds, [int(s) for s in steps.split(",")], base_seed=base_seed)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    click.echo(
        f"{config}: {out['proposals']} proposals of {seeds} seeds, {out['hits']} with true e_hull <= {out['e_hull_bound']} "
        f"(base rate {out['base_rate']:.2f}); top {out['batch_size']} per seed by the estimate:"
    )
    click.echo(f"  {'steps':>5}{'auc':>8}{'top hit rate':>14}{'s/cand':>9}")
    for n, r in out["steps"].items():
        a = "n/a" if r["auc"] is None else f"{r['auc']:.3f}"
        click.echo(f"  {n:>5}{a:>8}{r['top_hit_rate']:>14.2f}{r['seconds_per_candidate']:>9.2f}")
    click.echo(f"  seconds {out['seconds']}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=2, default=float))
        click.echo(f"wrote {json_path}")
