"""The ``sobol`` generator: a finite pool of scrambled Sobol points in a parameter box.

For process and formulation campaigns without a table of candidates::

    generator:
      kind: sobol
      options: {n: 1024, bounds: {temperature_c: [500, 1100], time_h: [1, 24]}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import Field, model_validator
from scipy.stats import qmc

from loop.interfaces import Generator, PluginConfig
from loop.records import Candidate, Origin

__all__ = ["SobolGenerator"]


class SobolConfig(PluginConfig):
    bounds: dict[str, tuple[float, float]] = Field(min_length=1, description="Parameter name -> [lo, hi].")
    n: int = Field(default=1024, ge=1, le=1_000_000, description="Pool size (a power of 2 keeps Sobol balanced).")
    seed: int | None = Field(default=None, description="Scrambling seed (default: the campaign seed).")
    decimals: int = Field(default=6, ge=0, le=12, description="Rounding of the coordinates.")

    @model_validator(mode="after")
    def _check(self) -> SobolConfig:
        bad = [k for k, (lo, hi) in self.bounds.items() if not lo < hi]
        if bad:
            raise ValueError(f"bounds need lo < hi for {bad}")
        return self


class SobolGenerator(Generator):
    Config = SobolConfig
    name = "sobol"
    finite = True

    def __init__(self, config: SobolConfig | None = None, context: Any = None) -> None:
        super().__init__(config, context)
        cfg: SobolConfig = self.config  # type: ignore[assignment]
        seed = cfg.seed if cfg.seed is not None else self.context.seed
        names = list(cfg.bounds)
        lo = np.array([cfg.bounds[k][0] for k in names])
        hi = np.array([cfg.bounds[k][1] for k in names])
        u = qmc.Sobol(d=len(names), scramble=True, seed=seed).random(cfg.n)
        x = np.round(lo + u * (hi - lo), cfg.decimals)
        origin = Origin(generator=self.name)
        seen: dict[str, Candidate] = {}
        for row in x:
            c = Candidate.from_params(dict(zip(names, row.tolist(), strict=True)), origin)
            seen.setdefault(c.id, c)
        self._pool = list(seen.values())

    def sample(self, n: int | None, condition: Mapping[str, Any] | None, rng: np.random.Generator) -> list[Candidate]:
        if n is None or n >= len(self._pool):
            return list(self._pool)
        return [self._pool[i] for i in np.sort(rng.choice(len(self._pool), size=n, replace=False))]
