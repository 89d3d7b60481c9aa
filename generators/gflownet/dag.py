"""A small crystal environment enumerated once: exact terminal distributions and fast training.

:class:`EnumeratedDAG` walks every state reachable from the initial state of a
:class:`~generators.gflownet.env.CrystalEnv` (its real masks and transitions) and stores
encodings, masks and edges as arrays. Every edge goes from depth ``d`` to ``d + 1``, so
the probability of reaching each state under the forward policy follows by dynamic
programming in depth order::

    P(s_0) = 1,   P(s') = sum_{s -> s'} P(s) P_F(s' | s)

and ``P_T(x) = P(x)`` on terminal states ``x``. The check of a trained sampler is the L1
distance ``sum_x |P_T(x) - R(x) / sum_y R(y)|`` (0 is perfect, 2 is disjoint).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from generators.gflownet.env import CrystalEnv, State
from generators.gflownet.policy import GFlowNetPolicy, masked_log_softmax
from loop.errors import ConfigError

__all__ = ["EnumeratedDAG"]


class EnumeratedDAG:
    """All states of ``env`` (ids are ints, ``0`` the initial state); a :class:`StateSpace`."""

    def __init__(self, env: CrystalEnv, max_states: int = 200_000) -> None:
        self.env = env
        states: list[State] = [env.initial_state()]
        index = {states[0]: 0}
        src, act, dst = [], [], []
        frontier = [0]
        while frontier:
            nxt = []
            for i in frontier:
                s = states[i]
                if env.is_terminal(s):
                    continue
                for a in np.flatnonzero(env.forward_mask(s)):
                    child = env.step(s, int(a))
                    j = index.get(child)
                    if j is None:
                        j = index[child] = len(states)
                        states.append(child)
                        nxt.append(j)
                        if len(states) > max_states:
                            raise ConfigError(
                                "enumerable check", [("", f"more than {max_states} states; restrict the configuration")]
                            )
                    src.append(i)
                    act.append(int(a))
                    dst.append(j)
            frontier = nxt
        self.states = states
        self.index = index
        self.src, self.act, self.dst = np.array(src), np.array(act), np.array(dst)
        self.bwd = np.array([env.backward_index(a) for a in act])
        self.x = np.stack([env.features(s) for s in states])
        self.fmask = np.zeros((len(states), env.n_actions), dtype=bool)
        self.fmask[self.src, self.act] = True
        self.bmask = np.zeros((len(states), env.n_bwd_actions), dtype=bool)
        self.bmask[self.dst, self.bwd] = True
        self.terminal_mask = np.array([env.is_terminal(s) for s in states])
        self.terminals = np.flatnonzero(self.terminal_mask)
        self.depth = np.array([env.depth(s) for s in states])
        order = np.argsort(self.src * env.n_actions + self.act)
        self._edge_keys = (self.src * env.n_actions + self.act)[order]
        self._edge_dst = self.dst[order]

    @property
    def n_states(self) -> int:
        return len(self.states)

    # ------------------------------------------------------------- StateSpace
    def initial(self) -> int:
        return 0

    def is_terminal(self, sid: int) -> bool:
        return bool(self.terminal_mask[sid])

    def step(self, sid: int, action: int) -> int:
        k = np.searchsorted(self._edge_keys, sid * self.env.n_actions + action)
        return int(self._edge_dst[k])

    def backward_index(self, action: int) -> int:
        return self.env.backward_index(action)

    def features(self, sids: Sequence[int]) -> np.ndarray:
        return self.x[np.asarray(sids, dtype=np.int64)]

    def forward_masks(self, sids: Sequence[int]) -> np.ndarray:
        return self.fmask[np.asarray(sids, dtype=np.int64)]

    def backward_masks(self, sids: Sequence[int]) -> np.ndarray:
        return self.bmask[np.asarray(sids, dtype=np.int64)]

    # ------------------------------------------------------------- exact distribution
    @torch.no_grad()
    def terminal_distribution(self, policy: GFlowNetPolicy, cond: torch.Tensor, batch: int = 4096) -> np.ndarray:
        """Exact ``P_T(x)`` of the forward policy on :attr:`terminals` (sums to 1)."""
        device = next(policy.parameters()).device
        nonterm = np.flatnonzero(~self.terminal_mask)
        logp = np.zeros((self.n_states, self.env.n_actions))
        for k in range(0, len(nonterm), batch):
            ids = nonterm[k : k + batch]
            x = torch.as_tensor(self.x[ids], device=device)
            logits, _ = policy(x, cond.reshape(1, -1).expand(len(ids), -1))
            lp = masked_log_softmax(logits, torch.as_tensor(self.fmask[ids], device=device))
            logp[ids] = lp.double().cpu().numpy()
        edge_p = np.exp(logp[self.src, self.act])
        flow = np.zeros(self.n_states)
        flow[0] = 1.0
        edge_depth = self.depth[self.src]
        for d in range(int(self.depth.max())):
            sel = np.flatnonzero(edge_depth == d)
            np.add.at(flow, self.dst[sel], flow[self.src[sel]] * edge_p[sel])
        return flow[self.terminals]

    @staticmethod
    def l1(p: np.ndarray, log_reward: np.ndarray) -> float:
        """``sum_x |p(x) - R(x) / Z|`` for ``p`` and ``log R`` on the same terminals."""
        target = np.exp(log_reward - log_reward.max())
        return float(np.abs(p - target / target.sum()).sum())
