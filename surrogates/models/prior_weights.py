"""The weights a ranker knows besides its GP: feasibility and ``p_synth``, with its ``e_hull`` estimates.

``log w(x) = log p_feas(x) + log p_synth(x) + log e(x)`` multiplies the GP's acquisition and, before a GP can be
fitted, ranks on its own (the botorch ranker's fallback):

- ``p_feas``: :class:`~surrogates.models.FeasibilityModel` on the lab's success flags;
- the lab's new-phase evidence (:class:`~surrogates.models.phase_evidence.PhaseEvidence`): where XRD patterns
  left intensity unexplained by known phases, and where they did not (option ``phase_evidence``);
- ``p_synth``: the SMACT prior times ``exp(-e_hull / 0.1)`` (:func:`~surrogates.models.synthesizability.smact_prior`),
  with the screen's computed ``e_hull`` or, where the screen gave none, the ranker's own short-relaxation estimate
  (:mod:`surrogates.models.hull_estimate`), updated by the lab's formed / not-formed outcomes
  (:class:`~surrogates.models.SynthesizabilityModel`; formed: an XRD target fraction, else a ``yield``, >= 0.5).

The features ``X`` come from the ranker; this class only holds the models and the estimates.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from loop.errors import InputDataError
from loop.interfaces import PluginContext
from loop.records import Candidate, Observation
from surrogates.featurize.composition import composition_of
from surrogates.models.feasibility import FeasibilityModel
from surrogates.models.hull_estimate import HullEstimateConfig, HullEstimator
from surrogates.models.phase_evidence import PhaseEvidence
from surrogates.models.synthesizability import SynthesizabilityModel, smact_prior

__all__ = ["PriorWeights"]

log = logging.getLogger(__name__)

_FLOOR = 1e-6  # probabilities are clipped here before the log


def computed_e_hull(candidate: Candidate) -> float | None:
    """The screen's ``e_hull`` of a candidate, where it computed one."""
    value = candidate.metadata.get("e_hull")
    return float(value) if isinstance(value, int | float) else None


