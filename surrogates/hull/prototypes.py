"""Common crystal prototypes, decorated with the elements of a chemical system.

Elements: fcc, bcc, hcp, simple cubic and diamond; diatomic gases (H, N, O, F, Cl, Br, I)
also as a dimer in a 10 A box (relaxed with a fixed cell). Binaries A-B, both ways round:
rocksalt, CsCl, zincblende (AB), fluorite (AB2) and L1_2 (AB3). Ternaries A-B-C: the cubic
perovskite ABC3 in every decoration. A system of more elements gets the prototypes of all
its sub-systems. Each cell is reduced to its primitive cell and scaled to the volume the atoms' radii suggest,
``V = sum_i (4/3) pi r_i^3 / 0.68`` with ``r_i`` the atomic radius (at least 1 A, so that
anions such as O are not crushed); the relaxation finds the rest.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pymatgen.core import Element, Lattice, Structure

__all__ = ["DIATOMIC", "PROTOTYPE_NAMES", "Prototype", "prototypes"]

DIATOMIC = frozenset({"H", "N", "O", "F", "Cl", "Br", "I"})
_PACKING = 0.68
_MIN_RADIUS = 1.0


@dataclass(frozen=True)
class Prototype:
    """A decorated prototype: a name like ``rocksalt:NaCl``, its structure and whether its cell relaxes."""

    name: str
    structure: Structure
    relax_cell: bool = True


def _radius(symbol: str) -> float:
    el = Element(symbol)
    r = el.atomic_radius or el.atomic_radius_calculated
    return max(float(r), _MIN_RADIUS) if r else 1.5


def _scaled(structure: Structure) -> Structure:
    """The primitive cell, scaled to the radii's volume (see module docs)."""
    s = structure.get_primitive_structure()
    vol = sum(4.0 / 3.0 * math.pi * _radius(site.specie.symbol) ** 3 for site in s) / _PACKING
    s.scale_lattice(vol)
    return s


def _elemental(a: str) -> list[Prototype]:
    out = [
        Prototype(f"fcc:{a}", Structure(Lattice.cubic(4.0), [a] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])),
        Prototype(f"bcc:{a}", Structure(Lattice.cubic(3.2), [a] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]])),
        Prototype(f"hcp:{a}", Structure(Lattice.hexagonal(3.0, 4.9), [a] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])),
        Prototype(f"sc:{a}", Structure(Lattice.cubic(2.6), [a], [[0, 0, 0]])),
        Prototype(f"diamond:{a}", Structure(Lattice.cubic(5.4), [a] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]]).get_primitive_structure()),
    ]
    out = [Prototype(p.name, _scaled(p.structure)) for p in out]
    if a in DIATOMIC:
        bond = 2 * _radius(a) * 0.6
        out.append(Prototype(f"dimer:{a}2", Structure(Lattice.cubic(10.0), [a, a], [[0, 0, 0], [bond / 10.0, 0, 0]], coords_are_cartesian=False), relax_cell=False))
    return out


def _binary(a: str, b: str) -> list[Prototype]:
    fcc = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    octa = [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]]
    tetra = [[0.25, 0.25, 0.25], [0.75, 0.75, 0.25], [0.75, 0.25, 0.75], [0.25, 0.75, 0.75]]
    tetra2 = [[0.75, 0.75, 0.75], [0.25, 0.25, 0.75], [0.25, 0.75, 0.25], [0.75, 0.25, 0.25]]
    out = []
    if a < b:  # symmetric prototypes once per pair
        out += [
            Prototype(f"rocksalt:{a}{b}", Structure(Lattice.cubic(5.0), [a] * 4 + [b] * 4, fcc + octa).get_primitive_structure()),
            Prototype(f"cscl:{a}{b}", Structure(Lattice.cubic(3.0), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])),
            Prototype(f"zincblende:{a}{b}", Structure(Lattice.cubic(5.4), [a] * 4 + [b] * 4, fcc + tetra).get_primitive_structure()),
        ]
    out += [
        Prototype(f"fluorite:{a}{b}2", Structure(Lattice.cubic(5.5), [a] * 4 + [b] * 8, fcc + tetra + tetra2).get_primitive_structure()),
        Prototype(f"L12:{a}{b}3", Structure(Lattice.cubic(3.8), [a, b, b, b], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])),
    ]
    return [Prototype(p.name, _scaled(p.structure)) for p in out]


def _ternary(a: str, b: str, c: str) -> list[Prototype]:
    s = Structure(Lattice.cubic(4.0), [a, b, c, c, c], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return [Prototype(f"perovskite:{a}{b}{c}3", _scaled(s))]


PROTOTYPE_NAMES = ("fcc", "bcc", "hcp", "sc", "diamond", "dimer", "rocksalt", "cscl", "zincblende", "fluorite", "L12", "perovskite")


def prototypes(elements: Sequence[str], kinds: Sequence[str] | None = None) -> list[Prototype]:
    """Decorated prototypes of the chemical system ``elements`` (optionally only ``kinds``)."""
    els = sorted(set(elements))
    out: list[Prototype] = []
    for a in els:
        out += _elemental(a)
    for a, b in itertools.permutations(els, 2):
        out += _binary(a, b)
    for a, b, c in itertools.permutations(els, 3):
        out += _ternary(a, b, c)
    if kinds is not None:
        unknown = sorted(set(kinds) - set(PROTOTYPE_NAMES))
        if unknown:
            raise ValueError(f"unknown prototypes {unknown}; valid: {', '.join(PROTOTYPE_NAMES)}")
        out = [p for p in out if p.name.split(":")[0] in kinds]
    return out
