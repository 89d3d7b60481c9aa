"""The example driver of docs/writing-a-lab-adapter.md, installed as a third party would."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loop import registry
from loop.errors import LabError
from loop.interfaces import PluginContext
from loop.records import Candidate, ExperimentRequest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "robot_lab_driver"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example")
    src = tmp / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))  # keep the repo clean
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(src)],
        check=True,
    )
    sys.path.insert(0, str(target))
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("robot_lab_driver")]:
            del sys.modules[name]


def test_registry_finds_the_driver_and_it_runs_submit_and_poll(installed, tmp_path):
    assert "robot" in registry.available("labs")
    from robot_lab_driver import FakeRobot

    robot = FakeRobot(delay_s=0.2, capacity=2)
    with robot as port:
        spec = {"kind": "robot", "options": {"port": port, "timeout_s": 2}}
        lab = registry.create("labs", spec, PluginContext(work_dir=tmp_path, name="lab"), "lab")
        assert type(lab).__module__ == "robot_lab_driver.driver"
        assert lab.capabilities().properties == ["absorbance"]
        reqs = [
            ExperimentRequest(request_id=f"r{i}", candidate=Candidate.from_params({"x": 0.1 * i, "y": 0.3}), round=0)
            for i in range(4)
        ]
        assert all(r.accepted for r in lab.submit(reqs))
        assert all(r.duplicate for r in lab.submit(reqs[:2]))
        seen = {}
        deadline = time.monotonic() + 10
        while len(seen) < 4 and time.monotonic() < deadline:
            seen.update({o.request_id: o for o in lab.poll()})
            time.sleep(0.05)
        assert sorted(seen) == ["r0", "r1", "r2", "r3"]
        assert seen["r3"].value("absorbance") > seen["r0"].value("absorbance")  # x=0.3 is the optimum
        # a restarted driver knows what the robot has and starts nothing twice
        lab2 = registry.create("labs", spec, PluginContext(work_dir=tmp_path, name="lab"), "lab")
        assert lab2.known(["r0", "r3", "r9"]) == {"r0", "r3"}
        assert robot.starts == 4
    # the robot is gone: a transient error crystaloop retries
    with pytest.raises(LabError) as err:
        lab2.capabilities()
    assert err.value.transient


def test_driver_options_are_validated_by_name(installed):
    from loop.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        registry.validate_options("labs", "robot", {"port": 99999}, "lab")
    assert err.value.problems[0][0] == "lab.options.port"
