"""The featurizer contract and its per-id cache."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Sequence

import numpy as np
from pymatgen.core import Structure

from loop.errors import InputDataError
from loop.records import Candidate

__all__ = ["DescriptorFn", "FeatureCache", "Featurizer"]

log = logging.getLogger(__name__)

DescriptorFn = Callable[[Sequence[Structure]], np.ndarray]
"""A hook for learned descriptors (e.g. a potential's): ``structures -> n x d`` array."""


class FeatureCache:
    """Feature rows keyed by candidate id (a candidate's id is a content hash, so rows never go stale)."""

    def __init__(self) -> None:
        self._rows: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, cid: str) -> bool:
        return cid in self._rows

    def get(self, cid: str) -> np.ndarray | None:
        return self._rows.get(cid)

    def put(self, cid: str, row: np.ndarray) -> None:
        self._rows[cid] = row


class Featurizer(abc.ABC):
    """Maps candidates to a fixed-width float matrix ``n x d``; rows are cached per candidate id.

    Subclasses implement :meth:`_featurize` for the uncached candidates and ``names``.
    Non-finite entries are an :class:`InputDataError` naming the candidate and the feature.
    """

    def __init__(self) -> None:
        self.cache = FeatureCache()

    @property
    @abc.abstractmethod
    def names(self) -> list[str]:
        """Feature names, length ``d``."""

    @abc.abstractmethod
    def _featurize(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Features of ``candidates`` (``n x d``)."""

    def transform(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Features of every candidate, ``n x d`` (float64)."""
        todo = [c for c in dict((c.id, c) for c in candidates).values() if c.id not in self.cache]
        if todo:
            rows = np.asarray(self._featurize(todo), dtype=float).reshape(len(todo), -1)
            bad = ~np.isfinite(rows)
            if bad.any():
                i, j = (int(v) for v in np.argwhere(bad)[0])
                name = self.names[j] if j < len(self.names) else str(j)
                raise InputDataError(
                    f"feature {name!r} of candidate {todo[i].id} is not finite ({rows[i, j]}); "
                    f"{int(bad.any(axis=1).sum())} of {len(todo)} candidates affected"
                )
            for c, row in zip(todo, rows, strict=True):
                self.cache.put(c.id, row)
        if not candidates:
            return np.zeros((0, len(self.names)))
        return np.stack([self.cache.get(c.id) for c in candidates])  # type: ignore[misc]

