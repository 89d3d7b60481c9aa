"""Derivative structures: orderings of two elements on one orbit of a small known phase's supercells.

Many ternaries are *derivative structures* of a simple parent: Li2MnO3 and layered LiCoO2 are
cation orderings on the rock-salt cation lattice, chalcopyrite orders zinc blende, the
alpha-LiFeO2 / gamma-LiFeO2 family orders rock salt in other supercells. Their primitive
cells are supercells of the parent's, so no known phase of the parent's size templates them,
and orbit-by-orbit decoration of a known phase cannot make them. Hart & Forcade (2008,
Phys. Rev. B 77, 224115; the method behind ``enumlib``) enumerate them as a parent's
supercells (Hermite normal forms of index ``n``) with every two-colouring of the chosen
sites, one of each symmetry-equivalent set.

This module does the same, for the small indices a GFlowNet template needs:

- every lower-triangular Hermite normal form ``H`` of determinant ``n`` is a superlattice,
  for 2 <= n with at most ``max_index`` sites of the coloured orbit in it (rock salt: n <= 6;
  antifluorite's two Li sites: n <= 3) and ``n x len(parent) <= max_atoms``; those the parent's
  rotations map onto each other are one class, and one ``H`` per class is kept;
- every split of the orbit's sites into classes ``A`` (the larger) and ``B`` is a colouring,
  tried only when ``feasible(class sizes)`` says some decoration of it can be valid (the
  caller's charge rule: a Li-Mn-O campaign keeps the 1:1 and 2:1 splits of rock salt);
- colourings that the parent's operations keeping ``H`` (with the parent's lattice
  translations) map onto each other are one structure (the smallest bit code of the images is
  its key; with ``|A| = |B|`` the swapped labels too), and a colouring that a pure translation
  of the supercell leaves unchanged belongs to a smaller index and is dropped.

On rock salt's cation lattice (fcc) this gives 2, 3, 12, 14, 50, 52 and 229 binary
structures at indices 2-8, Hart & Forcade's counts (``tests/generators/test_derivatives.py``).
Each derivative is returned with its site classes (``A``, ``B``, then the parent's other
orbits as they are), which :mod:`generators.gflownet.templates` decorates like orbits, with
``A`` and ``B`` taking different elements.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure

__all__ = ["Derivative", "derivatives", "hnf_matrices"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Derivative:
    """A supercell of the parent (parent species), its site classes and its colouring's space group."""

    structure: Structure
    classes: tuple[tuple[int, ...], ...]  # A, B, then the parent's other orbits
    class_elements: tuple[str, ...]  # the parent's element of each class
    index: int
    space_group: int


