"""A lab's own journal of what it received and returned (append-only JSON lines, fsynced).

Simulated labs keep one so that tests and ``crystaloop chaos`` can compare the lab's
record with the campaign ledger, and so that a lab restarted after a crash knows what
it had already accepted. A line cut short by a crash is ignored on reading.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LabJournal"]

log = logging.getLogger(__name__)


class LabJournal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, *entries: dict[str, Any]) -> None:
        if not entries:
            return
        text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                if i >= len(lines) - 2:  # the last line, cut short by a crash
                    log.warning("%s: ignoring a truncated last line", self.path)
                else:
                    raise

    def entries(self, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self if event is None or e.get("event") == event]
