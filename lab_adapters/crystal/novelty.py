"""Measured novelty: is the phase the XRD found a known one?

A lab with a diffractometer answers "did I make something new?" in two steps:

1. the target must be *found*: its weight fraction read from the powder pattern (the yield)
   reaches ``min_fraction``;
2. its structure must match *none* of the campaign's known phases. The match is pymatgen's
   ``StructureMatcher`` (default tolerances: ``ltol=0.2``, ``stol=0.3``, ``angle_tol=5``)
   against every known phase of the same reduced formula.

``novel = 1`` when both hold, else ``0``; the name of the known phase that matched is
reported as ``PhaseAnalysis.target_known_as``. In the simulated crystal lab the known phases
are the world's reference phases (the user's known phases, relaxed by the world's potential,
with the built-in elemental references; or the decorated prototypes of the fallback).

>>> known_match(structure, [("Li2O_225", li2o)])   # doctest: +SKIP
'Li2O_225'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymatgen.core import Structure

__all__ = ["known_match", "novelty"]


def known_match(structure: Structure, known: Iterable[tuple[str, Structure]], matcher: Any = None) -> str | None:  # noqa: ANN401
    """The name of the first known phase ``structure`` matches (same reduced formula, StructureMatcher), else None."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = matcher or StructureMatcher()
    formula = structure.composition.reduced_formula
    for name, other in known:
        if other.composition.reduced_formula == formula and matcher.fit(structure, other):
            return name
    return None


def novelty(target_fraction: float | None, known_as: str | None, min_fraction: float) -> float:
    """1.0 when the target was found (``target_fraction >= min_fraction``) and matches no known phase, else 0.0."""
    found = target_fraction is not None and target_fraction >= min_fraction
    return 1.0 if found and known_as is None else 0.0
