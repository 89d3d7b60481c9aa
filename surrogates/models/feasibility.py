"""Feasibility: will an experiment on this candidate return a result at all?

A regularised logistic model ``p(x) = sigmoid(w . s(x) + b)`` on standardised features
``s(x)``, fitted to every observation's ``success`` flag (instrument failures and
abandoned requests are the negatives). Until ``min_failures`` failures are seen it predicts 1
everywhere (no evidence, no veto); ``base_rate`` keeps the smoothed ``(n_ok + 1) / (n + 2)``.
"""

from __future__ import annotations

import logging

import numpy as np

from surrogates.models.synthesizability import standardizer

__all__ = ["FeasibilityModel"]

log = logging.getLogger(__name__)


class FeasibilityModel:
    """``fit(X, ok)`` with ``X`` ``n x d`` and ``ok`` ``n`` booleans; ``predict(X) -> p`` (``n``)."""

    def __init__(self, C: float = 1.0, min_failures: int = 2) -> None:
        self.C = C
        self.min_failures = min_failures
        self._clf = None
        self._base = 1.0
        self._mu: np.ndarray | None = None
        self._sd: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return self._clf is not None

    def fit(self, X: np.ndarray, ok: np.ndarray) -> FeasibilityModel:
        ok = np.asarray(ok, dtype=bool)
        n, n_ok = len(ok), int(ok.sum())
        self._base = (n_ok + 1) / (n + 2)
        self._clf = None
        if n - n_ok < self.min_failures or n_ok < 1:
            return self
        from sklearn.linear_model import LogisticRegression

        self._mu, self._sd = standardizer(X)
        self._clf = LogisticRegression(C=self.C, max_iter=500).fit((X - self._mu) / self._sd, ok)
        log.info("feasibility model fitted on %d observations (%d failures)", n, n - n_ok)
        return self

    @property
    def base_rate(self) -> float:
        return self._base

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self._clf is None:
            return np.ones(len(X))
        return self._clf.predict_proba((X - self._mu) / self._sd)[:, 1]
