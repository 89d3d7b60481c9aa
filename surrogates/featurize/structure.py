"""Structure features: composition features plus density, volume per atom, space group and lattice.

Lattice descriptors: ``a, b, c`` sorted ascending, their ratios ``b/a, c/a``, the angles
``alpha, beta, gamma``, the number of sites, and the space-group number (spglib at
``symprec``; 1 when it fails). An optional ``descriptor_fn(structures) -> n x k`` (e.g. a
potential's learned descriptors) appends ``k`` columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loop.errors import InputDataError
from loop.records import Candidate
from surrogates.featurize.base import DescriptorFn
from surrogates.featurize.composition import CompositionFeaturizer

__all__ = ["StructureFeaturizer"]

_GEOM = ["density", "volume_per_atom", "n_sites", "spacegroup", "a", "b", "c", "b_over_a", "c_over_a", "alpha", "beta", "gamma"]


class StructureFeaturizer(CompositionFeaturizer):
    """Composition features + geometric descriptors (+ learned descriptors from ``descriptor_fn``)."""

    def __init__(self, fractions: bool = True, descriptor_fn: DescriptorFn | None = None, symprec: float = 0.1) -> None:
        super().__init__(fractions=fractions)
        self.descriptor_fn = descriptor_fn
        self.symprec = symprec
        self._n_desc: int | None = None

    @property
    def names(self) -> list[str]:
        extra = [f"desc_{i}" for i in range(self._n_desc or 0)]
        return super().names + _GEOM + extra

    def _geometry(self, s) -> np.ndarray:  # noqa: ANN001 - pymatgen Structure
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        try:
            sg = float(SpacegroupAnalyzer(s, symprec=self.symprec).get_space_group_number())
        except Exception:  # spglib fails on badly distorted cells
            sg = 1.0
        a, b, c = sorted(s.lattice.abc)
        return np.array(
            [s.density, s.volume / len(s), len(s), sg, a, b, c, b / a, c / a, *s.lattice.angles], dtype=float
        )

    def _featurize(self, candidates: Sequence[Candidate]) -> np.ndarray:
        structures = []
        for c in candidates:
            s = c.relaxed_structure or c.structure
            if s is None:
                raise InputDataError(f"candidate {c.id} has no structure; structure features need one")
            structures.append(s)
        comp = np.stack([self.composition_features(s.composition) for s in structures])
        geom = np.stack([self._geometry(s) for s in structures])
        parts = [comp, geom]
        if self.descriptor_fn is not None:
            desc = np.asarray(self.descriptor_fn(structures), dtype=float)
            if desc.ndim != 2 or desc.shape[0] != len(structures):
                raise InputDataError(f"descriptor_fn returned shape {desc.shape}, expected ({len(structures)}, k)")
            if self._n_desc is not None and desc.shape[1] != self._n_desc:
                raise InputDataError(f"descriptor_fn width changed from {self._n_desc} to {desc.shape[1]}")
            self._n_desc = desc.shape[1]
            parts.append(desc)
        return np.concatenate(parts, axis=1)
