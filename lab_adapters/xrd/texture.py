"""Preferred orientation: the March-Dollase factor, for simulation and for refinement.

For a reflection family with unit reciprocal vectors ``g`` (its orbit under the point group)
and the preferred reciprocal direction ``G`` (unit), with ``c = g . G``:

    P(r) = < (r^2 c^2 + (1 - c^2) / r)^(-3/2) >,          averaged over the orbit,
    dP/dr = < -3/2 (r^2 c^2 + (1 - c^2) / r)^(-5/2) (2 r c^2 - (1 - c^2) / r^2) >.

``r = 1`` is a random powder; ``r < 1`` enhances the reflections whose normals lie along ``G``
(platelets lying flat), ``r > 1`` suppresses them (needles). March, Z. Kristallogr. 81, 285
(1932); Dollase, J. Appl. Cryst. 19, 267 (1986). Families are weighted by their multiplicity
where a merged reflection holds several.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from lab_adapters.xrd.peaks import PhasePeaks
from loop.errors import InputDataError

__all__ = ["LOW_INDEX_DIRECTIONS", "Texture", "distinct_directions", "march_dollase", "parse_direction"]

LOW_INDEX_DIRECTIONS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1))
R_BOUNDS = (0.4, 2.5)

_ORBITS: weakref.WeakKeyDictionary[PhasePeaks, list[list[tuple[np.ndarray, int]]]] = weakref.WeakKeyDictionary()


def _orbits(peaks: PhasePeaks) -> list[list[tuple[np.ndarray, int]]]:
    """For each reflection: ``[(unit reciprocal vectors of the family's orbit (q, 3), multiplicity)]``."""
    if peaks in _ORBITS:
        return _ORBITS[peaks]
    recip = peaks.structure.lattice.reciprocal_lattice_crystallographic.matrix
    try:
        ops = SpacegroupAnalyzer(peaks.structure, symprec=0.01).get_point_group_operations(cartesian=True)
        rots = [op.rotation_matrix for op in ops]
    except Exception:  # symmetry search failed: fall back to the Friedel pair only
        rots = [np.eye(3), -np.eye(3)]
    out = []
    for fams in peaks.families:
        entry = []
        for hkl, mult in fams:
            h = np.asarray(hkl[:2] + hkl[-1:] if len(hkl) == 4 else hkl, dtype=float)
            g = h @ recip
            vecs = np.array([r @ g for r in rots])
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            entry.append((np.unique(np.round(vecs, 6), axis=0), mult))
        out.append(entry)
    _ORBITS[peaks] = out
    return out


def parse_direction(text: str | Sequence[int]) -> tuple[int, int, int]:
    """``"0,0,1"``, ``"001"`` or ``(0, 0, 1)`` as a reciprocal direction ``(h, k, l)``."""
    if not isinstance(text, str):
        vals = [int(v) for v in text]
    elif "," in text or " " in text.strip():
        vals = [int(v) for v in text.replace(",", " ").split()]
    else:
        vals = [int(c) for c in text.strip()] if text.strip().isdigit() else []
    if len(vals) != 3 or not any(vals):
        raise InputDataError(f"preferred-orientation direction {text!r} is not three Miller indices like 0,0,1")
    return (vals[0], vals[1], vals[2])


@dataclass(frozen=True)
class Texture:
    """March-Dollase terms of one phase along ``direction``: orbit cosines flattened with their weights."""

    direction: tuple[int, int, int]
    c2: np.ndarray  # (q,) squared cosines of every orbit vector of every reflection
    weight: np.ndarray  # (q,) multiplicity / (orbit size * total multiplicity of the reflection)
    reflection: np.ndarray  # (q,) reflection index of each entry
    n: int

    @classmethod
    def of(cls, peaks: PhasePeaks, direction: Sequence[int]) -> Texture:
        hkl = parse_direction(direction)
        recip = peaks.structure.lattice.reciprocal_lattice_crystallographic.matrix
        gp = np.asarray(hkl, dtype=float) @ recip
        gp /= np.linalg.norm(gp)
        c2, w, idx = [], [], []
        for i, fams in enumerate(_orbits(peaks)):
            total = sum(m for _, m in fams)
            for vecs, mult in fams:
                c2.append((vecs @ gp) ** 2)
                w.append(np.full(len(vecs), mult / (len(vecs) * total)))
                idx.append(np.full(len(vecs), i))
        return cls(hkl, np.concatenate(c2), np.concatenate(w), np.concatenate(idx), len(peaks.d))

    def factor(self, r: float) -> np.ndarray:
        """``P_k(r)`` per reflection, ``(n,)``."""
        q = r * r * self.c2 + (1.0 - self.c2) / r
        return np.bincount(self.reflection, weights=self.weight * q**-1.5, minlength=self.n)

    def derivative(self, r: float) -> np.ndarray:
        """``dP_k/dr`` per reflection, ``(n,)``."""
        q = r * r * self.c2 + (1.0 - self.c2) / r
        dq = 2.0 * r * self.c2 - (1.0 - self.c2) / (r * r)
        return np.bincount(self.reflection, weights=self.weight * -1.5 * q**-2.5 * dq, minlength=self.n)


def march_dollase(peaks: PhasePeaks, direction: tuple[int, int, int], r: float) -> np.ndarray:
    """Texture factor per reflection, ``(n,)`` (see the module docstring); ``r = 1`` is no texture."""
    if r <= 0:
        raise InputDataError(f"March-Dollase r must be > 0, got {r}")
    if r == 1.0:
        return np.ones(len(peaks.d))
    return Texture.of(peaks, direction).factor(r)


def distinct_directions(peaks: PhasePeaks, directions: Sequence[tuple[int, int, int]] = LOW_INDEX_DIRECTIONS,
                        ) -> list[Texture]:
    """The textures of ``directions`` that differ for this phase (symmetry-equivalent ones dropped)."""
    out: list[Texture] = []
    seen: list[np.ndarray] = []
    for hkl in directions:
        t = Texture.of(peaks, hkl)
        probe = t.factor(0.7)
        if any(np.allclose(probe, s, rtol=1e-6, atol=1e-9) for s in seen):
            continue
        seen.append(probe)
        out.append(t)
    return out
