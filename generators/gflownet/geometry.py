"""Periodic distances for the coordinate masks of the crystal environment.

Fractional differences are wrapped into ``[-1/2, 1/2)`` and the 8 images
``wrapped - b * sign(wrapped)`` (``b`` in {0, 1}^3) are compared. The result is never below
the true minimum-image distance and equals it for short distances (a few A, the regime the
masks compare against ``mask_distance``) in the near-orthogonal cells the lattice bins produce;
``tests/generators/test_geometry.py`` checks both against pymatgen.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cross_min_distance", "frac_min_image", "self_min_distance"]


def frac_min_image(diff: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Shortest Cartesian length of fractional differences ``diff`` (``... x 3``).

    The difference is wrapped into ``[-1/2, 1/2)`` and the 8 images ``wrapped - b * sign``
    (``b`` in {0, 1}^3) are compared (see the module docstring for when this is exact).
    """
    diff = diff - np.round(diff)
    sign = np.where(diff >= 0, 1.0, -1.0)
    best = None
    for b in _CORNERS:
        cart = (diff - b * sign) @ matrix
        d2 = np.einsum("...i,...i->...", cart, cart)
        best = d2 if best is None else np.minimum(best, d2)
    return np.sqrt(best)


_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)


def self_min_distance(orbits: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Shortest distance between distinct members of each orbit (``k x m x 3`` -> ``k``)."""
    m = orbits.shape[1]
    if m < 2:
        return np.full(len(orbits), np.inf)
    iu, ju = np.triu_indices(m, 1)
    return frac_min_image(orbits[:, iu] - orbits[:, ju], matrix).min(1)


def cross_min_distance(orbits: np.ndarray, placed: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Shortest distance from each orbit (``k x m x 3``) to the placed atoms (``p x 3``) -> ``k``."""
    diff = orbits[:, :, None, :] - placed[None, None]
    return frac_min_image(diff, matrix).reshape(len(orbits), -1).min(1)
