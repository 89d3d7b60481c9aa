"""Surrogate models: GPs per objective, outcome warping, feasibility and synthesizability."""

from __future__ import annotations

from surrogates.models.feasibility import FeasibilityModel
from surrogates.models.gp import ModelFitError, fit_objective_gp
from surrogates.models.synthesizability import SynthesizabilityModel, smact_prior
from surrogates.models.warping import OutcomeWarp

__all__ = [
    "FeasibilityModel",
    "ModelFitError",
    "OutcomeWarp",
    "SynthesizabilityModel",
    "fit_objective_gp",
    "smact_prior",
]
