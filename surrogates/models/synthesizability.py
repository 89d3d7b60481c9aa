"""Synthesizability ``p_synth``: will the target phase form?

Prior (per candidate, from chemistry alone):

- SMACT: the composition admits a charge-neutral assignment of common oxidation states
  that passes the Pauling electronegativity test (mixed valence of a cation allowed,
  :func:`loop.valence.balanced`) -> 0.7, charge-neutral only -> 0.5,
  neither -> 0.15 (metallic/intermetallic compositions, which SMACT cannot judge, keep 0.5).
- energy above hull ``e`` (eV/atom, when known): multiplied by ``exp(-e / 0.1)``.

The prior is a logit offset ``o(x) = logit(prior)``; lab outcomes (target phase formed
or not) update a logistic model ``p = sigmoid(o(x) + w . s(x) + b)`` fitted by penalised
maximum likelihood (Newton steps), so a few results shift the prior and many override it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math

import numpy as np
from pymatgen.core import Composition

__all__ = ["SynthesizabilityModel", "brier_score", "reliability_curve", "smact_prior", "standardizer"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=20000)
def _smact_flags(formula: str) -> tuple[bool, bool, bool]:
    """``(judged, charge_neutral, neutral_and_pauling)`` for a reduced formula."""
    import smact
    from smact.screening import pauling_test

    comp = Composition(formula)
    amounts = comp.get_el_amt_dict()
    els = list(amounts)
    try:
        space = [smact.Element(e) for e in els]
    except Exception:  # an element unknown to SMACT
        return False, False, False
    if all(e.oxidation_states is None or len(e.oxidation_states or []) == 0 for e in space):
        return False, False, False
    counts = [int(round(amounts[e])) for e in els]
    if any(abs(amounts[e] - c) > 1e-6 for e, c in zip(els, counts, strict=True)):
        return False, False, False
    if all(e.pauling_eneg is None for e in space):
        return False, False, False
    from pymatgen.core import Element

    if all(Element(e).is_metal for e in els):  # intermetallics: charge balance does not apply
        return False, False, False
    neutral = pauling = False
    enegs = [e.pauling_eneg for e in space]
    ox_lists = [e.oxidation_states or [0] for e in space]
    for ox in itertools.product(*ox_lists):
        if sum(o * c for o, c in zip(ox, counts, strict=True)) != 0:
            continue
        neutral = True
        if None in enegs:
            continue
        if pauling_test(list(ox), enegs):
            pauling = True
            break
    if not pauling:  # mixed valence (Mn3+/Mn4+ in LiMn2O4): SMACT's single-state test misses it
        from loop.valence import balanced

        mixed_neutral, mixed_pauling = balanced(dict(zip(els, counts, strict=True)))
        neutral, pauling = neutral or mixed_neutral, mixed_pauling
    return True, neutral, pauling


def smact_prior(formula: str, e_hull: float | None = None, *, scale: float = 0.1) -> float:
    """Prior probability that ``formula`` (with hull energy ``e_hull`` eV/atom) forms."""
    try:
        judged, neutral, pauling = _smact_flags(Composition(formula).reduced_formula)
    except Exception as exc:  # noqa: BLE001 - an unparsable formula gets the neutral prior
        log.warning("SMACT prior for %r unavailable (%s); using 0.5", formula, exc)
        judged, neutral, pauling = False, False, False
    p = 0.5 if not judged else (0.7 if pauling else 0.5 if neutral else 0.15)
    if e_hull is not None and math.isfinite(e_hull):
        if e_hull >= 0.0:
            p *= math.exp(-e_hull / scale)
        else:  # below the known phases' hull (a decomposition energy): the further below, the likelier it forms
            p = 1.0 - (1.0 - p) * math.exp(e_hull / scale)
    return float(min(max(p, 1e-4), 1 - 1e-4))


def standardizer(X: np.ndarray, rtol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Column means and spreads for ``(X - mu) / sd``; a column constant in ``X`` gets ``sd = inf``.

    "Constant" includes a spread at rounding level (``sd <= rtol * max(1, |mu|)``: the mean of
    identical values is not always exact, so ``X.std`` can be ``1e-16`` instead of 0). Such a
    column carries no information in the data, yet dividing by its rounding-level spread would
    blow a candidate that differs in it up to ``1e15`` standard deviations and a weight fitted
    to the rounding noise would send its probability to 0 or 1. With ``sd = inf`` it is 0 for
    every candidate, i.e. ignored until the data vary in it.
    """
    mu, sd = X.mean(0), X.std(0)
    const = sd <= rtol * np.maximum(1.0, np.abs(mu))
    return mu, np.where(const, np.inf, sd)


class SynthesizabilityModel:
    """``fit(X, prior, formed)`` then ``predict(X, prior) -> p_synth``; ``X`` is ``n x d``."""

    def __init__(self, l2: float = 1.0, steps: int = 25) -> None:
        self.l2 = l2
        self.steps = steps
        self._w: np.ndarray | None = None
        self._mu: np.ndarray | None = None
        self._sd: np.ndarray | None = None

    def _design(self, X: np.ndarray) -> np.ndarray:
        assert self._mu is not None and self._sd is not None
        return np.column_stack([(X - self._mu) / self._sd, np.ones(len(X))])

    def fit(self, X: np.ndarray, prior: np.ndarray, formed: np.ndarray) -> SynthesizabilityModel:
        formed = np.asarray(formed, dtype=float)
        if len(formed) == 0:
            self._w = None
            return self
        self._mu, self._sd = standardizer(X)
        A = self._design(X)
        off = _logit(np.asarray(prior, dtype=float))
        w = np.zeros(A.shape[1])
        reg = self.l2 * np.eye(A.shape[1])
        for _ in range(self.steps):
            p = _sigmoid(off + A @ w)
            grad = A.T @ (p - formed) + reg @ w
            H = (A * (p * (1 - p))[:, None]).T @ A + reg
            step = np.linalg.solve(H, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self._w = w
        return self

    def predict(self, X: np.ndarray, prior: np.ndarray) -> np.ndarray:
        prior = np.asarray(prior, dtype=float)
        if self._w is None:
            return prior.copy()
        return _sigmoid(_logit(prior) + self._design(X) @ self._w)


def brier_score(p: np.ndarray, y: np.ndarray) -> float:
    """``mean((p - y)^2)``: 0 is perfect, 0.25 is a coin flip."""
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


def reliability_curve(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """``(mean predicted, observed frequency, count)`` per probability bin (empty bins dropped)."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return [(float(p[idx == b].mean()), float(y[idx == b].mean()), int((idx == b).sum())) for b in range(bins) if (idx == b).any()]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
