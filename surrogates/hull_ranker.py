"""The ``e_hull`` ranker: greedy by the screen's computed energy above the hull.

``acquisition(x) = -e_hull(x)`` (eV/atom, ``metadata["e_hull"]``, which the campaign copies
from the screen's decision; a computed value, never a measurement), so the batch is the
``q`` candidates closest to (or below) the hull. Ties (and candidates without an ``e_hull``,
which rank last) are broken by a uniform number fixed by (campaign seed, candidate id).
It learns nothing from the lab: the strong simple baseline of ion exchange plus an MLIP
filter (Szymanski & Bartel 2025) ranks this way.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from loop.interfaces import Ranker
from loop.records import Candidate, Observation, RankingNote

__all__ = ["HullRanker"]

_TIE = 1e-9
"""Scale of the tie-breaking term (eV/atom): far below any computed e_hull difference."""


def _uniform(text: str) -> float:
    return (int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 11) / float(1 << 53)


class HullRanker(Ranker):
    """Lowest computed ``e_hull`` first."""

    name = "e_hull"
    version = "1"

    def fit(self, candidates: Sequence[Candidate], observations: Sequence[Observation]) -> None:
        """Nothing to learn: the ranking is the screen's."""

    def acquisition(self, candidates: Sequence[Candidate], pending: Sequence[Candidate]) -> np.ndarray:
        out = np.empty(len(candidates))
        for i, c in enumerate(candidates):
            e = c.metadata.get("e_hull")
            tie = _TIE * _uniform(f"{self.context.seed}:{c.id}")
            out[i] = (-float(e) if isinstance(e, int | float) and math.isfinite(e) else -1e6) + tie
        return out

    def ranking_note(self) -> RankingNote:
        return RankingNote(acquisition="greedy by the screen's computed e_hull (lowest first)")
