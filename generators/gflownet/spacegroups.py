"""Space-group tables for the crystal environment: Wyckoff positions and lattice parameters.

For space group ``G`` (conventional cell, as pyxtal and the International Tables give it)
each Wyckoff position ``w`` has a multiplicity ``m_w``, a number of free parameters
``dof_w`` and ``m_w`` affine operations ``(R_k, t_k)`` that map a generic point ``p`` onto
the orbit ``{R_k p + t_k mod 1}``. Positions with ``dof_w = 0`` are *fixed*: each can hold
at most one species. A per-species atom count ``n`` is reachable when it is a sum of
multiplicities, fixed positions used at most once across all species.

The lattice is parameterised per crystal system by the volume per atom and shape
parameters (length ratios ``b/a, c/a`` and angles), each taking one of a few bins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["LATTICE_PARAMS", "SpaceGroupTable", "WyckoffInfo", "space_group_table"]

LATTICE_PARAMS: dict[str, tuple[str, ...]] = {
    "triclinic": ("vpa", "b/a", "c/a", "alpha", "beta", "gamma"),
    "monoclinic": ("vpa", "b/a", "c/a", "beta"),
    "orthorhombic": ("vpa", "b/a", "c/a"),
    "tetragonal": ("vpa", "c/a"),
    "trigonal": ("vpa", "c/a"),
    "hexagonal": ("vpa", "c/a"),
    "cubic": ("vpa",),
}
"""Lattice parameters chosen per crystal system, in the order the environment sets them."""

PARAM_KINDS = ("vpa", "b/a", "c/a", "alpha", "beta", "gamma")


@dataclass(frozen=True)
class WyckoffInfo:
    """One Wyckoff position: ``rot`` is ``m x 3 x 3``, ``trans`` is ``m x 3``; ``free_axes``
    are the generic-point axes the orbit depends on (``len == dof``)."""

    letter: str
    multiplicity: int
    dof: int
    rot: np.ndarray
    trans: np.ndarray
    free_axes: tuple[int, ...]

    def orbit(self, points: np.ndarray) -> np.ndarray:
        """Orbits of generic points ``points`` (``b x 3``): fractional coords ``b x m x 3`` in [0, 1)."""
        out = np.einsum("mij,bj->bmi", self.rot, points) + self.trans[None]
        return out - np.floor(out)


@dataclass(frozen=True)
class SpaceGroupTable:
    """A space group's Wyckoff positions (pyxtal order: general position first)."""

    number: int
    symbol: str
    crystal_system: str
    wyckoffs: tuple[WyckoffInfo, ...]

    @property
    def lattice_params(self) -> tuple[str, ...]:
        return LATTICE_PARAMS[self.crystal_system]

    @property
    def min_multiplicity(self) -> int:
        return min(w.multiplicity for w in self.wyckoffs)

    @functools.cached_property
    def fixed(self) -> tuple[int, ...]:
        """Indices of fixed (``dof == 0``) positions."""
        return tuple(i for i, w in enumerate(self.wyckoffs) if w.dof == 0)

    @functools.cached_property
    def free_multiplicities(self) -> tuple[int, ...]:
        return tuple(sorted({w.multiplicity for w in self.wyckoffs if w.dof > 0}))

    def free_reachable(self, max_atoms: int) -> np.ndarray:
        """``ok[n]`` for ``n = 0..max_atoms``: ``n`` is a sum of free-position multiplicities."""
        ok = np.zeros(max_atoms + 1, dtype=bool)
        ok[0] = True
        for n in range(1, max_atoms + 1):
            ok[n] = any(m <= n and ok[n - m] for m in self.free_multiplicities)
        return ok


def _system(number: int) -> str:
    bounds = [
        (2, "triclinic"),
        (15, "monoclinic"),
        (74, "orthorhombic"),
        (142, "tetragonal"),
        (167, "trigonal"),
        (194, "hexagonal"),
        (230, "cubic"),
    ]
    return next(name for hi, name in bounds if number <= hi)


@functools.cache
def space_group_table(number: int) -> SpaceGroupTable:
    """The table of space group ``number`` (1-230), built once from pyxtal's data."""
    from pyxtal.symmetry import Group

    if not 1 <= number <= 230:
        raise ValueError(f"space group number must be 1-230, got {number}")
    group = Group(number)
    wyckoffs = []
    for wp in group.Wyckoff_positions:
        mats = np.array([op.affine_matrix for op in wp.ops], dtype=float)
        rot0 = mats[0, :3, :3]
        free_axes = tuple(int(j) for j in range(3) if np.any(np.abs(rot0[:, j]) > 1e-8))
        wyckoffs.append(
            WyckoffInfo(
                letter=str(wp.letter),
                multiplicity=int(wp.multiplicity),
                dof=len(free_axes),
                rot=mats[:, :3, :3].copy(),
                trans=mats[:, :3, 3].copy(),
                free_axes=free_axes,
            )
        )
    return SpaceGroupTable(
        number=number, symbol=str(group.symbol), crystal_system=_system(number), wyckoffs=tuple(wyckoffs)
    )
