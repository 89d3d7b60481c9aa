"""Ask/tell campaigns are tracked like ``run``; each round records what it was ranked by, and
``status``, the report and MLflow show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.records import RankingNote
from tests.conftest import P3HT_OUT, p3ht_config


def test_note_text_puts_the_fallback_first_and_lists_skips():
    note = RankingNote(acquisition="qUCB over y", skipped=["output 'yield': constant"])
    assert note.text() == "qUCB over y; skips output 'yield': constant"
    fell = RankingNote(acquisition="botorch fallback", fallback="ranks by its prior weights (no observations)")
    assert fell.text() == "ranks by its prior weights (no observations)"
    assert RankingNote.model_validate_json(note.model_dump_json()) == note


@pytest.fixture(scope="module")
def ask_tell_campaign(tmp_path_factory, data_dir):
    """Two ask/tell rounds with the botorch ranker: a fallback, then qUCB with the constant 'yield' skipped."""
    from loop.tables import load_design_table

    csv = data_dir / "liang2021" / "P3HT_dataset.csv"
    cfg = p3ht_config(csv, tracking={"enabled": True}, ranker={"kind": "botorch"})
    del cfg["lab"]
    cfg["objectives"] = [{"name": "conductivity", "goal": "maximize"}, {"name": "yield", "goal": "maximize"}]
    truth = load_design_table(csv, exclude=[P3HT_OUT])
    by_id = {d.id: float(v) for d, v in zip(truth.designs, truth.truth(P3HT_OUT), strict=True)}
    d = tmp_path_factory.mktemp("ranking") / "ask"
    with Campaign.create(parse_config(cfg), d) as c:
        for _ in range(2):
            for r in c.suggest(4):
                c.observe(r.request_id, {"conductivity": by_id[r.candidate.id], "yield": 0.0})
        c.tracker.flush()
        rounds = [rnd for rnd, _ in c.ledger.rounds()]
        run_id = c.ledger.get_meta("mlflow_run_id")
    return d, rounds, run_id


@pytest.mark.slow
def test_each_round_records_its_acquisition_fallback_and_skips(ask_tell_campaign):
    _, rounds, _ = ask_tell_campaign
    first, second = (rnd.ranking for rnd in rounds)
    assert first.fallback == "random batch (no observations)"
    assert second.fallback is None and second.acquisition == "qUCB over conductivity (beta 0.25)"
    assert second.skipped == ["output 'yield': 4 observation(s), constant value 0: nothing to learn"]


@pytest.mark.slow
def test_ask_tell_is_tracked_in_mlflow_with_the_ranking(ask_tell_campaign):
    import mlflow

    d, _, run_id = ask_tell_campaign
    assert run_id is not None  # suggest() started the run, as run() does
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{d / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.data.params["objectives.1.name"] == "yield"
    assert run.data.tags["crystaloop.acquisition"] == "qUCB over conductivity (beta 0.25)"
    assert "skips output 'yield'" in run.data.tags["crystaloop.ranking"]
    done = client.get_metric_history(run_id, "experiments_done")
    assert max(m.value for m in done) == 8  # observe() logs the summary after each new result
    (d / "dl").mkdir(exist_ok=True)
    note = json.loads(Path(client.download_artifacts(run_id, "rounds/0000/ranking.json", str(d / "dl"))).read_text())
    assert note["fallback"] == "random batch (no observations)"


@pytest.mark.slow
def test_status_and_report_say_what_each_round_ranked_by(ask_tell_campaign, tmp_path):
    from loop.cli.main import cli
    from loop.report import build_report

    d, _, _ = ask_tell_campaign
    text = CliRunner().invoke(cli, ["status", str(d)], env={"COLUMNS": "400"}).output
    assert "random batch (no observations)" in text
    assert "qUCB over conductivity (beta 0.25); skips output 'yield'" in text
    s = json.loads(CliRunner().invoke(cli, ["status", str(d), "--json"]).output)
    assert s["acquisition"] == "qUCB over conductivity (beta 0.25)"
    assert [r["round"] for r in s["ranking"]] == [0, 1] and s["ranking"][0]["fallback"].startswith("random batch")
    html = build_report(d, tmp_path / "report", log_to_mlflow=False).path.read_text()
    assert "qUCB over conductivity (beta 0.25)" in html and "random batch (no observations)" in html
    assert "output &#x27;yield&#x27;: 4 observation(s), constant value 0" in html
