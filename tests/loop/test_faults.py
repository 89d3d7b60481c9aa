"""Kill -9 a running campaign at every step and at a random moment; resume; nothing lost or repeated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from lab_adapters.journal import LabJournal
from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.faults import CRASH_POINTS
from loop.store import Ledger
from tests.conftest import p3ht_config

pytestmark = pytest.mark.slow


def config(csv: Path) -> dict:
    return p3ht_config(csv, budget={"experiments": 14, "batch_size": 3, "max_pending": 6})


def cli(args: list[str], env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "loop.cli.main", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def ledger_state(directory: Path) -> tuple[list, list]:
    led = Ledger.for_directory(directory, migrate=False)
    try:
        reqs = [(r.request_id, r.candidate.id, r.status.value, r.submitted_at) for r in led.requests()]
        obs = sorted((o.request_id, o.candidate_id, o.scalar_values()["conductivity"], o.received_at) for o in led.observations())
        return reqs, obs
    finally:
        led.close()


def check_lab_journal(directory: Path) -> None:
    journal = LabJournal(directory / "stages" / "lab" / "journal.jsonl")
    received = Counter(e["request_id"] for e in journal.entries("submit"))
    assert received and max(received.values()) == 1, f"submitted twice: {[k for k, v in received.items() if v > 1]}"
    led = Ledger.for_directory(directory, migrate=False)
    try:
        observed = {o.request_id for o in led.observations()}
    finally:
        led.close()
    assert set(received) == observed  # every experiment the lab ran is in the ledger


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    csv = data_dir / "liang2021" / "P3HT_dataset.csv"
    d = tmp_path_factory.mktemp("ref") / "c"
    with Campaign.create(parse_config(config(csv)), d) as c:
        c.run()
    return ledger_state(d)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_at_each_step_then_resume_matches_uninterrupted_run(tmp_path, p3ht_csv, reference, point):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(config(p3ht_csv)))
    d = tmp_path / "c"
    nth = {"screened": 1, "observation_recorded": 2, "results_polled": 2}.get(point, 3)
    proc = cli(["run", str(cfg_file), "--dir", str(d), "-q"], {"CRYSTALOOP_CRASH_AT": f"{point}:{nth}"})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"the crash point {point} was never reached"
    with Campaign.open(d) as c:
        c.run()
    assert ledger_state(d) == reference
    check_lab_journal(d)


def test_sigkill_at_a_random_moment_mid_round(tmp_path, p3ht_csv, reference):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(config(p3ht_csv)))
    d = tmp_path / "c"
    proc = cli(["run", str(cfg_file), "--dir", str(d), "-q"])
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the campaign is mid-way, then kill it
        if (d / "ledger.db").exists():
            try:
                led = Ledger.for_directory(d, migrate=False)
                n = sum(led.status_counts().values())
                led.close()
            except Exception:
                n = 0
            if n >= 5:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    resumed = cli(["resume", str(d), "-q"])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert ledger_state(d) == reference
    check_lab_journal(d)
