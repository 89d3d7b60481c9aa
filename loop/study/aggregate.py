"""Aggregating a study: per setting, the median and 5-95 % band over seeds.

For each trial (one campaign) the ledger gives the observations in the order they were
recorded; experiment ``i`` is the ``i``-th observation (failures count as spent). Per
setting over its seeds:

- ``experiments_to_goal``: the first ``i`` whose observation meets the goal (a trial that
  never meets it counts as ``budget + 1``; ``reached`` is the fraction that did);
- ``best``: the best measured value per objective at the end (the budget);
- with a ``table`` lab (known truth) the Top% curve ``T(i) = |targets among the first i| / k``
  where the targets are the designs whose table means meet the goal, or without a goal the
  top ``k = ceil(0.05 N)`` designs by the first objective; ``n50 / n80 / n100`` are the
  experiments to reach ``T >= 0.5 / 0.8 / 1`` (``budget + 1`` when never) and
  ``top_at_budget`` is ``T`` after the trial's last experiment.

The random baseline is every setting matching ``study.baseline`` (default
``ranker.kind: random``); with known truth also its expectation in closed form:
``E[T(i)] = i / N`` and, for the best of ``i`` draws without replacement from sorted
utilities ``u_(1) <= ... <= u_(N)``, ``E[max] = sum_j u_(j) C(j-1, i-1) / C(N, i)``.

Writes ``aggregate.json``, ``aggregate.csv`` (one row per setting), ``trials.csv`` (one row
per trial) and the plots of :mod:`loop.study.plots`.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import gammaln

from loop.campaign.progress import observed_values, summarize
from loop.config import CampaignConfig, parse_config
from loop.objectives import Objective, goal_satisfied
from loop.study.config import StudyConfig, TrialPlan, setting_label

__all__ = ["TableTruth", "TrialRecord", "aggregate_study", "band", "expected_best_of", "load_truth", "trial_status"]

log = logging.getLogger(__name__)

LEVELS = (0.5, 0.8, 1.0)


def band(values: Sequence[float]) -> dict[str, float | None]:
    """``{"median", "p5", "p95", "n"}`` over the finite values (None when there are none)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return {"median": None, "p5": None, "p95": None, "n": 0}
    p5, med, p95 = np.percentile(x, [5, 50, 95])
    return {"median": float(med), "p5": float(p5), "p95": float(p95), "n": int(x.size)}


def _utility(obj: Objective, v: float) -> float:
    return -obj.distance(v) if obj.goal == "target" else obj.sign * v


def expected_best_of(utilities: np.ndarray, i: int) -> float:
    """``E[max]`` of ``i`` draws without replacement from ``utilities`` (length ``N``, ``1 <= i <= N``)."""
    u = np.sort(np.asarray(utilities, dtype=float))
    n = u.size
    j = np.arange(1, n + 1)
    ok = j >= i
    logw = np.full(n, -np.inf)
    jj = j[ok]
    logw[ok] = gammaln(jj) - gammaln(i) - gammaln(jj - i + 1) - (gammaln(n + 1) - gammaln(i + 1) - gammaln(n - i + 1))
    return float(np.sum(np.exp(logw) * u))


@dataclass
class TableTruth:
    """The known answer of a table lab: design ids, per-design means, and the target set."""

    ids: list[str]
    values: dict[str, np.ndarray]
    targets: set[str]
    rule: str

    @property
    def n(self) -> int:
        return len(self.ids)


def load_truth(config: CampaignConfig) -> TableTruth | None:
    """Truth of a ``table`` lab (None for other labs, or when no design has a finite value)."""
    if config.lab is None or config.lab.kind != "table":
        return None
    from loop.tables import load_design_table

    opts = config.lab.options
    outputs: dict[str, str] = dict(opts["outputs"])
    table = load_design_table(
        opts["path"], inputs=opts.get("inputs"), exclude=list(outputs.values()), cif_column=opts.get("cif_column"), generator="table"
    )
    values = {name: table.truth(col) for name, col in outputs.items()}
    ids = [d.id for d in table.designs]
    if config.goal is not None:
        hits = {
            cid
            for k, cid in enumerate(ids)
            if goal_satisfied(config.goal, {n: float(v[k]) for n, v in values.items() if math.isfinite(v[k])})
        }
        return TableTruth(ids, values, hits, "designs whose table means meet the goal")
    obj = config.objectives[0]
    if obj.name not in values:
        return None
    v = values[obj.name]
    finite = np.flatnonzero(np.isfinite(v))
    if finite.size == 0:
        return None
    k = max(1, math.ceil(0.05 * finite.size))
    order = finite[np.argsort([-_utility(obj, float(v[i])) for i in finite], kind="stable")]
    return TableTruth(ids, values, {ids[i] for i in order[:k]}, f"top 5 % of designs by {obj.name} (k={k})")


