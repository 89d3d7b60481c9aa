"""Drawing from an enumerated target ``exp(log_r) / Z``: perplexity, cooling, Gumbel top-k.

Pure numpy, shared by the GFlowNet's exact sampler (``generators.gflownet``) and the benchmark that
measures it (``crystaloop bench rediscover-target``), which must not import a stage package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ExactTarget", "cooled_temperature", "exact_draw", "perplexity"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExactTarget:
    """A generator's enumerated target: per terminal its crystal, template name and parent structure,
    and ``log_r`` (``None`` before the generator's first learning step)."""

    structures: list[Any]  # pymatgen Structures
    names: list[str]
    parents: list[str]
    log_r: np.ndarray | None


def perplexity(log_r: np.ndarray) -> float:
    """``exp(entropy)`` of the distribution ``exp(log_r) / Z`` (``-inf`` entries have no mass)."""
    finite = log_r[np.isfinite(log_r)]
    if finite.size == 0:
        return 0.0
    logp = finite - np.logaddexp.reduce(finite)
    return float(np.exp(-(np.exp(logp) * logp).sum()))


def cooled_temperature(log_r: np.ndarray, temperature: float, max_perplexity: float) -> float:
    """The temperature ``T <= temperature`` at which ``exp(log_r / T) / Z`` has a perplexity of at most
    ``max_perplexity`` terminals (bisection on ``log T``; perplexity falls as ``T`` falls). The target
    itself when it is already that concentrated, or flat (nothing to cool)."""
    finite = log_r[np.isfinite(log_r)]
    if finite.size <= max_perplexity or np.ptp(finite) <= 1e-12 or perplexity(finite / temperature) <= max_perplexity:
        return temperature
    lo, hi = np.log(temperature) - 30.0, np.log(temperature)  # perplexity(lo) ~ the number of ties at the top
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if perplexity(finite / np.exp(mid)) > max_perplexity:
            hi = mid
        else:
            lo = mid
    return float(np.exp(lo))


def exact_draw(log_r: np.ndarray, proposed: set[int], n: int, rng: np.random.Generator, temperature: float,
               spread: float | None, parents: Sequence[str] | None = None, per_parent: int | None = None) -> list[int]:
    """Indices of ``n`` terminals drawn without replacement from ``exp(log_r / T) / Z`` (Gumbel top-k),
    none of ``proposed``; ``T`` is ``temperature``, cooled to a perplexity of ``spread * n`` terminals
    when ``spread`` is given (:func:`cooled_temperature`). With ``per_parent``, at most that many of
    the ``n`` share a parent structure (``parents[i]``), while the target has terminals left."""
    log_r = np.array(log_r, dtype=float)
    if proposed:
        log_r[np.fromiter(proposed, dtype=np.int64)] = -np.inf
    t = temperature if spread is None else cooled_temperature(log_r, temperature, spread * n)
    if t < temperature:
        log.info("gflownet: exact target cooled to T %.3g (perplexity %.0f -> %.0f terminals of %d left)",
                 t, perplexity(log_r / temperature), perplexity(log_r / t), int(np.isfinite(log_r).sum()))
    keys = log_r / t + rng.gumbel(size=len(log_r))
    order = [int(i) for i in np.argsort(-keys) if np.isfinite(keys[i])]
    if per_parent is None or parents is None:
        return order[:n]
    out: list[int] = []
    count: dict[str, int] = {}
    for i in order:
        if count.get(parents[i], 0) < per_parent:
            out.append(i)
            count[parents[i]] = count.get(parents[i], 0) + 1
            if len(out) == n:
                return out
    return out + [i for i in order if i not in set(out)][: n - len(out)]  # too few parents left: fill in reward order
