"""Where the lab's XRD saw something new: a composition weight from what the patterns did not explain.

A solid-state chemist reads a failed synthesis by its pattern. When every peak belongs to known phases, the
composition fell apart into them and another ordering of it will most likely do the same; when peaks stay
unexplained, something unknown formed there, and the next attempt belongs near it. This model turns that
reading into a weight on candidates (Beta-Bernoulli, kernel-smoothed over composition):

- every XRD-read observation ``j`` gives its composition ``x_j`` (atomic fractions of the target) and its
  *new-phase evidence* ``e_j = min(1, target_fraction + unidentified share)``: the share of the pattern that
  no known phase explains (the target's own phase, if it formed, is new too unless the lab matched it to a known
  phase, ``target_known_as``);
- a candidate at composition ``x`` gets ``m(x) = (a + sum_j k_j e_j) / (a + b + sum_j k_j)`` with
  ``k_j = exp(-|x - x_j|^2 / 2 l^2)``, ``a = prior``, ``b = 1 - prior`` (one pseudo-experiment), and the
  log weight ``log(m(x) / prior)``: 0 where the lab has not been, below 0 where it made only known phases,
  above 0 where it saw unexplained intensity.

Only measured quantities enter (the phase analysis of the lab's pattern); an experiment whose analysis reports
no unexplained-intensity figure (a lab that lists phases only) is not evidence either way, and a lab with no
phase analysis leaves every weight at 1. ``crystaloop evidence CAMPAIGN_DIR...`` prints the evidence by
composition. Option ``phase_evidence`` of the ``botorch`` ranker; docs/benchmarks.md, "Session 15".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loop.errors import InputDataError
from loop.records import Candidate, Observation
from surrogates.featurize.composition import composition_of

__all__ = ["PhaseEvidence", "evidence_by_composition", "new_phase_evidence"]


def new_phase_evidence(observation: Observation) -> float | None:
    """The share of an observation's pattern that no known phase explains (None without a phase analysis or
    without its unexplained-intensity figure: an analysis that lists phases only cannot say the pattern was explained)."""
    pa = observation.phase_analysis
    if pa is None or not observation.success or pa.unidentified is None:
        return None
    share = pa.unidentified.intensity_share if pa.unidentified.detected else 0.0
    target = 0.0 if pa.target_known_as else (pa.target_fraction or 0.0)  # a target that is a known phase is not new
    return float(min(1.0, target + share))


def _fractions(c: Candidate) -> dict[str, float] | None:
    try:
        return composition_of(c).fractional_composition.get_el_amt_dict()
    except InputDataError:
        return None


def evidence_by_composition(candidates: Sequence[Candidate], observations: Sequence[Observation]) -> list[dict]:
    """Per reduced formula of the XRD-read experiments (``candidates[i]`` made in ``observations[i]``): how many,
    the best yield, the mean and largest new-phase evidence, and the weight :class:`PhaseEvidence` (defaults)
    gives that composition now; sorted by weight, highest first."""
    rows: dict[str, dict] = {}
    for c, o in zip(candidates, observations, strict=True):
        e = new_phase_evidence(o)
        if e is None:
            continue
        formula = composition_of(c).reduced_formula
        row = rows.setdefault(formula, {"formula": formula, "experiments": 0, "best_yield": 0.0, "evidence": [], "candidate": c})
        row["experiments"] += 1
        row["evidence"].append(e)
        y = o.value("yield")
        if y is not None and y == y:
            row["best_yield"] = max(row["best_yield"], float(y))
    model = PhaseEvidence().fit(candidates, observations)
    weights = model.log_weight([r["candidate"] for r in rows.values()])
    out = [
        {"formula": r["formula"], "experiments": r["experiments"], "best_yield": r["best_yield"],
         "mean_evidence": float(np.mean(r["evidence"])), "max_evidence": float(np.max(r["evidence"])), "weight": float(np.exp(w))}
        for r, w in zip(rows.values(), weights, strict=True)
    ]
    return sorted(out, key=lambda r: -r["weight"])


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
            comp = _fractions(c) if e is not None else None
            if comp is not None:
                comps.append(comp)
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
        comps = [_fractions(c) for c in candidates]
        rows = [i for i, comp in enumerate(comps) if comp is not None]
        if not rows:
            return out
        X = self._vectors([comps[i] for i in rows])
        outside = np.array([sum(v**2 for el, v in comps[i].items() if el not in self._elements) for i in rows])  # never measured
        d2 = (X**2).sum(1)[:, None] + (self._X**2).sum(1)[None, :] - 2.0 * X @ self._X.T + outside[:, None]
        k = np.exp(-np.maximum(d2, 0.0) / (2.0 * self.length**2))
        m = (self.prior + k @ self._e) / (1.0 + k.sum(axis=1))
        out[rows] = np.log(m / self.prior)
        return out
