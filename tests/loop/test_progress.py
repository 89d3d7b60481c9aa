from __future__ import annotations

import pytest

from loop.campaign.progress import hypervolume, observed_values, summarize
from loop.objectives import Condition, Objective
from loop.records import Observation, PhaseAnalysis


def obs(i, **values):
    return Observation.from_raw(f"r{i}", f"c{i}", values)


def test_summary_best_success_and_goal():
    objs = [Objective(name="y", goal="maximize"), Objective(name="z", goal="minimize")]
    data = [obs(0, y=1, z=5), obs(1, y=3, z=4), Observation(request_id="r2", candidate_id="c2", success=False), obs(3, y=2, z=1)]
    s = summarize(objs, Condition(name="z", op="<=", value=1.5), data)
    assert s.best == {"y": 3.0, "z": 1.0} and s.best_candidate["y"] == "c1"
    assert s.success_rate == pytest.approx(0.75)
    assert s.goal_hits == 1 and s.first_goal_hit_at == 4


def test_hypervolume_two_objectives():
    objs = [Objective(name="a", goal="maximize"), Objective(name="b", goal="maximize")]
    # points (0,0) (1,0.5) (0.5,1): reference is the worst corner (0,0)
    hv = hypervolume(objs, [obs(0, a=0, b=0), obs(1, a=1, b=0.5), obs(2, a=0.5, b=1)])
    assert hv == pytest.approx(1 * 0.5 + 0.5 * 0.5, rel=1e-6)
    assert hypervolume(objs[:1], []) is None


def test_yield_comes_from_xrd_phase_analysis():
    o = Observation(request_id="r", candidate_id="c", phase_analysis=PhaseAnalysis(target_fraction=0.7))
    assert observed_values(o)["yield"] == 0.7
