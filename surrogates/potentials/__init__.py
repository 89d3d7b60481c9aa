"""Machine-learned interatomic potentials: CHGNet (offline default) and MACE."""

from __future__ import annotations

from surrogates.potentials.base import ASEPotential, check_structure, min_distance
from surrogates.potentials.factory import create_potential, default_potential_name

__all__ = ["ASEPotential", "check_structure", "create_potential", "default_potential_name", "min_distance"]
