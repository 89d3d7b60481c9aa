from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from loop.errors import InputDataError
from surrogates.bench.discovery import load_discovery, run_discovery
from surrogates.cli import bench_discovery

PEROV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "perov5" / "val.csv"
if not PEROV.is_file():
    PEROV = Path("/work/shared/data/perov5/val.csv")


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    if not PEROV.is_file():
        pytest.skip(f"{PEROV} not available")
    frame = pd.read_csv(PEROV)
    hit = (frame.heat_ref <= 0.2) & (frame.dir_gap.between(1.5, 3) | frame.ind_gap.between(1.5, 3))
    small = pd.concat([frame[hit], frame[~hit].head(36)])
    path = tmp_path_factory.mktemp("perov") / "small.csv"
    small.to_csv(path, index=False)
    return path


def test_targets_are_heat_and_either_gap(small_csv):
    p = load_discovery(small_csv)
    assert p.n == 40 and int(p.targets.sum()) == 4
    with pytest.raises(InputDataError, match="lo > hi"):
        load_discovery(small_csv, window=(3.0, 1.5))


@pytest.mark.slow
def test_cli_finds_targets_and_writes_json(small_csv, tmp_path):
    out = tmp_path / "d.json"
    res = CliRunner().invoke(
        bench_discovery, [str(small_csv), "--seeds", "2", "--q", "5", "--ranker-option", "mc_samples=32", "--json", str(out)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"botorch", "random"}
    for r in report["results"].values():
        assert 1 <= r["n_first"] <= r["n_all"] <= 41


def test_random_matches_expectation_roughly(small_csv):
    rep = run_discovery(small_csv, seeds=20, q=5, rankers=[])
    assert set(rep["results"]) == {"random"}
    assert abs(rep["results"]["random"]["n_all"] - rep["random_expectation"]["n_all"]) < 12
    assert rep["results"]["random"]["found"] == 4  # no cap: every target is found


def test_found_and_stable_counts_stop_at_the_cap(small_csv):
    rep = run_discovery(small_csv, seeds=4, q=5, rankers=[], max_experiments=10)
    r = rep["results"]["random"]
    assert 0 <= r["found"] <= 4 and 0 <= r["stable_measured"] <= 10
    for first, full, found, stable in rep["per_seed"]["random"]:
        assert (full <= 10) == (found == 4) and (first <= 10) == (found >= 1)
