"""The ``crystal`` simulated lab: a chemical world with MLIP ground truth, synthesis and powder XRD.

>>> from lab_adapters.crystal import CrystalLab, World, build_world  # doctest: +SKIP
"""

from __future__ import annotations

from lab_adapters.crystal.lab import CrystalLab, CrystalLabConfig
from lab_adapters.crystal.recipes import RecipePlanner, StoichiometricPlanner
from lab_adapters.crystal.truth import CandidateTruth, ground_truth
from lab_adapters.crystal.world import World, WorldConfig, build_world

__all__ = [
    "CandidateTruth",
    "CrystalLab",
    "CrystalLabConfig",
    "RecipePlanner",
    "StoichiometricPlanner",
    "World",
    "WorldConfig",
    "build_world",
    "ground_truth",
]
