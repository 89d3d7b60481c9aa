"""The ``random`` ranker: uniform random selection, the baseline every ranker must beat.

Its random stream is keyed by (campaign seed, number of observations fitted), so a
resumed campaign draws the same batch it would have drawn without the interruption.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from loop.interfaces import Ranker
from loop.records import Candidate, Observation, RankingNote

__all__ = ["RandomRanker"]


def _key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


class RandomRanker(Ranker):
    name = "random"

    _n_fitted = 0

    def fit(self, candidates: Sequence[Candidate], observations: Sequence[Observation]) -> None:
        self._n_fitted = len(observations)

    def acquisition(self, candidates: Sequence[Candidate], pending: Sequence[Candidate]) -> np.ndarray:
        # One uniform number per candidate, fixed by (seed, data size, candidate id): order-independent.
        base = f"{self.context.seed}:{self._n_fitted}:"
        return np.array([(_key(base + c.id) >> 11) / float(1 << 53) for c in candidates], dtype=float)

    def ranking_note(self) -> RankingNote:
        return RankingNote(acquisition="uniform random order (seeded by campaign seed and observations)")
