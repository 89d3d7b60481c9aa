"""Tabular parameters as given."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loop.errors import InputDataError
from loop.records import Candidate
from surrogates.featurize.base import Featurizer

__all__ = ["TabularFeaturizer"]


class TabularFeaturizer(Featurizer):
    """``x = [params[name] for name in names]``; a missing parameter is an error naming it."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self._names = list(names)

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def _featurize(self, candidates: Sequence[Candidate]) -> np.ndarray:
        out = np.empty((len(candidates), len(self._names)))
        for i, c in enumerate(candidates):
            missing = [n for n in self._names if n not in c.params]
            if missing:
                raise InputDataError(f"candidate {c.id} lacks parameter(s) {missing}; expected {self._names}")
            out[i] = [c.params[n] for n in self._names]
        return out
