"""Roll out trajectories with a policy, and score them for trajectory balance.

A *state space* is the environment seen through ids: :class:`LiveSpace` wraps a
:class:`~generators.gflownet.env.CrystalEnv` (ids are states, encodings and masks cached),
:class:`~generators.gflownet.dag.EnumeratedDAG` is a small environment enumerated once
(ids are ints). :func:`rollout` samples ``n`` trajectories in lock-step: at each step the
forward logits of the still-running trajectories are tempered, masked and mixed with the
uniform distribution over valid actions::

    pi(a | s) = (1 - eps) * softmax(logits / T)[a] + eps / |valid(s)|

(``T = 1, eps = 0`` is the policy itself). :func:`log_probs` recomputes, with gradients,
``sum_t log P_F`` and ``sum_t log P_B`` of given trajectories.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from generators.gflownet.env import CrystalEnv
from generators.gflownet.policy import GFlowNetPolicy, masked_log_softmax

__all__ = ["LiveSpace", "StateSpace", "Trajectory", "log_probs", "rollout"]


class StateSpace(Protocol):
    def initial(self) -> Any: ...
    def is_terminal(self, sid: Any) -> bool: ...
    def step(self, sid: Any, action: int) -> Any: ...
    def backward_index(self, action: int) -> int: ...
    def features(self, sids: Sequence[Any]) -> np.ndarray: ...
    def forward_masks(self, sids: Sequence[Any]) -> np.ndarray: ...
    def backward_masks(self, sids: Sequence[Any]) -> np.ndarray: ...


class LiveSpace:
    """A :class:`CrystalEnv` as a state space (ids are :class:`State` tuples)."""

    def __init__(self, env: CrystalEnv, cache_size: int = 200_000) -> None:
        self.env = env
        self._feat: dict[Hashable, np.ndarray] = {}
        self._cache_size = cache_size

    def initial(self) -> Any:
        return self.env.initial_state()

    def is_terminal(self, sid: Any) -> bool:
        return self.env.is_terminal(sid)

    def step(self, sid: Any, action: int) -> Any:
        return self.env.step(sid, action)

    def backward_index(self, action: int) -> int:
        return self.env.backward_index(action)

    def features(self, sids: Sequence[Any]) -> np.ndarray:
        if len(self._feat) > self._cache_size:
            self._feat.clear()
        out = []
        for s in sids:
            f = self._feat.get(s)
            if f is None:
                f = self._feat[s] = self.env.features(s)
            out.append(f)
        return np.stack(out)

    def forward_masks(self, sids: Sequence[Any]) -> np.ndarray:
        return np.stack([self.env.forward_mask(s) for s in sids])

    def backward_masks(self, sids: Sequence[Any]) -> np.ndarray:
        return np.stack([self.env.backward_mask(s) for s in sids])


@dataclass
class Trajectory:
    """``states[0]`` is the initial state, ``states[-1]`` the terminal; ``actions[t]`` leads
    from ``states[t]`` to ``states[t + 1]``."""

    states: list[Any]
    actions: list[int]

    @property
    def terminal(self) -> Any:
        return self.states[-1]


def _cond_rows(cond: torch.Tensor, n: int) -> torch.Tensor:
    return cond.reshape(1, -1).expand(n, -1)


@torch.no_grad()
def rollout(
    space: StateSpace,
    policy: GFlowNetPolicy,
    n: int,
    cond: torch.Tensor,
    rng: np.random.Generator,
    temperature: float = 1.0,
    epsilon: float = 0.0,
) -> list[Trajectory]:
    """Sample ``n`` complete trajectories (see the module docstring for the exploration rule)."""
    device = next(policy.parameters()).device
    trajs = [Trajectory(states=[space.initial()], actions=[]) for _ in range(n)]
    active = list(range(n))
    while active:
        sids = [trajs[i].states[-1] for i in active]
        x = torch.as_tensor(space.features(sids), device=device)
        mask = space.forward_masks(sids)
        logits, _ = policy(x, _cond_rows(cond, len(active)))
        logp = masked_log_softmax(logits / temperature, torch.as_tensor(mask, device=device))
        probs = logp.exp().double().cpu().numpy()
        if epsilon > 0:
            probs = (1 - epsilon) * probs + epsilon * mask / mask.sum(1, keepdims=True)
        probs = np.where(mask, probs, 0.0)
        cdf = np.cumsum(probs, axis=1)
        u = rng.random(len(active)) * cdf[:, -1]
        actions = np.minimum((cdf <= u[:, None]).sum(1), probs.shape[1] - 1)
        still = []
        for row, (i, sid, a) in enumerate(zip(active, sids, actions, strict=True)):
            if probs[row, a] <= 0:  # rounding at the top of the cdf: take the last valid action
                a = int(np.flatnonzero(probs[row])[-1])
            child = space.step(sid, int(a))
            trajs[i].states.append(child)
            trajs[i].actions.append(int(a))
            if not space.is_terminal(child):
                still.append(i)
        active = still
    return trajs


def log_probs(
    space: StateSpace, policy: GFlowNetPolicy, trajs: Sequence[Trajectory], cond: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum_t log P_F, sum_t log P_B)`` per trajectory (shape ``b`` each), with gradients."""
    device = next(policy.parameters()).device
    parents, children, acts, owner = [], [], [], []
    for j, t in enumerate(trajs):
        parents += t.states[:-1]
        children += t.states[1:]
        acts += t.actions
        owner += [j] * len(t.actions)
    acts_t = torch.as_tensor(acts, device=device)
    bwd_t = torch.as_tensor([space.backward_index(a) for a in acts], device=device)
    owner_t = torch.as_tensor(owner, device=device)
    m = len(acts)
    x = torch.as_tensor(np.concatenate([space.features(parents), space.features(children)]), device=device)
    fwd_logits, bwd_logits = policy(x, _cond_rows(cond, 2 * m))
    fmask = torch.as_tensor(space.forward_masks(parents), device=device)
    bmask = torch.as_tensor(space.backward_masks(children), device=device)
    lpf = masked_log_softmax(fwd_logits[:m], fmask).gather(1, acts_t[:, None]).squeeze(1)
    lpb = masked_log_softmax(bwd_logits[m:], bmask).gather(1, bwd_t[:, None]).squeeze(1)
    zeros = torch.zeros(len(trajs), device=device, dtype=lpf.dtype)
    return zeros.index_add(0, owner_t, lpf), zeros.index_add(0, owner_t, lpb)
