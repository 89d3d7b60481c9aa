from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from generators.cli import bench_generator


def _same_samples(n: int, max_atoms: int = 8) -> list:
    """What ``bench generator --elements Na,Cl --max-atoms M --n N --train-seconds 0 --seed 0`` samples."""
    from generators.gflownet import GFlowNetGenerator
    from loop.interfaces import PluginContext

    gen = GFlowNetGenerator(GFlowNetGenerator.Config(elements=["Na", "Cl"], max_atoms=max_atoms), PluginContext(work_dir=Path("."), seed=0))
    return gen.sample(n, None, np.random.default_rng(0))


def test_bench_generator_reports_the_metrics_of_its_samples_against_the_reference(tmp_path: Path) -> None:
    """The figures are those of the samples drawn with the given options, and novelty is counted
    against ``--reference``: a reference holding one of the samples makes that sample not novel."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from generators.gflownet.validity import structure_valid

    samples = _same_samples(15)
    valid = {c.id: c.structure for c in samples if structure_valid(c.structure)}
    known = next(iter(valid.values()))
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"cif": [known.to(fmt="cif")]}).to_csv(reference, index=False)
    out = tmp_path / "g.json"
    args = ["--elements", "Na,Cl", "--max-atoms", "8", "--n", "15", "--train-seconds", "0", "--skip-enumerable",
            "--pyxtal-samples", "2", "--baseline-samples", "0", "--sun-samples", "0", "--reference", str(reference),
            "--json", str(out)]
    result = CliRunner().invoke(bench_generator, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["n"] == 15 and data["elements"] == ["Na", "Cl"] and data["reference"] == str(reference)
    assert data["structural_validity"] == pytest.approx(len([c for c in samples if structure_valid(c.structure)]) / 15)
    assert data["uniqueness"] == pytest.approx(len({c.id for c in samples}) / 15)
    assert data["n_compositions"] == len({c.structure.composition.reduced_formula for c in samples})
    matcher = StructureMatcher()
    matched = sum(s.composition.reduced_formula == known.composition.reduced_formula and matcher.fit(s, known) for s in valid.values())
    assert matched >= 1 and data["novelty"] == pytest.approx(1 - matched / len(valid))
    assert data["pyxtal_success"] in (0.0, 0.5, 1.0) and data["sun_rate"] is None
    shown = {line.split()[0]: line.split()[-1] for line in result.output.splitlines() if line.startswith("  ")}
    assert shown["structural_validity"] == f"{data['structural_validity']:.4g}" and shown["novelty"] == f"{data['novelty']:.4g}"


@pytest.mark.slow
def test_bench_generator_sun_rate_is_mlip_based_on_a_stated_subset(tmp_path: Path, monkeypatch) -> None:
    """With a threshold no relaxed crystal misses, every relaxed sample is stable (and, without a reference,
    novel); with one none meets, none is."""
    from generators.bench.sun import sun_rate

    monkeypatch.setenv("CRYSTALOOP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "g.json"
    args = ["--elements", "Na,Cl", "--max-atoms", "4", "--n", "6", "--train-seconds", "0", "--skip-enumerable",
            "--pyxtal-samples", "1", "--baseline-samples", "0", "--sun-samples", "3", "--sun-steps", "20",
            "--sun-threshold", "100", "--json", str(out)]
    result = CliRunner().invoke(bench_generator, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["sun_n"] == 3 and data["sun_steps"] == 20 and data["sun_threshold_ev"] == 100
    assert "MLIP-based" in data["sun_basis"]
    assert data["stable_rate"] == pytest.approx(1 - sum(data["sun_rejected"].values()) / 3)
    assert data["relaxed"] >= 1 and data["stable_rate"] > 0
    assert data["sun_rate"] == data["stable_unique_rate"]  # no reference: every unique stable sample is novel
    assert "sun_rate (MLIP-based, n 3)" in result.output
    cands = _same_samples(6, max_atoms=4)[:3]  # the CLI's first 3 samples
    none = sun_rate(cands, ["Na", "Cl"], threshold=-100.0, steps=20, work_dir=tmp_path / "sun")
    assert none["stable_rate"] == 0 and none["sun_rate"] == 0 and none["relaxed"] == data["relaxed"]
