"""``crystaloop bench loop``: arms share one campaign, the first hit is counted (a miss as budget + 1), truth is cached."""

from __future__ import annotations

import pytest

from generators.bench.loop import ARMS, OURS, RunResult, arm_config, experiments_to_goal, summarize_runs, truth_files
from loop.config import load_config, parse_config
from loop.errors import ConfigError
from tests.conftest import REPO

BENCH_CONFIG = REPO / "experiments" / "bench_loop.yaml"


def test_a_goal_never_reached_counts_budget_plus_one():
    assert experiments_to_goal(None, 12) == 13
    assert experiments_to_goal(3, 12) == 3


def test_arms_differ_only_in_generator_and_ranker_kind():
    base = load_config(BENCH_CONFIG)
    dumps = {arm: arm_config(base, arm, 4).model_dump(mode="json") for arm in ARMS}
    ours = dumps[OURS]
    assert (ours["generator"]["kind"], ours["ranker"]["kind"]) == ("gflownet", "botorch")
    assert (dumps["random"]["generator"]["kind"], dumps["random"]["ranker"]["kind"]) == ("random_crystal", "random")
    assert (dumps["gflownet_random"]["generator"], dumps["gflownet_random"]["ranker"]["kind"]) == (
        ours["generator"],
        "random",
    )
    limits = ("elements", "max_atoms", "min_elements")
    for arm, d in dumps.items():
        assert d["seed"] == 4
        assert {k: d["generator"]["options"][k] for k in limits} == {k: ours["generator"]["options"][k] for k in limits}
        same = {k: v for k, v in d.items() if k not in ("generator", "ranker", "name")}
        assert same == {k: v for k, v in ours.items() if k not in ("generator", "ranker", "name")}, arm


def test_unknown_arm_names_the_valid_ones():
    with pytest.raises(ConfigError, match="gflownet_random"):
        arm_config(load_config(BENCH_CONFIG), "nope", 0)


def test_medians_and_ratios():
    runs = [RunResult(OURS, s, n, n, n <= 4, 0, 1, 1.0) for s, n in enumerate([2, 4, 5])]
    runs += [RunResult("random", s, 4, n, n <= 4, 0, 1, 1.0) for s, n in enumerate([5, 8, 5])]
    out = summarize_runs(runs, [OURS, "random"], budget=4)
    assert out["results"][OURS]["median_experiments"] == 4
    assert out["results"]["random"]["per_seed"] == [5, 8, 5]
    assert out["results"]["random"]["goal_reached_fraction"] == 0
    assert out["ratio_vs_random"] == pytest.approx(5 / 4)


def _tiny(goal_value: float) -> dict:
    """Mg-O with 2 atoms, a minimal world, one proposal per round: seconds, not minutes."""
    return {
        "name": "tiny-loop",
        "objectives": [{"name": "yield", "goal": "maximize"}],
        "goal": {"all": [{"name": "yield", "op": ">=", "value": goal_value}]},
        "budget": {"experiments": 2, "batch_size": 1},
        "proposals": 1,
        "generator": {
            "kind": "gflownet",
            "options": {"elements": ["Mg", "O"], "max_atoms": 2, "min_elements": 2, "hidden": 16,
                        "steps_per_update": 1, "train": {"batch_size": 4}},
        },
        "screen": {"kind": "passthrough"},
        "ranker": {"kind": "botorch"},
        "lab": {"kind": "crystal", "options": {
            "elements": ["Mg", "O"], "prototype_kinds": ["hcp", "dimer", "rocksalt"], "reference_fmax": 0.2,
            "reference_steps": 15, "truth": {"fmax": 0.2, "steps": 10}, "latency_s": 10, "xrd": False}},
        "tracking": {"enabled": False},
    }


@pytest.mark.slow
def test_tiny_bench_counts_the_first_hit_and_the_second_arm_hits_the_truth_cache(tmp_path, monkeypatch):
    from generators.bench.loop import run_loop_bench
    from loop.store import Ledger

    cache = tmp_path / "cache"
    monkeypatch.setenv("CRYSTALOOP_CACHE", str(cache))
    data = _tiny(0.0)  # every yield the lab reads is >= 0: the first measured experiment hits
    data["budget"]["stop_on_goal"] = False  # both experiments run, so the hit is counted from the first
    out = run_loop_bench(parse_config(data), 1, tmp_path / "runs", arms=[OURS, "gflownet_random"])
    for arm in (OURS, "gflownet_random"):
        ledger = Ledger.for_directory(tmp_path / "runs" / arm / "seed0", None)
        try:
            observed = ledger.observations()
        finally:
            ledger.close()
        assert len(observed) == 2
        hits = [i + 1 for i, o in enumerate(observed) if "yield" in o.measured() and o.measured()["yield"].value >= 0]
        assert out["results"][arm]["per_seed"] == [hits[0]] == [1]
        assert out["results"][arm]["goal_reached_fraction"] == 1.0
    first, second = out["runs"]
    assert first["truth_computed"] >= 1 and first["experiments"] == second["experiments"] == 2
    # the same seed proposes the same first GFlowNet crystal in both arms: its truth is cached
    assert second["truth_computed"] < second["experiments"]
    assert truth_files(cache) == first["truth_computed"] + second["truth_computed"]
