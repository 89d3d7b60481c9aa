"""Ionic prototypes the world adds to the hull's references: wurtzite, rutile, corundum, spinel.

The hull's own prototypes (:mod:`surrogates.hull.prototypes`) cover the elements, rock
salt, CsCl, zinc blende, fluorite, L1_2 and perovskite. Here the cation ``A`` (and ``B``)
is the less electronegative element and the anion ``X`` the most electronegative one of
the system: wurtzite AX (P6_3mc), rutile AX2 (P4_2/mnm), corundum A2X3 (R-3c) and, for
two cations, the normal spinel AB2X4 (Fd-3m, origin choice 1, both decorations). Cells are
primitive and scaled to the radii's volume like the hull's prototypes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pymatgen.core import Element, Lattice, Structure

from surrogates.hull.prototypes import Prototype, _scaled

__all__ = ["IONIC_PROTOTYPES", "ionic_prototypes"]

IONIC_PROTOTYPES = ("wurtzite", "rutile", "corundum", "spinel")


def _binary(a: str, x: str) -> list[Prototype]:
    return [
        Prototype(f"wurtzite:{a}{x}", Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.25, 5.2), [a, x], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]])),
        Prototype(f"rutile:{a}{x}2", Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.59, 2.96), [a, x], [[0, 0, 0], [0.305, 0.305, 0]])),
        Prototype(f"corundum:{a}2{x}3", Structure.from_spacegroup("R-3c", Lattice.hexagonal(4.76, 12.99), [a, x], [[0, 0, 0.352], [0.306, 0, 0.25]])),
    ]


def _spinel(a: str, b: str, x: str) -> Prototype:
    s = Structure.from_spacegroup("Fd-3m", Lattice.cubic(8.08), [a, b, x], [[0, 0, 0], [0.625, 0.625, 0.625], [0.388, 0.388, 0.388]])
    return Prototype(f"spinel:{a}{b}2{x}4", s)


def ionic_prototypes(elements: Sequence[str], kinds: Sequence[str] | None = None) -> list[Prototype]:
    """The ionic prototypes of ``elements`` (optionally only ``kinds``); none for one element."""
    if kinds is not None:
        unknown = sorted(set(kinds) - set(IONIC_PROTOTYPES))
        if unknown:
            raise ValueError(f"unknown ionic prototypes {unknown}; valid: {', '.join(IONIC_PROTOTYPES)}")
    els = sorted(set(elements), key=lambda e: (Element(e).X, e))
    if len(els) < 2:
        return []
    anion, cations = els[-1], els[:-1]
    out: list[Prototype] = []
    for a in cations:
        out += _binary(a, anion)
    for a, b in itertools.permutations(cations, 2):
        out.append(_spinel(a, b, anion))
    if kinds is not None:
        out = [p for p in out if p.name.split(":")[0] in kinds]
    return [Prototype(p.name, _scaled(p.structure)) for p in out]
