"""Contact descriptors of a structure: how its atoms are arranged, beyond composition and lattice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymatgen.core import Element, Structure

from surrogates.featurize.base import DescriptorFn

__all__ = ["contact_descriptors", "with_contacts"]

_CONTACT_CUTOFF = 6.0  # A; a site with no neighbour within it counts as this far away


def _contacts(structure: Structure) -> np.ndarray:
    """``[like_min, unlike_min, nn_mean, homo_fraction]`` of one structure (see :func:`contact_descriptors`).

    Vectorised over pymatgen's neighbour list (the one ``Structure.get_all_neighbors`` groups into
    ``Neighbor`` objects, in the same order and with the same filter), so the values are those of the
    per-neighbour loop, ties included (the first closest neighbour of the list decides ``homo``).
    """
    symbols = [site.specie.symbol for site in structure]
    radius = {e: float(Element(e).atomic_radius or 1.5) for e in set(symbols)}
    r_site = np.array([radius[e] for e in symbols])
    codes = {e: k for k, e in enumerate(sorted(set(symbols)))}
    kind = np.array([codes[e] for e in symbols])
    centres, points, _images, dists = structure.get_neighbor_list(_CONTACT_CUTOFF, sites=structure.sites, numerical_tol=1e-8)
    keep = (dists > 1e-8) | (kind[points] != kind[centres])  # get_all_neighbors drops the site itself
    centres, points, dists = centres[keep], points[keep], dists[keep]
    same = kind[points] == kind[centres]
    scaled = dists / (r_site[centres] + r_site[points])
    far = _CONTACT_CUTOFF / (2.0 * max(radius.values()))
    nearest, homo = [], []
    for i in range(len(structure)):
        mine = centres == i
        best = _CONTACT_CUTOFF / (2.0 * r_site[i])
        if mine.any():
            best = min(best, float(scaled[mine].min()))
            d_i = dists[mine]
            j = int(np.argmin(d_i))  # the first of the closest, as the loop's strict "<" keeps it
            homo.append(float(bool(same[mine][j])) if d_i[j] < _CONTACT_CUTOFF else 0.0)
        else:
            homo.append(0.0)
        nearest.append(best)
    like, unlike = scaled[same], scaled[~same]
    return np.array([float(like.min()) if like.size else far, float(unlike.min()) if unlike.size else far,
                     float(np.mean(nearest)), float(np.mean(homo))])


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
