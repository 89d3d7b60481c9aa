"""The base of simulated labs: a queue of experiments on the campaign's simulated clock.

A subclass says what a measurement returns (``_measure``); this base does the rest, as a
real instrument's driver would: ``capacity`` experiments run at once and later ones
queue; each takes ``latency_s`` simulated seconds; every accepted request and every
delivered result is written to the lab's journal before it is acknowledged. After a
restart the lab reloads its journal and re-delivers each finished result once (the
ledger keeps the first copy), so no result is lost to a crash. Random draws are keyed
by (lab seed, request id), so a replay answers exactly as the first run did.
"""

from __future__ import annotations

import abc
import heapq
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from lab_adapters.journal import LabJournal
from loop.clock import SimulatedClock
from loop.errors import LabError
from loop.identity import derive_seed
from loop.interfaces import LabAdapter, PluginConfig
from loop.records import Candidate, ExperimentRequest, Observation, Receipt

__all__ = ["LabFaults", "SimulatedLab", "SimulatedLabConfig"]

log = logging.getLogger(__name__)


class LabFaults(PluginConfig):
    """Misbehaviour of a real lab, switched on for reliability tests (all off by default)."""

    submit_failure_rate: float = Field(default=0.0, ge=0, le=1, description="Chance a submit call fails transiently.")
    lost_rate: float = Field(default=0.0, ge=0, le=1, description="Chance a result never arrives.")
    duplicate_rate: float = Field(default=0.0, ge=0, le=1, description="Chance a result is delivered twice.")
    delay_rate: float = Field(default=0.0, ge=0, le=1, description="Chance a result is late by 1-5x the latency.")


class SimulatedLabConfig(PluginConfig):
    latency_s: float = Field(default=0.0, ge=0, description="Simulated seconds per experiment.")
    capacity: int = Field(default=1_000_000, ge=1, description="Experiments run in parallel.")
    seed: int | None = Field(default=None, description="Lab's own seed (default: the campaign seed).")
    faults: LabFaults = Field(default_factory=LabFaults, description="Injected faults (off by default).")




