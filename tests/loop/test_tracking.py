from __future__ import annotations

import pytest

from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.tracking import flatten
from tests.conftest import p3ht_config


def test_flatten_params():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 1}]}) == {"a.b": "1", "a.c": "[1, 2]", "d.0.e": "1"}


@pytest.mark.slow
def test_campaign_run_is_in_mlflow_with_per_round_metrics(tmp_path, p3ht_csv):
    import mlflow

    cfg = parse_config(p3ht_config(p3ht_csv, tracking={"enabled": True}))
    d = tmp_path / "c"
    with Campaign.create(cfg, d) as c:
        c.run()
        run_id = c.ledger.get_meta("mlflow_run_id")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{d / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["budget.experiments"] == "12"
    history = client.get_metric_history(run_id, "experiments_done")
    assert sorted({m.step for m in history}) == [0, 1, 2, 3]
    best = client.get_metric_history(run_id, "best_conductivity")
    assert best and max(m.value for m in best) > 0
    arts = {a.path for a in client.list_artifacts(run_id)}
    assert "config.yaml" in arts and "rounds" in arts
    sel = client.list_artifacts(run_id, "rounds/0000")
    assert any(a.path.endswith("selections.csv") for a in sel)
    # resume continues the same run
    with Campaign.open(d) as c:
        c.run()
        assert c.ledger.get_meta("mlflow_run_id") == run_id
