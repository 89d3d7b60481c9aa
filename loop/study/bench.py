"""``crystaloop bench parallel``: study throughput on Ray, and the campaign loop's own overhead.

1. **Study speed-up.** The same ``N`` campaigns (one setting x ``N`` seeds) run first one
   after another in this process (the best single process: imports warm, torch free to use
   every core), then as a study of ``max_concurrent`` Ray Tune trials with one CPU each::

       campaigns/hour = N / window,    study_speedup = window_sequential / window_study

   where ``window`` runs from the first trial's start to the last trial's end (what a
   long-running study sustains, Tune's scheduling between trials included). Both sides
   start warm: the single process runs a 2-experiment campaign before its window, and the
   study's Ray workers each run one first (``warm_up_workers``), so a worker's imports and
   first calls, paid once per worker in a study of any length, are outside the window on
   both sides. ``study_speedup_cold_workers`` is the same study without the warm-up (the
   workers' start-up inside the window: what a very short study sees). The once-per-study
   costs (MLflow study run, starting and stopping Ray, aggregation) are in
   ``study_speedup_end_to_end``, the ratio of the whole ``run_study`` calls. ``repeats`` alternates the order and takes
   medians, for machines whose load changes under the measurement.
2. **Loop overhead.** One campaign of the default config with lab latency 0. The round
   planner times its calls into the generator, screen (potential), ranker and lab; the rest
   of a round is the loop's own work (ledger writes, MLflow logging, summaries)::

       loop_overhead_fraction = 1 - sum(stage seconds) / (t_end - t_first_round_started)

   in wall-clock seconds; ``loop_overhead_fraction_cpu`` is the same split in CPU seconds
   of the campaign's thread, which other users' load on a shared machine does not change.
   MLflow logging runs on the tracker's background thread and is in neither (it shows in
   ``cpu_s``, the process's CPU time).

   Start-up before the first round (opening the MLflow store) is reported apart
   (``startup_s``, ``loop_overhead_fraction_incl_startup``). When the fraction is above
   the target, a profiled rerun says where the time goes.
"""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["measure_loop_overhead", "measure_study_speedup", "profile_breakdown"]

log = logging.getLogger(__name__)


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def measure_study_speedup(
    config: str | Path,
    overrides: Sequence[str],
    campaigns: int,
    concurrent: int = 2,
    workdir: Path | None = None,
    repeats: int = 1,
    sequential_threads: Sequence[int] = (1, 2),
) -> dict[str, Any]:
    """Run ``campaigns`` seeds sequentially in-process and as a ``concurrent``-trial Ray study.

    With ``repeats > 1`` the pair is measured again with the order swapped each time
    (sequential first, then study first, ...) and ``study_speedup`` is the median ratio, so
    that a change of the machine's load between the two halves weighs less. The single
    process is run with each torch thread count of ``sequential_threads`` and the fastest
    counts as the best single process (two threads lose badly on a loaded machine).
    """
    import statistics

    import torch

    from loop.study.config import parse_study
    from loop.study.runner import run_study

    work = Path(workdir or tempfile.mkdtemp(prefix="crystaloop-bench-parallel-"))
    raw = {"name": "bench-parallel", "campaign": str(Path(config).resolve()), "overrides": list(overrides), "seeds": campaigns}
    _warm_up(config, overrides, work / "warmup")
    seq_study = parse_study({**raw, "name": "bench-sequential"})
    par_study = parse_study({**raw, "max_concurrent": concurrent, "resources": {"cpu": 1}, "warm_up_workers": True})
    cold_study = parse_study({**raw, "max_concurrent": concurrent, "resources": {"cpu": 1}})
    pairs = []
    for rep in range(repeats):
        times: dict[str, float] = {}
        windows: dict[str, float] = {}
        loads: dict[str, list[float]] = {}
        modes = [f"sequential-{n}" for n in sequential_threads]
        order = [*modes, "study", "study-cold"] if rep % 2 == 0 else ["study-cold", "study", *modes]
        default_threads = torch.get_num_threads()
        for mode in order:
            loads[f"{mode}_before"] = _load()
            t0 = time.perf_counter()
            if mode.startswith("sequential"):
                torch.set_num_threads(int(mode.split("-")[1]))
                try:
                    outcome = run_study(seq_study, output=work / f"{mode}-threads-{rep}", executor="local")
                finally:
                    torch.set_num_threads(default_threads)
            else:
                study = par_study if mode == "study" else cold_study
                outcome = run_study(study, output=work / f"{mode}-{rep}", executor="ray")
            times[mode] = time.perf_counter() - t0
            loads[f"{mode}_after"] = _load()
            if outcome.failed or len(outcome.results) != campaigns:
                raise RuntimeError(f"bench campaigns failed: {outcome.failed}")
            starts = [r["started_at"] for r in outcome.results.values()]
            ends = [r["finished_at"] for r in outcome.results.values()]
            windows[mode] = max(ends) - min(starts)
        best = min(modes, key=lambda m: windows[m])
        times["sequential"], windows["sequential"] = times[best], windows[best]
        pairs.append(
            {
                "order": list(order),
                "best_sequential": best,
                "sequential_by_threads_s": {m: round(windows[m], 2) for m in modes},
                "sequential_s": round(windows["sequential"], 2),
                "study_s": round(windows["study"], 2),
                "speedup": round(windows["sequential"] / windows["study"], 3),
                "study_cold_s": round(windows["study-cold"], 2),
                "speedup_cold_workers": round(windows["sequential"] / windows["study-cold"], 3),
                "sequential_end_to_end_s": round(times["sequential"], 2),
                "study_end_to_end_s": round(times["study"], 2),
                "speedup_end_to_end": round(times["sequential"] / times["study"], 3),
                "load_average": loads,
            }
        )
    t_seq = statistics.median(p["sequential_s"] for p in pairs)
    t_par = statistics.median(p["study_s"] for p in pairs)
    return {
        "campaigns": campaigns,
        "concurrent_trials": concurrent,
        "repeats": repeats,
        "sequential_s": round(t_seq, 2),
        "study_s": round(t_par, 2),
        "campaigns_per_hour_sequential": round(3600 * campaigns / t_seq, 1),
        "campaigns_per_hour_study": round(3600 * campaigns / t_par, 1),
        "study_speedup": round(statistics.median(p["speedup"] for p in pairs), 3),
        "study_speedup_end_to_end": round(statistics.median(p["speedup_end_to_end"] for p in pairs), 3),
        "study_speedup_cold_workers": round(statistics.median(p["speedup_cold_workers"] for p in pairs), 3),
        "pairs": pairs,
        "per_campaign": _study_sizes(work / "study-0", campaigns),
        "workdir": str(work),
    }


