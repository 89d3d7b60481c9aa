"""Injected crash points, for testing that a kill at any step loses nothing.

Set ``CRYSTALOOP_CRASH_AT=<point>[:<n>]`` and the process kills itself with SIGKILL the
``n``-th time (default 1st) it passes ``crash_point("<point>")``. Points sit between each
ledger write and the action it records. Unset, a crash point costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_POINTS", "crash_point"]

CRASH_POINTS = (
    "round_started",  # round row written, nothing proposed yet
    "generator_updated",  # generator fine-tuned, checkpoint not yet stored
    "screened",  # screening recorded, nothing selected yet
    "requests_planned",  # requests planned in the ledger, not yet sent to the lab
    "lab_submitted",  # the lab accepted requests, the ledger does not know yet
    "results_polled",  # results came back from the lab, not yet recorded
    "observation_recorded",  # a poll's results recorded (one transaction), the loop not yet told
    "mlflow_logging",  # metrics logged to MLflow, artifacts not yet
    "round_logged",  # MLflow logged, round not yet marked done
)

_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("CRYSTALOOP_CRASH_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
