"""The ``analytic`` lab: a fast simulated world from closed-form test functions.

For tests, tutorials and ranker studies: each experiment evaluates a standard
optimisation test function (botorch's Hartmann-6, Branin, Ackley) at the candidate's
parameters, with Gaussian noise and, optionally, random instrument failures. Parameters
are mapped from their ``bounds`` onto the function's own domain.

    lab:
      kind: analytic
      options: {function: hartmann6, output: y, noise_sd: 0.02, latency_s: 600,
                bounds: {x0: [0, 1], x1: [0, 1], ...}}
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from lab_adapters.simulated import SimulatedLab, SimulatedLabConfig
from loop.records import Candidate, LabCapabilities, Measurement, Observation

__all__ = ["AnalyticLab"]

_DIMS = {"hartmann6": 6, "branin": 2, "ackley": None}


class AnalyticLabConfig(SimulatedLabConfig):
    function: Literal["hartmann6", "branin", "ackley"] = "hartmann6"
    bounds: dict[str, tuple[float, float]] = Field(description="Parameter name -> [lo, hi], in the function's input order.")
    output: str = Field(default="y", description="Name of the reported property.")
    noise_sd: float = Field(default=0.0, ge=0)
    failure_rate: float = Field(default=0.0, ge=0, le=1, description="Chance that an experiment fails (instrument fault).")

    @model_validator(mode="after")
    def _check(self) -> AnalyticLabConfig:
        d = _DIMS[self.function]
        if d is not None and len(self.bounds) != d:
            raise ValueError(f"{self.function} takes {d} parameters, bounds names {len(self.bounds)}")
        bad = [k for k, (lo, hi) in self.bounds.items() if not lo < hi]
        if bad:
            raise ValueError(f"bounds need lo < hi for {bad}")
        return self


class AnalyticLab(SimulatedLab):
    Config = AnalyticLabConfig
    name = "analytic"

    def __init__(self, config: AnalyticLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.cfg: AnalyticLabConfig = self.config  # type: ignore[assignment]
        from botorch.test_functions import Ackley, Branin, Hartmann

        fn = {"hartmann6": lambda: Hartmann(dim=6), "branin": Branin, "ackley": lambda: Ackley(dim=len(self.cfg.bounds))}
        self.function = fn[self.cfg.function]()
        self._restore()

    def truth(self, params: dict[str, float]) -> float:
        """The noise-free value at ``params``."""
        import torch

        x = np.array([(params[k] - lo) / (hi - lo) for k, (lo, hi) in self.cfg.bounds.items()])
        b = self.function.bounds.numpy()
        native = b[0] + x * (b[1] - b[0])
        with torch.no_grad():
            return float(self.function.evaluate_true(torch.tensor(native, dtype=torch.double).unsqueeze(0))[0])

    def _capabilities(self) -> LabCapabilities:
        return LabCapabilities(properties=[self.cfg.output], capacity=self.cfg.capacity, clock="simulated")

    def _measure(self, job: dict[str, Any], candidate: Candidate) -> Observation:
        base = self.observation_base(job)
        missing = [k for k in self.cfg.bounds if k not in candidate.params]
        if missing:
            return Observation(success=False, failure_reason=f"candidate lacks parameters {missing}", **base)
        rng = self.request_rng(job["request_id"])
        if rng.random() < self.cfg.failure_rate:
            return Observation(success=False, failure_reason="instrument fault (simulated)", **base)
        v = self.truth(candidate.params) + (float(rng.normal(0, self.cfg.noise_sd)) if self.cfg.noise_sd else 0.0)
        unc = self.cfg.noise_sd if self.cfg.noise_sd else None
        return Observation(values={self.cfg.output: Measurement(value=v, uncertainty=unc)}, **base)
