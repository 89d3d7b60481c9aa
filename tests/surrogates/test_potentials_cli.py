from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from surrogates.potentials.bench import bench_structures
from surrogates.potentials.cli import bench_screening
from surrogates.screening import structural_problem


def test_bench_command_documents_its_options():
    result = CliRunner().invoke(bench_screening, ["--help"])
    assert result.exit_code == 0
    for opt in ("--json", "--workers", "--n-relax", "--mace-model", "--data", "--seed"):
        assert opt in result.output


def test_bench_structures_are_small_valid_and_seeded():
    a = bench_structures(["Li", "Mn", "O"], 8, seed=3)
    b = bench_structures(["Li", "Mn", "O"], 8, seed=3)
    assert len(a) == 8 and all(len(s) <= 20 for s in a)
    assert all(structural_problem(s) is None for s in a)
    assert all(np.allclose(x.cart_coords, y.cart_coords) for x, y in zip(a, b))
