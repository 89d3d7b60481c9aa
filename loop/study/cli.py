"""Commands of the study package: ``crystaloop study`` and ``crystaloop bench parallel``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

__all__ = ["bench_parallel", "study"]


def _write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2))
        click.echo(f"wrote {path}")


def _fmt(b: dict[str, Any] | None, digits: int = 4) -> str:
    if not b or b.get("median") is None:
        return "-"
    return f"{b['median']:.{digits}g} [{b['p5']:.{digits}g}, {b['p95']:.{digits}g}]"


def _quiet_libraries() -> None:
    for name in ("alembic", "mlflow", "botorch", "linear_operator", "ray", "ray.tune"):
        logging.getLogger(name).setLevel(logging.WARNING)


@click.command("study")
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True, help="continue a study whose folder exists (finished trials are not rerun)")
@click.option("--out", "output", type=click.Path(file_okay=False), default=None, help="study folder (default: the study's output)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a study field, e.g. max_concurrent=1")
@click.option("--local", is_flag=True, help="run the trials one after another in this process (no Ray)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="write the aggregate as JSON")
def study(study_file: str, resume: bool, output: str | None, overrides: tuple[str, ...], local: bool, json_path: str | None) -> None:
    """Run a study: campaign settings x seeds as Ray Tune trials, aggregated per setting.

    Each trial is a full campaign in <out>/trials/<id> and an MLflow child run of the
    study run; tables (aggregate.csv, aggregate.json, trials.csv) and plots
    (best_so_far.png, top_percent.png) land in the study folder.
    """
    from loop.errors import CrystaloopError
    from loop.study import load_study, run_study

    _quiet_libraries()
    try:
        cfg = load_study(study_file, overrides)
        outcome = run_study(cfg, resume=resume, output=output, executor="local" if local else "ray")
    except CrystaloopError as exc:
        raise click.ClickException(str(exc)) from None
    agg = outcome.aggregate
    click.echo(
        f"study {agg['study']}: {agg['finished']}/{agg['trials']} trial(s) finished "
        f"({len(outcome.ran)} run now, {len(outcome.skipped)} already done) in {outcome.wall_s:.0f} s -> {outcome.directory}"
    )
    names = [o["name"] for o in agg["objectives"]]
    header = f"{'setting':<40}{'done':>6}  " + "  ".join(f"{'best ' + n + ' (median [5,95])':<32}" for n in names)
    has_goal = agg.get("goal") is not None
    has_top = "truth" in agg
    header += f"  {'to goal':<22}{'reached':>8}" if has_goal else ""
    header += f"  {'Top% at budget':<22}{'n50':<18}{'n80':<18}" if has_top else ""
    click.echo(header)
    for s in agg["settings"]:
        line = f"{(s['setting'] + (' *' if s['baseline'] else ''))[:39]:<40}{s['finished']:>3}/{s['trials']:<2}  "
        line += "  ".join(f"{_fmt(s['best'][n]):<32}" for n in names)
        if has_goal:
            line += f"  {_fmt(s.get('experiments_to_goal'), 3):<22}{s.get('goal_reached', 0):>8.0%}"
        if has_top:
            line += f"  {_fmt(s.get('top_at_budget'), 2):<22}{_fmt(s.get('n50'), 3):<18}{_fmt(s.get('n80'), 3):<18}"
        click.echo(line)
    click.echo("* baseline setting; medians and 5-95 % bands over seeds")
    if has_top:
        t = agg["truth"]
        click.echo(f"Top% targets: {t['k']} of {t['n_designs']} designs ({t['rule']})")
    _write_json(json_path, {**agg, "ran": outcome.ran, "skipped": outcome.skipped, "failed": outcome.failed, "wall_s": outcome.wall_s})
    if outcome.failed:
        listing = "; ".join(f"{k}: {v}" for k, v in sorted(outcome.failed.items()))
        raise click.ClickException(f"{len(outcome.failed)} trial(s) failed ({listing}); fix and rerun with --resume")


@click.command("parallel")
@click.option(
    "--config", "config", type=click.Path(exists=True, dir_okay=False), default="experiments/demo.yaml", show_default=True,
    help="campaign of the throughput test",
)
@click.option(
    "--overhead-config", type=click.Path(exists=True, dir_okay=False), default="experiments/crystal_demo.yaml", show_default=True,
    help="campaign of the loop-overhead test (the main job: generator, potential screen, ranker, synthesis + XRD lab)",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="campaign override for both measurements")
@click.option("--campaigns", default=8, show_default=True, type=click.IntRange(2), help="campaigns (seeds) in the throughput test")
@click.option(
    "--campaign-experiments", default=None, type=click.IntRange(1), help="budget of each throughput-test campaign (default: the config's)"
)
@click.option("--concurrent", default=2, show_default=True, type=click.IntRange(1), help="concurrent trials of the study")
@click.option("--sequential-threads", multiple=True, type=click.IntRange(1), default=(1, 2), show_default=True, help="torch threads tried for the single process (fastest wins)")
@click.option("--repeats", default=1, show_default=True, type=click.IntRange(1), help="speed-up pairs (order alternates; median)")
@click.option("--skip-speedup", is_flag=True, help="only measure the loop overhead")
@click.option("--skip-overhead", is_flag=True, help="only measure the study speed-up")
@click.option("--profile/--no-profile", default=True, show_default=True, help="profile the campaign when the overhead is above target")
@click.option("--workdir", type=click.Path(file_okay=False), default=None, help="where the bench campaigns go (default: a temp folder)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def bench_parallel(
    config: str,
    overhead_config: str,
    overrides: tuple[str, ...],
    campaigns: int,
    campaign_experiments: int | None,
    concurrent: int,
    sequential_threads: tuple[int, ...],
    repeats: int,
    skip_speedup: bool,
    skip_overhead: bool,
    profile: bool,
    workdir: str | None,
    json_path: str | None,
) -> None:
    """Study throughput on Ray against one process, and the campaign loop's own overhead."""
    import os

    from loop.study.bench import measure_loop_overhead, measure_study_speedup, profile_breakdown

    _quiet_libraries()
    overrides = ("lab.options.latency_s=0", *overrides)
    work = Path(workdir) if workdir else None
    report: dict[str, Any] = {
        "config": config,
        "overhead_config": overhead_config,
        "overrides": list(overrides),
        "machine": {"cpus": os.cpu_count(), "note": "measured on a shared machine: other users' load changes both figures"},
        "targets": {"study_speedup": ">= 1.7", "loop_overhead_fraction": "< 0.05"},
    }
    if not skip_overhead:
        oh = measure_loop_overhead(overhead_config, overrides, work / "overhead" if work else None)
        report.update(loop_overhead_fraction=oh["loop_overhead_fraction"], overhead=oh)
        click.echo(
            f"loop overhead: {oh['loop_overhead_fraction']:.1%} of round time ({oh['loop_s_per_round']:.3f} s of "
            f"{oh['round_s_mean']:.3f} s per round, {oh['rounds']} rounds, {oh['experiments']} experiments); "
            f"start-up {oh['startup_s']:.2f} s (incl. start-up: {oh['loop_overhead_fraction_incl_startup']:.1%})"
        )
        if oh["loop_overhead_fraction_cpu"] is not None:
            click.echo(
                f"  in CPU seconds of the campaign's thread: {oh['loop_overhead_fraction_cpu']:.1%} "
                f"({oh['loop_cpu_s_per_round']:.4f} s per round; load average now {os.getloadavg()[0]:.1f})"
            )
        click.echo("  stage seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in oh["stage_s"].items()))
        click.echo(
            f"  per campaign: wall {oh['run_s']:.1f} s, CPU {oh['cpu_s']:.1f} s, ledger {oh['ledger_bytes'] / 1e3:.0f} kB, "
            f"MLflow {oh['mlflow_bytes'] / 1e3:.0f} kB"
        )
        if profile and oh["loop_overhead_fraction"] >= 0.05:
            prof = profile_breakdown(overhead_config, overrides, work / "profile" if work else None)
            report["overhead_profile"] = prof
            click.echo("  where the time goes (profiled rerun, whole campaign incl. start-up):")
            for k, v in prof["time_in_s"].items():
                click.echo(f"    {k:<48}{v:8.3f} s")
            click.echo("  self time by package:")
            for k, v in prof["self_time_by_package_s"].items():
                click.echo(f"    {k:<48}{v:8.3f} s")
            click.echo("  loop functions by cumulative time:")
            for k, v in list(prof["loop_functions_cumulative_s"].items())[:10]:
                click.echo(f"    {k:<60}{v:8.3f} s")
    if not skip_speedup:
        small = (*overrides, *([f"budget.experiments={campaign_experiments}"] if campaign_experiments else []))
        sp = measure_study_speedup(config, small, campaigns, concurrent, work / "speedup" if work else None, repeats, sequential_threads)
        report.update(study_speedup=sp["study_speedup"], speedup=sp)
        click.echo(
            f"study throughput: {sp['campaigns_per_hour_study']:.0f} campaigns/h with {concurrent} trials vs "
            f"{sp['campaigns_per_hour_sequential']:.0f} campaigns/h in one process "
            f"({campaigns} campaigns: {sp['study_s']:.1f} s vs {sp['sequential_s']:.1f} s from first start to last end) "
            f"-> speed-up {sp['study_speedup']:.2f}x (warm workers; {sp['study_speedup_cold_workers']:.2f}x with each worker's "
            f"imports in the window); end to end (Ray and MLflow start-up included) {sp['study_speedup_end_to_end']:.2f}x"
        )
        for p in sp["pairs"]:
            la = p["load_average"]
            click.echo(
                f"  {' then '.join(p['order'])}: best single process {p['best_sequential']} threads "
                f"{p['sequential_s']:.1f} s (by threads: {p['sequential_by_threads_s']}) vs study {p['study_s']:.1f} s = {p['speedup']:.2f}x "
                f"(end to end {p['sequential_end_to_end_s']:.1f} s vs {p['study_end_to_end_s']:.1f} s); "
                f"1-min load average {la[p['best_sequential'] + '_before'][:1]}->{la[p['best_sequential'] + '_after'][:1]} "
                f"(best single process), {la['study_before'][:1]}->{la['study_after'][:1]} (study)"
            )
        click.echo("  measured on a shared machine: other users' load changes these figures")
    _write_json(json_path, report)
