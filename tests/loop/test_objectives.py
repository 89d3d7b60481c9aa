from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from loop.objectives import Constraint, GoalSpec, Objective, goal_names, goal_satisfied

PEROV_GOAL = {
    "all": [
        {"name": "heat_ref", "op": "<=", "value": 0.2},
        {"any": [{"name": "dir_gap", "between": [1.5, 3]}, {"name": "ind_gap", "between": [1.5, 3]}]},
    ]
}


def parse(goal):
    return TypeAdapter(GoalSpec).validate_python(goal)


def test_nested_goal():
    g = parse(PEROV_GOAL)
    assert goal_satisfied(g, {"heat_ref": 0.1, "dir_gap": 0.5, "ind_gap": 2.0})
    assert not goal_satisfied(g, {"heat_ref": 0.3, "dir_gap": 2.0})
    assert not goal_satisfied(g, {"heat_ref": 0.1, "dir_gap": 3.5, "ind_gap": 1.0})
    assert not goal_satisfied(g, {"dir_gap": 2.0})  # missing property never satisfies
    assert goal_names(g) == {"heat_ref", "dir_gap", "ind_gap"}
    assert not goal_satisfied(None, {"heat_ref": 0.0})


def test_goal_roundtrip():
    g = parse(PEROV_GOAL)
    assert parse(TypeAdapter(GoalSpec).dump_python(g, mode="json")) == g


def test_condition_needs_op_or_between():
    with pytest.raises(ValidationError):
        parse({"name": "x"})
    with pytest.raises(ValidationError, match="lo <= hi"):
        parse({"name": "x", "between": [3, 1]})


def test_objective_window_validation_and_better():
    with pytest.raises(ValidationError, match="window"):
        Objective(name="gap", goal="target")
    with pytest.raises(ValidationError, match="lo <= hi"):
        Objective(name="gap", goal="target", window=(3, 1))
    w = Objective(name="gap", goal="target", window=(1.5, 3))
    assert w.better(2.0, 3.5) and w.distance(4.0) == pytest.approx(1.0)
    assert Objective(name="e", goal="minimize").better(-1, 0)
    assert Constraint(name="e_hull", op="<=", value=0.1).satisfied({"e_hull": 0.05})
    assert not Constraint(name="e_hull", op="<=", value=0.1).satisfied({})
