"""The standard GFlowNet check on an enumerable configuration of the real environment.

The configuration (:data:`ENUMERABLE_CONFIG`: Na-Cl, four space groups, at most 4 atoms,
two bins per lattice parameter and coordinate) is a :class:`CrystalEnv` like any other;
:class:`EnumeratedDAG` enumerates its states (1,476 terminal states, 2,888 states). The known reward is a
fixed random linear function of the terminal encoding, scaled so that
``R_max / R_min = reward_span``::

    u(x) = (w . phi(x) - min) / (max - min),   log R(x) = log(reward_span) * u(x)

with ``w ~ N(0, I)`` from ``seed``. After training, the exact terminal distribution of the
forward policy (dynamic programming over the DAG) is compared with ``R / Z`` in L1.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from generators.gflownet.dag import EnumeratedDAG
from generators.gflownet.env import CrystalEnv, EnvConfig
from generators.gflownet.policy import GFlowNetPolicy
from generators.gflownet.trainer import TBTrainer, TrainConfig

__all__ = ["ENUMERABLE_CONFIG", "EnumerableCheck", "enumerable_check"]

log = logging.getLogger(__name__)

ENUMERABLE_CONFIG = {
    "elements": ["Na", "Cl"],
    "space_groups": [123, 221, 225, 229],
    "max_atoms": 4,
    "coord_bins": 2,
    "vpa_bins": [12.0, 20.0],
    "ratio_bins": [1.0, 1.5],
    "angle_bins": [90.0],
}
"""The restricted environment of the check (charge neutrality on, as in campaigns)."""


@dataclass
class EnumerableCheck:
    """Result of :func:`enumerable_check`."""

    n_states: int
    n_terminals: int
    reward_span: float
    l1: float
    train_seconds: float
    steps: int
    threads: int
    seconds_to_l1_01: float | None
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    """``(step, seconds, L1)`` at each evaluation."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def enumerable_check(
    seconds: float = 120.0,
    seed: int = 0,
    reward_span: float = 200.0,
    threads: int = 1,
    eval_every: int = 100,
    config: dict | None = None,
    train: TrainConfig | None = None,
    max_steps: int | None = None,
) -> EnumerableCheck:
    """Train a TB GFlowNet for ``seconds`` (wall clock; and at most ``max_steps`` TB steps, so a test
    does the same work on a busy machine) and return the exact L1 distance."""
    torch.set_num_threads(threads)
    env = CrystalEnv(EnvConfig(**(config or ENUMERABLE_CONFIG)), where="enumerable check")
    dag = EnumeratedDAG(env)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    w = rng.normal(size=dag.x.shape[1])
    u = dag.x[dag.terminals] @ w
    u = (u - u.min()) / (u.max() - u.min())
    log_r = np.log(reward_span) * u
    table = np.zeros(dag.n_states)
    table[dag.terminals] = log_r
    policy = GFlowNetPolicy(env.feature_dim, 0, env.n_actions, env.n_bwd_actions, hidden=128, layers=2)
    trainer = TBTrainer(
        dag, policy, train or TrainConfig(batch_size=64, lr=1e-3, lr_log_z=0.1, epsilon=0.05, replay_fraction=0.0)
    )
    cond = torch.zeros(0)
    curve: list[tuple[int, float, float]] = []
    reached = None
    start = time.perf_counter()
    train_time = 0.0
    while train_time < seconds and (max_steps is None or trainer.steps < max_steps):
        t0 = time.perf_counter()
        trainer.step(lambda ids: table[np.asarray(ids)], cond, rng)
        train_time += time.perf_counter() - t0
        if trainer.steps % eval_every == 0:
            l1 = EnumeratedDAG.l1(dag.terminal_distribution(policy, cond), log_r)
            curve.append((trainer.steps, round(train_time, 2), round(l1, 4)))
            log.info("enumerable check: step %d, %.1f s, L1 %.4f", trainer.steps, train_time, l1)
            if reached is None and l1 <= 0.1:
                reached = train_time
    l1 = EnumeratedDAG.l1(dag.terminal_distribution(policy, cond), log_r)
    log.info("enumerable check done in %.1f s wall (%.1f s training)", time.perf_counter() - start, train_time)
    return EnumerableCheck(
        n_states=dag.n_states,
        n_terminals=len(dag.terminals),
        reward_span=reward_span,
        l1=l1,
        train_seconds=round(train_time, 2),
        steps=trainer.steps,
        threads=threads,
        seconds_to_l1_01=None if reached is None else round(reached, 2),
        curve=curve,
    )
