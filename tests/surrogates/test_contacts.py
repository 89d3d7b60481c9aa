"""Contact descriptors: the vectorised neighbour-list path gives the per-neighbour loop's values exactly."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from surrogates.featurize.contacts import _CONTACT_CUTOFF, contact_descriptors


def _loop(structure: Structure) -> np.ndarray:
    """The reference definition: a loop over pymatgen's ``get_all_neighbors``."""
    symbols = [site.specie.symbol for site in structure]
    radius = {e: float(Element(e).atomic_radius or 1.5) for e in set(symbols)}
    like, unlike, nearest, homo = [], [], [], []
    for i, neighbours in enumerate(structure.get_all_neighbors(_CONTACT_CUTOFF)):
        best, closest, closest_like = _CONTACT_CUTOFF / (2.0 * radius[symbols[i]]), _CONTACT_CUTOFF, False
        for n in neighbours:
            other = n.specie.symbol
            d = n.nn_distance / (radius[symbols[i]] + radius[other])
            (like if other == symbols[i] else unlike).append(d)
            best = min(best, d)
            if n.nn_distance < closest:
                closest, closest_like = n.nn_distance, other == symbols[i]
        nearest.append(best)
        homo.append(float(closest_like))
    far = _CONTACT_CUTOFF / (2.0 * max(radius.values()))
    return np.array([min(like, default=far), min(unlike, default=far), float(np.mean(nearest)), float(np.mean(homo))])


def test_vectorised_contacts_equal_the_neighbour_loop():
    rng = np.random.default_rng(0)
    structures = [
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(Lattice.cubic(3.0), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]]),  # like contacts only
        Structure(Lattice.cubic(12.0), ["O"], [[0, 0, 0]]),  # no neighbour within 6 A
    ]
    for _ in range(20):
        n = int(rng.integers(2, 9))
        structures.append(Structure(Lattice.from_parameters(*rng.uniform(3, 7, 3), *rng.uniform(70, 110, 3)),
                                    list(rng.choice(["Li", "Mn", "O"], n)), rng.random((n, 3))))
    got = contact_descriptors(structures)
    assert np.array_equal(got, np.stack([_loop(s) for s in structures]))
