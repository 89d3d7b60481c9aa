"""Where the lab's XRD saw something new: a composition weight from what the patterns did not explain.

A solid-state chemist reads a failed synthesis by its pattern. When every peak belongs to known phases, the
composition fell apart into them and another ordering of it will most likely do the same; when peaks stay
unexplained, something unknown formed there, and the next attempt belongs near it. This model turns that
reading into a weight on candidates (Beta-Bernoulli, kernel-smoothed over composition):

- every XRD-read observation ``j`` gives its composition ``x_j`` (atomic fractions of the target) and its
  *new-phase evidence* ``e_j = min(1, target_fraction + unidentified share)``: the share of the pattern that
  no known phase explains (the target's own phase, if it formed, is new too);
- a candidate at composition ``x`` gets ``m(x) = (a + sum_j k_j e_j) / (a + b + sum_j k_j)`` with
  ``k_j = exp(-|x - x_j|^2 / 2 l^2)``, ``a = prior``, ``b = 1 - prior`` (one pseudo-experiment), and the
  log weight ``log(m(x) / prior)``: 0 where the lab has not been, below 0 where it made only known phases,
  above 0 where it saw unexplained intensity.

Only measured quantities enter (the phase analysis of the lab's pattern); labs that return no phase analysis
leave the weight at 0. Option ``phase_evidence`` of the ``botorch`` ranker; docs/benchmarks.md, "Session 15".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loop.errors import InputDataError
from loop.records import Candidate, Observation
from surrogates.featurize.composition import composition_of

__all__ = ["PhaseEvidence", "new_phase_evidence"]


def new_phase_evidence(observation: Observation) -> float | None:
    """The share of an observation's pattern that no known phase explains (None without a phase analysis)."""
    pa = observation.phase_analysis
    if pa is None or not observation.success:
        return None
    share = pa.unidentified.intensity_share if pa.unidentified is not None and pa.unidentified.detected else 0.0
    return float(min(1.0, (pa.target_fraction or 0.0) + share))


class PhaseEvidence:
    """``fit(candidates, observations)`` then ``log_weight(candidates)``; see the module docs."""

    def __init__(self, *, length: float = 0.05, prior: float = 0.2) -> None:
        if not 0.0 < prior < 1.0:
            raise ValueError(f"phase_evidence prior must be in (0, 1), got {prior}")
        if length <= 0.0:
            raise ValueError(f"phase_evidence length must be > 0, got {length}")
        self.length = length
        self.prior = prior
        self._X: np.ndarray | None = None
        self._e: np.ndarray | None = None
        self._elements: list[str] = []

    @property
    def active(self) -> bool:
        return self._X is not None and len(self._X) > 0

    def fit(self, candidates: Sequence[Candidate], observations: Sequence[Observation]) -> PhaseEvidence:
        """``candidates[i]`` is the candidate of ``observations[i]``."""
        comps, evidence = [], []
        for c, o in zip(candidates, observations, strict=True):
            e = new_phase_evidence(o)
            if e is None:
                continue
            try:
                comps.append(composition_of(c).fractional_composition.get_el_amt_dict())
            except InputDataError:
                continue
            evidence.append(e)
        self._elements = sorted({el for comp in comps for el in comp})
        self._X = self._vectors(comps) if comps else None
        self._e = np.array(evidence, dtype=float) if comps else None
        return self

    def _vectors(self, comps: Sequence[dict[str, float]]) -> np.ndarray:
        return np.array([[comp.get(el, 0.0) for el in self._elements] for comp in comps], dtype=float)

    def log_weight(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """``log(m(x) / prior)`` per candidate (0 before any XRD-read observation or without a composition)."""
        out = np.zeros(len(candidates))
        if not self.active:
            return out
        assert self._X is not None and self._e is not None
        for i, c in enumerate(candidates):
            try:
                comp = composition_of(c).fractional_composition.get_el_amt_dict()
            except InputDataError:
                continue
            x = self._vectors([comp])[0]
            outside = sum(v**2 for el, v in comp.items() if el not in self._elements)  # elements never measured
            d2 = ((self._X - x) ** 2).sum(axis=1) + outside
            k = np.exp(-d2 / (2.0 * self.length**2))
            m = (self.prior + k @ self._e) / (1.0 + k.sum())
            out[i] = float(np.log(m / self.prior))
        return out
