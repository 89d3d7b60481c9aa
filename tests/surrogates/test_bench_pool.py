from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from surrogates.bench.protocol import PoolProblem, levels_reached, random_expectation, run_campaign
from surrogates.cli import bench_pool


def _problem():
    rng = np.random.default_rng(0)
    X = rng.random((40, 2))
    return PoolProblem(ids=[f"d{i}" for i in range(40)], X=X, truth=X.sum(1), replicates=[np.array([v, v + 0.1]) for v in X.sum(1)])


def test_protocol_levels_and_random_expectation():
    p = _problem()
    assert p.k == 2 and p.targets.sum() == 2
    order = [int(j) for j in np.argsort(-p.truth)]
    assert levels_reached(p, order, 40) == {0.5: 1, 0.8: 2, 1.0: 2}
    assert levels_reached(p, order[2:5], 3) == {0.5: 4, 0.8: 4, 1.0: 4}
    assert random_expectation(1, 40, 2) == pytest.approx(41 / 3)


def test_campaign_without_replacement_and_shared_init():
    p = _problem()
    order = run_campaign(p, 3, lambda m, v, q: [j for j in range(40) if j not in m][:q], n_init=4, q=3, cap=40)
    assert len(order) == len(set(order))
    assert order[:4] == [int(j) for j in np.random.default_rng(3).permutation(40)[:4]]


@pytest.mark.slow
def test_cli_json_keys_and_cache(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((30, 2))
    lines = ["x1,x2,y"] + [f"{a},{b},{a + b + rng.normal() * 0.01}" for a, b in X]
    lines += [lines[1].rsplit(",", 1)[0] + ",0.5"]  # a replicate
    csv = tmp_path / "pool.csv"
    csv.write_text("\ufeff" + "\n".join(lines))
    args = [str(csv), "--seeds", "2", "--q", "2", "--workers", "1", "--cache-dir", str(tmp_path / "c"),
            "--ranker-option", "mc_samples=32", "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "p.png")]
    res = CliRunner().invoke(bench_pool, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["n_designs"] == 30 and out["k"] == 2
    assert set(out["results"]) == {"botorch", "botorch-plain", "random"}
    for r in out["results"].values():
        assert {"n50", "n80", "n100", "af50", "af80", "af100", "ef"} <= set(r)
    assert len(list((tmp_path / "c").iterdir())) == 4  # 2 peers x 2 seeds
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.slow
def test_baybe_peer_valid_campaign_and_versioned_cache_key():
    pytest.importorskip("baybe")
    from surrogates.bench.methods import make_policy, peer_version

    p = _problem()
    policy, n_init = make_policy("baybe", p, 0, q=2)
    assert n_init == 2
    order = run_campaign(p, 0, policy, n_init=n_init, q=2, cap=8)
    assert len(order) == 8 and len(set(order)) == 8
    assert order[:2] == [int(j) for j in np.random.default_rng(0).permutation(40)[:2]]  # the shared random start
    assert "baybe0." in peer_version("baybe")


def test_synthetic_pools_are_reproducible_and_load_as_pools(tmp_path):
    from surrogates.bench.pool import load_problem
    from surrogates.cli import bench_synthetic_pools

    res = CliRunner().invoke(bench_synthetic_pools, [str(tmp_path / "a")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    CliRunner().invoke(bench_synthetic_pools, [str(tmp_path / "b")], catch_exceptions=False)
    sizes = {"hartmann3": 150, "ackley4": 200, "logscale6": 180}
    for name, n in sizes.items():
        a, b = (tmp_path / d / f"{name}.csv" for d in "ab")
        assert a.read_text() == b.read_text()
        problem, _ = load_problem(a)
        assert len(problem.ids) == n and problem.k == int(np.ceil(0.05 * n))
