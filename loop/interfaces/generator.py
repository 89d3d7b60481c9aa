"""The generator contract: where candidates come from."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from loop.interfaces.plugin import Plugin
from loop.records import Candidate, Observation

__all__ = ["Generator", "ScoreFn"]

ScoreFn = Callable[[Sequence[Candidate]], np.ndarray]
"""Scores candidates (higher is better); the ranker's acquisition, used as a reward."""


class Generator(Plugin, abc.ABC):
    """Proposes candidates, and learns from the lab.

    >>> gen = registry.create("generators", {"kind": "pool", "options": {...}}, ctx)
    >>> batch = gen.sample(100, condition=None, rng=np.random.default_rng(0))
    """

    finite: bool = False
    """True when the generator enumerates a fixed pool (``sample(None)`` returns all of it)."""

    @abc.abstractmethod
    def sample(
        self, n: int | None, condition: Mapping[str, Any] | None, rng: np.random.Generator
    ) -> list[Candidate]:
        """Up to ``n`` candidates (all of a finite pool when ``n`` is None)."""

    def update(self, observations: Sequence[Observation], score: ScoreFn | None = None) -> None:  # noqa: B027
        """Fine-tune from lab results; ``score`` is the refreshed reward. Default: nothing."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state restored on resume."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027
        """Restore what :meth:`state_dict` returned."""
