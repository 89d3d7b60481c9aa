"""Kill -9 a running campaign many times, resume it each time, compare with an uninterrupted run.

Kills alternate between injected crash points (between each ledger write and the action
it records, see :mod:`loop.faults`) and random moments. The final ledger must equal the
reference run's (the simulated clock makes that well defined), no request may reach the
lab twice according to the lab's own journal, and every result the lab returned must be
in the ledger.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lab_adapters.journal import LabJournal
from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.faults import CRASH_POINTS
from loop.store import Ledger

__all__ = ["KillReport", "chaos_config", "ledger_fingerprint", "run_kills"]

log = logging.getLogger(__name__)

B6 = {f"x{i}": [0.0, 1.0] for i in range(6)}


def chaos_config(seed: int = 0, experiments: int = 150) -> dict[str, Any]:
    """The default chaos campaign: analytic lab with every fault on, MLflow on, async rounds."""
    return {
        "name": "chaos",
        "seed": seed,
        "objectives": [{"name": "y", "goal": "minimize"}],
        "budget": {"experiments": experiments, "batch_size": 3, "max_pending": 6},
        "generator": {"kind": "sobol", "options": {"n": 512, "bounds": B6}},
        "lab": {
            "kind": "analytic",
            "options": {
                "bounds": B6,
                "latency_s": 100,
                "capacity": 4,
                "noise_sd": 0.01,
                "failure_rate": 0.05,
                "faults": {"submit_failure_rate": 0.2, "lost_rate": 0.05, "duplicate_rate": 0.1, "delay_rate": 0.1},
            },
        },
        "requests": {"timeout_s": 450, "resubmit": 1},
        "tracking": {"enabled": True},
    }


def ledger_fingerprint(directory: Path) -> dict[str, Any]:
    """What must be identical between an interrupted and an uninterrupted run."""
    led = Ledger.for_directory(directory, migrate=False)
    try:
        return {
            "requests": [
                (r.request_id, r.candidate.id, r.status.value, r.status_reason, r.submitted_at, r.resubmission_of)
                for r in led.requests()
            ],
            "observations": sorted(
                (o.request_id, o.success, o.failure_reason, tuple(sorted(o.scalar_values().items())), o.received_at)
                for o in led.observations()
            ),
            "rounds": [(r.index, tuple(r.selected), r.rng_seed) for r, _ in led.rounds()],
        }
    finally:
        led.close()


@dataclass
class KillReport:
    kills: int = 0
    kills_by_point: dict[str, int] = field(default_factory=dict)
    resumes: int = 0
    lost: int = 0
    duplicates: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    matches_reference: bool = False
    differences: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "loop.cli.main", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _progress_mark(directory: Path) -> float:
    wal = directory / "ledger.db-wal"
    return wal.stat().st_mtime if wal.exists() else 0.0


def run_kills(work: Path, kills: int = 20, seed: int = 0, config: dict[str, Any] | None = None) -> KillReport:
    """Run the chaos campaign with ``kills`` SIGKILLs; returns what survived."""
    t0 = time.perf_counter()
    cfg = config or chaos_config(seed)
    work.mkdir(parents=True, exist_ok=True)
    ref_cfg = {**cfg, "tracking": {"enabled": False}}
    ref_dir = work / "reference"
    log.info("chaos: uninterrupted reference run in %s", ref_dir)
    with Campaign.create(parse_config(ref_cfg), ref_dir) as ref:
        ref.run()
    reference = ledger_fingerprint(ref_dir)

    cfg_file = work / "chaos.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    d = work / "chaos"
    rng = np.random.default_rng(seed)
    report = KillReport()
    started = False
    attempts = 0
    while report.kills < kills and attempts < kills * 4:
        attempts += 1
        args = ["resume", str(d), "-q"] if started else ["run", str(cfg_file), "--dir", str(d), "-q"]
        if report.kills % 2 == 0:
            # "screened" happens once for a finite pool (round 0): the first kill takes it
            cycle = [p for p in CRASH_POINTS if p != "screened"]
            point = "screened" if report.kills == 0 else cycle[(report.kills // 2 - 1) % len(cycle)]
            nth = 1 if point == "screened" else int(rng.integers(1, 3))
            env = {"CRYSTALOOP_CRASH_AT": f"{point}:{nth}"}
            proc = _cli(args, env)
            _, err = proc.communicate(timeout=600)
        else:
            point = "random"
            mark = _progress_mark(d)
            proc = _cli(args)
            deadline = time.time() + 120
            while proc.poll() is None and _progress_mark(d) == mark and time.time() < deadline:
                time.sleep(0.01)  # wait until the campaign is writing, then kill at a random moment
            time.sleep(float(rng.uniform(0.0, 0.8)))
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=600)
        started = started or (d / "ledger.db").exists()
        if proc.returncode == -signal.SIGKILL:
            report.kills += 1
            report.kills_by_point[point] = report.kills_by_point.get(point, 0) + 1
            log.info("chaos: kill %d (%s)", report.kills, point)
        elif proc.returncode == 0:
            log.info("chaos: the campaign finished before kill %d", report.kills + 1)
            break
        else:
            raise RuntimeError(f"the campaign failed (exit {proc.returncode}): {err.decode()[-2000:]}")
        if started:
            report.resumes += 1
    final = _cli(["resume", str(d), "-q"])
    _, err = final.communicate(timeout=900)
    if final.returncode != 0:
        raise RuntimeError(f"the final resume failed (exit {final.returncode}): {err.decode()[-2000:]}")

    got = ledger_fingerprint(d)
    for key in reference:
        if got[key] != reference[key]:
            report.differences.append(f"{key}: {len(got[key])} rows vs {len(reference[key])} in the reference")
    report.matches_reference = not report.differences
    journal = LabJournal(d / "stages" / "lab" / "journal.jsonl")
    received = Counter(e["request_id"] for e in journal.entries("submit") if not e.get("duplicate"))
    resent = Counter(e["request_id"] for e in journal.entries("submit") if e.get("duplicate"))
    report.duplicates = sum(n - 1 for n in received.values() if n > 1) + sum(resent.values())
    returned = {e["request_id"] for e in journal.entries("result")}
    observed = {o[0] for o in got["observations"]}
    unfinished = [r for r in got["requests"] if r[2] not in ("done", "failed", "abandoned")]
    report.lost = len(returned - observed) + len(unfinished)
    report.faults_injected = dict(Counter(e["kind"] for e in journal.entries("fault")))
    report.seconds = time.perf_counter() - t0
    return report
