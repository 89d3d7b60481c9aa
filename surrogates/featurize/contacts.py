"""Contact descriptors of a structure: how its atoms are arranged, beyond composition and lattice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Element, Structure

from surrogates.featurize.base import DescriptorFn

__all__ = ["contact_descriptors", "with_contacts"]

_CONTACT_CUTOFF = 6.0  # A; a site with no neighbour within it counts as this far away


def _contacts(structure: Structure) -> np.ndarray:
    """``[like_min, unlike_min, nn_mean, homo_fraction]`` of one structure (see :func:`contact_descriptors`)."""
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


def contact_descriptors(structures: Sequence[Structure]) -> np.ndarray:
    """``n x 4`` arrangement descriptors: the shortest like-element and unlike-element contacts and the
    mean nearest-neighbour distance, each over the sum of the two atomic radii, and the fraction of
    sites whose nearest neighbour (in A) is the same element (periodic images included, within 6 A)."""
    return np.stack([_contacts(s) for s in structures]) if len(structures) else np.zeros((0, 4))


def with_contacts(descriptor_fn: DescriptorFn | None) -> DescriptorFn:
    """``descriptor_fn``'s columns (if any) followed by :func:`contact_descriptors`."""
    if descriptor_fn is None:
        return contact_descriptors

    def both(structures: Sequence[Structure]) -> np.ndarray:
        return np.concatenate([np.asarray(descriptor_fn(structures), dtype=float), contact_descriptors(structures)], axis=1)

    return both
