from __future__ import annotations

import json
from pathlib import Path

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
