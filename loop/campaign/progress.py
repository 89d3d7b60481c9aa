"""Campaign figures computed from the ledger: best so far, success rate, hypervolume, goal hits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from loop.objectives import GoalSpec, Objective, goal_satisfied
from loop.records import Observation

__all__ = ["CampaignSummary", "goal_hits", "hypervolume", "observed_values", "summarize"]


def observed_values(obs: Observation) -> dict[str, float]:
    """Measured values, with the XRD-derived synthesis yield as ``yield`` when reported."""
    return {k: m.value for k, m in obs.measured().items()}


def goal_hits(goal: GoalSpec | None, observations: Sequence[Observation]) -> list[Observation]:
    return [o for o in observations if o.success and goal_satisfied(goal, observed_values(o))]


def _utility(obj: Objective, value: float) -> float:
    """Larger is better, for every kind of objective."""
    if obj.goal == "target":
        return -obj.distance(value)
    return obj.sign * value


def hypervolume(objectives: Sequence[Objective], observations: Sequence[Observation]) -> float | None:
    """Dominated hypervolume of the measured points (utilities, reference = worst measured)."""
    if len(objectives) < 2:
        return None
    pts = []
    for o in observations:
        if not o.success:
            continue
        v = observed_values(o)
        if all(obj.name in v for obj in objectives):
            pts.append([_utility(obj, v[obj.name]) for obj in objectives])
    if len(pts) < 2:
        return 0.0 if pts else None
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    y = torch.tensor(pts, dtype=torch.double)
    ref = y.min(dim=0).values - 1e-9
    front = y[is_non_dominated(y)]
    return float(Hypervolume(ref_point=ref).compute(front))


@dataclass
class CampaignSummary:
    experiments_done: int = 0
    experiments_failed: int = 0
    success_rate: float | None = None
    best: dict[str, float] = field(default_factory=dict)
    best_candidate: dict[str, str] = field(default_factory=dict)
    hypervolume: float | None = None
    goal_hits: int = 0
    first_goal_hit_at: int | None = None

    def metrics(self) -> dict[str, float]:
        m: dict[str, float] = {
            "experiments_done": float(self.experiments_done),
            "experiments_failed": float(self.experiments_failed),
            "goal_hits": float(self.goal_hits),
        }
        if self.success_rate is not None:
            m["success_rate"] = self.success_rate
        for k, v in self.best.items():
            m[f"best_{k}"] = v
        if self.hypervolume is not None:
            m["hypervolume"] = self.hypervolume
        return {k: v for k, v in m.items() if math.isfinite(v)}


def summarize(
    objectives: Sequence[Objective], goal: GoalSpec | None, observations: Sequence[Observation]
) -> CampaignSummary:
    s = CampaignSummary()
    s.experiments_done = len(observations)
    s.experiments_failed = sum(not o.success for o in observations)
    if observations:
        s.success_rate = 1.0 - s.experiments_failed / len(observations)
    for obj in objectives:
        best_u, best_v, best_c = -np.inf, None, None
        for o in observations:
            v = observed_values(o).get(obj.name) if o.success else None
            if v is not None and _utility(obj, v) > best_u:
                best_u, best_v, best_c = _utility(obj, v), v, o.candidate_id
        if best_v is not None and best_c is not None:
            s.best[obj.name] = best_v
            s.best_candidate[obj.name] = best_c
    s.hypervolume = hypervolume(objectives, observations)
    for i, o in enumerate(observations):
        if o.success and goal_satisfied(goal, observed_values(o)):
            s.goal_hits += 1
            if s.first_goal_hit_at is None:
                s.first_goal_hit_at = i + 1
    return s