class PriorWeights:
    """Feasibility and ``p_synth`` models of a ranker (see the module docs)."""

    def __init__(
        self,
        context: PluginContext,
        *,
        feasibility: bool = True,
        synthesizability: str = "auto",
        e_hull_estimate: HullEstimateConfig | None = None,
        skip: Callable[[str, str], None] | None = None,
        phase_evidence: PhaseEvidence | None = None,
    ) -> None:
        self.context = context
        self.feasibility = feasibility
        self.synthesizability = synthesizability
        self.feas = FeasibilityModel()
        self.synth: SynthesizabilityModel | None = None
        self.evidence = phase_evidence
        self._estimator = HullEstimator(e_hull_estimate, context) if e_hull_estimate else None
        self._e_hull_est: dict[str, float] = {}
        self._skip = skip or (lambda what, reason: log.warning("prior weights skip %s: %s", what, reason))

    # ---------------------------------------------------------------- what is on
    def synth_enabled(self, candidates: Sequence[Candidate]) -> bool:
        """``p_synth`` applies: ``synthesizability`` on, or auto and every candidate has chemistry."""
        if self.synthesizability == "off":
            return False
        has_chem = bool(candidates) and all(c.structure is not None or c.formula for c in candidates)
        return self.synthesizability == "on" or has_chem

    def has_weights(self, candidates: Sequence[Candidate]) -> bool:
        """Any weight applies before a GP: ``p_synth``, a fitted feasibility model or the lab's phase evidence."""
        evidence = self.evidence is not None and self.evidence.active
        return self.synth_enabled(candidates) or self.feas.active or evidence

    @property
    def feasibility_active(self) -> bool:
        return self.feasibility and self.feas.active

    # ---------------------------------------------------------------- e_hull
    def estimate_e_hull(self, candidates: Sequence[Candidate]) -> None:
        """Short-relaxation ``e_hull`` estimates (``e_hull_estimate``) for candidates the screen left without one."""
        if self._estimator is None or not self.synth_enabled(candidates):
            return
        todo = [c for c in candidates if computed_e_hull(c) is None]
        self._e_hull_est.update(self._estimator.estimate(todo))

    def e_hull_estimates(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """The ranker's own ``e_hull`` estimate per candidate (NaN where none was made)."""
        return np.array([self._e_hull_est.get(c.id, np.nan) for c in candidates], dtype=float)

    # ---------------------------------------------------------------- p_synth
    def synth_prior(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """The ``p_synth`` prior per candidate (0.5 where the composition cannot be read)."""
        out = np.empty(len(candidates))
        for i, c in enumerate(candidates):
            try:
                formula = composition_of(c).reduced_formula
            except InputDataError:
                out[i] = 0.5
                continue
            e_hull = computed_e_hull(c)
            if e_hull is None and math.isfinite(self._e_hull_est.get(c.id, math.nan)):
                e_hull = self._e_hull_est[c.id]
            out[i] = smact_prior(formula, e_hull)
        return out

    def p_synth(self, candidates: Sequence[Candidate], X: np.ndarray) -> np.ndarray:
        """``p_synth`` per candidate (the prior when nothing was learned yet)."""
        prior = self.synth_prior(candidates)
        return prior if self.synth is None else self.synth.predict(X, prior)

    # ---------------------------------------------------------------- fitting
    def fit(self, X: np.ndarray, ok: np.ndarray, candidates: Sequence[Candidate], observations: Sequence[Observation]) -> None:
        """Fit feasibility on the success flags and ``p_synth`` on the formed / not-formed outcomes
        (``candidates[i]`` is the candidate of ``observations[i]``, ``ok[i]`` whether its features are finite)."""
        if self.feasibility:
            success = np.array([o.success for o in observations])
            self.feas.fit(X[ok], success[ok])
        if self.evidence is not None:
            self.evidence.fit(candidates, observations)
        if not self.synth_enabled(candidates):
            self.synth = None
            return
        labels, rows = [], []
        for i, o in enumerate(observations):
            if not ok[i]:
                continue
            formed = None
            if o.phase_analysis is not None and o.phase_analysis.target_fraction is not None:
                formed = o.phase_analysis.target_fraction >= 0.5
            elif "yield" in o.values:
                formed = o.values["yield"].value >= 0.5
            if formed is not None:
                labels.append(float(formed))
                rows.append(i)
        model = SynthesizabilityModel()
        if rows:
            model.fit(X[rows], self.synth_prior([candidates[i] for i in rows]), np.array(labels))
        self.synth = model

    # ---------------------------------------------------------------- weights
    def _evidence_log_weight(self, candidates: Sequence[Candidate]) -> np.ndarray:
        if self.evidence is None:
            return np.zeros(len(candidates))
        return self.evidence.log_weight(candidates)

    def log_weight(self, candidates: Sequence[Candidate], X: np.ndarray) -> np.ndarray:
        """``log w(x)`` beside a fitted GP: the fitted feasibility and ``p_synth`` models, and the campaign's
        ``p_synth`` constraints (``-inf`` where one fails, unless every candidate fails it)."""
        lw = self._evidence_log_weight(candidates)
        if self.feasibility:
            lw += np.log(np.clip(self.feas.predict(X), _FLOOR, 1.0))
        if self.synth is not None:
            p = self.synth.predict(X, self.synth_prior(candidates))
            lw += np.log(np.clip(p, _FLOOR, 1.0))
            for c in self.context.constraints:
                if c.name == "p_synth":
                    bad = p < c.value if c.op in (">=", ">") else p > c.value
                    if not bad.all():
                        lw[bad] = -np.inf
                    else:
                        self._skip("constraint p_synth", f"no candidate meets p_synth {c.op} {c.value}; ignored")
        return lw

    def fallback_log_weight(self, candidates: Sequence[Candidate], X: np.ndarray, ok: np.ndarray, *, ties: bool = False) -> np.ndarray | None:
        """Scores before a GP: ``log w(x)`` from the ``p_synth`` prior or its update and the feasibility model;
        ``None`` when there is neither, or (unless ``ties``) when it is the same for every candidate."""
        synth = self.synth_enabled(candidates)
        if not self.has_weights(candidates):
            return None
        lw = self._evidence_log_weight(candidates)
        if self.feasibility_active:
            lw += np.log(np.clip(self.feas.predict(X), _FLOOR, 1.0))
        if synth:
            lw += np.log(np.clip(self.p_synth(candidates, X), _FLOOR, 1.0))
        lw[~ok] = -np.inf
        return None if not ties and np.ptp(lw[ok]) <= 1e-12 and ok.all() else lw
