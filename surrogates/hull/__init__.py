"""Convex hulls over reference phases relaxed with a machine-learned potential."""

from __future__ import annotations

from surrogates.hull.hull import Hull, ReferencePhase, build_reference_hull, potential_identity
from surrogates.hull.prototypes import PROTOTYPE_NAMES, Prototype, prototypes

__all__ = ["PROTOTYPE_NAMES", "Hull", "Prototype", "ReferencePhase", "build_reference_hull", "potential_identity", "prototypes"]