class SimulatedLab(LabAdapter):
    """A lab on a simulated clock, with a journal. Subclasses implement ``_measure``."""

    simulated: ClassVar[bool] = True

    def __init__(self, config: SimulatedLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.sim_config: SimulatedLabConfig = self.config  # type: ignore[assignment]
        self.seed = self.sim_config.seed if self.sim_config.seed is not None else self.context.seed
        if not isinstance(self.context.clock, SimulatedClock):
            self.context.clock = SimulatedClock()
        self.journal = LabJournal(self.context.work_dir / "journal.jsonl")
        self._jobs: dict[str, dict[str, Any]] = {}
        self._delivered: set[str] = set()
        self._duplicates_sent: set[str] = set()
        self._slots: list[float] = []
        self._submit_attempts: dict[str, int] = {}

    # -- for subclasses -----------------------------------------------------------------
    @abc.abstractmethod
    def _measure(self, job: dict[str, Any], candidate: Candidate) -> Observation:
        """The result of one finished experiment (``job`` has request_id, start, finish)."""

    def _prepare(self, jobs: Sequence[dict[str, Any]]) -> None:  # noqa: B027 - an optional hook
        """Called with the jobs about to be measured in one poll, before the first ``_measure``.

        A subclass may compute what the jobs share in one go here (the crystal lab relaxes
        their truths in one batch); the default does nothing.
        """

    def request_rng(self, request_id: str) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, derive_seed(request_id)])

    def observation_base(self, job: dict[str, Any]) -> dict[str, Any]:
        return {
            "request_id": job["request_id"],
            "candidate_id": job["candidate_id"],
            "lab": self.context.name,
            "started_at": job["start"],
            "finished_at": job["finish"],
        }

    # -- state --------------------------------------------------------------------------
    def _restore(self) -> None:
        """Reload accepted requests from the journal (call at the end of ``__init__``)."""
        for e in self.journal.entries("submit"):
            if not e.get("duplicate"):
                self._jobs[e["request_id"]] = e
        self._slots = sorted(j["finish"] for j in self._jobs.values())[-self.sim_config.capacity :]
        heapq.heapify(self._slots)
        if self._jobs:
            log.info("%s: restored %d accepted request(s) from %s", self.name, len(self._jobs), self.journal.path)

    def _now(self) -> float:
        return self.context.clock.now()  # type: ignore[union-attr]

    # -- contract -----------------------------------------------------------------------
    def _known(self, request_ids: Sequence[str]) -> set[str]:
        return {i for i in request_ids if i in self._jobs}

    def _fault_rng(self, kind: str, key: str) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, derive_seed(f"{kind}:{key}")])

    def _submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        now = self._now()
        faults = self.sim_config.faults
        if faults.submit_failure_rate > 0:
            first = requests[0].request_id
            self._submit_attempts[first] = attempt = self._submit_attempts.get(first, 0) + 1
            key = f"{first}:{attempt}"
            if self._fault_rng("submit", key).random() < faults.submit_failure_rate:
                self.journal.append({"event": "fault", "kind": "submit_failure", "request_id": requests[0].request_id, "at": now})
                raise LabError("simulated transient submit failure (instrument busy)", transient=True)
        cap = self.sim_config.capacity
        entries, receipts = [], []
        for r in requests:
            if r.request_id in self._jobs:
                entries.append({"event": "submit", "request_id": r.request_id, "at": now, "duplicate": True})
                receipts.append(Receipt(request_id=r.request_id, duplicate=True, expected_at=self._jobs[r.request_id]["finish"]))
                continue
            while self._slots and len(self._slots) >= cap and self._slots[0] <= now:
                heapq.heappop(self._slots)
            start = now if len(self._slots) < cap else max(heapq.heappop(self._slots), now)
            finish = start + self.sim_config.latency_s
            heapq.heappush(self._slots, finish)
            fate = self._fault_rng("fate", r.request_id).random(3)
            lost = bool(fate[0] < faults.lost_rate)
            duplicate = bool(fate[1] < faults.duplicate_rate)
            deliver_at = finish + (self.sim_config.latency_s * (1 + 4 * fate[2]) if fate[2] < faults.delay_rate else 0.0)
            job = {
                "event": "submit",
                "request_id": r.request_id,
                "candidate_id": r.candidate.id,
                "candidate": r.candidate.model_dump(mode="json"),
                "recipe": r.recipe.model_dump(mode="json"),
                "at": now,
                "start": start,
                "finish": finish,
                "deliver_at": deliver_at,
                "lost": lost,
                "duplicate_result": duplicate,
            }
            self._jobs[r.request_id] = job
            entries.append(job)
            receipts.append(Receipt(request_id=r.request_id, expected_at=finish))
        self.journal.append(*entries)
        return receipts

    @staticmethod
    def _deliver_at(job: dict[str, Any]) -> float:
        return float(job.get("deliver_at", job["finish"]))

    def _poll(self) -> list[Observation]:
        now = self._now()
        ready = sorted(
            (j for rid, j in self._jobs.items() if rid not in self._delivered and self._deliver_at(j) <= now),
            key=lambda j: (self._deliver_at(j), j["request_id"]),
        )
        out, entries = [], []
        if ready:
            self._prepare([j for j in ready if not j.get("lost")])
        for j in ready:
            self._delivered.add(j["request_id"])
            if j.get("lost"):
                entries.append({"event": "fault", "kind": "lost_result", "request_id": j["request_id"], "at": now})
                continue
            obs = self._measure(j, Candidate.model_validate(j["candidate"]))
            out.append(obs)
            entries.append({"event": "result", "request_id": j["request_id"], "at": now})
            if j.get("duplicate_result") and j["request_id"] not in self._duplicates_sent:
                self._duplicates_sent.add(j["request_id"])
                out.append(obs)
                entries.append({"event": "fault", "kind": "duplicate_result", "request_id": j["request_id"], "at": now})
        self.journal.append(*entries)
        return out

    def _next_event_time(self) -> float | None:
        waiting = [
            self._deliver_at(j) for rid, j in self._jobs.items() if rid not in self._delivered and not j.get("lost")
        ]
        return min(waiting) if waiting else None

    def _cancel(self, request_id: str) -> bool:
        job = self._jobs.get(request_id)
        if job is None or request_id in self._delivered or job["start"] <= self._now():
            return False
        self._delivered.add(request_id)
        self.journal.append({"event": "cancel", "request_id": request_id, "at": self._now()})
        return True
