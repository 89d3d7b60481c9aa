from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pymatgen.core import Lattice, Structure

from loop.errors import InputDataError
from surrogates.potentials.bench import bench_structures
from surrogates.potentials.cli import bench_screening
from surrogates.screening import structural_problem

FIGURES = {
    "seed": 4, "n_single": 3, "n_relax": 2, "mean_atoms": 5.5, "device": "cpu", "torch_threads": 2,
    "single_points": {"chgnet": {"batched": 41.5, "unbatched": 12.25}, "mace_tiny": {"batched": 300.0, "unbatched": 90.0}},
    "relaxations": {"chgnet": {"single_process_1_threads": 0.75, "best_single_process": 0.8125}},
    "single_points_per_s": 41.5, "relaxations_per_s": 0.8125, "speedup_2_workers": None, "overhead_fraction": 0.0625,
    "resumed_screen_s": 0.03125, "peak_rss_mb": 1234.0,
}


def test_cli_passes_its_options_and_prints_and_writes_every_figure(monkeypatch, tmp_path):
    """The command's own work: parse options into the benchmark's arguments, print each figure, write the JSON
    (the benchmark itself, minutes of CHGNet and MACE, is replaced by its recorded figures)."""
    calls = []

    def recorded(**kwargs):
        calls.append(kwargs)
        return FIGURES

    monkeypatch.setattr("surrogates.potentials.bench.run_screening_bench", recorded)
    out = tmp_path / "screening.json"
    args = ["--elements", "Li, O", "--n-single", "3", "--n-relax", "2", "--steps", "7", "--seed", "4", "--no-ray",
            "--mace-model", "small", "--trusted", "--json", str(out)]
    result = CliRunner().invoke(bench_screening, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (kw,) = calls
    assert kw["elements"] == ["Li", "O"] and (kw["n_single"], kw["n_relax"], kw["steps"], kw["seed"]) == (3, 2, 7, 4)
    assert kw["ray"] is False and kw["mace_model"] == "small" and kw["mace_trusted"] is True
    lines = result.output.splitlines()
    assert lines[0] == ("screening benchmark (seed 4, 3 single points, 2 relaxations, 5.5 atoms on average, "
                        "device cpu, 2 threads)")
    for potential, mode, value in [("chgnet", "single point batched", "41.5"), ("chgnet", "single point unbatched", "12.25"),
                                   ("mace_tiny", "single point batched", "300"), ("chgnet", "relax best_single_process", "0.8125")]:
        assert any(line.split() == [potential, *mode.split(), value] for line in lines), (potential, mode)
    for key, value in [("relaxations_per_s", "0.8125"), ("speedup_2_workers", "None"), ("overhead_fraction", "0.0625"),
                       ("peak_rss_mb", "1234")]:
        assert any(line.split() == [key, value] for line in lines), key
    assert json.loads(out.read_text()) == FIGURES


def test_bench_structures_are_small_valid_and_seeded():
    a = bench_structures(["Li", "Mn", "O"], 8, seed=3)
    b = bench_structures(["Li", "Mn", "O"], 8, seed=3)
    other = bench_structures(["Li", "Mn", "O"], 8, seed=4)
    assert len(a) == 8 and all(len(s) <= 20 for s in a)
    assert all(structural_problem(s) is None for s in a)
    assert all(np.allclose(x.cart_coords, y.cart_coords) for x, y in zip(a, b))
    assert not all(len(x) == len(y) and np.allclose(x.cart_coords, y.cart_coords) for x, y in zip(a, other))
    assert all(len(s) <= 4 for s in bench_structures(["Li", "Mn", "O"], 6, seed=3, max_atoms=4))


def test_bench_structures_from_a_csv_are_strained_copies_of_its_cifs(tmp_path):
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    csv = tmp_path / "pool.csv"
    pd.DataFrame({"cif": [nacl.to(fmt="cif")] * 3}).to_csv(csv, index=False)
    out = bench_structures(["ignored"], 2, seed=0, data=csv)
    assert len(out) == 2 and all(s.composition.reduced_formula == "NaCl" for s in out)
    for s in out:
        assert np.all(np.abs(np.array(s.lattice.abc) / 5.64 - 1) <= 0.03 + 1e-9)  # strained by up to 3 %
        assert not np.allclose(s.lattice.abc, nacl.lattice.abc)
    pd.DataFrame({"structure": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputDataError, match="bad.csv"):
        bench_structures(["Li"], 2, seed=0, data=tmp_path / "bad.csv")
