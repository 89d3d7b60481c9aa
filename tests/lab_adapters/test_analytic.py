from __future__ import annotations

import pytest
from pydantic import ValidationError

from lab_adapters.analytic import AnalyticLab
from loop.clock import SimulatedClock
from loop.interfaces import PluginContext
from loop.records import Candidate, ExperimentRequest

B6 = {f"x{i}": (0.0, 1.0) for i in range(6)}
OPT = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]


def test_hartmann_truth_and_failures(tmp_path):
    lab = AnalyticLab(AnalyticLab.Config(bounds=B6, failure_rate=0.5), PluginContext(work_dir=tmp_path, clock=SimulatedClock()))
    assert lab.truth(dict(zip(B6, OPT))) == pytest.approx(-3.32237, abs=1e-4)
    reqs = [ExperimentRequest(request_id=f"r{i}", candidate=Candidate.from_params({k: 0.5 for k in B6} | {"x0": i / 40}), round=0) for i in range(40)]
    lab.submit(reqs)
    obs = lab.poll()
    failed = [o for o in obs if not o.success]
    assert 5 < len(failed) < 35 and all("instrument fault" in o.failure_reason for o in failed)


def test_bounds_must_match_function():
    with pytest.raises(ValidationError, match="takes 6 parameters"):
        AnalyticLab.Config(bounds={"a": (0, 1)})
    with pytest.raises(ValidationError, match="lo < hi"):
        AnalyticLab.Config(function="branin", bounds={"a": (1, 0), "b": (0, 1)})
