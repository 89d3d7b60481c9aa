from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from generators.cli import bench_generator


def test_bench_generator_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    result = CliRunner().invoke(
        bench_generator,
        [
            "--elements",
            "Na,Cl",
            "--max-atoms",
            "8",
            "--n",
            "15",
            "--train-seconds",
            "0",
            "--skip-enumerable",
            "--pyxtal-samples",
            "2",
            "--baseline-samples",
            "0",
            "--sun-samples",
            "0",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    for key in (
        "structural_validity",
        "smact_validity",
        "decoded_per_s",
        "sun_rate",
        "uniqueness",
        "novelty",
        "n_space_groups",
        "n_compositions",
        "pyxtal_per_s",
    ):
        assert key in data
    assert data["n"] == 15 and 0 <= data["structural_validity"] <= 1
    assert "structural_validity" in result.output


@pytest.mark.slow
def test_bench_generator_sun_rate_is_mlip_based_on_a_stated_subset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CRYSTALOOP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "g.json"
    args = ["--elements", "Na,Cl", "--max-atoms", "4", "--n", "6", "--train-seconds", "0", "--skip-enumerable",
            "--pyxtal-samples", "1", "--baseline-samples", "0", "--sun-samples", "3", "--sun-steps", "20",
            "--json", str(out)]
    result = CliRunner().invoke(bench_generator, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["sun_n"] == 3 and data["sun_steps"] == 20
    assert "MLIP-based" in data["sun_basis"]
    assert 0 <= data["sun_rate"] <= data["stable_unique_rate"] <= data["stable_rate"] <= 1
    assert "sun_rate (MLIP-based, n 3)" in result.output
