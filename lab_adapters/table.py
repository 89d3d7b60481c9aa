"""The ``table`` lab: answers from hidden columns of a table, like a real instrument would.

A request for a design returns one of its replicate rows at random (keyed by the lab's
seed and the request id, so a replay gives the same answer), plus optional Gaussian
noise, after a latency on the campaign's simulated clock. ``capacity`` experiments run
at once; later ones queue. Every submit and every delivered result is written to the
lab's journal first; after a restart the lab re-delivers every finished result once (the
ledger keeps the first), so a result is never lost to a crash.

Options::

    lab:
      kind: table
      options:
        path: P3HT_dataset.csv
        outputs: {conductivity: "Conductivity (measured) (S/cm)"}
        noise: {conductivity: 0.0}
        latency_s: 3600
"""

from __future__ import annotations

import hashlib
import heapq
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from lab_adapters.journal import LabJournal
from loop.clock import SimulatedClock
from loop.interfaces import LabAdapter, PluginConfig
from loop.records import ExperimentRequest, LabCapabilities, Measurement, Observation, Receipt
from loop.tables import DesignTable, load_design_table

__all__ = ["TableLab"]

log = logging.getLogger(__name__)


class TableLabConfig(PluginConfig):
    path: Path = Field(description="CSV with the input columns and the hidden output columns.")
    outputs: dict[str, str] = Field(description="Reported property name -> table column.")
    inputs: list[str] | None = Field(default=None, description="Input columns (default: numeric columns not in outputs).")
    cif_column: str | None = Field(default=None, description="Column holding a CIF per row (crystal tables).")
    noise: dict[str, float] = Field(default_factory=dict, description="Gaussian noise sd per property (absolute).")
    report_uncertainty: bool = Field(default=False, description="Report the noise sd as the measurement uncertainty.")
    latency_s: float = Field(default=0.0, ge=0, description="Simulated seconds per experiment.")
    capacity: int = Field(default=1_000_000, ge=1, description="Experiments run in parallel.")
    seed: int | None = Field(default=None, description="Lab's own seed (default: the campaign seed).")

    @field_validator("outputs")
    @classmethod
    def _some_outputs(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("name at least one output column")
        return v

    @field_validator("noise")
    @classmethod
    def _noise_ok(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: s for k, s in v.items() if not (s >= 0)}
        if bad:
            raise ValueError(f"noise sd must be >= 0, got {bad}")
        return v


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


class TableLab(LabAdapter):
    """A simulated instrument backed by a table of past measurements."""

    Config = TableLabConfig
    name = "table"
    simulated: ClassVar[bool] = True

    def __init__(self, config: TableLabConfig, context: Any) -> None:
        super().__init__(config, context)
        cfg: TableLabConfig = self.config  # type: ignore[assignment]
        self.cfg = cfg
        self.seed = cfg.seed if cfg.seed is not None else self.context.seed
        self.table: DesignTable = load_design_table(
            cfg.path, inputs=cfg.inputs, exclude=list(cfg.outputs.values()), cif_column=cfg.cif_column, generator="table"
        )
        self._columns = {name: self.table.column(col, allow_nan=True) for name, col in cfg.outputs.items()}
        if not isinstance(self.context.clock, SimulatedClock):
            self.context.clock = SimulatedClock()
        self.journal = LabJournal(self.context.work_dir / "journal.jsonl")
        self._jobs: dict[str, dict[str, Any]] = {}
        self._delivered: set[str] = set()
        self._slots: list[float] = []
        self._restore()

    # -- state ---------------------------------------------------------------------------
    def _restore(self) -> None:
        for e in self.journal.entries("submit"):
            if e.get("duplicate"):
                continue
            self._jobs[e["request_id"]] = e
        ends = sorted(j["finish"] for j in self._jobs.values())[-self.cfg.capacity :]
        self._slots = list(ends)
        heapq.heapify(self._slots)
        if self._jobs:
            log.info("table lab: restored %d accepted request(s) from %s", len(self._jobs), self.journal.path)

    def _now(self) -> float:
        return self.context.clock.now()  # type: ignore[union-attr]

    # -- contract ------------------------------------------------------------------------
    def _capabilities(self) -> LabCapabilities:
        return LabCapabilities(
            properties=list(self.cfg.outputs), capacity=self.cfg.capacity, clock="simulated", recipe_kind="tabular"
        )

    def _known(self, request_ids: Sequence[str]) -> set[str]:
        return {i for i in request_ids if i in self._jobs}

    def _submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        now = self._now()
        entries, receipts = [], []
        for r in requests:
            if r.request_id in self._jobs:
                entries.append({"event": "submit", "request_id": r.request_id, "at": now, "duplicate": True})
                receipts.append(Receipt(request_id=r.request_id, duplicate=True, expected_at=self._jobs[r.request_id]["finish"]))
                continue
            while len(self._slots) >= self.cfg.capacity and self._slots[0] <= now:
                heapq.heappop(self._slots)
            start = now if len(self._slots) < self.cfg.capacity else heapq.heappop(self._slots)
            finish = start + self.cfg.latency_s
            heapq.heappush(self._slots, finish)
            job = {
                "event": "submit",
                "request_id": r.request_id,
                "candidate_id": r.candidate.id,
                "at": now,
                "start": start,
                "finish": finish,
            }
            self._jobs[r.request_id] = job
            entries.append(job)
            receipts.append(Receipt(request_id=r.request_id, expected_at=finish))
        self.journal.append(*entries)
        return receipts

    def _measure(self, job: dict[str, Any]) -> Observation:
        rid, cid = job["request_id"], job["candidate_id"]
        design = self.table.by_id.get(cid)
        base = dict(request_id=rid, candidate_id=cid, lab=self.context.name, started_at=job["start"], finished_at=job["finish"])
        if design is None:
            return Observation(success=False, failure_reason=f"candidate {cid} is not in table {self.table.path.name}", **base)
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, _stable_int(rid) & 0xFFFFFFFF])
        row = design.rows[int(rng.integers(len(design.rows)))]
        values: dict[str, Measurement] = {}
        for name, col in self._columns.items():
            v = float(col[row])
            sd = float(self.cfg.noise.get(name, 0.0))
            if not np.isfinite(v):
                continue  # the instrument reported nothing for this property
            if sd > 0:
                v += float(rng.normal(0.0, sd))
            values[name] = Measurement(value=v, uncertainty=sd if self.cfg.report_uncertainty else None)
        if not values:
            return Observation(success=False, failure_reason="no property could be measured for this row", **base)
        return Observation(values=values, **base)

    def _poll(self) -> list[Observation]:
        now = self._now()
        ready = sorted(
            (j for rid, j in self._jobs.items() if rid not in self._delivered and j["finish"] <= now),
            key=lambda j: (j["finish"], j["request_id"]),
        )
        out = [self._measure(j) for j in ready]
        if out:
            self.journal.append(*({"event": "result", "request_id": o.request_id, "at": now} for o in out))
            self._delivered.update(o.request_id for o in out)
        return out

    def _next_event_time(self) -> float | None:
        waiting = [j["finish"] for rid, j in self._jobs.items() if rid not in self._delivered]
        return min(waiting) if waiting else None

    def _cancel(self, request_id: str) -> bool:
        job = self._jobs.get(request_id)
        if job is None or request_id in self._delivered or job["start"] <= self._now():
            return False
        self._delivered.add(request_id)
        self.journal.append({"event": "cancel", "request_id": request_id, "at": self._now()})
        return True
