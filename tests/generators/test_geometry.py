from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice

from generators.gflownet.geometry import cross_min_distance, frac_min_image, self_min_distance


@pytest.mark.parametrize("seed", range(6))
def test_min_image_is_exact_for_short_distances(seed: int) -> None:
    """Never below the true distance, and exact below 2 A (what the masks compare)."""
    rng = np.random.default_rng(seed)
    abc = rng.uniform(2.5, 8.0, 3)
    angles = rng.choice([80.0, 90.0, 100.0, 110.0], 3) if seed else [90.0, 90.0, 120.0]
    lattice = Lattice.from_parameters(*abc, *angles)
    a = rng.random((200, 3))
    b = a + lattice.get_fractional_coords(rng.normal(size=(200, 3)))  # partners about 1.6 A away
    b -= np.floor(b)
    ours = frac_min_image(a - b, lattice.matrix)
    theirs = np.array([lattice.get_distance_and_image(x, y)[0] for x, y in zip(a, b, strict=True)])
    assert np.all(ours >= theirs - 1e-9)
    close = theirs < 2.0
    assert close.sum() > 50
    np.testing.assert_allclose(ours[close], theirs[close], atol=1e-8)


def test_orbit_distances() -> None:
    m = Lattice.cubic(4.0).matrix
    orbit = np.array([[[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]], [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]])
    np.testing.assert_allclose(self_min_distance(orbit, m), [np.sqrt(12.0), 0.4])
    placed = np.array([[0.0, 0.0, 0.9]])
    np.testing.assert_allclose(cross_min_distance(orbit, placed, m), [0.4, 0.4])
