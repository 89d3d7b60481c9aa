"""The ``pool`` generator: a finite table of candidates (parameter columns or a CIF column).

Options::

    generator:
      kind: pool
      options: {path: P3HT_dataset.csv, exclude: ["Conductivity (measured) (S/cm)"]}

Rows with identical inputs are one candidate. ``sample(None)`` returns the whole pool
(the campaign removes what was already tested); ``sample(n)`` a random subset.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from loop.interfaces import Generator, PluginConfig
from loop.records import Candidate, Origin
from loop.tables import DesignTable, load_design_table

__all__ = ["PoolGenerator"]


class PoolConfig(PluginConfig):
    path: Path = Field(description="CSV file of candidates (relative paths: to the config file's folder).")
    inputs: list[str] | None = Field(default=None, description="Parameter columns (default: all numeric not excluded).")
    exclude: list[str] = Field(default_factory=list, description="Columns that are not inputs (the hidden outputs).")
    cif_column: str | None = Field(default=None, description="Column holding a CIF per row (crystal pools).")


class PoolGenerator(Generator):
    """Proposes candidates from a fixed table."""

    Config = PoolConfig
    name = "pool"
    finite = True

    def __init__(self, config: PoolConfig | None = None, context: Any = None) -> None:
        super().__init__(config, context)
        self._table: DesignTable | None = None
        _ = self.table  # read (and validate) the file now, not mid-campaign

    @property
    def table(self) -> DesignTable:
        if self._table is None:
            cfg: PoolConfig = self.config  # type: ignore[assignment]
            self._table = load_design_table(
                cfg.path, inputs=cfg.inputs, exclude=cfg.exclude, cif_column=cfg.cif_column, generator=self.name
            )
        return self._table

    def sample(self, n: int | None, condition: Mapping[str, Any] | None, rng: np.random.Generator) -> list[Candidate]:
        pool = self.table.candidates()
        if n is not None and n < len(pool):
            idx = np.sort(rng.choice(len(pool), size=n, replace=False))
            pool = [pool[i] for i in idx]
        return [c.model_copy(update={"origin": Origin(generator=self.name, round=None)}) for c in pool]