def hnf_matrices(n: int) -> Iterator[np.ndarray]:
    """Every lower-triangular Hermite normal form of determinant ``n``, one per distinct supercell lattice.

    Hart & Forcade's convention: the superlattice vectors are the *columns* of ``H`` in the parent's
    basis (pymatgen's ``make_supercell`` takes them as rows: pass ``H.T``)."""
    for a in range(1, n + 1):
        if n % a:
            continue
        for c in range(1, n // a + 1):
            if (n // a) % c:
                continue
            f = n // (a * c)
            for b in range(c):
                for d in range(f):
                    for e in range(f):
                        yield np.array([[a, 0, 0], [b, c, 0], [d, e, f]])


def _dataset(structure: Structure, types: Sequence[int], symprec: float):  # noqa: ANN202
    import spglib

    cell = (structure.lattice.matrix, structure.frac_coords, list(types))
    return spglib.get_symmetry_dataset(cell, symprec=symprec)


def _integral(m: np.ndarray) -> bool:
    return bool(np.allclose(m, np.round(m), atol=1e-6))


def _lattice_classes(n: int, rotations: np.ndarray) -> list[np.ndarray]:
    """One Hermite normal form per class of index-``n`` superlattices the parent's rotations map onto each other."""
    reps: list[np.ndarray] = []
    inverses: list[np.ndarray] = []
    for h in hnf_matrices(n):
        if any(_integral(inv @ r @ h) for inv in inverses for r in rotations):
            continue
        reps.append(h)
        inverses.append(np.linalg.inv(h))
    return reps


def _site_keys(frac: np.ndarray) -> list[tuple[float, ...]]:
    return [tuple(row) for row in np.round(np.round(frac % 1.0, 3) % 1.0, 3)]


def derivatives(
    parent: Structure,
    orbits: Sequence[Sequence[int]],
    colored: int,
    *,
    max_index: int,
    max_atoms: int,
    feasible: Callable[[tuple[int, ...]], bool],
    symprec: float = 1e-2,
) -> list[Derivative]:
    """The distinct two-colourings of orbit ``colored`` of ``parent`` in its supercells with at most ``max_index``
    sites of that orbit (see the module docs).

    ``orbits`` are the parent's symmetry-distinct site groups; ``feasible(sizes)`` gets the class
    sizes ``(|A|, |B|, |other orbit 0|, ...)`` in the supercell and says whether to keep a colouring.
    """
    orbit_of = np.empty(len(parent), dtype=np.int64)
    for j, group in enumerate(orbits):
        orbit_of[list(group)] = j
    sym = _dataset(parent, orbit_of.tolist(), symprec)
    if sym is None:
        return []
    rotations = np.array(sym.rotations, dtype=float)
    translations = np.array(sym.translations, dtype=float)
    others = [j for j in range(len(orbits)) if j != colored]
    elements = [parent[orbits[j][0]].specie.symbol for j in range(len(orbits))]
    out: list[Derivative] = []
    for n in range(2, max_index + 1):
        if n * len(parent) > max_atoms or n * len(orbits[colored]) > max_index:
            break
        for h in _lattice_classes(n, rotations):
            out.extend(_colourings(parent, orbit_of, colored, others, elements, h, rotations, translations,
                                   feasible, symprec))
    return out


def _colourings(
    parent: Structure, orbit_of: np.ndarray, colored: int, others: list[int], elements: list[str], h: np.ndarray,
    rotations: np.ndarray, translations: np.ndarray, feasible: Callable[[tuple[int, ...]], bool], symprec: float,
) -> list[Derivative]:
    """The distinct colourings of one superlattice ``h``: one per orbit of the parent's operations that keep it."""
    n = round(abs(np.linalg.det(h)))
    sup = parent.copy(site_properties={"orbit": orbit_of.tolist()})
    sup.make_supercell(h.T)
    sup_orbit = np.array(sup.site_properties["orbit"])
    sites = np.flatnonzero(sup_orbit == colored)
    m = len(sites)
    other_classes = tuple(tuple(int(i) for i in np.flatnonzero(sup_orbit == j)) for j in others)
    inv = np.linalg.inv(h)
    x = sup.frac_coords[sites] @ h.T  # the orbit's sites in the parent's fractional basis (rows)
    index = {key: i for i, key in enumerate(_site_keys(sup.frac_coords[sites]))}
    shifts = x - x[0]  # parent lattice translations that are not the superlattice's (with the orbit's own offsets)
    shifts = shifts[[_integral(v) for v in shifts]]
    perms: list[np.ndarray] = []
    pure: list[np.ndarray] = []
    for r, t in zip(rotations, translations, strict=True):
        if not _integral(inv @ r @ h):
            continue  # this operation does not map the superlattice onto itself
        for tau in shifts:
            moved = x @ r.T + t + tau
            try:
                perm = np.array([index[k] for k in _site_keys(moved @ inv.T)])
            except KeyError:
                return []  # the parent's symmetry did not map the orbit onto itself within tolerance
            perms.append(perm)
            if np.allclose(r, np.eye(3)) and np.allclose(t % 1.0, 0.0, atol=1e-6) and np.any(np.abs(tau) > 0.5):
                pure.append(perm)
    perm_arr = np.array(perms)  # (ops, m)
    weights = (1 << np.arange(m, dtype=np.int64))[::-1]
    out: list[Derivative] = []
    seen: set[int] = set()
    for k in range(1, m // 2 + 1):
        sizes = (m - k, k, *(len(c) for c in other_classes))
        if not feasible(sizes):
            continue
        for b in itertools.combinations(range(m), k):
            colour = np.zeros(m, dtype=np.int64)
            colour[list(b)] = 1
            images = colour[perm_arr]  # (ops, m): the colouring seen through each operation
            codes = images @ weights
            if k == m - k:
                codes = np.concatenate([codes, (1 - images) @ weights])
            canonical = int(codes.min())
            if canonical in seen:
                continue
            seen.add(canonical)
            if any(np.array_equal(colour[p], colour) for p in pure):
                continue  # the colouring repeats within the cell: a smaller index's
            types = np.empty(len(sup), dtype=np.int64)
            for c, cls in enumerate(other_classes):
                types[list(cls)] = 2 + c
            types[sites[colour == 0]] = 0
            types[sites[colour == 1]] = 1
            ds = _dataset(sup, types.tolist(), symprec)
            classes = (tuple(int(i) for i in sites[colour == 0]), tuple(int(i) for i in sites[colour == 1]),
                       *other_classes)
            plain = Structure(sup.lattice.get_lll_reduced_lattice(), sup.species, sup.cart_coords,
                              coords_are_cartesian=True, to_unit_cell=True)  # the same sites, a compact cell
            out.append(Derivative(plain, classes, (elements[colored], elements[colored], *(elements[j] for j in others)),
                                  n, int(ds.number) if ds is not None else 1))
    return out
