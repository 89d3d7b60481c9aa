"""``crystaloop bench parallel``'s loop-overhead split on a small analytic campaign."""

from __future__ import annotations

from pathlib import Path

from loop.study.bench import measure_loop_overhead

DEMO = Path(__file__).resolve().parents[2] / "experiments" / "demo.yaml"


def test_loop_overhead_splits_round_time_into_stages_and_the_loop(tmp_path):
    out = measure_loop_overhead(DEMO, ["budget.experiments=8", "budget.batch_size=2", "lab.options.latency_s=0"], tmp_path)
    assert out["experiments"] == 8 and out["rounds"] == 4
    assert set(out["stage_s"]) >= {"ranker", "generator", "lab"}
    # stage time before the first round (building the lab) is not charged to the rounds
    assert 0 <= out["loop_overhead_fraction"] < 1
    assert 0 <= out["loop_overhead_fraction_cpu"] < 1
    assert len(out["loop_cpu_s_by_round"]) == out["rounds"]
    assert all(x >= 0 for x in out["loop_cpu_s_by_round"])
    assert out["ledger_bytes"] > 0 and out["mlflow_bytes"] > 0
