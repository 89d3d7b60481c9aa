"""Structural validity of a generated crystal (the CDVAE convention).

A structure is valid when every interatomic distance (periodic images included) is at
least ``min_distance`` (0.5 A) and its volume per atom lies in ``[5, 100]`` A^3.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

__all__ = ["structure_problem", "structure_valid"]


def structure_problem(
    structure: Structure, min_distance: float = 0.5, vpa_range: tuple[float, float] = (5.0, 100.0)
) -> str | None:
    """``None`` for a valid structure, else what is wrong with it."""
    if len(structure) == 0:
        return "structure has no sites"
    vpa = structure.volume / len(structure)
    if not vpa_range[0] <= vpa <= vpa_range[1]:
        return f"volume per atom {vpa:.2f} A^3 outside {vpa_range[0]}-{vpa_range[1]} A^3"
    if len(structure) > 1:
        d = structure.distance_matrix
        d = d[~np.eye(len(structure), dtype=bool)]
        if d.min() < min_distance:
            return f"sites {d.min():.3f} A apart (< {min_distance} A)"
    if len(structure) >= 1:  # a site close to its own periodic image
        shortest = min(structure.lattice.abc)
        if shortest < min_distance:
            return f"lattice vector {shortest:.3f} A long (< {min_distance} A)"
    return None


def structure_valid(structure: Structure, min_distance: float = 0.5) -> bool:
    """Whether :func:`structure_problem` finds nothing."""
    return structure_problem(structure, min_distance) is None
