"""The pool protocol of Liang et al. (2021), method-independent.

A pool of ``N`` designs with truths ``t`` (mean of replicates); targets are the top
``k = ceil(0.05 N)`` designs. A campaign measures designs without replacement, ``q`` at
a time; measuring returns one replicate drawn by ``rng(seed, design)`` so every method
sees the same draw. ``n_p`` is the number of experiments until ``ceil(p k)`` targets are
found (``cap + 1`` when never). Random search finds ``m`` of ``k`` targets after
``m (N + 1) / (k + 1)`` experiments on average, the reference of the acceleration factor
``AF_p = m (N + 1) / (k + 1) / n_p``; the enhancement factor at budget ``i`` is
``EF(i) = Top%(i) / (i / N)``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from loop.errors import CrystaloopError

__all__ = ["LEVELS", "PeerNotInstalledError", "PoolProblem", "draw_replicate", "levels_reached", "random_expectation", "run_campaign"]

LEVELS = (0.5, 0.8, 1.0)


class PeerNotInstalledError(CrystaloopError, KeyError):
    """A peer's package is not installed; the message gives the install command."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class PoolProblem:
    """``X`` (``N x d`` inputs), ``truth`` (``N``, larger is better after the sign), ``replicates`` per design."""

    ids: list[str]
    X: np.ndarray
    truth: np.ndarray
    replicates: list[np.ndarray]
    maximize: bool = True
    k: int = field(init=False)
    targets: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.truth)
        self.k = max(1, math.ceil(0.05 * n))
        signed = self.truth if self.maximize else -self.truth
        order = np.argsort(-signed, kind="stable")
        self.targets = np.zeros(n, dtype=bool)
        self.targets[order[: self.k]] = True

    @property
    def n(self) -> int:
        return len(self.truth)


def draw_replicate(problem: PoolProblem, seed: int, j: int) -> float:
    """The measurement of design ``j`` in seed ``seed``: one replicate, keyed by ``(seed, design id)``."""
    reps = problem.replicates[j]
    if len(reps) == 1:
        return float(reps[0])
    key = int(hashlib.sha256(f"{seed}:{problem.ids[j]}".encode()).hexdigest()[:15], 16)
    return float(reps[np.random.default_rng(key).integers(len(reps))])


def random_expectation(m: int, n: int, k: int) -> float:
    """Expected experiments for random search to find ``m`` of ``k`` targets among ``n``."""
    return m * (n + 1) / (k + 1)


Policy = Callable[[list[int], list[float], int], Sequence[int]]
"""``policy(measured_indices, measured_values, q) -> next indices`` (values as measured, raw sign)."""


def run_campaign(
    problem: PoolProblem, seed: int, policy: Policy, *, n_init: int, q: int, cap: int, stop_level: float = 1.0
) -> list[int]:
    """Order in which designs were measured: the seed's first ``n_init`` shared random designs, then the policy's.

    Stops once ``ceil(stop_level k)`` targets are found (every one by default) or ``cap``
    experiments were made.
    """
    perm = np.random.default_rng(seed).permutation(problem.n)
    measured = [int(j) for j in perm[: min(n_init, cap)]]
    values = [draw_replicate(problem, seed, j) for j in measured]
    wanted = math.ceil(stop_level * problem.k)  # the same count as levels_reached
    while len(measured) < min(cap, problem.n) and problem.targets[measured].sum() < wanted:
        batch = [int(j) for j in policy(measured, values, min(q, cap - len(measured), problem.n - len(measured)))]
        seen = set(measured)
        if not batch or len(set(batch)) != len(batch) or seen.intersection(batch):
            raise RuntimeError(f"policy proposed an invalid batch {batch} (empty, repeated or already measured)")
        measured += batch
        values += [draw_replicate(problem, seed, j) for j in batch]
    return measured


def levels_reached(problem: PoolProblem, order: Sequence[int], cap: int) -> dict[float, int]:
    """``{p: n_p}`` for ``p`` in :data:`LEVELS` (``cap + 1`` when not reached)."""
    found = np.cumsum(problem.targets[np.asarray(order, dtype=int)])
    out = {}
    for p in LEVELS:
        m = math.ceil(p * problem.k)
        hit = np.flatnonzero(found >= m)
        out[p] = int(hit[0]) + 1 if len(hit) else cap + 1
    return out


def top_curve(problem: PoolProblem, order: Sequence[int], cap: int) -> np.ndarray:
    """Top%(i) for ``i = 1..cap`` (fraction of targets found after ``i`` experiments)."""
    found = np.cumsum(problem.targets[np.asarray(order, dtype=int)]) / problem.k
    out = np.ones(cap)
    out[: len(found)] = found[:cap]
    if len(found) < cap and found[-1] < 1:
        out[len(found) :] = found[-1]
    return out
