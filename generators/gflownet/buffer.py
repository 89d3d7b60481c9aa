"""Replay buffer of high-reward and lab-confirmed trajectories.

Two pools keyed by terminal state: ``high`` keeps the ``capacity`` best trajectories by
log reward seen in training; ``lab`` keeps every trajectory whose candidate the lab made
(bounded by ``lab_capacity``, oldest dropped). Rewards change when the loop refreshes the
score, so :meth:`rescore` recomputes them all; :meth:`items` is what the trainer replays.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from generators.gflownet.sampler import Trajectory

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """``(trajectory, log_reward)`` pairs, best-``capacity`` high-reward ones plus lab-confirmed ones."""

    def __init__(self, capacity: int = 500, lab_capacity: int = 500) -> None:
        self.capacity = capacity
        self.lab_capacity = lab_capacity
        self.high: dict[Any, tuple[Trajectory, float]] = {}
        self.lab: OrderedDict[Any, tuple[Trajectory, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.high) + len(self.lab)

    def add(self, trajs: Sequence[Trajectory], log_rewards: Sequence[float]) -> None:
        """Offer trajectories to the high-reward pool (only finite rewards; ties keep the newer)."""
        for t, r in zip(trajs, log_rewards, strict=True):
            if np.isfinite(r):
                self.high[t.terminal] = (t, float(r))
        if len(self.high) > self.capacity:
            keep = sorted(self.high.items(), key=lambda kv: kv[1][1], reverse=True)[: self.capacity]
            self.high = dict(keep)

    def add_lab(self, traj: Trajectory, log_reward: float) -> None:
        """Keep a lab-confirmed trajectory (the oldest leaves past ``lab_capacity``)."""
        self.lab[traj.terminal] = (traj, float(log_reward))
        self.lab.move_to_end(traj.terminal)
        while len(self.lab) > self.lab_capacity:
            self.lab.popitem(last=False)

    def items(self) -> list[tuple[Trajectory, float]]:
        return list(self.high.values()) + list(self.lab.values())

    def rescore(self, log_reward: Callable[[Sequence[Any]], np.ndarray]) -> None:
        """Recompute every stored log reward with a refreshed reward function."""
        for pool in (self.high, self.lab):
            if not pool:
                continue
            keys = list(pool)
            values = log_reward(keys)
            for k, v in zip(keys, values, strict=True):
                pool[k] = (pool[k][0], float(v))

    def state_dict(self) -> dict[str, list[list[int]]]:
        """Action sequences of both pools (JSON-able; rewards are recomputed on load)."""
        return {"high": [t.actions for t, _ in self.high.values()], "lab": [t.actions for t, _ in self.lab.values()]}
