"""The ``table`` lab: answers from hidden columns of a table, like a real instrument would.

A request for a design returns one of its replicate rows at random (keyed by the lab's
seed and the request id, so a replay gives the same answer), plus optional Gaussian
noise, after a latency on the campaign's simulated clock (see
:class:`~lab_adapters.simulated.SimulatedLab` for queueing, journal and restarts).

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

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from lab_adapters.simulated import SimulatedLab, SimulatedLabConfig
from loop.records import Candidate, LabCapabilities, Measurement, Observation
from loop.tables import DesignTable, load_design_table

__all__ = ["TableLab"]


class TableLabConfig(SimulatedLabConfig):
    path: Path = Field(description="CSV with the input columns and the hidden output columns.")
    outputs: dict[str, str] = Field(description="Reported property name -> table column.")
    inputs: list[str] | None = Field(default=None, description="Input columns (default: numeric columns not in outputs).")
    cif_column: str | None = Field(default=None, description="Column holding a CIF per row (crystal tables).")
    noise: dict[str, float] = Field(default_factory=dict, description="Gaussian noise sd per property (absolute).")
    report_uncertainty: bool = Field(default=False, description="Report the noise sd as the measurement uncertainty.")

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


class TableLab(SimulatedLab):
    """A simulated instrument backed by a table of past measurements."""

    Config = TableLabConfig
    name = "table"

    def __init__(self, config: TableLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.cfg: TableLabConfig = self.config  # type: ignore[assignment]
        self.table: DesignTable = load_design_table(
            self.cfg.path,
            inputs=self.cfg.inputs,
            exclude=list(self.cfg.outputs.values()),
            cif_column=self.cfg.cif_column,
            generator="table",
        )
        self._columns = {name: self.table.column(col, allow_nan=True) for name, col in self.cfg.outputs.items()}
        self._restore()

    def _capabilities(self) -> LabCapabilities:
        return LabCapabilities(
            properties=list(self.cfg.outputs), capacity=self.cfg.capacity, clock="simulated", recipe_kind="tabular"
        )

    def _measure(self, job: dict[str, Any], candidate: Candidate) -> Observation:
        base = self.observation_base(job)
        design = self.table.by_id.get(candidate.id)
        if design is None:
            return Observation(success=False, failure_reason=f"candidate {candidate.id} is not in table {self.table.path.name}", **base)
        rng = self.request_rng(job["request_id"])
        row = design.rows[int(rng.integers(len(design.rows)))]
        values: dict[str, Measurement] = {}
        for name, col in self._columns.items():
            v = float(col[row])
            if not np.isfinite(v):
                continue  # the instrument reported nothing for this property
            sd = float(self.cfg.noise.get(name, 0.0))
            if sd > 0:
                v += float(rng.normal(0.0, sd))
            values[name] = Measurement(value=v, uncertainty=sd if self.cfg.report_uncertainty else None)
        if not values:
            return Observation(success=False, failure_reason="no property could be measured for this row", **base)
        return Observation(values=values, **base)
