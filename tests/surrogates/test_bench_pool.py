from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from loop.errors import InputDataError
from surrogates.bench.protocol import PoolProblem, levels_reached, random_expectation, run_campaign
from surrogates.cli import bench_pool


def _problem(n: int = 40):
    rng = np.random.default_rng(0)
    X = rng.random((n, 2))
    return PoolProblem(ids=[f"d{i}" for i in range(n)], X=X, truth=X.sum(1), replicates=[np.array([v, v + 0.1]) for v in X.sum(1)])


def _first(policy_name: str, p: PoolProblem, seed: int, **kw) -> list[int]:
    from surrogates.bench.methods import make_policy

    policy, n_init = make_policy(policy_name, p, seed, **kw)
    return run_campaign(p, seed, policy, n_init=n_init, q=kw.get("q", 1), cap=n_init + 1)


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


def test_campaign_stops_at_the_level_the_tables_need():
    p = _problem(100)  # k = 5: n80 needs 4 targets
    worst_first = [int(j) for j in np.argsort(p.truth)]
    order = run_campaign(p, 0, lambda m, v, q: [j for j in worst_first if j not in m][:q], n_init=0, q=1, cap=100, stop_level=0.8)
    assert int(p.targets[order].sum()) == 4 and p.targets[order[-1]]
    assert levels_reached(p, order, 100)[0.8] == len(order)
    full = run_campaign(p, 0, lambda m, v, q: [j for j in worst_first if j not in m][:q], n_init=0, q=1, cap=100)
    assert len(full) == 100


def test_shared_start_is_the_same_designs_for_every_method_and_own_starts_differ():
    from surrogates.bench.methods import make_policy

    p = _problem()
    perm = [int(j) for j in np.random.default_rng(5).permutation(40)]
    for name in ("botorch", "botorch-plain", "random"):
        assert _first(name, p, 5, start=2)[:2] == perm[:2]
    own = {name: make_policy(name, p, 5, q=4)[1] for name in ("botorch", "botorch-plain", "random")}
    assert own == {"botorch": 3, "botorch-plain": 5, "random": 1}
    _, n_init = make_policy("botorch", p, 5, start=2, options={"n_init": 7})
    assert n_init == 2  # the shared start overrides the ranker's own n_init


def test_plain_peer_batch_uses_pending_points():
    """At q > 1 botorch-plain builds the batch by sequential greedy qLogNEI: near-copies of one good design are not all taken."""
    from surrogates.bench.methods import make_policy

    x = np.concatenate([np.linspace(0, 1, 30), 0.8 + 1e-4 * np.arange(6)])
    X = x[:, None]
    truth = np.sin(6 * x)
    p = PoolProblem(ids=[f"d{i}" for i in range(len(x))], X=X, truth=truth, replicates=[np.array([t]) for t in truth])
    measured = [0, 5, 10, 15, 20, 25, 29]
    policy, _ = make_policy("botorch-plain", p, 0)
    batch = policy(measured, [float(truth[j]) for j in measured], 4)
    assert len(set(batch)) == 4 and not set(batch) & set(measured)
    assert sum(j >= 30 for j in batch) <= 2  # top-4 analytic LogEI would take 4 of the 6 copies at x = 0.8


def test_best_peer_takes_each_peers_better_setting_and_ignores_random():
    from surrogates.bench.pool import best_peer

    results = {
        "shared": {"botorch": {"af80": 3.0}, "baybe": {"af80": 1.5}, "ax": {"af80": 1.9}, "random": {"af80": 9.0}},
        "own": {"botorch": {"af80": 2.0}, "baybe": {"af80": 2.2}, "ax": {"af80": 1.0}, "random": {"af80": 9.0}},
    }
    assert best_peer(results, ["baybe", "ax", "random"]) == ("baybe", "own")
    assert best_peer(results, ["ax"]) == ("ax", "shared")


