"""Studies: trial expansion, aggregation, a real Ray Tune study that is killed and resumed."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from loop.errors import ConfigError
from loop.study import StudyError, aggregate_study, load_study, parse_study, run_study, trial_status
from loop.study.aggregate import band, expected_best_of

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "experiments" / "demo.yaml"


def demo_study(tmp_path: Path, **extra: object) -> dict:
    data = {
        "name": "tiny",
        "campaign": str(DEMO),
        "overrides": ["lab.options.latency_s=0", "budget.batch_size=4", "ranker.kind=random"],
        "grid": {"budget.experiments": [4, 12]},
        "seeds": 2,
        "output": str(tmp_path / "study"),
    }
    data.update(extra)
    return data


# -- configuration ------------------------------------------------------------------------
def test_settings_are_grid_times_random_draws_and_reproducible(tmp_path: Path) -> None:
    raw = demo_study(
        tmp_path,
        grid={"ranker.kind": ["random", "greedy"], "budget.batch_size": [2, 4]},
        random={"samples": 3, "space": {"lab.options.noise_sd": {"loguniform": [0.01, 0.1]}}, "seed": 5},
        seeds=[3, 7],
    )
    study = parse_study(raw)
    settings = study.settings()
    assert len(settings) == 2 * 2 * 3
    assert [s["ranker.kind"] for s in settings[::3]] == ["random", "random", "greedy", "greedy"]
    assert all(0.01 <= s["lab.options.noise_sd"] <= 0.1 for s in settings)
    assert settings == parse_study(raw).settings()  # same draws every time: resume finds its trials
    trials = study.trials()
    assert len(trials) == 24 and len({t.trial_id for t in trials}) == 24
    t = trials[5]
    assert t.config["seed"] == t.seed and t.config["ranker"]["kind"] == t.setting["ranker.kind"]
    assert t.config["lab"]["options"]["noise_sd"] == t.setting["lab.options.noise_sd"]
    assert t.config["budget"]["batch_size"] == t.setting["budget.batch_size"]
    assert t.config["tracking"]["uri"].startswith("sqlite:///") and t.config["tracking"]["experiment"] == "tiny"
    assert Path(t.directory) == (tmp_path / "study" / "trials" / t.trial_id).resolve()
    assert study.is_baseline({"ranker.kind": "random"}) and not study.is_baseline({"ranker.kind": "greedy"})


def test_study_round_trips_through_yaml(tmp_path: Path) -> None:
    study = parse_study(demo_study(tmp_path, random={"samples": 2, "space": {"budget.batch_size": {"randint": [1, 4]}}}))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study.model_dump(mode="json")))
    again = load_study(path)
    assert again.model_dump() == study.model_dump()
    assert [t.config for t in again.trials()] == [t.config for t in study.trials()]


def test_bad_settings_name_the_setting_and_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"setting 1 \(ranker.kind=nope\).*ranker.kind"):
        parse_study(demo_study(tmp_path, grid={"ranker.kind": ["random", "nope"]})).trials()
    with pytest.raises(ConfigError, match="seed"):
        parse_study(demo_study(tmp_path, grid={"seed": [1, 2]}))
    with pytest.raises(ConfigError, match="exactly one"):
        parse_study(demo_study(tmp_path, random={"samples": 1, "space": {"seed": {"uniform": [0, 1], "choice": [1]}}}))
    with pytest.raises(ConfigError, match="campaign file"):
        parse_study(demo_study(tmp_path, campaign="missing.yaml")).trials()


def test_every_study_in_experiments_expands() -> None:
    files = sorted((REPO / "experiments" / "studies").glob("*.yaml"))
    assert files
    for path in files:
        try:
            trials = load_study(path).trials()
        except ConfigError as exc:
            if "not found" in str(exc) or "does not exist" in str(exc):
                pytest.skip(f"data for {path.name} missing: {exc}")
            raise
        assert trials, path


# -- aggregation maths --------------------------------------------------------------------
def test_expected_best_of_matches_enumeration() -> None:
    u = np.array([3.0, -1.0, 0.5, 2.0, 2.0, 7.0])
    for i in range(1, u.size + 1):
        exact = np.mean([max(c) for c in itertools.combinations(u, i)])
        assert expected_best_of(u, i) == pytest.approx(exact)


def test_band_ignores_missing_values() -> None:
    b = band([1.0, 2.0, 3.0, math.nan, None])  # type: ignore[list-item]
    assert b["median"] == 2.0 and b["n"] == 3 and b["p5"] == pytest.approx(1.1) and b["p95"] == pytest.approx(2.9)
    assert band([])["median"] is None


@pytest.mark.slow
def test_table_study_runs_locally_and_aggregates_top_percent(tmp_path: Path, p3ht_csv: Path) -> None:
    raw = {
        "name": "p3ht-tiny",
        "campaign": str(REPO / "experiments" / "p3ht.yaml"),
        "overrides": ["budget.experiments=12", "lab.options.latency_s=0"],
        "grid": {"ranker.kind": ["random", "greedy"]},
        "seeds": 2,
        "tracking": {"enabled": False},
    }
    study = parse_study(raw)
    outcome = run_study(study, output=tmp_path / "p", executor="local")
    assert outcome.finished and sorted(outcome.ran) == sorted(t.trial_id for t in study.trials())
    agg = json.loads((tmp_path / "p" / "aggregate.json").read_text())
    assert agg["complete"] and agg["truth"]["k"] == math.ceil(0.05 * agg["truth"]["n_designs"])
    random_setting, greedy = agg["settings"]
    assert random_setting["baseline"] and not greedy["baseline"]
    for s in agg["settings"]:
        top = [v for v in s["top_curve"]["median"]]
        assert len(top) == 12 and all(a <= b + 1e-12 for a, b in itertools.pairwise(top)) and 0 <= top[-1] <= 1
        best = s["curves"]["conductivity"]["median"]
        assert all(a <= b for a, b in itertools.pairwise(best))  # maximised: best so far never falls
        assert s["best"]["conductivity"]["median"] == pytest.approx(best[-1])
        assert s["n80"]["median"] is not None and s["experiments"]["median"] == 12
        assert s["top_at_budget"]["median"] == pytest.approx(top[-1])
    exp_top = agg["random_expected"]["top_curve"]
    assert exp_top[0] == pytest.approx(1 / agg["truth"]["n_designs"])
    rows = (tmp_path / "p" / "aggregate.csv").read_text().splitlines()
    assert len(rows) == 3 and "n80_median" in rows[0]
    assert (tmp_path / "p" / "best_so_far.png").stat().st_size > 10_000
    assert (tmp_path / "p" / "top_percent.png").stat().st_size > 10_000
    with pytest.raises(StudyError, match="--resume"):
        run_study(study, output=tmp_path / "p", executor="local")


# -- a real Ray Tune study: killed, resumed, logged -----------------------------------------
@pytest.mark.slow
def test_ray_study_resumes_after_a_kill_and_logs_child_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    import ray

    study = parse_study(demo_study(tmp_path, num_cpus=2, max_concurrent=2, seeds=1))
    plans = study.trials()
    # Every campaign process is killed (SIGKILL) the 2nd time it logs a round: the 1-round
    # trial of setting 0 finishes, the 3-round trial of setting 1 dies mid-campaign.
    monkeypatch.setenv("CRYSTALOOP_CRASH_AT", "round_logged:2")
    first = run_study(study)
    assert not ray.is_initialized()
    assert list(first.failed) == ["s001-seed0"] and first.ran == ["s000-seed0"]
    assert trial_status(plans[1].directory) == "running"
    finished_mtime = Path(plans[0].directory, "ledger.db").stat().st_mtime_ns
    assert not first.aggregate["complete"]

    monkeypatch.delenv("CRYSTALOOP_CRASH_AT")
    with pytest.raises(StudyError, match="--resume"):
        run_study(study)
    second = run_study(study, resume=True)
    assert not ray.is_initialized()
    assert second.finished and second.skipped == ["s000-seed0"] and second.ran == ["s001-seed0"]
    assert Path(plans[0].directory, "ledger.db").stat().st_mtime_ns == finished_mtime  # not touched

    from loop.store import Ledger

    for p in plans:
        ledger = Ledger.for_directory(p.directory, migrate=False)
        reqs = ledger.requests()
        assert len(reqs) == len({r.request_id for r in reqs}) == p.setting["budget.experiments"]  # none twice, none lost
        assert ledger.observation_count() == p.setting["budget.experiments"]
        ledger.close()

    agg = second.aggregate
    assert agg["complete"] and [s["experiments"]["median"] for s in agg["settings"]] == [4, 12]
    client = mlflow.MlflowClient(tracking_uri=study.tracking_uri(second.directory))
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == second.parent_run_id]
    assert len(parent) == 1 and parent[0].info.run_id == first.parent_run_id == second.parent_run_id
    assert parent[0].info.status == "FINISHED" and "s001_best_y_median" in parent[0].data.metrics
    assert len(children) == 2 and all(r.info.status == "FINISHED" for r in children)  # resumed runs, not new ones
    assert {r.data.tags["crystaloop.trial"] for r in children} == {p.trial_id for p in plans}
    assert sorted(r.data.metrics["experiments_done"] for r in children) == [4, 12]

    third = run_study(study, resume=True)  # nothing left to run: no Ray at all
    assert third.ran == [] and len(third.skipped) == 2
    assert aggregate_study(study, second.directory)["settings"] == agg["settings"]


# -- commands -----------------------------------------------------------------------------
@pytest.mark.slow
def test_study_command_runs_resumes_and_writes_json(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from loop.study.cli import study

    path = tmp_path / "s.yaml"
    raw = demo_study(tmp_path, grid={}, seeds=1, tracking={"enabled": False})
    raw["overrides"] = [*raw["overrides"], "budget.experiments=4"]
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "agg.json"
    result = CliRunner().invoke(study, [str(path), "--local", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "1/1 trial(s) finished" in result.output and "base" in result.output
    agg = json.loads(out.read_text())
    assert agg["ran"] == ["s000-seed0"] and agg["settings"][0]["experiments"]["median"] == 4
    again = CliRunner().invoke(study, [str(path), "--local"])
    assert again.exit_code != 0 and "--resume" in again.output
    resumed = CliRunner().invoke(study, [str(path), "--local", "--resume", "--json", str(out)])
    assert resumed.exit_code == 0 and json.loads(out.read_text())["skipped"] == ["s000-seed0"]


def test_loop_overhead_splits_round_time_into_stages_and_loop(tmp_path: Path) -> None:
    from loop.study.bench import measure_loop_overhead

    oh = measure_loop_overhead(DEMO, ["ranker.kind=random", "budget.experiments=8", "tracking.enabled=false"], tmp_path)
    assert oh["rounds"] == 2 and oh["experiments"] == 8
    assert set(oh["stage_s"]) >= {"ranker", "generator", "lab"}
    assert 0 < oh["loop_overhead_fraction"] < 1 and oh["loop_s"] == pytest.approx(oh["rounds_s"] - sum(oh["stage_s"].values()), abs=0.01)
    assert oh["ledger_bytes"] > 0 and oh["mlflow_bytes"] == 0


@pytest.mark.slow
def test_ray_study_warms_its_workers_before_the_trials(tmp_path: Path) -> None:
    import ray

    raw = demo_study(tmp_path, grid={}, seeds=3, num_cpus=2, max_concurrent=2, warm_up_workers=True, tracking={"enabled": False})
    raw["overrides"] = [*raw["overrides"], "budget.experiments=4"]
    outcome = run_study(parse_study(raw))
    assert not ray.is_initialized()
    assert outcome.finished and sorted(outcome.ran) == ["s000-seed0", "s000-seed1", "s000-seed2"]
    assert sorted(outcome.results) == sorted(outcome.ran)  # the warm-up campaigns are not trials
    assert all(r["process_campaigns"] >= 1 for r in outcome.results.values())  # every trial ran on a warm worker
    assert not (outcome.directory / "warmup").exists()
    assert outcome.aggregate["complete"] and outcome.aggregate["settings"][0]["experiments"]["median"] == 4
