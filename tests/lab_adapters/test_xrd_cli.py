from __future__ import annotations

import json

from click.testing import CliRunner

from lab_adapters.xrd.benchmark import benchmark_world
from lab_adapters.xrd.cli import bench_xrd, xrd
from lab_adapters.xrd.pattern import write_xy
from lab_adapters.xrd.simulate import PhaseComponent, SimulationConfig, simulate_pattern

LISTED, _ = benchmark_world()


def test_analyze_prints_writes_json_and_plots(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    for n in ["MnO", "TiO2_rutile", "CaTiO3"]:
        LISTED[n].to(filename=str(refs / f"{n}.cif"))
    pat = simulate_pattern([PhaseComponent(LISTED["MnO"], 0.4), PhaseComponent(LISTED["TiO2_rutile"], 0.6)],
                           SimulationConfig(ka2=True), seed=0)
    good = write_xy(pat, tmp_path / "sample.xy")
    bad = tmp_path / "bad.xy"
    bad.write_text("\n".join(f"{10 + i * 0.1} {'nan' if i == 3 else 1}" for i in range(40)))
    out = tmp_path / "out" / "res.json"
    res = CliRunner().invoke(xrd, ["analyze", str(good), str(bad), "--references", str(refs), "--target", "MnO",
                                   "--json", str(out), "--plot-dir", str(tmp_path / "plots")])
    assert res.exit_code == 1, res.output  # one bad file: reported, the others still analysed
    assert "bad.xy" in res.output and "NaN" in res.output
    assert "TiO2_rutile" in res.output and "Rwp" in res.output
    data = json.loads(out.read_text())
    assert list(data) == ["patterns"] and len(data["patterns"]) == 1
    entry = data["patterns"][0]
    assert list(entry) == ["file", "phases", "rwp"] and entry["file"] == str(good)
    assert {p["name"] for p in entry["phases"]} == {"MnO", "TiO2_rutile"}
    assert all(list(p) == ["name", "formula", "weight_fraction"] for p in entry["phases"])
    wf = {p["name"]: p["weight_fraction"] for p in entry["phases"]}
    assert abs(wf["MnO"] - 0.4) < 0.05
    png = tmp_path / "plots" / "sample_fit.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_analyze_rejects_unknown_target(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    LISTED["MnO"].to(filename=str(refs / "MnO.cif"))
    pat = write_xy(simulate_pattern([PhaseComponent(LISTED["MnO"], 1.0)], seed=0), tmp_path / "a.xy")
    res = CliRunner().invoke(xrd, ["analyze", str(pat), "--references", str(refs), "--target", "Nope"])
    assert res.exit_code != 0 and "Nope" in res.output


def test_bench_command_writes_figures(tmp_path):
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(bench_xrd, ["--n", "3", "--seed", "1", "--json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    for key in ("phase_set_accuracy", "wt_fraction_mae", "patterns_per_s"):
        assert key in data and key in res.output
    assert 0 <= data["phase_set_accuracy"] <= 1 and data["n"] == 3
