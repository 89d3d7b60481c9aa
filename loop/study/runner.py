"""Running a study: every trial a full :class:`~loop.campaign.engine.Campaign`, as a Ray Tune trial.

::

    study dir/
      study.json            the study config, its trial ids and the MLflow parent run id
      mlflow.db, mlartifacts/   the study's MLflow store (unless tracking.uri names a server)
      trials/<trial_id>/    one campaign folder per trial (ledger.db, config.yaml, trial.json)
      tune/                 Ray Tune's own experiment folders
      aggregate.{csv,json}, trials.csv, best_so_far.png, top_percent.png

A trial is *finished* when its ledger says so (``status`` finished or cancelled); resuming
a study runs only the other trials: ones never started are created, interrupted ones are
continued with :meth:`Campaign.open(dir).run() <loop.campaign.engine.Campaign.open>`, which
neither repeats nor loses a lab experiment. Ray is started locally (or joined through
``ray_address`` / ``RAY_ADDRESS``) for the study and stopped after it, so no Ray state
outlives a study. Each trial is an MLflow child run (tag ``mlflow.parentRunId``) of one
study run that carries the aggregate figures and plots.

>>> outcome = run_study(load_study("experiments/studies/demo.yaml"))
>>> outcome.finished, outcome.aggregate["settings"][0]["best"]      # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loop.errors import ConfigError, CrystaloopError
from loop.study.aggregate import aggregate_study, trial_status
from loop.study.config import StudyConfig, TrialPlan
from loop.tracking import flatten, mlflow_client

__all__ = ["StudyError", "StudyOutcome", "run_study", "run_trial"]

log = logging.getLogger(__name__)

STUDY_FILE = "study.json"
TRIAL_FILE = "trial.json"
DONE = ("finished", "cancelled")
Executor = Literal["ray", "local"]


class StudyError(CrystaloopError):
    """A study could not run or finish (the message says how to resume)."""


@dataclass
class StudyOutcome:
    """What a call of :func:`run_study` did."""

    directory: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent_run_id: str | None = None
    aggregate: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def finished(self) -> bool:
        return not self.failed


# -- one trial (runs inside a Ray worker, or in this process) ----------------------------
def _start_child_run(campaign: Any, plan: TrialPlan, parent_run_id: str) -> None:
    """Create the trial's MLflow run as a child of the study run, before the campaign starts it."""
    from mlflow.entities import Param

    tracker = campaign.tracker
    client = tracker.client
    exp = client.get_experiment_by_name(tracker.experiment)
    if exp is None:
        raise StudyError(f"MLflow experiment {tracker.experiment!r} is missing at {tracker.uri}; the study run creates it")
    tags = {
        "mlflow.parentRunId": parent_run_id,
        "crystaloop.campaign": campaign.config.name,
        "crystaloop.trial": plan.trial_id,
        "crystaloop.setting": plan.label,
        "crystaloop.seed": str(plan.seed),
    }
    run = client.create_run(exp.experiment_id, run_name=plan.trial_id, tags=tags)
    params = flatten(campaign.config.model_dump(mode="json"))
    params.update({"study.setting": plan.label, "study.seed": str(plan.seed)})
    items = list(params.items())
    for i in range(0, len(items), 100):
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in items[i : i + 100]])
    client.log_text(run.info.run_id, campaign.config.to_yaml(), "config.yaml")
    campaign.ledger.set_meta("mlflow_run_id", run.info.run_id)


_CAMPAIGNS_IN_PROCESS = 0  # campaigns run_trial has run in this process (a warm worker has run one before)