@pytest.mark.slow
def test_cli_both_settings_every_campaign_cached(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((30, 2))
    lines = ["x1,x2,y"] + [f"{a},{b},{a + b + rng.normal() * 0.01}" for a, b in X]
    lines += [lines[1].rsplit(",", 1)[0] + ",0.5"]  # a replicate
    csv = tmp_path / "pool.csv"
    csv.write_text("\ufeff" + "\n".join(lines))
    args = [str(csv), "--seeds", "2", "--q", "2", "--workers", "1", "--cache-dir", str(tmp_path / "c"), "--stop-at", "1",
            "--peer", "botorch-plain", "--peer", "random",
            "--ranker-option", "mc_samples=32", "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "p.png")]
    res = CliRunner().invoke(bench_pool, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["n_designs"] == 30 and out["k"] == 2 and out["n_init"] == 2
    assert set(out["results"]) == {"shared", "own"}
    for rows in out["results"].values():
        assert set(rows) == {"botorch", "botorch-plain", "random"}
        for r in rows.values():
            assert {"n50", "n80", "n100", "af50", "af80", "af100", "ef"} <= set(r) and r["n100"] is not None
    # each row is the median over seeds of the levels of the cached campaigns (not only its keys)
    from surrogates.bench.pool import load_problem

    problem, _ = load_problem(csv)
    for setting, rows in out["results"].items():
        tag = "-n2-" if setting == "shared" else "-own-"
        for method, r in rows.items():
            files = [f for f in (tmp_path / "c").iterdir() if f"-{method}-v" in f.name and tag in f.name]
            levels = [levels_reached(problem, json.loads(f.read_text())["order"], problem.n) for f in files]
            assert len(levels) == 2, (setting, method)
            for level, key in ((0.5, "n50"), (0.8, "n80"), (1.0, "n100")):
                assert r[key] == float(np.median([lv[level] for lv in levels])), (setting, method, key)
            m80 = int(np.ceil(0.8 * problem.k))
            assert r["af80"] == pytest.approx(random_expectation(m80, problem.n, problem.k) / r["n80"])
    assert out["best_peer"]["peer"] == "botorch-plain"
    assert len(list((tmp_path / "c").iterdir())) == 12  # 3 methods x 2 settings x 2 seeds
    assert (tmp_path / "p.png").stat().st_size > 1000
    again = CliRunner().invoke(bench_pool, [*args[:-4], "--json", str(tmp_path / "r2.json")], catch_exceptions=False)
    assert again.exit_code == 0
    second = json.loads((tmp_path / "r2.json").read_text())
    assert all(b["cached_seeds"] == 2 for rows in second["bands_5_95"].values() for b in rows.values())
    assert second["results"] == out["results"] or all(
        second["results"][s][m]["n80"] == out["results"][s][m]["n80"] for s in out["results"] for m in out["results"][s]
    )


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


@pytest.mark.slow
def test_ax_peer_attaches_the_shared_start_and_measures_pool_designs():
    pytest.importorskip("ax")
    from surrogates.bench.methods import make_policy, peer_version

    rng = np.random.default_rng(2)
    W = rng.dirichlet(np.ones(3), 25)
    p = PoolProblem(ids=[f"d{i}" for i in range(25)], X=W, truth=W[:, 0], replicates=[np.array([v]) for v in W[:, 0]])
    policy, n_init = make_policy("ax", p, 0, start=2)
    assert n_init == 2
    order = run_campaign(p, 0, policy, n_init=n_init, q=2, cap=6)
    assert len(order) == 6 and len(set(order)) == 6
    assert order[:2] == [int(j) for j in np.random.default_rng(0).permutation(25)[:2]]
    assert "ax1.3" in peer_version("ax")


def test_sum_rule_fires_on_fractions_only(data_dir):
    from surrogates.bench.ax_peer import sum_total
    from surrogates.bench.pool import load_problem

    sets = data_dir / "liang2021"
    p3ht, _ = load_problem(sets / "P3HT_dataset.csv")
    perov, _ = load_problem(sets / "Perovskite_dataset.csv", minimize=True)
    autoam, _ = load_problem(sets / "AutoAM_dataset.csv")
    assert sum_total(p3ht.X) == pytest.approx(100, abs=0.1)
    assert sum_total(perov.X) == pytest.approx(1, abs=0.01)
    assert sum_total(autoam.X) is None
    assert sum_total(np.array([[0.5, 0.5], [0.2, 0.9]])) is None


def _without_package(monkeypatch, package: str) -> None:
    """``importlib.metadata.version`` as if ``package`` were not installed."""
    import importlib.metadata

    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == package:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)


def _small_pool(tmp_path):
    csv = tmp_path / "pool.csv"
    csv.write_text("a,b,y\n" + "\n".join(f"{i},{i % 3},{i}" for i in range(10)))
    return csv


def test_missing_peer_names_the_install_command(tmp_path, monkeypatch):
    from surrogates.bench.methods import check_methods
    from surrogates.bench.protocol import PeerNotInstalledError

    _without_package(monkeypatch, "ax-platform")
    with pytest.raises(PeerNotInstalledError, match=r"pip install 'crystaloop\[bench\]'"):
        check_methods(["botorch", "ax"])
    csv = _small_pool(tmp_path)
    res = CliRunner().invoke(bench_pool, [str(csv), "--peer", "ax", "--no-cache"])
    assert res.exit_code == 1 and "pip install" in res.output and res.exception is not None
    assert "Traceback" not in res.output
    res = CliRunner().invoke(bench_pool, [str(csv), "--peer", "nope", "--no-cache"])
    assert res.exit_code == 1 and "'nope'" in res.output and "botorch-plain" in res.output


def test_missing_baybe_names_the_install_command(tmp_path, monkeypatch):
    _without_package(monkeypatch, "baybe")
    res = CliRunner().invoke(bench_pool, [str(_small_pool(tmp_path)), "--peer", "baybe", "--no-cache"])
    assert res.exit_code == 1 and "pip install 'crystaloop[bench]'" in res.output and "baybe" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("a,b,y\n1,x,3\n2,1,4\n3,2,5\n", "'b'"),  # non-numeric input
        ("a,b,y\n1,,3\n2,1,4\n3,2,5\n", "'b'"),  # empty input cell
        ("a,b,y\n1,2,3\n", "'y'"),  # a single row
        ("a,b,y\n1,2,\n2,1,\n3,2,\n", "'y'"),  # no objective value at all
        ("a,b,y\n1,2,3\n2,1,bad\n3,2,5\n", "'y'"),  # non-numeric objective
        ("a,b,y\n1,1,3\n1,1,4\n1,1,5\n", "constant"),  # every input constant
        ("a,b,y\n1,2,3\n2,1,3\n3,2,3\n", "'y'"),  # constant objective
        ("a,b,y\n1,2,inf\n2,1,4\n3,2,5\n4,1,6\n", "'y'"),  # infinite objective
        ("a,b,y\n1,2,NaN\n2,1,nan\n3,2,NaN\n", "'y'"),  # NaN objectives only
        ("a,b,y\n1,inf,3\n2,1,4\n3,2,5\n", "'b'"),  # infinite input
        ("a;b;y\n1;2;3\n2;1;4\n3;2;5\n", "';'"),  # one column: another separator
    ],
)
def test_bad_pool_csv_gets_a_message_naming_the_column(tmp_path, text, column):
    from surrogates.bench.pool import load_problem

    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(InputDataError, match=column):
        load_problem(csv)
    res = CliRunner().invoke(bench_pool, [str(csv), "--no-cache", "--peer", "random"])
    assert res.exit_code == 1 and column.strip("'") in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_cli_warns_of_a_constant_column_by_name(tmp_path):
    """The installed command (logging as a user sees it): the constant column and the NaN rows named, the rest runs."""
    import subprocess
    import sys

    csv = tmp_path / "pool.csv"
    csv.write_text("a,const,y\n" + "\n".join(f"{i},7,{'NaN' if i == 2 else i}" for i in range(8)))
    cmd = [sys.executable, "-m", "loop.cli.main", "bench", "pool", str(csv), "--no-cache", "--peer", "random", "--seeds", "1",
           "--setting", "shared", "--workers", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert "['const'] are constant" in res.stderr and "1 row(s) without a finite 'y'" in res.stderr
    assert "N=7 designs" in res.stdout and "Traceback" not in res.stderr


def test_constant_input_and_nan_objectives_are_left_out_with_a_warning(tmp_path, caplog):
    from surrogates.bench.pool import load_problem

    csv = tmp_path / "pool.csv"
    rows = [f"{i},7,{i % 4},{'' if i == 3 else i * 0.5}" for i in range(12)]
    csv.write_text("a,const,b,y\n" + "\n".join(rows))
    with caplog.at_level("WARNING"):
        p, _ = load_problem(csv)
    assert p.X.shape == (11, 2)  # the constant column and the row without y are gone
    assert "const" in caplog.text and "'y'" in caplog.text


def test_synthetic_pools_are_reproducible_and_load_as_pools(tmp_path):
    from surrogates.bench.ax_peer import sum_total
    from surrogates.bench.pool import load_problem
    from surrogates.cli import bench_synthetic_pools

    res = CliRunner().invoke(bench_synthetic_pools, [str(tmp_path / "a")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    CliRunner().invoke(bench_synthetic_pools, [str(tmp_path / "b")], catch_exceptions=False)
    sizes = {"hartmann3": 150, "ackley4": 200, "logscale6": 180, "mixture5": 180, "categorical3": 160, "hetero4": 160}
    problems = {}
    for name, n in sizes.items():
        a, b = (tmp_path / d / f"{name}.csv" for d in "ab")
        assert a.read_text() == b.read_text()
        problem, _ = load_problem(a)
        assert len(problem.ids) == n and problem.k == int(np.ceil(0.05 * n))
        problems[name] = problem
    assert sum_total(problems["mixture5"].X) == pytest.approx(100, abs=0.1)
    assert all(sum_total(problems[n].X) is None for n in sizes if n != "mixture5")
    assert sorted(np.unique(problems["categorical3"].X[:, 0])) == [1, 2, 3, 4, 5]
    # heteroscedastic: replicate spread grows along the first input
    spread = np.array([np.std(r) for r in problems["hetero4"].replicates])
    u = problems["hetero4"].X[:, 0]
    assert spread[u > 0.7].mean() > 4 * spread[u < 0.3].mean()
