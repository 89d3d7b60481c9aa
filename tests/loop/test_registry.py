from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loop import registry
from loop.errors import ConfigError, PluginNotFoundError
from loop.interfaces import PluginContext


def test_builtins_are_registered_through_entry_points():
    assert "pool" in registry.available("generators")
    assert "table" in registry.available("labs")
    assert "random" in registry.available("rankers")
    assert "passthrough" in registry.available("screens")


def test_unknown_name_lists_valid_ones():
    with pytest.raises(PluginNotFoundError) as err:
        registry.load("labs", "no-such-lab")
    assert "table" in str(err.value) and "no-such-lab" in str(err.value)


def test_option_errors_name_the_field():
    with pytest.raises(ConfigError) as err:
        registry.validate_options("labs", "table", {"path": "x.csv", "outputs": {"a": "b"}, "latency_s": "slow"}, "lab")
    assert err.value.problems[0][0] == "lab.options.latency_s"
    with pytest.raises(ConfigError) as err:
        registry.validate_options("labs", "table", {"path": "x.csv", "outputs": {"a": "b"}, "colour": 1}, "lab")
    assert err.value.problems[0][0] == "lab.options.colour"


@pytest.mark.slow
def test_third_party_lab_package_registers_without_touching_this_repo(tmp_path: Path, monkeypatch):
    """A lab driver in its own package, pip-installed, is found by the registry."""
    pkg = tmp_path / "src"
    (pkg / "echo_lab").mkdir(parents=True)
    (pkg / "echo_lab" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from loop.interfaces import LabAdapter, PluginConfig
            from loop.records import LabCapabilities, Observation, Receipt

            class EchoConfig(PluginConfig):
                value: float = 1.0

            class EchoLab(LabAdapter):
                Config = EchoConfig
                name = "echo"

                def __init__(self, config, context):
                    super().__init__(config, context)
                    self._out = []

                def _capabilities(self):
                    return LabCapabilities(properties=["y"])

                def _submit(self, requests):
                    self._out += [Observation.from_raw(r.request_id, r.candidate.id, {"y": self.config.value}) for r in requests]
                    return [Receipt(request_id=r.request_id) for r in requests]

                def _poll(self):
                    out, self._out = self._out, []
                    return out
            """
        )
    )
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "echo-lab"
            version = "0.1"
            [project.entry-points."crystaloop.labs"]
            echo = "echo_lab:EchoLab"
            """
        )
    )
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(pkg)],
        check=True,
    )
    monkeypatch.syspath_prepend(str(target))
    assert "echo" in registry.available("labs")
    lab = registry.create("labs", {"kind": "echo", "options": {"value": 3.0}}, PluginContext(work_dir=tmp_path), "lab")
    from loop.records import Candidate, ExperimentRequest

    req = ExperimentRequest(request_id="r1", candidate=Candidate.from_params({"a": 1}), round=0)
    assert lab.submit([req])[0].accepted
    assert lab.poll()[0].value("y") == 3.0
    assert lab.submit([req])[0].duplicate  # idempotent on request_id
