"""bench loop-prior: the figures it computes from proposals, truth and estimates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loop.bench.prior_check import auc, goal_e_hull_bound
from loop.config import load_config
from loop.errors import ConfigError

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_auc_counts_pairs_and_ties():
    hits = np.array([True, False, True, False])
    assert auc(np.array([4.0, 1.0, 3.0, 2.0]), hits) == 1.0
    assert auc(np.array([1.0, 4.0, 2.0, 3.0]), hits) == 0.0
    assert auc(np.array([1.0, 1.0, 1.0, 1.0]), hits) == 0.5
    assert auc(np.array([1.0, 2.0]), np.array([True, True])) is None


def test_goal_bound_is_read_from_the_committed_config():
    cfg = load_config(EXPERIMENTS / "crystal_demo.yaml")
    assert goal_e_hull_bound(cfg) == pytest.approx(0.02)  # the goal is measured (yield); the hit bound is the default
    assert goal_e_hull_bound(cfg, default=0.05) == pytest.approx(0.05)
    with pytest.raises(ConfigError, match="e_hull"):
        goal_e_hull_bound(load_config(EXPERIMENTS / "demo.yaml"), default=None)


def test_the_estimate_is_a_plug_in_resolved_through_the_registry(tmp_path):
    """loop/bench reaches the ranker's e_hull estimator by name, with validated options."""
    from loop import registry
    from loop.interfaces import PluginContext

    ctx = PluginContext(work_dir=tmp_path, seed=0)
    est = registry.create("estimators", {"kind": "hull", "options": {"steps": 3, "cache_dir": str(tmp_path)}}, ctx)
    assert type(est).__name__ == "HullEstimator" and est.config.steps == 3
    with pytest.raises(ConfigError, match="stepz"):
        registry.create("estimators", {"kind": "hull", "options": {"stepz": 3}}, ctx)
