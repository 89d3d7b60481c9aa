"""``crystaloop bench pool``: the Liang et al. (2021) pool protocol on any tabular CSV.

Runs our ranker(s) and the peers on the same designs, seeds and replicate draws, in two
settings: the *shared start* (every method measures the seed's ``n_init`` random designs,
default 2 as in Liang et al.'s code, then its own model takes over) and each method's *own*
documented default start (see :mod:`surrogates.bench.methods`). Reports ``n_50 / n_80``
(and ``n_100`` with the enhancement factor when campaigns run to the end; median and 5-95 %
band over seeds), the acceleration factor ``AF_p = m (N + 1) / (k + 1) / median(n_p)``, the
best peer (the peer and setting with the highest AF_80, random excluded) and the ratio of
our shared-start AF_80 to it and to each peer, with a paired bootstrap 90 % interval over
seeds. Campaigns stop once ``ceil(stop_level k)`` targets are found (default 0.8: the AF_80
tables need no more). Every campaign is cached by (data hash, method and version, setting,
seed, q, cap, stop level), so a grid can be run in parts and resumed.
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
import pandas as pd

from loop.errors import InputDataError
from loop.tables import load_design_table, read_csv, require_columns
from surrogates.bench.methods import PEERS, check_methods, make_policy, method_version
from surrogates.bench.protocol import LEVELS, PoolProblem, levels_reached, random_expectation, run_campaign, top_curve

__all__ = ["MIN_DESIGNS", "SETTINGS", "PoolResult", "default_cache_dir", "load_problem", "run_pool"]

log = logging.getLogger(__name__)

SETTINGS = ("shared", "own")
MIN_DESIGNS = 3


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crystaloop" / "bench-pool"


def _pool_inputs(frame: pd.DataFrame, objective: str, source: str) -> list[str]:
    """The input columns (every column but the objective): numeric, complete, constant ones dropped with a warning."""
    inputs = [c for c in frame.columns if c != objective]
    if not inputs:
        raise InputDataError(f"no input columns besides the objective {objective!r}", source=source)
    for c in inputs:
        raw = frame[c]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputDataError(
                f"input column {c!r} is not numeric (line {row + 2}: {raw.iloc[row]!r}); a pool's inputs must be "
                "numbers (encode a category as numbers, or drop the column)", source=source,
            )
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise InputDataError(f"input column {c!r} has an empty cell (line {row + 2})", source=source)
    constant = [c for c in inputs if pd.to_numeric(frame[c]).nunique() <= 1]
    if constant:
        log.warning("%s: input column(s) %s are constant (one value in every row); left out", source, constant)
    kept = [c for c in inputs if c not in constant]
    if not kept:
        raise InputDataError(f"every input column is constant ({inputs}); nothing tells the designs apart", source=source)
    return kept


def _check_objective(frame: pd.DataFrame, objective: str, source: str) -> None:
    raw = frame[objective]
    values = pd.to_numeric(raw, errors="coerce")
    text = values.isna() & raw.notna() & (raw.astype(str).str.strip().str.lower() != "nan")
    if text.any():
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise InputDataError(f"objective column {objective!r} is not numeric (line {row + 2}: {raw.iloc[row]!r})", source=source)
    infinite = np.isinf(values.to_numpy(dtype=float))
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise InputDataError(
            f"objective column {objective!r} has an infinite value (line {row + 2}: {str(raw.iloc[row])!r}); leave the cell "
            "empty for a design without a measurement", source=source,
        )
    finite = np.isfinite(values.to_numpy(dtype=float))
    if not finite.any():
        raise InputDataError(f"objective column {objective!r} has no finite value", source=source)
    if finite.sum() < MIN_DESIGNS:
        raise InputDataError(
            f"{int(finite.sum())} row(s) with a finite {objective!r}; the pool protocol needs at least {MIN_DESIGNS} designs", source=source
        )
    if (~finite).any():
        log.warning("%s: %d row(s) without a finite %r are left out", source, int((~finite).sum()), objective)


def load_problem(csv: str | Path, *, objective: str | None = None, minimize: bool = False) -> tuple[PoolProblem, str]:
    """The pool of a CSV (objective: the last column unless named) and the data hash.

    Bad input raises :class:`InputDataError` naming the column: a single column (with a hint
    when the header holds another separator), non-numeric or missing inputs, a non-numeric or
    infinite objective, no finite objective, every input constant, fewer than
    :data:`MIN_DESIGNS` designs, a constant objective. Constant inputs and rows without an
    objective value are left out with a warning.
    """
    frame = read_csv(csv)
    source = str(csv)
    if len(frame.columns) == 1:
        sep = next((d for d in (";", "\t", "|") if d in str(frame.columns[0])), None)
        hint = f" (the header holds {sep!r}: is the file separated by {sep!r} instead of commas?)" if sep else ""
        raise InputDataError(
            f"one column only ({str(frame.columns[0])!r}); a pool needs input columns and an objective{hint}", source=source
        )
    objective = objective or str(frame.columns[-1])
    require_columns(frame, [objective], source, "objective")
    _check_objective(frame, objective, source)
    inputs = _pool_inputs(frame, objective, source)
    table = load_design_table(csv, inputs=inputs)
    truth = table.truth(objective)
    keep = np.isfinite(truth)
    designs = [d for d, k in zip(table.designs, keep, strict=True) if k]
    if len(designs) < MIN_DESIGNS:
        raise InputDataError(
            f"{len(designs)} design(s) with a finite {objective!r}; the pool protocol needs at least {MIN_DESIGNS}", source=source
        )
    if np.ptp(truth[keep]) == 0:
        raise InputDataError(f"objective column {objective!r} is constant; there are no best designs to find", source=source)
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
    cached: int = 0


def _one_seed(args: tuple) -> list[int]:
    name, problem, seed, q, cap, options, start, stop_level = args
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(1):  # one seed per core: BLAS/OpenMP threads would only contend
        policy, n_init = make_policy(name, problem, seed, options=options, q=q, start=start)
        return run_campaign(problem, seed, policy, n_init=n_init, q=q, cap=cap, stop_level=stop_level)


def _setting_tag(setting: str, n_init: int) -> str:
    return f"n{n_init}" if setting == "shared" else "own"


def _run_method(
    name: str, problem: PoolProblem, seeds: list[int], q: int, cap: int, cache: Path | None, digest: str,
    *, workers: int = 1, options: dict | None = None, setting: str = "shared", n_init: int = 2, stop_level: float = 0.8,
) -> PoolResult:
    """Orders of measurement per seed: from the cache when there, else run (seeds on ``workers`` processes) and cached."""
    t0 = time.perf_counter()
    orders: dict[int, list[int]] = {}
    paths: dict[int, Path] = {}
    if cache is not None:
        version = method_version(name, options)
        for seed in seeds:
            paths[seed] = cache / f"{digest}-{name}-v{version}-{_setting_tag(setting, n_init)}-s{seed}-q{q}-c{cap}-l{stop_level:g}.json"
            if paths[seed].is_file():
                orders[seed] = json.loads(paths[seed].read_text())["order"]
    cached = len(orders)
    todo = [s for s in seeds if s not in orders]
    start = n_init if setting == "shared" else None
    jobs = [(name, problem, s, q, cap, options, start, stop_level) for s in todo]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(min(workers, len(jobs))) as pool:
            done = pool.imap(_one_seed, jobs)
            for s, order in zip(todo, done, strict=True):  # cache each seed as it finishes
                orders[s] = _store(paths.get(s), order)
    else:
        for s, job in zip(todo, jobs, strict=True):
            orders[s] = _store(paths.get(s), _one_seed(job))
    return PoolResult(name, [orders[s] for s in seeds], time.perf_counter() - t0, cached)


def _store(path: Path | None, order: list[int]) -> list[int]:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"order": order}))
        tmp.replace(path)
    return order


def _summary(problem: PoolProblem, res: PoolResult, cap: int, budgets: list[int], stop_level: float) -> tuple[dict, dict, np.ndarray]:
    levels = np.array([[levels_reached(problem, o, cap)[p] for p in LEVELS] for o in res.orders], dtype=float)
    row: dict = {}
    band: dict = {}
    for j, p in enumerate(LEVELS):
        tag = str(int(p * 100))
        if p > stop_level + 1e-9:  # campaigns stopped before this level
            row[f"n{tag}"] = row[f"af{tag}"] = None
            continue
        med = float(np.median(levels[:, j]))
        m = math.ceil(p * problem.k)
        row[f"n{tag}"] = med
        row[f"af{tag}"] = random_expectation(m, problem.n, problem.k) / med
        band[f"n{tag}"] = [float(np.percentile(levels[:, j], 5)), float(np.percentile(levels[:, j], 95))]
    if stop_level >= 1:
        curves = np.stack([top_curve(problem, o, cap) for o in res.orders])
        row["ef"] = {str(b): float(np.median(curves[:, b - 1] / (b / problem.n))) for b in budgets}
    else:
        row["ef"] = None
    row["censored"] = int((levels[:, LEVELS.index(0.8)] > cap).sum())  # seeds that never reached n80 within the cap
    band["seconds"] = res.seconds
    band["cached_seeds"] = res.cached
    return row, band, levels


def _bootstrap_ratio(ours: np.ndarray, peer: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(ours), size=(n_boot, len(ours)))
    ratios = np.median(peer[idx], axis=1) / np.median(ours[idx], axis=1)
    return [float(np.percentile(ratios, 5)), float(np.percentile(ratios, 95))]


def best_peer(results: dict[str, dict[str, dict]], peers: list[str]) -> tuple[str, str] | None:
    """``(peer, setting)`` with the highest AF_80 over every peer but random and both settings."""
    scored = [
        (r["af80"], peer, setting)
        for setting, rows in results.items() for peer, r in rows.items()
        if peer in peers and peer != "random" and r.get("af80") is not None
    ]
    if not scored:
        return None
    _, peer, setting = max(scored, key=lambda t: (t[0], t[2] == "shared"))
    return peer, setting


def run_pool(
    csv: str | Path,
    *,
    minimize: bool = False,
    objective: str | None = None,
    seeds: int | list[int] = 20,
    q: int = 1,
    rankers: list[str] | None = None,
    peers: list[str] | None = None,
    max_experiments: int | None = None,
    cache_dir: Path | None = None,
    workers: int = 1,
    ranker_options: dict | None = None,
    n_init: int = 2,
    settings: tuple[str, ...] = SETTINGS,
    stop_level: float = 0.8,
) -> tuple[dict, dict]:
    """Run the protocol; returns ``(report, extras)`` (report: the JSON of the issue; extras: bands, curves, timings).

    ``seeds``: how many (seeds ``0..seeds-1``) or an explicit list. ``stop_level``: stop each
    campaign once this fraction of the targets is found (0.8 for the AF80 tables, 1.0 for
    ``n100`` and the enhancement factors).
    """
    problem, digest = load_problem(csv, objective=objective, minimize=minimize)
    cap = min(max_experiments or problem.n, problem.n)
    if n_init >= cap:
        raise InputDataError(f"--n-init {n_init} leaves no experiment to the methods (pool {problem.n}, cap {cap})", source=str(csv))
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown or not settings:
        raise ValueError(f"settings must be among {SETTINGS}, got {list(settings)}")
    rankers = rankers or ["botorch"]
    peers = peers if peers is not None else [p for p in PEERS if p != "random"] + ["random"]
    check_methods(rankers, ranker_options)
    check_methods(peers)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    budgets = sorted({max(1, round(f * problem.n)) for f in (0.1, 0.25, 0.5)} & set(range(1, cap + 1)))
    results: dict[str, dict] = {s: {} for s in settings}
    bands: dict[str, dict] = {s: {} for s in settings}
    levels: dict[tuple[str, str], np.ndarray] = {}
    curves = {}
    for setting in settings:
        for name in [*rankers, *peers]:
            log.info("bench pool: %s (%s start) on %s (%d seeds, q=%d)", name, setting, csv, len(seed_list), q)
            res = _run_method(
                name, problem, seed_list, q, cap, cache_dir, digest, workers=workers,
                options=ranker_options if name in rankers else None, setting=setting, n_init=n_init, stop_level=stop_level,
            )
            results[setting][name], bands[setting][name], levels[setting, name] = _summary(problem, res, cap, budgets, stop_level)
            curves[f"{name} ({setting})"] = np.stack([top_curve(problem, o, cap) for o in res.orders])
    ours = rankers[0]
    base = "shared" if "shared" in settings else settings[0]
    j80 = LEVELS.index(0.8)
    ratios = {}
    for setting in settings:
        for peer in peers:
            ratios[f"{peer} ({setting})"] = {
                "af80_ratio": results[base][ours]["af80"] / results[setting][peer]["af80"],
                "ci90": _bootstrap_ratio(levels[base, ours][:, j80], levels[setting, peer][:, j80]),
            }
    best = best_peer(results, peers)
    best_row = None
    if best is not None:
        peer, setting = best
        best_row = {"peer": peer, "setting": setting, "af80": results[setting][peer]["af80"], **ratios[f"{peer} ({setting})"]}
    report = {
        "dataset": Path(csv).name,
        "n_designs": problem.n,
        "k": problem.k,
        "q": q,
        "n_init": n_init,
        "stop_level": stop_level,
        "seeds": seed_list,
        "max_experiments": cap,
        "settings": list(settings),
        "results": results,
        "bands_5_95": bands,
        "best_peer": best_row,
        "af80_ratio_vs_peers": {f"{ours} ({base})": ratios},
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