def run_trial(plan: TrialPlan | dict[str, Any], parent_run_id: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Run (or resume, or just read back) one trial's campaign; returns its final figures.

    Returns ``{"trial_id", "status", "ran", "wall_s", "started_at", "finished_at",
    "process_campaigns", <summary metrics>}`` (epoch seconds for the two times): ``ran`` is False
    when the ledger already said the campaign had finished; ``process_campaigns`` counts the
    campaigns this process ran before this one (0: its ``wall_s`` includes the imports).
    """
    global _CAMPAIGNS_IN_PROCESS
    from loop.campaign.engine import Campaign
    from loop.config import parse_config

    plan = TrialPlan.model_validate(plan)
    if threads:
        import torch

        torch.set_num_threads(max(1, threads))
    t0, started_at = time.perf_counter(), time.time()
    directory = Path(plan.directory)
    url = (plan.config.get("ledger") or {}).get("url")
    status = trial_status(directory, url)
    ran = status not in DONE
    if status is None:  # never started, or killed before the campaign was stored: start afresh
        if directory.exists():
            for leftover in [*directory.glob("ledger.db*"), directory / "config.yaml", directory / "stages"]:
                shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / TRIAL_FILE).write_text(json.dumps(plan.model_dump(mode="json"), indent=1))
        config = parse_config(plan.config, source=f"trial {plan.trial_id}")
        campaign = Campaign.create(config, directory)
    else:
        campaign = Campaign.open(directory, url=url)
    with campaign:
        # a new trial, or one killed before its child run was stored, gets its child run now
        if ran and parent_run_id is not None and campaign.config.tracking.enabled and campaign.ledger.get_meta("mlflow_run_id") is None:
            _start_child_run(campaign, plan, parent_run_id)
        if ran:
            log.info("trial %s: %s", plan.trial_id, "starting" if status is None else f"resuming ({status})")
            summary = campaign.run()
        else:
            summary = campaign.summary()
        final = str(campaign.ledger.get_meta("status"))
    before, _CAMPAIGNS_IN_PROCESS = _CAMPAIGNS_IN_PROCESS, _CAMPAIGNS_IN_PROCESS + int(ran)
    out: dict[str, Any] = {
        "trial_id": plan.trial_id,
        "process_campaigns": before,
        "status": final,
        "ran": ran,
        "wall_s": time.perf_counter() - t0,
        "started_at": started_at,
        "finished_at": time.time(),
    }
    out.update(summary.metrics())
    return out


def _trainable(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable: one trial, one report."""
    from ray import tune

    spec = config["trial"]
    if spec.get("warm_tracking"):  # a warm-up trial also opens the study's MLflow store (schema check, engine)
        from loop.tracking import mlflow_client

        mlflow_client(spec["warm_tracking"]).search_experiments(max_results=1)
    tune.report(run_trial(spec["plan"], spec.get("parent"), spec.get("threads")))


def _trial_name(trial: Any) -> str:
    return str(trial.config["trial"]["plan"]["trial_id"])


# -- the study ------------------------------------------------------------------------
def _load_state(out: Path) -> dict[str, Any] | None:
    path = out / STUDY_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _save_state(out: Path, state: dict[str, Any]) -> None:
    tmp = out / f".{STUDY_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(out / STUDY_FILE)


def _parent_run(study: StudyConfig, out: Path, state: dict[str, Any]) -> tuple[Any, str] | None:
    """The study's MLflow run (created once; reopened on resume)."""
    if not study.tracking.enabled:
        return None
    from mlflow.entities import Param

    uri = study.tracking_uri(out)
    client = mlflow_client(uri)
    run_id = state.get("parent_run_id")
    if run_id:
        client.update_run(run_id, status="RUNNING")
        return client, run_id
    exp = client.get_experiment_by_name(study.experiment)
    if exp is None:
        artifacts = (out / "mlartifacts").resolve().as_uri() if uri.startswith("sqlite:") else None
        exp_id = client.create_experiment(study.experiment, artifact_location=artifacts)
    else:
        exp_id = exp.experiment_id
    run = client.create_run(exp_id, run_name=study.name, tags={"crystaloop.study": study.name})
    items = list(flatten(study.model_dump(mode="json")).items())
    for i in range(0, len(items), 100):
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in items[i : i + 100]])
    return client, run.info.run_id