@dataclass
class TrialRecord:
    """One trial's figures and curves, read from its ledger."""

    plan: TrialPlan
    status: str | None
    experiments: int = 0
    first_goal_hit_at: int | None = None
    best: dict[str, float] = field(default_factory=dict)
    hypervolume: float | None = None
    best_curves: dict[str, list[float]] = field(default_factory=dict)
    tested: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in ("finished", "cancelled")


def trial_status(directory: str | Path, url: str | None = None) -> str | None:
    """The ledger's campaign status (``created``, ``running``, ``finished``, ...); None if no campaign."""
    from loop.store import Ledger

    directory = Path(directory)
    if url is None and not (directory / "ledger.db").exists():
        return None
    ledger = Ledger.for_directory(directory, url, migrate=url is not None)
    try:
        if ledger.get_meta("config") is None:
            return None
        return str(ledger.get_meta("status", "created"))
    finally:
        ledger.close()


def read_trial(plan: TrialPlan, config: CampaignConfig) -> TrialRecord:
    from loop.store import Ledger

    url = config.ledger.url
    status = trial_status(plan.directory, url)
    rec = TrialRecord(plan=plan, status=status)
    if status is None:
        return rec
    ledger = Ledger.for_directory(plan.directory, url, migrate=False)
    try:
        observations = ledger.observations()
    finally:
        ledger.close()
    s = summarize(config.objectives, config.goal, observations)
    rec.experiments, rec.first_goal_hit_at, rec.best, rec.hypervolume = len(observations), s.first_goal_hit_at, s.best, s.hypervolume
    rec.tested = [o.candidate_id for o in observations]
    for obj in config.objectives:
        best, curve = None, []
        for o in observations:
            v = observed_values(o).get(obj.name) if o.success else None
            if v is not None and (best is None or _utility(obj, v) > _utility(obj, best)):
                best = v
            curve.append(float("nan") if best is None else best)
        rec.best_curves[obj.name] = curve
    return rec


def pad(curves: Sequence[Sequence[float]], length: int) -> np.ndarray:
    """Stack curves as ``(n_curves, length)``, carrying each curve's last value forward."""
    out = np.full((len(curves), length), np.nan)
    for r, c in enumerate(curves):
        c = list(c)[:length]
        if c:
            out[r, : len(c)] = c
            out[r, len(c) :] = c[-1]
    return out


def top_curve(tested: Sequence[str], truth: TableTruth, length: int) -> np.ndarray:
    """``T(i)`` for ``i = 1..length`` (carried forward after the campaign stopped)."""
    k = len(truth.targets)
    found, seen, out = 0, set(), []
    for cid in tested[:length]:
        if cid in truth.targets and cid not in seen:
            found += 1
        seen.add(cid)
        out.append(found / k)
    return pad([out], length)[0] if out else np.zeros(length)


def curve_band(rows: np.ndarray) -> dict[str, list[float | None]]:
    """Per-column median and 5-95 % band of ``rows`` (``n_seeds x length``), NaNs ignored."""
    out: dict[str, list[float | None]] = {"median": [], "p5": [], "p95": []}
    for col in rows.T:
        b = band(col.tolist())
        for key in out:
            out[key].append(b[key])  # type: ignore[arg-type]
    return out


