"""``crystaloop bench relax``: its figures, its options and a tiny real run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pymatgen.core import Lattice, Structure

from loop.interfaces import RelaxResult
from surrogates.potentials.bench_relax import compare_energies, generated_ternaries, run_relax_bench
from surrogates.potentials.cli import bench_relax


def _res(e_per_atom: float, converged: bool = True, steps: int = 10) -> RelaxResult:
    s = Structure(Lattice.cubic(3.0), ["Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return RelaxResult(s, 2 * e_per_atom, converged, steps)


def test_energy_comparison_counts_only_structures_converged_in_both():
    ref = [_res(-1.0), _res(-2.0), _res(-3.0, converged=False), _res(-4.0)]
    other = [_res(-1.0), _res(-2.004, steps=11), _res(-3.5), _res(-4.0, converged=False)]
    cmp = compare_energies(ref, other)
    assert cmp["converged_both"] == 2 and cmp["same_steps"] == 1
    assert cmp["converged_only_reference"] == 1 and cmp["converged_only_other"] == 1
    assert cmp["median_dE_meV"] == pytest.approx(2.0) and cmp["max_dE_meV"] == pytest.approx(4.0)
    assert cmp["p95_dE_meV"] == pytest.approx(3.8)


def test_generated_ternaries_are_ternary_small_and_seeded():
    a = generated_ternaries(["Li", "Mn", "O"], 2, seed=5, max_atoms=12)
    assert len(a) == 2 and all(len(s.composition.elements) == 3 and len(s) <= 12 for s in a)
    assert [s.composition for s in a] == [s.composition for s in generated_ternaries(["Li", "Mn", "O"], 2, seed=5, max_atoms=12)]
    with pytest.raises(ValueError, match="at least 3 elements"):
        generated_ternaries(["Li", "O"], 2, seed=0)


FIGURES = {
    "n": 4, "source": "ternaries", "elements": ["Li", "Mn", "O"], "mean_atoms": 9.5, "fmax": 0.05, "steps": 7, "threads": 1,
    "device": "cpu", "batch_size": 8, "today_relax_per_s": 0.33, "target_relax_per_s": 1.32,
    "unbatched": {"n": 4, "seconds": 8.0, "relaxations_per_s": 0.5, "converged": 3},
    "batched": {"first_order+vectorised": {
        "seconds": 2.0, "relaxations_per_s": 2.0, "converged": 3, "evaluate_share": 0.9, "graphs_share": 0.05, "speedup": 4.0,
        "vs_target": 1.515, "energies_vs_unbatched": {"converged_both": 3, "median_dE_meV": 0.25, "p95_dE_meV": 0.5,
                                                      "max_dE_meV": 0.75, "same_steps": 3}}},
}


def test_cli_passes_its_options_and_prints_the_figures(monkeypatch, tmp_path):
    calls = []

    def recorded(**kwargs):
        calls.append(kwargs)
        return FIGURES

    monkeypatch.setattr("surrogates.potentials.bench_relax.run_relax_bench", recorded)
    out = tmp_path / "relax.json"
    args = ["--n", "4", "--steps", "7", "--batch-size", "8", "--gradients", "first_order, chgnet", "--device", "cuda",
            "--unbatched-n", "2", "--json", str(out)]
    result = CliRunner().invoke(bench_relax, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (kw,) = calls
    assert (kw["n"], kw["steps"], kw["batch_size"], kw["device"], kw["unbatched_n"]) == (4, 7, 8, "cuda", 2)
    assert kw["gradients"] == ["first_order", "chgnet"] and kw["graphs"] == ["vectorised"] and kw["fmax"] == 0.05
    assert "speedup 4.00x" in result.output and "median 0.25, p95 0.5, max 0.75 meV/atom" in result.output
    assert json.loads(out.read_text()) == FIGURES
    CliRunner().invoke(bench_relax, ["--skip-unbatched"], catch_exceptions=False)
    assert calls[-1]["unbatched_n"] == 0


def test_cli_rejects_an_unknown_mode():
    result = CliRunner().invoke(bench_relax, ["--n", "2", "--gradients", "second_order"])
    assert result.exit_code == 2 and "unknown mode(s) ['second_order']" in result.output


@pytest.mark.slow
def test_a_tiny_run_compares_both_paths_and_reuses_its_reference(tmp_path):
    ref = tmp_path / "ref.json"
    kw = {"n": 2, "steps": 4, "max_atoms": 8, "batch_size": 2, "reference_file": ref}
    first = run_relax_bench(**kw)
    assert first["unbatched"]["n"] == 2 and "from_file" not in first["unbatched"] and ref.is_file()
    row = first["batched"]["first_order+vectorised"]
    assert row["model_calls"] <= 5 and row["structure_steps"] <= 10  # both in one batch, at most 5 evaluations each
    again = run_relax_bench(**kw)
    assert again["unbatched"]["from_file"] == str(ref)
    assert again["unbatched"]["seconds"] == first["unbatched"]["seconds"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where no CUDA device is visible")
def test_cuda_without_a_gpu_is_a_usage_error():
    result = CliRunner().invoke(bench_relax, ["--n", "2", "--device", "cuda"])
    assert result.exit_code == 2 and "torch sees no CUDA device" in result.output


def test_noise_floor_copies_move_every_atom_by_the_distance():
    from surrogates.potentials.bench_relax import _displaced

    s = _res(-1.0).structure
    (moved,) = _displaced([s], 1e-3, seed=0)
    shifts = np.linalg.norm(moved.cart_coords - s.cart_coords, axis=1)
    assert np.allclose(shifts, 1e-3) and moved.lattice == s.lattice
