from __future__ import annotations

import numpy as np
import pytest
import torch

from generators.bench.enumerable import ENUMERABLE_CONFIG, enumerable_check
from generators.gflownet.dag import EnumeratedDAG
from generators.gflownet.env import CrystalEnv, EnvConfig
from generators.gflownet.policy import GFlowNetPolicy
from generators.gflownet.sampler import rollout

TINY = {
    "elements": ["Na", "Cl"],
    "space_groups": [221, 225],
    "max_atoms": 4,
    "coord_bins": 1,
    "vpa_bins": [12.0, 20.0],
    "ratio_bins": [1.0],
    "angle_bins": [90.0],
}


@pytest.fixture(scope="module")
def dag() -> EnumeratedDAG:
    return EnumeratedDAG(CrystalEnv(EnvConfig(**TINY)))


def test_exact_distribution_matches_sampling(dag: EnumeratedDAG) -> None:
    torch.manual_seed(0)
    env = dag.env
    policy = GFlowNetPolicy(env.feature_dim, 0, env.n_actions, env.n_bwd_actions, hidden=32)
    cond = torch.zeros(0)
    p = dag.terminal_distribution(policy, cond)
    assert p.sum() == pytest.approx(1.0) and np.all(p > 0)
    trajs = rollout(dag, policy, 4000, cond, np.random.default_rng(0))
    pos = {int(t): i for i, t in enumerate(dag.terminals)}
    freq = np.bincount([pos[t.terminal] for t in trajs], minlength=len(p)) / 4000
    assert np.abs(freq - p).sum() < 0.15
    # the live environment agrees with the table
    for t in trajs[:20]:
        s = env.initial_state()
        for a in t.actions:
            s = env.step(s, a)
        assert dag.states[t.terminal] == s and env.is_terminal(s)


def test_l1_definition() -> None:
    assert EnumeratedDAG.l1(np.array([0.5, 0.5]), np.log(np.array([1.0, 1.0]))) == pytest.approx(0.0)
    assert EnumeratedDAG.l1(np.array([1.0, 0.0]), np.log(np.array([1.0, 3.0]))) == pytest.approx(1.5)


def test_enumerable_configuration_is_large_enough() -> None:
    dag = EnumeratedDAG(CrystalEnv(EnvConfig(**ENUMERABLE_CONFIG)))
    assert len(dag.terminals) >= 1000
    stages = {dag.env.stage(s) for s in dag.states}
    assert stages == {"SG", "COMP", "WYCK", "LAT", "COORD", "DONE"}


@pytest.mark.slow
def test_short_training_reduces_l1() -> None:
    # a step budget, not a time budget: 400 steps took 7.7 s on a quiet core and reached L1 0.16
    result = enumerable_check(seconds=600, seed=0, eval_every=200, max_steps=400)
    assert result.steps == 400
    assert result.n_terminals >= 1000 and result.reward_span >= 100
    assert result.curve and result.l1 < result.curve[0][2] and result.l1 < 0.6