def aggregate_study(study: StudyConfig, out: Path, plans: Sequence[TrialPlan] | None = None, *, plots: bool = True) -> dict[str, Any]:
    """Read every trial, write the tables (and plots); returns the aggregate as a dict."""
    out = Path(out)
    plans = list(plans) if plans is not None else study.trials(out)
    configs = {p.trial_id: parse_config(p.config, source=f"trial {p.trial_id}") for p in plans}
    records = [read_trial(p, configs[p.trial_id]) for p in plans]
    base = configs[plans[0].trial_id] if plans else None
    truth = load_truth(base) if base is not None else None
    if truth is not None and not truth.targets:
        log.warning("study %s: no design of the table meets the target rule; no Top%% curves", study.name)
        truth = None
    if truth is not None and records and not any(set(r.tested) & set(truth.ids) for r in records if r.tested):
        log.warning("study %s: the tested candidates are not designs of the lab's table; no Top%% curves", study.name)
        truth = None
    length = max([r.experiments for r in records] + [1])
    objectives = base.objectives if base is not None else []
    settings: list[dict[str, Any]] = []
    by_setting: dict[int, list[TrialRecord]] = {}
    for r in records:
        by_setting.setdefault(r.plan.setting_index, []).append(r)
    metrics: dict[str, float] = {}
    for idx, recs in sorted(by_setting.items()):
        cfg = configs[recs[0].plan.trial_id]
        cap = cfg.budget.experiments or max(r.experiments for r in recs)
        done = [r for r in recs if r.status is not None]
        entry: dict[str, Any] = {
            "index": idx,
            "setting": setting_label(recs[0].plan.setting),
            "overrides": recs[0].plan.setting,
            "baseline": study.is_baseline(recs[0].plan.setting, base),
            "seeds": [r.plan.seed for r in recs],
            "trials": len(recs),
            "finished": sum(r.finished for r in recs),
            "experiments": band([r.experiments for r in done]),
            "best": {o.name: band([r.best.get(o.name, math.nan) for r in done]) for o in objectives},
        }
        if cfg.goal is not None:
            to_goal = [r.first_goal_hit_at if r.first_goal_hit_at is not None else cap + 1 for r in done]
            entry["experiments_to_goal"] = band(to_goal)
            entry["goal_reached"] = sum(r.first_goal_hit_at is not None for r in done) / max(len(done), 1)
        if len(objectives) > 1:
            entry["hypervolume"] = band([r.hypervolume if r.hypervolume is not None else math.nan for r in done])
        entry["curves"] = {o.name: curve_band(pad([r.best_curves.get(o.name, []) for r in done], length)) for o in objectives} if done else {}
        if truth is not None and done:
            tops = np.stack([top_curve(r.tested, truth, length) for r in done])
            entry["top_curve"] = curve_band(tops)
            entry["top_at_budget"] = band([top_curve(r.tested, truth, max(r.experiments, 1))[-1] for r in done])
            for p in LEVELS:
                ns = [int(np.flatnonzero(row >= p - 1e-12)[0]) + 1 if (row >= p - 1e-12).any() else cap + 1 for row in tops]
                entry[f"n{int(p * 100)}"] = band(ns)
        settings.append(entry)
        for o in objectives:
            if entry["best"][o.name]["median"] is not None:
                metrics[f"s{idx:03d}_best_{o.name}_median"] = entry["best"][o.name]["median"]
        if entry.get("experiments_to_goal", {}).get("median") is not None:
            metrics[f"s{idx:03d}_experiments_to_goal_median"] = entry["experiments_to_goal"]["median"]
        if entry.get("top_at_budget", {}).get("median") is not None:
            metrics[f"s{idx:03d}_top_at_budget_median"] = entry["top_at_budget"]["median"]
        if entry.get("n80", {}).get("median") is not None:
            metrics[f"s{idx:03d}_n80_median"] = entry["n80"]["median"]
    result: dict[str, Any] = {
        "study": study.name,
        "directory": str(out),
        "trials": len(records),
        "finished": sum(r.finished for r in records),
        "complete": all(r.finished for r in records),
        "seeds": list(study.seeds),
        "objectives": [o.model_dump(mode="json") for o in objectives],
        "goal": base.goal.model_dump(mode="json") if base is not None and base.goal is not None else None,
        "settings": settings,
        "metrics": metrics,
    }
    if truth is not None:
        result["truth"] = {"n_designs": truth.n, "k": len(truth.targets), "rule": truth.rule}
        result["random_expected"] = _random_expectation(truth, objectives, length)
    out.mkdir(parents=True, exist_ok=True)
    (out / "aggregate.json").write_text(json.dumps(result, indent=1))
    _write_tables(out, result, records)
    if plots and records:
        from loop.study.plots import best_so_far_figure, top_percent_figure

        fig = best_so_far_figure(result)
        if fig is not None:
            fig.savefig(out / "best_so_far.png", dpi=120)
        fig = top_percent_figure(result)
        if fig is not None:
            fig.savefig(out / "top_percent.png", dpi=120)
    return result


def _random_expectation(truth: TableTruth, objectives: Sequence[Objective], length: int) -> dict[str, Any]:
    i = np.arange(1, length + 1)
    out: dict[str, Any] = {"top_curve": np.minimum(i / truth.n, 1.0).tolist(), "best": {}}
    for obj in objectives:
        v = truth.values.get(obj.name)
        if v is None or obj.goal == "target":
            continue
        u = np.array([_utility(obj, float(x)) for x in v if math.isfinite(x)])
        out["best"][obj.name] = [obj.sign * expected_best_of(u, int(min(n, u.size))) for n in i]
    return out


def _write_tables(out: Path, result: dict[str, Any], records: Sequence[TrialRecord]) -> None:
    scalar_keys = ["experiments", "experiments_to_goal", "hypervolume", "top_at_budget", "n50", "n80", "n100"]
    rows = []
    for s in result["settings"]:
        row: dict[str, Any] = {"setting": s["setting"], "baseline": s["baseline"], "trials": s["trials"], "finished": s["finished"]}
        for key in scalar_keys:
            if key in s:
                for stat in ("median", "p5", "p95"):
                    row[f"{key}_{stat}"] = s[key][stat]
        if "goal_reached" in s:
            row["goal_reached"] = s["goal_reached"]
        for name, b in s["best"].items():
            for stat in ("median", "p5", "p95"):
                row[f"best_{name}_{stat}"] = b[stat]
        rows.append(row)
    _write_csv(out / "aggregate.csv", rows)
    trial_rows = [
        {
            "trial_id": r.plan.trial_id,
            "setting": r.plan.label,
            "seed": r.plan.seed,
            "status": r.status,
            "experiments": r.experiments,
            "first_goal_hit_at": r.first_goal_hit_at,
            **{f"best_{k}": v for k, v in r.best.items()},
        }
        for r in records
    ]
    _write_csv(out / "trials.csv", trial_rows)


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
