"""``RobotLab``: the crystaloop adapter for a robot controller that speaks JSON lines over TCP.

The controller's protocol (one JSON object per line, one answer line per request)::

    {"op": "hello"}                                -> {"ok": true, "properties": [...], "capacity": 4}
    {"op": "start", "job": {"id": ..., "params": {...}, "recipe": {...}}}
                                                   -> {"ok": true, "duplicate": false, "eta_s": 30}
    {"op": "results", "after": 12}                 -> {"ok": true, "results": [{"n": 13, "id": ..., ...}]}
    {"op": "known", "ids": [...]}                  -> {"ok": true, "known": [...]}
    {"op": "abort", "id": ...}                     -> {"ok": true, "aborted": false}
    anything wrong                                 -> {"ok": false, "error": "what is wrong"}

What the adapter does for crystaloop:

- ``_submit`` starts each job (the robot treats a repeated id as a duplicate, so a retry
  after a lost answer is harmless); a refused connection is ``LabError(transient=True)``
  (retried by crystaloop with backoff), a silent robot ``LabTimeoutError``.
- ``_poll`` reads results after a cursor and turns each into an ``Observation``; the cursor
  is saved when the *next* poll starts (crystaloop polls again only after recording the
  results), so a crash between the two re-reads the batch instead of losing it.
- ``_known`` asks the robot which ids it has, so a resumed campaign never starts a job twice.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from loop.errors import InputDataError, LabError, LabTimeoutError
from loop.interfaces import LabAdapter, PluginConfig
from loop.records import ExperimentRequest, LabCapabilities, Observation, Receipt

__all__ = ["RobotLab", "RobotLabConfig"]

log = logging.getLogger(__name__)


class RobotLabConfig(PluginConfig):
    """Options of ``lab: {kind: robot, options: {...}}``; unknown fields are errors."""

    host: str = Field(default="127.0.0.1", description="Address of the robot controller.")
    port: int = Field(ge=1, le=65535, description="TCP port of the robot controller.")
    timeout_s: float = Field(default=5.0, gt=0, description="Seconds to wait for the controller's answer.")


class RobotLab(LabAdapter):
    """A robot reached over a TCP socket (see the module docstring for the protocol)."""

    Config = RobotLabConfig
    name = "robot"
    version = "1"

    def __init__(self, config: RobotLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.cfg: RobotLabConfig = self.config  # type: ignore[assignment]
        self._cursor_file = self.context.work_dir / "robot-cursor.json"
        self._cursor = json.loads(self._cursor_file.read_text())["after"] if self._cursor_file.exists() else 0
        self._unacked: int | None = None

    # -- the wire -------------------------------------------------------------------------
    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request line, read one answer line; map socket errors onto crystaloop's errors."""
        where = f"robot at {self.cfg.host}:{self.cfg.port}"
        try:
            with socket.create_connection((self.cfg.host, self.cfg.port), timeout=self.cfg.timeout_s) as sock:
                sock.sendall(json.dumps(message).encode() + b"\n")
                with sock.makefile("rb") as fh:
                    line = fh.readline(10_000_000)
        except TimeoutError:
            raise LabTimeoutError(f"{where} did not answer {message['op']!r} within {self.cfg.timeout_s:g} s") from None
        except OSError as exc:
            raise LabError(f"cannot reach the {where}: {exc}", transient=True) from None
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise LabError(f"{where} sent a malformed answer to {message['op']!r}: {line[:80]!r}", transient=True) from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise LabError(f"{where} refused {message['op']!r}: {error}")
        return answer

    # -- the contract ----------------------------------------------------------------------
    def _capabilities(self) -> LabCapabilities:
        hello = self._ask({"op": "hello"})
        return LabCapabilities(properties=list(hello["properties"]), capacity=int(hello.get("capacity", 1)), clock="wall")

    def _submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        receipts = []
        for r in requests:
            job = {"id": r.request_id, "candidate_id": r.candidate.id, "params": r.candidate.params, "recipe": r.recipe.model_dump(mode="json")}
            answer = self._ask({"op": "start", "job": job})
            receipts.append(Receipt(request_id=r.request_id, duplicate=bool(answer.get("duplicate"))))
        return receipts

    def _poll(self) -> list[Observation]:
        if self._unacked is not None:  # the previous batch is recorded: remember where we are
            tmp = self._cursor_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"after": self._unacked}))
            os.replace(tmp, self._cursor_file)
            self._unacked = None
        answer = self._ask({"op": "results", "after": self._cursor})
        out = []
        for item in answer.get("results", []):
            self._cursor = max(self._cursor, int(item["n"]))
            if item.get("failed"):
                out.append(Observation(request_id=item["id"], candidate_id=item["candidate_id"], success=False,
                                       failure_reason=str(item["failed"]), lab=self.context.name))
                continue
            try:  # from_raw names the property when the robot sends NaN or a non-number
                obs = Observation.from_raw(item["id"], item["candidate_id"], item["values"], source="robot",
                                           lab=self.context.name, finished_at=item.get("finished_at"))
            except InputDataError as exc:
                log.warning("robot result %s is unusable: %s", item["id"], exc)
                obs = Observation(request_id=item["id"], candidate_id=item["candidate_id"], success=False,
                                  failure_reason=f"unusable result: {exc}", lab=self.context.name)
            out.append(obs)
        if out:
            self._unacked = self._cursor
        return out

    def _known(self, request_ids: Sequence[str]) -> set[str]:
        return set(self._ask({"op": "known", "ids": list(request_ids)})["known"]) if request_ids else set()

    def _cancel(self, request_id: str) -> bool:
        return bool(self._ask({"op": "abort", "id": request_id}).get("aborted"))
