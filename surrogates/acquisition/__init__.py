"""Acquisition over a discrete candidate set: objectives, constraints, windows and batches."""

from __future__ import annotations

from surrogates.acquisition.batch import evaluate_acquisition, greedy_discrete, marginal_moments
from surrogates.acquisition.build import OutcomeSpec, build_acquisition, infer_ref_point
from surrogates.acquisition.noisy import FastqLogNEHVI, FastqLogNEI
from surrogates.acquisition.shared_rows import SharedRowsModel, shared_rows_posterior
from surrogates.acquisition.window import qLogProbabilityFeasible

__all__ = [
    "FastqLogNEHVI",
    "FastqLogNEI",
    "SharedRowsModel",
    "OutcomeSpec",
    "build_acquisition",
    "evaluate_acquisition",
    "greedy_discrete",
    "infer_ref_point",
    "marginal_moments",
    "qLogProbabilityFeasible",
    "shared_rows_posterior",
]
