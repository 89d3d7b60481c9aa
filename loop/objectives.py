"""What a campaign optimises (objectives), must respect (constraints) and stops on (goal).

A goal is a tree of conditions::

    goal:
      all:
        - {name: heat_ref, op: "<=", value: 0.2}
        - any:
            - {name: dir_gap, between: [1.5, 3.0]}
            - {name: ind_gap, between: [1.5, 3.0]}

A missing property never satisfies a condition.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AllOf", "AnyOf", "Condition", "Constraint", "GoalSpec", "Objective", "goal_names", "goal_satisfied"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Objective(_Spec):
    """A named property to ``maximize``, ``minimize`` or bring into a ``target`` window."""

    name: str
    goal: Literal["maximize", "minimize", "target"] = "maximize"
    window: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check_window(self) -> Objective:
        if self.goal == "target":
            if self.window is None:
                raise ValueError(f"objective {self.name!r}: goal 'target' needs window: [lo, hi]")
            lo, hi = self.window
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(f"objective {self.name!r}: window needs finite lo <= hi, got [{lo}, {hi}]")
        elif self.window is not None:
            raise ValueError(f"objective {self.name!r}: window is only used with goal 'target'")
        return self

    @property
    def sign(self) -> float:
        """+1 when larger is better, -1 when smaller is better (0 for windows)."""
        return {"maximize": 1.0, "minimize": -1.0, "target": 0.0}[self.goal]

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        if self.goal == "target":
            return self.distance(a) < self.distance(b)
        return a * self.sign > b * self.sign

    def distance(self, value: float) -> float:
        """Distance from the target window (0 inside)."""
        assert self.window is not None
        lo, hi = self.window
        return max(lo - value, 0.0, value - hi)


class Constraint(_Spec):
    """An outcome bound such as ``e_hull <= 0.1``."""

    name: str
    op: Literal["<=", ">=", "<", ">"]
    value: float

    def satisfied(self, values: Mapping[str, float]) -> bool:
        v = values.get(self.name)
        return v is not None and math.isfinite(v) and _OPS[self.op](v, self.value)


class Condition(_Spec):
    """``{name, op, value}`` or ``{name, between: [lo, hi]}``."""

    name: str
    op: Literal["<=", ">=", "<", ">"] | None = None
    value: float | None = None
    between: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if (self.between is None) == (self.op is None):
            raise ValueError(f"condition on {self.name!r}: give either op + value or between: [lo, hi]")
        if self.op is not None and self.value is None:
            raise ValueError(f"condition on {self.name!r}: op {self.op!r} needs a value")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError(f"condition on {self.name!r}: between needs lo <= hi, got {list(self.between)}")
        return self

    def satisfied(self, values: Mapping[str, float]) -> bool:
        v = values.get(self.name)
        if v is None or not math.isfinite(v):
            return False
        if self.between is not None:
            return self.between[0] <= v <= self.between[1]
        assert self.op is not None and self.value is not None
        return _OPS[self.op](v, self.value)


class AllOf(_Spec):
    all: list[GoalSpec] = Field(min_length=1)

    def satisfied(self, values: Mapping[str, float]) -> bool:
        return all(c.satisfied(values) for c in self.all)


class AnyOf(_Spec):
    any: list[GoalSpec] = Field(min_length=1)

    def satisfied(self, values: Mapping[str, float]) -> bool:
        return any(c.satisfied(values) for c in self.any)


GoalSpec = Union[Condition, AllOf, AnyOf]  # noqa: UP007 - a runtime alias for pydantic
AllOf.model_rebuild()
AnyOf.model_rebuild()


def goal_satisfied(goal: GoalSpec | None, values: Mapping[str, float]) -> bool:
    """Whether measured ``values`` meet the goal (``False`` when there is no goal)."""
    return goal is not None and goal.satisfied(values)


def goal_names(goal: GoalSpec | None) -> set[str]:
    """The property names a goal refers to."""
    if goal is None:
        return set()
    if isinstance(goal, Condition):
        return {goal.name}
    children = goal.all if isinstance(goal, AllOf) else goal.any
    return set().union(*(goal_names(c) for c in children))
