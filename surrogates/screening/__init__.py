"""The ``mlip`` screening stage: validity, duplicates, relaxation, energy above hull."""

from __future__ import annotations

from surrogates.screening.dedupe import DuplicateIndex, prefilter_key
from surrogates.screening.screen import MLIPScreen, MLIPScreenConfig
from surrogates.screening.validity import compositional_problem, structural_problem

__all__ = ["DuplicateIndex", "MLIPScreen", "MLIPScreenConfig", "compositional_problem", "prefilter_key", "structural_problem"]