def _study_sizes(out: Path, campaigns: int) -> dict[str, float]:
    """Mean ledger and campaign-folder bytes per trial, and the shared MLflow store per trial."""
    ledgers = [f.stat().st_size for f in out.glob("trials/*/ledger.db")]
    folders = [sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) for d in out.glob("trials/*")]
    mlflow = sum(f.stat().st_size for f in out.glob("mlflow.db*")) + sum(
        f.stat().st_size for f in (out / "mlartifacts").rglob("*") if f.is_file()
    )
    return {
        "ledger_bytes": round(sum(ledgers) / max(len(ledgers), 1)),
        "trial_folder_bytes": round(sum(folders) / max(len(folders), 1)),
        "mlflow_bytes_per_trial": round(mlflow / max(campaigns, 1)),
    }


def _warm_up(config: str | Path, overrides: Sequence[str], directory: Path) -> None:
    """One tiny campaign, so that the sequential run starts with its imports done."""
    from loop.campaign.engine import Campaign
    from loop.config import load_config

    cfg = load_config(config, [*overrides, "budget.experiments=2", "budget.batch_size=2", "tracking.enabled=false"])
    with Campaign.create(cfg, directory) as c:
        c.run()
    import mlflow  # noqa: F401  (the study runs log to MLflow)


