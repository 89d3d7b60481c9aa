"""The ranker contract: which experiments the lab spends its time on."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from loop.interfaces.plugin import Plugin
from loop.records import Candidate, Observation, RankingNote, Selection

__all__ = ["Ranker"]


class Ranker(Plugin, abc.ABC):
    """Fits models to observations and scores candidates.

    ``fit(candidates, observations)``: ``candidates`` holds every candidate that an
    observation refers to (failed observations included: failures are data).
    ``acquisition(candidates, pending)``: one value per candidate, higher is better; also
    the generator's reward. ``pending`` are candidates submitted but not yet observed.
    ``select(candidates, q, pending)``: a batch of ``q`` distinct candidates, none pending.
    ``ranking_note()``: what the last ``select`` ranked by (stored with the round; shown by
    ``crystaloop status``, the report and MLflow).
    """

    @abc.abstractmethod
    def fit(self, candidates: Sequence[Candidate], observations: Sequence[Observation]) -> None:
        """Learn from all observations so far."""

    @abc.abstractmethod
    def acquisition(self, candidates: Sequence[Candidate], pending: Sequence[Candidate]) -> np.ndarray:
        """Acquisition value per candidate (shape ``n``)."""

    def select(self, candidates: Sequence[Candidate], q: int, pending: Sequence[Candidate]) -> list[Selection]:
        """Top ``q`` by acquisition, pending candidates excluded. Batch-aware rankers override."""
        pending_ids = {c.id for c in pending}
        pool = [c for c in candidates if c.id not in pending_ids]
        if not pool or q <= 0:
            return []
        values = np.asarray(self.acquisition(pool, pending), dtype=float)
        if values.shape != (len(pool),):
            raise ValueError(f"{type(self).__name__}.acquisition returned shape {values.shape}, expected ({len(pool)},)")
        values = np.where(np.isfinite(values), values, -np.inf)
        order = np.argsort(-values, kind="stable")[:q]
        return [Selection(candidate_id=pool[i].id, score=float(values[i]), rank=r) for r, i in enumerate(order)]

    def model_version(self) -> str:
        """A label of the fitted model, stored with each round."""
        return f"{self.name}-{self.version}"

    def ranking_note(self) -> RankingNote:
        """What the last :meth:`select` ranked by. Rankers with several modes or fallbacks override."""
        return RankingNote(acquisition=f"{self.name} acquisition")
