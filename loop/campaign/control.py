"""Commands a person gives a running campaign: approve a batch, pause, cancel.

They are written to the ledger as ``control`` events by any process (no writer lock is
needed: one small transaction) and applied by the campaign's runner at its next step,
so ``crystaloop approve DIR`` works while ``crystaloop run`` is waiting in another
terminal, and a command given while nothing runs is applied on the next ``resume``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from loop.errors import LedgerError
from loop.store import Ledger

__all__ = ["ControlAction", "send_control"]

log = logging.getLogger(__name__)

ControlAction = Literal["approve", "pause", "cancel"]


def send_control(
    directory: str | Path,
    action: ControlAction,
    *,
    round_index: int | None = None,
    request_ids: Sequence[str] = (),
    drop: Sequence[str] = (),
    note: str | None = None,
) -> dict[str, Any]:
    """Queue a control command for the campaign in ``directory``; returns the event's data."""
    directory = Path(directory)
    if not (directory / "ledger.db").exists():
        raise LedgerError(f"{directory} holds no campaign (no ledger.db)")
    ledger = Ledger.for_directory(directory, migrate=False)
    try:
        known = {r.request_id for r in ledger.requests()}
        unknown = [r for r in [*request_ids, *drop] if r not in known]
        if unknown:
            raise LedgerError(f"{directory}: no request(s) {unknown} in this campaign")
        data: dict[str, Any] = {"action": action, "round": round_index, "request_ids": list(request_ids), "drop": list(drop), "note": note}
        ledger.event("control", at=float(ledger.get_meta("clock", 0.0)), **data)
        log.info("queued %s for %s", action, directory)
        return data
    finally:
        ledger.close()
