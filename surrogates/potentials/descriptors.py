"""Potential descriptors as ranker features: one row per candidate.

``X[i]`` is the potential's per-structure descriptor (MACE: mean invariant node features;
CHGNet: crystal features) of candidate ``i``'s relaxed structure when it has one, else of
its proposed structure; a row of NaN when there is no structure or the potential cannot
take it (an uncovered element, overlapping atoms), so the featurizer decides how to impute.

>>> X = candidate_descriptors(candidates, potential)   # shape n x d
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from loop.errors import StructureError
from loop.interfaces import Potential
from loop.records import Candidate

__all__ = ["candidate_descriptors"]

log = logging.getLogger(__name__)


def candidate_descriptors(candidates: Sequence[Candidate], potential: Potential) -> np.ndarray:
    """Descriptor matrix ``n x d`` (NaN rows where no descriptor can be computed)."""
    rows: list[int] = []
    structures = []
    for i, c in enumerate(candidates):
        s = c.relaxed_structure or c.structure
        if s is None:
            continue
        check = getattr(potential, "check", None)
        try:
            if check is not None:
                check(s)
        except StructureError as exc:
            log.debug("no descriptor for %s: %s", c.id, exc)
            continue
        rows.append(i)
        structures.append(s)
    feats = potential.descriptors(structures) if structures else None
    d = feats.shape[1] if feats is not None else potential.descriptors([]).shape[1]
    out = np.full((len(candidates), d), np.nan)
    if feats is not None:
        out[rows] = feats
    return out