def _run_local(plans: Sequence[TrialPlan], parent: str | None, outcome: StudyOutcome) -> None:
    for plan in plans:
        try:
            outcome.results[plan.trial_id] = run_trial(plan, parent)
        except Exception as exc:
            log.error("trial %s failed: %s", plan.trial_id, exc)
            outcome.failed[plan.trial_id] = f"{type(exc).__name__}: {exc}"
        else:
            outcome.ran.append(plan.trial_id)


WARMUP_PREFIX = "warmup-"


def _warm_up_plans(first: TrialPlan, out: Path, workers: int) -> list[TrialPlan]:
    """One 2-experiment campaign of ``first``'s setting per worker (``warmup-<k>``), tracked (when
    the study is) in an MLflow store of its own in the warm-up folder, deleted after the study."""
    config = json.loads(json.dumps(first.config))
    budget = config.setdefault("budget", {})
    budget["experiments"] = min(2, int(budget.get("experiments") or 2))
    budget["batch_size"] = min(int(budget.get("batch_size") or 1), budget["experiments"])
    if (config.get("tracking") or {}).get("enabled"):  # MLflow's code paths too, in a throwaway store of its own
        config["tracking"] = {"enabled": True, "uri": None, "experiment": "warm-up"}
    config.pop("ledger", None)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return [
        first.model_copy(update={"trial_id": f"{WARMUP_PREFIX}{k}", "directory": str(out / "warmup" / f"{stamp}-{os.getpid()}-{k}"), "config": config})
        for k in range(workers)
    ]


