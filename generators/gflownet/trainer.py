"""Trajectory-balance training steps: on-policy rollouts with exploration, plus replay.

One step samples ``batch_size`` trajectories with temperature ``T`` and uniform-mixing
``epsilon`` (see :mod:`generators.gflownet.sampler`), adds up to
``replay_fraction * batch_size`` trajectories from a replay buffer, computes
:func:`~generators.gflownet.losses.trajectory_balance` and takes one Adam step
(``log Z`` with its own, larger learning rate, as is usual for TB).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from generators.gflownet.losses import trajectory_balance
from generators.gflownet.policy import GFlowNetPolicy
from generators.gflownet.sampler import StateSpace, Trajectory, log_probs, rollout

__all__ = ["TBTrainer", "TrainConfig"]

log = logging.getLogger(__name__)

LogRewardFn = Callable[[Sequence[Any]], np.ndarray]
"""Terminal state ids -> ``log R`` (finite floats, shape ``b``)."""


class TrainConfig(BaseModel):
    """Optimiser and exploration settings of trajectory-balance training."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(32, ge=1, description="trajectories per TB step (was 64; halved with steps_per_update, docs/benchmarks.md)")
    lr: float = Field(1e-3, gt=0)
    lr_log_z: float = Field(0.05, gt=0)
    temperature: float = Field(1.0, gt=0, description="rollout temperature on the forward logits")
    epsilon: float = Field(0.05, ge=0, le=1, description="share of uniform random actions in rollouts")
    replay_fraction: float = Field(0.25, ge=0, le=1)
    grad_clip: float = Field(10.0, gt=0)


class TBTrainer:
    """Holds the optimiser; :meth:`step` is one gradient step of trajectory balance."""

    def __init__(self, space: StateSpace, policy: GFlowNetPolicy, config: TrainConfig) -> None:
        self.space = space
        self.policy = policy
        self.config = config
        log_z = [p for n, p in policy.named_parameters() if n.startswith("log_z")]
        rest = [p for n, p in policy.named_parameters() if not n.startswith("log_z")]
        self.optimizer = torch.optim.Adam([{"params": rest, "lr": config.lr}, {"params": log_z, "lr": config.lr_log_z}])
        self.steps = 0

    def step(
        self,
        log_reward: LogRewardFn,
        cond: torch.Tensor,
        rng: np.random.Generator,
        replay: Sequence[tuple[Trajectory, float]] = (),
    ) -> dict[str, float]:
        """Sample, score and update once; returns the loss and batch statistics."""
        c = self.config
        self.policy.eval()
        trajs = rollout(self.space, self.policy, c.batch_size, cond, rng, c.temperature, c.epsilon)
        log_r = np.asarray(log_reward([t.terminal for t in trajs]), dtype=float)
        if log_r.shape != (len(trajs),) or not np.all(np.isfinite(log_r)):
            raise ValueError(f"log_reward must return {len(trajs)} finite values, got {log_r!r}")
        n_replay = min(len(replay), int(round(c.replay_fraction * c.batch_size)))
        if n_replay:
            pick = rng.choice(len(replay), size=n_replay, replace=False)
            trajs = trajs + [replay[i][0] for i in pick]
            log_r = np.concatenate([log_r, [replay[i][1] for i in pick]])
        self.policy.train()
        device = next(self.policy.parameters()).device
        lpf, lpb = log_probs(self.space, self.policy, trajs, cond)
        log_z = self.policy.log_z(cond.reshape(1, -1).expand(len(trajs), -1))
        target = torch.as_tensor(log_r, dtype=lpf.dtype, device=device)
        loss = trajectory_balance(log_z, lpf, lpb, target)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), c.grad_clip)
        self.optimizer.step()
        self.steps += 1
        self._last = trajs[: c.batch_size], log_r[: c.batch_size]
        return {"loss": float(loss.detach()), "log_z": float(log_z[0].detach()), "mean_log_reward": float(log_r.mean())}

    @property
    def last_batch(self) -> tuple[list[Trajectory], np.ndarray]:
        """The on-policy trajectories of the last step and their log rewards (for the buffer)."""
        return self._last
