"""Lab faults in the simulated lab, and how the campaign survives them."""

from __future__ import annotations

from collections import Counter

from lab_adapters.journal import LabJournal
from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.records import RequestStatus

B6 = {f"x{i}": [0.0, 1.0] for i in range(6)}


def faulty_config(**faults) -> dict:
    return {
        "name": "faulty",
        "seed": 3,
        "objectives": [{"name": "y", "goal": "minimize"}],
        "budget": {"experiments": 40, "batch_size": 4},
        "generator": {"kind": "sobol", "options": {"n": 256, "bounds": B6}},
        "lab": {
            "kind": "analytic",
            "options": {"bounds": B6, "latency_s": 100, "faults": faults},
        },
        "requests": {"timeout_s": 250, "resubmit": 1},
        "tracking": {"enabled": False},
    }


def test_every_fault_is_survived_and_every_request_ends_with_a_reason(tmp_path):
    cfg = parse_config(faulty_config(submit_failure_rate=0.3, lost_rate=0.15, duplicate_rate=0.2, delay_rate=0.2))
    with Campaign.create(cfg, tmp_path / "c") as c:
        c.run()
        reqs = c.ledger.requests()
        journal = LabJournal(tmp_path / "c" / "stages" / "lab" / "journal.jsonl")
        faults = Counter(e["kind"] for e in journal.entries("fault"))
        assert faults["submit_failure"] and faults["lost_result"] and faults["duplicate_result"]
        assert all(r.status.terminal for r in reqs)
        for r in reqs:
            if r.status is not RequestStatus.DONE:
                assert r.status_reason, r
        lost = [r for r in reqs if r.status is RequestStatus.ABANDONED]
        assert lost and all("no result after" in r.status_reason for r in lost)
        assert any(r.resubmission_of for r in reqs)  # lost experiments were tried again
        obs = c.ledger.observations()
        assert len({o.request_id for o in obs}) == len(obs)  # duplicates recorded once
        assert len(c.ledger.events("duplicate_result")) == faults["duplicate_result"]
        received = Counter(e["request_id"] for e in journal.entries("submit"))
        assert max(received.values()) == 1  # retried submits never reached the lab twice
