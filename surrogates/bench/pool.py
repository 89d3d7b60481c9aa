"""``crystaloop bench pool``: the Liang et al. (2021) pool protocol on any tabular CSV.

Runs our ranker(s) and the peers on the same designs, seeds, shared initial designs and
replicate draws; reports ``n_50 / n_80 / n_100`` (median and 5-95 % band over seeds), the
acceleration factor ``AF_p = m (N + 1) / (k + 1) / median(n_p)``, the enhancement factor at
10 / 25 / 50 % of the pool, and the ratio of our AF_80 to each peer's with a paired
bootstrap 90 % interval over seeds. Peer runs are cached by (data hash, seed, peer,
peer version, q, cap).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loop.tables import load_design_table
from surrogates.bench.methods import PEER_VERSIONS, make_policy, peer_version
from surrogates.bench.protocol import LEVELS, PoolProblem, levels_reached, random_expectation, run_campaign, top_curve

__all__ = ["PoolResult", "default_cache_dir", "load_problem", "run_pool"]

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crystaloop" / "bench-pool"


def load_problem(csv: str | Path, *, objective: str | None = None, minimize: bool = False) -> tuple[PoolProblem, str]:
    """The pool of a CSV (objective: the last column unless named) and the data hash."""
    from loop.tables import read_csv

    frame = read_csv(csv)
    objective = objective or str(frame.columns[-1])
    table = load_design_table(csv, exclude=[objective])
    truth = table.truth(objective)
    keep = np.isfinite(truth)
    if not keep.all():
        log.warning("%s: %d design(s) without a finite %r are left out", csv, int((~keep).sum()), objective)
    designs = [d for d, k in zip(table.designs, keep, strict=True) if k]
    X = np.array([[d.candidate.params[c] for c in table.inputs] for d in designs])
    reps = [table.replicates(d.id, objective) for d in designs]
    problem = PoolProblem(ids=[d.id for d in designs], X=X, truth=truth[keep], replicates=reps, maximize=not minimize)
    digest = hashlib.sha256(Path(csv).read_bytes() + f"|{objective}|{minimize}".encode()).hexdigest()[:16]
    return problem, digest


@dataclass
class PoolResult:
    name: str
    orders: list[list[int]]
    seconds: float


def _one_seed(args: tuple) -> list[int]:
    name, problem, seed, q, cap, options = args
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(1):  # one seed per core: BLAS/OpenMP threads would only contend
        policy, n_init = make_policy(name, problem, seed, options=options, q=q)
        return run_campaign(problem, seed, policy, n_init=n_init, q=q, cap=cap)


def _run_method(
    name: str, problem: PoolProblem, seeds: list[int], q: int, cap: int, cache: Path | None, digest: str,
    *, workers: int = 1, options: dict | None = None,
) -> PoolResult:
    """Orders of measurement per seed; peers come from the cache when there, seeds run on ``workers`` processes."""
    t0 = time.perf_counter()
    orders: dict[int, list[int]] = {}
    paths: dict[int, Path] = {}
    for seed in seeds:
        if cache is not None and name in PEER_VERSIONS:
            paths[seed] = cache / f"{digest}-{name}-v{peer_version(name)}-s{seed}-q{q}-c{cap}.json"
            if paths[seed].is_file():
                orders[seed] = json.loads(paths[seed].read_text())["order"]
    todo = [s for s in seeds if s not in orders]
    jobs = [(name, problem, s, q, cap, options) for s in todo]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(min(workers, len(jobs))) as pool:
            done = pool.map(_one_seed, jobs)
    else:
        done = [_one_seed(j) for j in jobs]
    for s, order in zip(todo, done, strict=True):
        orders[s] = order
        if s in paths:
            paths[s].parent.mkdir(parents=True, exist_ok=True)
            paths[s].write_text(json.dumps({"order": order}))
    return PoolResult(name, [orders[s] for s in seeds], time.perf_counter() - t0)


def _summary(problem: PoolProblem, res: PoolResult, cap: int, budgets: list[int]) -> tuple[dict, dict, np.ndarray]:
    levels = np.array([[levels_reached(problem, o, cap)[p] for p in LEVELS] for o in res.orders], dtype=float)
    curves = np.stack([top_curve(problem, o, cap) for o in res.orders])
    row: dict = {}
    band: dict = {}
    for j, p in enumerate(LEVELS):
        tag = str(int(p * 100))
        med = float(np.median(levels[:, j]))
        m = math.ceil(p * problem.k)
        row[f"n{tag}"] = med
        row[f"af{tag}"] = random_expectation(m, problem.n, problem.k) / med
        band[f"n{tag}"] = [float(np.percentile(levels[:, j], 5)), float(np.percentile(levels[:, j], 95))]
    row["ef"] = {str(b): float(np.median(curves[:, b - 1] / (b / problem.n))) for b in budgets}
    band["seconds"] = res.seconds
    return row, band, levels


def _bootstrap_ratio(ours: np.ndarray, peer: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(ours), size=(n_boot, len(ours)))
    ratios = np.median(peer[idx], axis=1) / np.median(ours[idx], axis=1)
    return [float(np.percentile(ratios, 5)), float(np.percentile(ratios, 95))]


def run_pool(
    csv: str | Path,
    *,
    minimize: bool = False,
    objective: str | None = None,
    seeds: int = 20,
    q: int = 1,
    rankers: list[str] | None = None,
    peers: list[str] | None = None,
    max_experiments: int | None = None,
    cache_dir: Path | None = None,
    workers: int = 1,
    ranker_options: dict | None = None,
) -> tuple[dict, dict]:
    """Run the protocol; returns ``(report, extras)`` (report: the JSON of the issue; extras: bands, curves, timings)."""
    problem, digest = load_problem(csv, objective=objective, minimize=minimize)
    cap = min(max_experiments or problem.n, problem.n)
    rankers = rankers or ["botorch"]
    peers = peers if peers is not None else ["botorch-plain", "random"]
    seed_list = list(range(seeds))
    budgets = sorted({max(1, round(f * problem.n)) for f in (0.1, 0.25, 0.5)} & set(range(1, cap + 1)))
    results, bands, levels, curves = {}, {}, {}, {}
    for name in [*rankers, *peers]:
        log.info("bench pool: %s on %s (%d seeds, q=%d)", name, csv, seeds, q)
        res = _run_method(
            name, problem, seed_list, q, cap, cache_dir, digest, workers=workers,
            options=ranker_options if name in rankers else None,
        )
        results[name], bands[name], levels[name] = _summary(problem, res, cap, budgets)
        curves[name] = np.stack([top_curve(problem, o, cap) for o in res.orders])
    ratios = {}
    ours = rankers[0]
    for peer in peers:
        if peer in results:
            ratios[peer] = {
                "af80_ratio": results[ours]["af80"] / results[peer]["af80"],
                "ci90": _bootstrap_ratio(levels[ours][:, 1], levels[peer][:, 1]),
            }
    report = {
        "dataset": Path(csv).name,
        "n_designs": problem.n,
        "k": problem.k,
        "q": q,
        "seeds": seed_list,
        "max_experiments": cap,
        "results": results,
        "bands_5_95": bands,
        "af80_ratio_vs_peers": {ours: ratios},
    }
    return report, {"curves": curves, "problem": problem, "cap": cap}


def plot_top(report: dict, extras: dict, path: str | Path) -> None:
    """Top% against experiments: median and 5-95 % band per method, with the random expectation ``i / N``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cap, n = extras["cap"], report["n_designs"]
    i = np.arange(1, cap + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, c in extras["curves"].items():
        med = np.median(c, 0)
        ax.plot(i, 100 * med, label=name)
        ax.fill_between(i, 100 * np.percentile(c, 5, 0), 100 * np.percentile(c, 95, 0), alpha=0.15)
    ax.plot(i, 100 * np.minimum(i / n, 1), "k--", label="random (expected)")
    ax.set_xlabel("experiments")
    ax.set_ylabel("Top% (targets found, %)")
    ax.set_title(f"{report['dataset']}: N={n}, k={report['k']}, q={report['q']}, {len(report['seeds'])} seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
