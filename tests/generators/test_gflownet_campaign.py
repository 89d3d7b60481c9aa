"""The GFlowNet inside a real campaign: proposals screened, ranked, observed, then fine-tuned
with the ranker's acquisition as reward; its checkpoint is restored on resume."""

from __future__ import annotations

import pytest

from loop.campaign.engine import Campaign
from loop.config import parse_config

pytestmark = pytest.mark.slow


def test_gflownet_generator_runs_in_an_ask_tell_campaign(tmp_path):
    cfg = {
        "name": "gfn",
        "seed": 1,
        "objectives": [{"name": "e", "goal": "minimize"}],
        "condition": {"e": -1.0},
        "budget": {"experiments": 6, "batch_size": 3},
        "proposals": 12,
        "generator": {
            "kind": "gflownet",
            "options": {
                "elements": ["Na", "Cl"],
                "space_groups": [221, 225],
                "max_atoms": 4,
                "hidden": 32,
                "steps_per_update": 2,
            },
        },
        "tracking": {"enabled": False},
    }
    d = tmp_path / "c"
    with Campaign.create(parse_config(cfg), d) as c:
        batch = c.suggest()
        assert len(batch) == 3 and all(r.candidate.structure is not None for r in batch)
        for i, r in enumerate(batch):
            c.observe(r.request_id, {"e": -float(i)})
        before = c.ledger.latest_generator_state()
    with Campaign.open(d) as c:  # resumed: the generator's checkpoint comes back from the ledger
        second = c.suggest()
        after = c.ledger.latest_generator_state()
        assert second and after[0] > before[0]
        assert after[1]["state"] != before[1]["state"]  # it was fine-tuned on the observations
        assert after[1]["observations_seen"] == 3
