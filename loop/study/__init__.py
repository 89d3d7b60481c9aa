"""Studies: one campaign under many settings x seeds, run as Ray Tune trials.

>>> from loop.study import load_study, run_study
>>> outcome = run_study(load_study("experiments/studies/demo.yaml"), resume=True)   # doctest: +SKIP
"""

from __future__ import annotations

from loop.study.aggregate import aggregate_study, trial_status
from loop.study.config import StudyConfig, TrialPlan, load_study, parse_study
from loop.study.runner import StudyError, StudyOutcome, run_study, run_trial

__all__ = [
    "StudyConfig",
    "StudyError",
    "StudyOutcome",
    "TrialPlan",
    "aggregate_study",
    "load_study",
    "parse_study",
    "run_study",
    "run_trial",
    "trial_status",
]
