"""People in the loop: approve batches, pause, cancel — while the campaign runs."""

from __future__ import annotations

import threading
import time

from loop.campaign.control import send_control
from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.records import RequestStatus
from tests.conftest import p3ht_config


def wait_for(cond, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def rounds_in(d, state):
    from loop.store import Ledger

    led = Ledger.for_directory(d, migrate=False)
    try:
        return [r for r, s in led.rounds() if s == state]
    finally:
        led.close()


def test_batches_wait_for_approval_and_dropped_requests_are_abandoned(tmp_path, p3ht_csv):
    cfg = p3ht_config(p3ht_csv, requests={"approval": True, "poll_interval_s": 0.05}, budget={"experiments": 6, "batch_size": 3})
    d = tmp_path / "c"
    campaign = Campaign.create(parse_config(cfg), d)
    t = threading.Thread(target=campaign.run)
    t.start()
    try:
        wait_for(lambda: rounds_in(d, "awaiting_approval"))
        time.sleep(0.3)
        assert campaign.ledger.status_counts() == {"planned": 3}  # nothing reached the lab
        first = campaign.ledger.requests()[0].request_id
        send_control(d, "approve", drop=[first])
        wait_for(lambda: len(rounds_in(d, "awaiting_approval")) == 1 and len(campaign.ledger.rounds()) == 2)
        send_control(d, "approve")
        t.join(timeout=60)
        assert not t.is_alive()
    finally:
        campaign.close()
    with Campaign.open(d, lock=False) as c:
        reqs = c.ledger.requests()
        dropped = [r for r in reqs if r.status is RequestStatus.ABANDONED]
        assert [r.request_id for r in dropped] == [first] and dropped[0].status_reason == "rejected at approval"
        assert c.ledger.observation_count() == 5


def test_pause_then_resume_then_cancel(tmp_path, p3ht_csv):
    cfg = p3ht_config(p3ht_csv, requests={"approval": True, "poll_interval_s": 0.05})
    d = tmp_path / "c"
    campaign = Campaign.create(parse_config(cfg), d)
    t = threading.Thread(target=campaign.run)
    t.start()
    wait_for(lambda: rounds_in(d, "awaiting_approval"))
    send_control(d, "pause")
    t.join(timeout=30)
    assert campaign.ledger.get_meta("status") == "paused"
    campaign.close()
    send_control(d, "cancel")  # queued while nothing runs: applied on the next resume
    with Campaign.open(d) as c:
        c.run()
        assert c.ledger.get_meta("status") == "cancelled"
        assert all(r.status is RequestStatus.ABANDONED and r.status_reason == "cancelled by user" for r in c.ledger.requests())