def _run_ray(study: StudyConfig, plans: Sequence[TrialPlan], parent: str | None, out: Path, outcome: StudyOutcome) -> None:
    from ray import tune

    from loop.runtime import start_ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune's per-trial CSV/JSON/TensorBoard result files duplicate what each trial's ledger
    # records, and cost every trial a few file writes in the driver: off by default.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    threads = max(1, int(study.resources.cpu))
    if study.ray_address or os.environ.get("RAY_ADDRESS"):
        if study.tracking.enabled and study.tracking_uri(out).startswith("sqlite:"):
            log.warning("study %s joins a Ray cluster but logs to SQLite in %s: use an MLflow server (tracking.uri)", study.name, out)
        if not study.ledger_url:
            log.warning("study %s joins a Ray cluster with SQLite ledgers: %s must be on a file system every node sees", study.name, out)
    with start_ray(study.ray_address, num_cpus=study.num_cpus) as info:
        import ray

        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        if study.resources.gpu > 0 and gpus <= 0:
            raise ConfigError(f"study {study.name}", [("resources.gpu", f"asks for {study.resources.gpu} GPU per trial; the Ray runtime has none")])
        if study.resources.cpu > info.num_cpus:
            raise ConfigError(
                f"study {study.name}", [("resources.cpu", f"asks for {study.resources.cpu} CPUs per trial; the Ray runtime has {info.num_cpus:g}")]
            )
        plans = list(plans)
        if study.warm_up_workers and plans:
            slots = max(1, min(study.max_concurrent, int(info.num_cpus // study.resources.cpu)))
            plans = [*_warm_up_plans(plans[0], out, slots), *plans]  # Tune starts trials in this order
        tracking = (plans[0].config.get("tracking") or {}) if plans else {}
        warm_uri = tracking.get("uri") if tracking.get("enabled") else None
        space = []
        for p in plans:
            warm = p.trial_id.startswith(WARMUP_PREFIX)
            entry = {"plan": p.model_dump(mode="json"), "parent": None if warm else parent, "threads": threads}
            if warm and warm_uri:
                entry["warm_tracking"] = warm_uri
            space.append(entry)
        trainable = tune.with_resources(_trainable, {"cpu": study.resources.cpu, "gpu": study.resources.gpu})
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(space)},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=study.max_concurrent,
                reuse_actors=True,
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name=f"run-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}",
                storage_path=str((out / "tune").resolve()),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        try:
            results = tuner.fit()
        finally:
            shutil.rmtree(out / "warmup", ignore_errors=True)
        for result in results:
            trial_id = result.config["trial"]["plan"]["trial_id"] if result.config else "?"
            if trial_id.startswith(WARMUP_PREFIX):
                if result.error is not None:
                    log.warning("worker warm-up %s failed (the trials still run): %s", trial_id, str(result.error).strip()[-300:])
                continue
            if result.error is not None:
                outcome.failed[trial_id] = str(result.error).strip().splitlines()[-1][:500]
            else:
                outcome.ran.append(trial_id)
                outcome.results[trial_id] = dict(result.metrics or {})


def run_study(
    study: StudyConfig,
    *,
    resume: bool = False,
    output: str | Path | None = None,
    executor: Executor = "ray",
    only: Sequence[str] | None = None,
) -> StudyOutcome:
    """Run every unfinished trial of ``study``, then aggregate and log the study run.

    ``resume`` is required when the study folder already holds this study; ``executor``
    ``"local"`` runs the trials one after another in this process (no Ray). ``only``
    restricts the call to these trial ids (the aggregate still covers every trial).
    """
    t0 = time.perf_counter()
    out = Path(output) if output is not None else study.output_dir()
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    plans = study.trials(out)
    state = _load_state(out)
    if state is not None and not resume:
        raise StudyError(f"{out} already holds study {state.get('name')!r}; run it with --resume to continue it")
    if state is not None and state.get("name") != study.name:
        raise StudyError(f"{out} holds study {state.get('name')!r}, not {study.name!r}; choose another output folder")
    state = state or {"name": study.name, "created": time.time()}
    state["config"] = study.model_dump(mode="json")
    state["trials"] = [p.trial_id for p in plans]
    _save_state(out, state)
    outcome = StudyOutcome(directory=out)
    parent = _parent_run(study, out, state)
    if parent is not None:
        state["parent_run_id"] = outcome.parent_run_id = parent[1]
        _save_state(out, state)
    todo = []
    for plan in plans:
        if only is not None and plan.trial_id not in only:
            continue
        status = trial_status(plan.directory, (plan.config.get("ledger") or {}).get("url"))
        if status in DONE:
            outcome.skipped.append(plan.trial_id)
        else:
            todo.append(plan)
    log.info("study %s: %d trial(s) to run, %d already finished", study.name, len(todo), len(outcome.skipped))
    try:
        if todo:
            if executor == "local":
                _run_local(todo, outcome.parent_run_id, outcome)
            else:
                _run_ray(study, todo, outcome.parent_run_id, out, outcome)
    except KeyboardInterrupt:
        if parent is not None:
            parent[0].set_terminated(parent[1], status="KILLED")
        raise StudyError(f"study {study.name} interrupted; continue it with `crystaloop study <STUDY.yaml> --resume` (folder {out})") from None
    outcome.aggregate = aggregate_study(study, out, plans)
    if parent is not None:
        _log_parent(parent[0], parent[1], outcome)
    outcome.wall_s = time.perf_counter() - t0
    if outcome.failed:
        log.error("study %s: %d trial(s) failed: %s", study.name, len(outcome.failed), outcome.failed)
    return outcome


def _log_parent(client: Any, run_id: str, outcome: StudyOutcome) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in outcome.aggregate.get("metrics", {}).items() if v is not None]
    try:
        for i in range(0, len(metrics), 500):
            client.log_batch(run_id, metrics=metrics[i : i + 500])
        for name in ("aggregate.json", "aggregate.csv", "trials.csv", "best_so_far.png", "top_percent.png"):
            path = outcome.directory / name
            if path.exists():
                client.log_artifact(run_id, str(path))
    except Exception as exc:  # tracking must never lose a finished study
        log.error("MLflow logging of the study run failed: %s", exc)
    finished = not outcome.failed and outcome.aggregate.get("complete", False)
    client.set_terminated(run_id, status="FINISHED" if finished else "FAILED")

