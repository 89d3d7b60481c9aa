from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from loop.cli.main import cli
from loop.cli.plugins import attach_plugin_commands
from tests.conftest import p3ht_config


@pytest.fixture(scope="module")
def app():
    attach_plugin_commands(cli)
    return cli


def test_run_status_export(tmp_path, p3ht_csv, app):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(p3ht_config(p3ht_csv)))
    d = tmp_path / "camp"
    r = CliRunner().invoke(app, ["run", str(cfg), "--dir", str(d), "--set", "budget.experiments=8", "-q"])
    assert r.exit_code == 0, r.output
    assert (d / "campaign.log").exists()
    r = CliRunner().invoke(app, ["status", str(d), "--json"])
    s = json.loads(r.output)
    assert s["experiments_done"] == 8 and s["status"] == "finished"
    r = CliRunner().invoke(app, ["status", str(d)])
    assert "best candidates" in r.output and "conductivity" in r.output
    r = CliRunner().invoke(app, ["export", str(d), str(tmp_path / "out")])
    assert r.exit_code == 0
    obs = json.loads((tmp_path / "out" / "ledger.json").read_text())["observations"]
    assert len(obs) == 8 and (tmp_path / "out" / "requests.csv").exists()
    # a second run into the same folder is refused with a pointer to resume
    r = CliRunner().invoke(app, ["run", str(cfg), "--dir", str(d), "-q"])
    assert r.exit_code == 2 and "crystaloop resume" in r.output


def test_validate_reports_every_problem(tmp_path, p3ht_csv, app):
    data = p3ht_config(p3ht_csv)
    data["budget"]["batch_size"] = -1
    data["lab"]["options"]["latency_s"] = "x"
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(data))
    r = CliRunner().invoke(app, ["validate", str(cfg)])
    assert r.exit_code == 2
    assert "2 problem(s)" in r.output and "budget.batch_size" in r.output and "lab.options.latency_s" in r.output
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(p3ht_config(p3ht_csv)))
    assert CliRunner().invoke(app, ["validate", str(good)]).exit_code == 0


def test_missing_data_file_is_one_line_error(tmp_path, app):
    data = p3ht_config(tmp_path / "nowhere.csv")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    r = CliRunner().invoke(app, ["run", str(cfg), "--dir", str(tmp_path / "d"), "-q"])
    assert r.exit_code == 2
    assert "nowhere.csv: file not found" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "d" / "ledger.db").exists()  # nothing half-made is left behind
