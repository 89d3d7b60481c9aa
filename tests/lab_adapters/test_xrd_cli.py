from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab_adapters.xrd.benchmark import benchmark_world
from lab_adapters.xrd.cli import bench_xrd, bench_xrd_measured, xrd
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
    assert entry["file"] == str(good)
    assert {p["name"] for p in entry["phases"]} == {"MnO", "TiO2_rutile"}
    assert all(p["kept_on_evidence"] and p["confidence"] > 0.99 for p in entry["phases"])
    wf = {p["name"]: p["weight_fraction"] for p in entry["phases"]}
    assert abs(wf["MnO"] - 0.4) < 0.05
    assert entry["target_fraction"] == wf["MnO"]
    assert entry["unidentified"]["detected"] is False
    # the printed lines carry the JSON's figures: one line per phase, and the target's share
    lines = [line.split() for line in res.output.splitlines()]
    for p in entry["phases"]:
        assert [p["name"], p["formula"], f"{100 * p['weight_fraction']:.1f}", "wt%"] in [w[:4] for w in lines], p["name"]
    assert f"target MnO: {100 * entry['target_fraction']:.1f} wt%" in res.output
    assert f"Rwp {100 * entry['rwp']:.2f} %" in res.output
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
    assert data["n"] == 3
    # the printed figures are the JSON's, and the wrong sets listed are the ones counted
    assert f"{data['phase_set_accuracy']:.3f}" in res.output
    assert f"{data['wt_fraction_mae']:.4f}" in res.output
    assert data["n_wrong_phase_set"] == len(data["failures"]) == round(3 * (1 - data["phase_set_accuracy"]))


DARA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "xrd_dara"


@pytest.mark.slow
@pytest.mark.skipif(not (DARA / "patterns").is_dir(), reason=f"measured patterns not found at {DARA}")
def test_bench_measured_command(tmp_path):
    pats = tmp_path / "patterns"
    pats.mkdir()
    for name in ("TiO2_0p4009-ZnO_0p6010--2min.xrdml", "ZnO_0p4006-In2O3_0p6008--2min.xrdml"):
        shutil.copy(DARA / "patterns" / name, pats / name)
    out = tmp_path / "m.json"
    res = CliRunner().invoke(bench_xrd_measured, [str(pats), "--references", str(DARA / "references"), "--truth",
                                                  str(DARA / "truth.csv"), "--no-distractors", "--json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["n_patterns"] == 2 and data["distractors"] is None
    assert data["phase_set_accuracy"] == 1.0 and data["unknown_detection_rate"] == 1.0
    assert "phase_set_accuracy" in res.output and "1.000" in res.output
    bad = CliRunner().invoke(bench_xrd_measured, [str(pats), "--references", str(DARA / "references"), "--truth",
                                                  str(pats / "TiO2_0p4009-ZnO_0p6010--2min.xrdml")])
    assert bad.exit_code != 0 and "truth table needs columns" in bad.output


def test_analyze_refines_texture_on_request(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    for n in ["TiO2_rutile", "CaO"]:
        LISTED[n].to(filename=str(refs / f"{n}.cif"))
    comps = [PhaseComponent(LISTED["TiO2_rutile"], 0.7, po_direction=(0, 0, 1), po_r=0.7),
             PhaseComponent(LISTED["CaO"], 0.3)]
    pat = write_xy(simulate_pattern(comps, SimulationConfig(counts=20000), seed=3), tmp_path / "tex.xy")
    out = tmp_path / "tex.json"
    res = CliRunner().invoke(xrd, ["analyze", str(pat), "--references", str(refs), "--texture", "TiO2_rutile=001",
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "texture [001] r 0.7" in res.output
    phases = {p["name"]: p for p in json.loads(out.read_text())["patterns"][0]["phases"]}
    assert phases["TiO2_rutile"]["preferred_orientation"][:3] == [0, 0, 1]
    assert phases["CaO"]["preferred_orientation"] is None
    bad = CliRunner().invoke(xrd, ["analyze", str(pat), "--references", str(refs), "--texture", "Nope"])
    assert bad.exit_code != 0 and "--texture" in bad.output and "Nope" in bad.output
    bad = CliRunner().invoke(xrd, ["analyze", str(pat), "--references", str(refs), "--texture", "CaO=1,2"])
    assert bad.exit_code != 0 and "Miller" in bad.output


def test_analyze_takes_several_reference_folders(tmp_path):
    first, second = tmp_path / "refs", tmp_path / "more"
    first.mkdir()
    second.mkdir()
    LISTED["MnO"].to(filename=str(first / "MnO.cif"))
    LISTED["TiO2_rutile"].to(filename=str(second / "TiO2_rutile.cif"))
    LISTED["CaO"].to(filename=str(second / "MnO.cif"))  # a name the first folder took: skipped
    pat = simulate_pattern([PhaseComponent(LISTED["MnO"], 0.4), PhaseComponent(LISTED["TiO2_rutile"], 0.6)], seed=0)
    xy = write_xy(pat, tmp_path / "two.xy")
    out = tmp_path / "two.json"
    res = CliRunner().invoke(xrd, ["analyze", str(xy), "--references", str(first), "--references", str(second),
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    phases = {p["name"]: p["formula"] for p in json.loads(out.read_text())["patterns"][0]["phases"]}
    assert phases == {"MnO": "MnO", "TiO2_rutile": "TiO2"}
