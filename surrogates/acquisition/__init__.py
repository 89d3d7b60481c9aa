"""Acquisition over a discrete candidate set: objectives, constraints, windows and batches."""

from __future__ import annotations

from surrogates.acquisition.batch import evaluate_acquisition, greedy_discrete
from surrogates.acquisition.build import OutcomeSpec, build_acquisition, infer_ref_point
from surrogates.acquisition.window import qLogProbabilityFeasible

__all__ = [
    "OutcomeSpec",
    "build_acquisition",
    "evaluate_acquisition",
    "greedy_discrete",
    "infer_ref_point",
    "qLogProbabilityFeasible",
]
