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
        "screen": {"kind": "passthrough"},  # keep the test about the generator (no relaxations)
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


def test_kill_during_generator_fine_tuning_resumes_to_the_same_campaign(tmp_path, p3ht_csv):
    """SIGKILL while the GFlowNet is being fine-tuned (and right after), resume, compare."""
    import os
    import signal
    import subprocess
    import sys

    import yaml

    from lab_adapters.chaos.kills import ledger_fingerprint
    from tests.conftest import P3HT_OUT

    cfg = {
        "name": "gfn-kill",
        "seed": 2,
        "objectives": [{"name": "conductivity", "goal": "maximize"}],
        "budget": {"experiments": 9, "batch_size": 3},
        "proposals": 10,
        "generator": {
            "kind": "gflownet",
            "options": {"elements": ["Na", "Cl"], "space_groups": [221, 225], "max_atoms": 4, "hidden": 32, "steps_per_update": 3},
        },
        # crystals are not in the P3HT table: every experiment fails, and failures are data too
        "lab": {"kind": "table", "options": {"path": str(p3ht_csv), "outputs": {"conductivity": P3HT_OUT}, "latency_s": 10}},
        "screen": {"kind": "passthrough"},
        "tracking": {"enabled": False},
    }
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    # every run in its own process with the same threads, as a user's runs would be
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def cli(*args, crash=None):
        e = {**env, **({"CRYSTALOOP_CRASH_AT": crash} if crash else {})}
        return subprocess.run([sys.executable, "-m", "loop.cli.main", *args], env=e, capture_output=True)

    ref, d = tmp_path / "ref", tmp_path / "c"
    assert cli("run", str(cfg_file), "--dir", str(ref), "-q").returncode == 0
    assert cli("run", str(cfg_file), "--dir", str(d), "-q", crash="generator_updated:2").returncode == -signal.SIGKILL
    assert cli("resume", str(d), "-q").returncode == 0
    assert ledger_fingerprint(d) == ledger_fingerprint(ref)
    with Campaign.open(d, lock=False) as a, Campaign.open(ref, lock=False) as b:
        (ra, sa), (rb, sb) = a.ledger.latest_generator_state(), b.ledger.latest_generator_state()
    assert ra == rb and sa["observations_seen"] == sb["observations_seen"]
    ga, gb = sa["state"], sb["state"]
    for key in ("buffer", "generated", "observed", "rounds", "steps", "rng"):
        assert ga[key] == gb[key], key  # the same training trajectory, step for step
    # the weights agree to float round-off (BLAS summation order may differ between processes)
    import base64
    import io

    import torch

    def weights(text):
        return torch.load(io.BytesIO(base64.b64decode(text)), weights_only=True)

    wa, wb = weights(ga["policy"]), weights(gb["policy"])
    assert all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)
