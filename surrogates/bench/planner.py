"""``crystaloop bench planner``: latency and memory of one batch selection.

A synthetic campaign on ``d = 6`` tabular inputs ``x ~ U[0, 1]^d``: objective 1
``f1(x) = -|x - 0.3|^2 + 0.1 sin(10 x_1)``, objective 2 ``f2(x) = -|x - 0.7|^2`` (both
maximised, Gaussian noise ``sd 0.05``). For each setting (candidates ``N``, observations
``n``, objectives ``m``) a fresh process fits the :class:`~surrogates.botorch_ranker.BotorchRanker`
on ``n`` observations and selects ``q = 8`` of ``N`` candidates (sequential greedy,
qUCB / qLogNEHVI, the ranker's defaults). Reported per setting: ``seconds`` (fit + select, features included),
``fit_s``, ``select_s``, ``peak_mb`` (the process's peak resident memory), ``floor_s`` (a bare
posterior mean and variance over the same ``N`` candidates with the fitted model) and
``ratio`` = ``select_s / floor_s``.

A pre-filter (``prefilter = M``: acquisition only on the top ``M`` candidates by a UCB
score) is used where configured; at the 10k setting the benchmark also runs the full
pool and reports ``prefilter_value_ratio = a(B_pre) / a(B_full)``, the acquisition value of the
whole chosen batch (no pending points): ``exp`` of the difference of the log-acquisitions
(qLogNEHVI), the plain ratio of qUCB values (standardised units); it must be >= 0.99.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_SETTINGS", "run_planner", "run_setting"]

log = logging.getLogger(__name__)

DEFAULT_SETTINGS: list[tuple[int, int, int]] = [
    (n_cand, n_obs, m) for (n_cand, n_obs) in ((1_000, 100), (10_000, 1_000), (100_000, 5_000)) for m in (1, 2)
]
D = 6


def _f(X: np.ndarray, m: int) -> np.ndarray:
    f1 = -((X - 0.3) ** 2).sum(1) + 0.1 * np.sin(10 * X[:, 0])
    f2 = -((X - 0.7) ** 2).sum(1)
    return np.column_stack([f1, f2][:m])


def _batch_value(ranker, pool, ids: list[str]) -> tuple[float, bool]:  # noqa: ANN001
    """Acquisition of the whole batch ``ids`` (joint, no pending points) and whether it is a log value."""
    import torch
    from botorch.acquisition import qUpperConfidenceBound

    by = {c.id: c for c in pool}
    X, _ = ranker._features([by[i] for i in ids])
    acqf = ranker._acqf(None)
    with torch.no_grad():
        return float(acqf(ranker._tensor(X).unsqueeze(0))), not isinstance(acqf, qUpperConfidenceBound)


def _value_ratio(pre: tuple[float, bool], full: tuple[float, bool]) -> float:
    """``a(B_pre) / a(B_full)``: ``exp`` of the difference for log acquisitions; the plain ratio for qUCB
    (standardised units, positive for a good batch; a non-positive full value gives ``nan``)."""
    if pre[1]:
        return float(np.exp(pre[0] - full[0]))
    return pre[0] / full[0] if full[0] > 0 else float("nan")


def run_setting(n_cand: int, n_obs: int, m: int, *, q: int = 8, seed: int = 0, prefilter: int | None = None,
                compare_full: bool = False, work_dir: str = ".") -> dict:
    """Fit on ``n_obs`` observations and select ``q`` of ``n_cand`` candidates (in this process)."""
    from threadpoolctl import threadpool_limits

    from loop.interfaces import PluginContext
    from loop.objectives import Objective
    from loop.records import Candidate, Measurement, Observation
    from surrogates.acquisition.batch import marginal_moments
    from surrogates.botorch_ranker import BotorchRanker

    rng = np.random.default_rng(seed)
    Xo, Xc = rng.random((n_obs, D)), rng.random((n_cand, D))
    Y = _f(Xo, m) + 0.05 * rng.standard_normal((n_obs, m))
    names = [f"f{i + 1}" for i in range(m)]
    obs_c = [Candidate.from_params({f"x{i}": float(v) for i, v in enumerate(row)}) for row in Xo]
    pool = [Candidate.from_params({f"x{i}": float(v) for i, v in enumerate(row)}) for row in Xc]
    obs = [Observation(request_id=f"r{i}", candidate_id=c.id, values={k: Measurement(value=float(y)) for k, y in zip(names, Y[i], strict=True)})
           for i, c in enumerate(obs_c)]
    ctx = PluginContext(work_dir=work_dir, seed=seed, objectives=[Objective(name=k) for k in names])

    def make(pf: int | None) -> BotorchRanker:
        return BotorchRanker(BotorchRanker.Config(prefilter=pf, feasibility=False, synthesizability="off"), ctx)

    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with threadpool_limits(2):
        ranker = make(prefilter)
        t0 = time.perf_counter()
        ranker.fit(obs_c, obs)
        t1 = time.perf_counter()
        sel = ranker.select(pool, q, [])
        t2 = time.perf_counter()
        X, _ = ranker._features(pool)
        Xt = ranker._tensor(X)
        t3 = time.perf_counter()
        marginal_moments(ranker._model, Xt)  # the floor: posterior mean and variance of every candidate
        floor = time.perf_counter() - t3
        row = {
            "candidates": n_cand, "observations": n_obs, "objectives": m, "q": q, "prefilter": prefilter,
            "seconds": t2 - t0, "fit_s": t1 - t0, "select_s": t2 - t1, "floor_s": floor, "ratio": (t2 - t1) / max(floor, 1e-9),
            "model": type(ranker._model).__name__,
        }
        if compare_full and prefilter is not None:
            full = make(None)
            full.fit(obs_c, obs)
            tf = time.perf_counter()
            sel_full = full.select(pool, q, [])
            row["full_select_s"] = time.perf_counter() - tf
            a_pre = _batch_value(full, pool, [s.candidate_id for s in sel])
            a_full = _batch_value(full, pool, [s.candidate_id for s in sel_full])
            row["prefilter_value_ratio"] = _value_ratio(a_pre, a_full)
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row["start_mb"] = base_mb
    return row


def _child(args: tuple) -> dict:
    n_cand, n_obs, m, kw = args
    return run_setting(n_cand, n_obs, m, **kw)


def run_planner(settings: list[tuple[int, int, int]] | None = None, *, prefilter: dict[int, int] | None = None,
                work_dir: str | Path = ".", value_seeds: int = 3, compare_at: int = 10_000) -> dict:
    """Every setting in a fresh (spawned) process so ``peak_mb`` is its own; ``prefilter``: ``{N: M}``.

    At ``compare_at`` (10k) candidates with a pre-filter, the batch-value comparison is repeated on
    ``value_seeds`` synthetic problems (seeds ``0..value_seeds-1``; seed 0 is the timed run):
    ``prefilter_value_ratio`` is the worst of them, ``prefilter_value_ratios`` all of them.
    """
    settings = settings or DEFAULT_SETTINGS
    prefilter = prefilter if prefilter is not None else {10_000: 1_000, 100_000: 1_000}
    rows = []
    ctx = mp.get_context("spawn")
    for n_cand, n_obs, m in settings:
        pf = prefilter.get(n_cand)
        kw = {"prefilter": pf, "compare_full": pf is not None and n_cand == compare_at, "work_dir": str(work_dir)}
        with ctx.Pool(1) as pool:
            row = pool.apply(_child, ((n_cand, n_obs, m, kw),))
            if kw["compare_full"] and value_seeds > 1:
                ratios = [row["prefilter_value_ratio"]]
                for seed in range(1, value_seeds):
                    ratios.append(pool.apply(_child, ((n_cand, n_obs, m, {**kw, "seed": seed}),))["prefilter_value_ratio"])
                row["prefilter_value_ratios"] = ratios
                row["prefilter_value_ratio"] = min(ratios)
        log.info("planner %s", row)
        rows.append(row)
    return {"rows": rows}