def measure_loop_overhead(config: str | Path, overrides: Sequence[str], workdir: Path | None = None) -> dict[str, Any]:
    """Time one campaign and split each round into stage calls and the loop's own time."""
    from loop.campaign.engine import Campaign
    from loop.campaign.rounds import stage_clock
    from loop.config import load_config

    work = Path(workdir or tempfile.mkdtemp(prefix="crystaloop-bench-overhead-"))
    cfg = load_config(config, [*overrides, "lab.options.latency_s=0"])
    campaign = Campaign.create(cfg, work / "campaign")
    starts: list[tuple[float, float]] = []
    marks: list[tuple[float, float]] = []  # (thread CPU, stage CPU) at each round start, for the per-round split
    before: dict[str, dict[str, float]] = {}  # stage seconds spent before the first round (building the labs)

    def on_event(kind: str, data: dict) -> None:
        if kind == "round_started":
            starts.append(stage_clock())
            marks.append((starts[-1][1], sum(campaign.planner.cpu_timings.values())))
            if not before:
                before.update(wall=dict(campaign.planner.timings), cpu=dict(campaign.planner.cpu_timings))

    campaign.on_event = on_event
    with campaign:
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        campaign.run()
        t_end, thread_end = stage_clock()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        marks.append((thread_end, sum(campaign.planner.cpu_timings.values())))
        stages = {k: v - before.get("wall", {}).get(k, 0.0) for k, v in campaign.planner.timings.items()}
        stages_cpu = {k: v - before.get("cpu", {}).get(k, 0.0) for k, v in campaign.planner.cpu_timings.items()}
        rounds = campaign.rounds_done()
        experiments = campaign.experiments_used()
    if not starts:
        raise RuntimeError("the campaign planned no round")
    in_rounds = t_end - starts[0][0]
    stage_s = sum(stages.values())
    in_rounds_cpu = thread_end - starts[0][1]
    stage_cpu_s = sum(stages_cpu.values())
    size = sum(f.stat().st_size for f in (work / "campaign").rglob("*") if f.is_file())
    return {
        "config": str(config),
        "rounds": rounds,
        "experiments": experiments,
        "run_s": round(t_end - t0, 3),
        "cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 3),
        "startup_s": round(starts[0][0] - t0, 3),
        "rounds_s": round(in_rounds, 3),
        "round_s_mean": round(in_rounds / max(rounds, 1), 3),
        "stage_s": {k: round(v, 3) for k, v in stages.items()},
        "loop_s": round(in_rounds - stage_s, 3),
        "loop_s_per_round": round((in_rounds - stage_s) / max(rounds, 1), 3),
        "loop_overhead_fraction": round(1 - stage_s / in_rounds, 4),
        "loop_overhead_fraction_incl_startup": round(1 - (stage_s + sum(before.get("wall", {}).values())) / (t_end - t0), 4),
        "stage_cpu_s": {k: round(v, 3) for k, v in stages_cpu.items()},
        "loop_cpu_s_per_round": round((in_rounds_cpu - stage_cpu_s) / max(rounds, 1), 4),
        "loop_overhead_fraction_cpu": round(1 - stage_cpu_s / in_rounds_cpu, 4) if in_rounds_cpu > 0 else None,
        "loop_cpu_s_by_round": [round((b[0] - a[0]) - (b[1] - a[1]), 4) for a, b in zip(marks, marks[1:], strict=False)],
        "campaign_folder_bytes": size,
        "ledger_bytes": (work / "campaign" / "ledger.db").stat().st_size,
        "mlflow_bytes": sum(f.stat().st_size for f in (work / "campaign").glob("mlflow.db*"))
        + sum(f.stat().st_size for f in (work / "campaign" / "mlartifacts").rglob("*") if f.is_file()),
        "workdir": str(work),
    }


_BUCKETS = (
    ("mlflow (tracking)", ("/mlflow/",)),
    ("alembic (schema migrations)", ("/alembic/",)),
    ("sqlalchemy + sqlite (ledger and MLflow store)", ("/sqlalchemy/", "sqlite3")),
    ("pydantic (records)", ("/pydantic",)),
    ("torch / botorch / gpytorch (stages)", ("/torch/", "/botorch/", "/gpytorch/", "/linear_operator/")),
    ("crystaloop loop/", ("/loop/",)),
    ("crystaloop stages", ("/surrogates/", "/generators/", "/lab_adapters/")),
    ("imports", ("<frozen importlib",)),
    ("C built-ins (mostly torch ops)", ("~:",)),
)


def _entry_time(stats: pstats.Stats, suffix: str) -> float:
    """Cumulative seconds spent in a module, counted where it is entered from outside (no double counting)."""
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, _tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.endswith(suffix):
            total += sum(v[3] for key, v in callers.items() if not key[0].endswith(suffix))
    return total


def profile_breakdown(config: str | Path, overrides: Sequence[str], workdir: Path | None = None, top: int = 25) -> dict[str, Any]:
    """A profiled campaign: self time by package, and the loop functions with most cumulative time."""
    from loop.campaign.engine import Campaign
    from loop.config import load_config

    work = Path(workdir or tempfile.mkdtemp(prefix="crystaloop-bench-profile-"))
    cfg = load_config(config, [*overrides, "lab.options.latency_s=0"])
    profiler = cProfile.Profile()
    with Campaign.create(cfg, work / "campaign") as campaign:
        profiler.enable()
        campaign.run()
        profiler.disable()
    profiler.dump_stats(work / "campaign.prof")
    stats = pstats.Stats(profiler)
    buckets: dict[str, float] = {}
    total = 0.0
    rows = []
    for (filename, line, name), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += tt
        where = f"{filename}:{name}"
        bucket = next((b for b, keys in _BUCKETS if any(k in where for k in keys)), "other")
        buckets[bucket] = buckets.get(bucket, 0.0) + tt
        if "/loop/" in filename and "/loop/study/" not in filename and name not in ("run",):
            rows.append((ct, f"{Path(filename).parent.name}/{Path(filename).name}:{line}({name})"))
    rows.sort(reverse=True)
    entries = {
        "ledger writes and reads (loop/store/ledger.py)": "loop/store/ledger.py",
        "MLflow logging (loop/tracking.py)": "loop/tracking.py",
        "campaign summaries (loop/campaign/progress.py)": "loop/campaign/progress.py",
    }
    return {
        "time_in_s": {label: round(_entry_time(stats, suffix), 3) for label, suffix in entries.items()},
        "profiled_s": round(total, 3),
        "self_time_by_package_s": {k: round(v, 3) for k, v in sorted(buckets.items(), key=lambda kv: -kv[1])},
        "loop_functions_cumulative_s": {name: round(ct, 3) for ct, name in rows[:top]},
        "profile_file": str(work / "campaign.prof"),
    }
