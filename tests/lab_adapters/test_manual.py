from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner

from lab_adapters.manual import observe
from loop.campaign.control import send_control
from loop.campaign.engine import Campaign
from loop.config import parse_config
from tests.conftest import p3ht_config


def test_people_enter_results_while_the_campaign_waits(tmp_path, p3ht_csv):
    cfg = p3ht_config(p3ht_csv, requests={"poll_interval_s": 0.05}, budget={"experiments": 2, "batch_size": 2})
    cfg["lab"] = {"kind": "manual", "options": {"properties": ["conductivity"]}}
    d = tmp_path / "c"
    campaign = Campaign.create(parse_config(cfg), d)
    t = threading.Thread(target=campaign.run)
    t.start()
    try:
        worklist = d / "stages" / "lab" / "worklist.csv"
        end = time.time() + 30
        while not worklist.exists() and time.time() < end:
            time.sleep(0.05)
        time.sleep(0.2)
        ids = [line.split(",")[0] for line in worklist.read_text().splitlines()[1:]]
        assert len(ids) == 2
        r = CliRunner().invoke(observe, [str(d), ids[0], "conductivity=512.5", "--uncertainty", "conductivity=3"])
        assert r.exit_code == 0, r.output
        bad = CliRunner().invoke(observe, [str(d), ids[1], "conductivity=lots"])
        assert bad.exit_code != 0 and "not a number" in str(bad.exception)
        again = CliRunner().invoke(observe, [str(d), ids[0], "conductivity=1"])
        assert "already has a result" in str(again.exception)
        r = CliRunner().invoke(observe, [str(d), ids[1], "--failed", "film peeled off"])
        assert r.exit_code == 0, r.output
        t.join(timeout=30)
        assert not t.is_alive()
    finally:
        if t.is_alive():
            send_control(d, "pause")
            t.join(timeout=10)
        campaign.close()
    with Campaign.open(d, lock=False) as c:
        obs = {o.request_id: o for o in c.ledger.observations()}
        assert obs[ids[0]].values["conductivity"].uncertainty == 3.0
        assert not obs[ids[1]].success and obs[ids[1]].failure_reason == "film peeled off"
        assert c.ledger.get_meta("status") == "finished"


def test_observe_needs_a_campaign(tmp_path):
    from loop.errors import LedgerError

    r = CliRunner().invoke(observe, [str(tmp_path), "r1", "y=1"])
    assert isinstance(r.exception, LedgerError)
    pytest.importorskip("lab_adapters.xrd")
