"""Duplicate detection with a fast pre-filter.

Two structures can only match when their reduced formulas and space-group numbers (spglib
at ``symprec``) agree, so each structure gets a key ``(formula, space group)`` and
pymatgen's ``StructureMatcher`` (default tolerances: ``ltol 0.2, stol 0.3, angle_tol 5``)
runs only within a key's bucket. Equal candidate ids match without a comparison.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

__all__ = ["DuplicateIndex", "prefilter_key"]

log = logging.getLogger(__name__)


def prefilter_key(structure: Structure, symprec: float = 0.1) -> tuple[str, int]:
    """``(reduced formula, space-group number)``; space group 0 when spglib fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sg = int(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:
        sg = 0
    return structure.composition.reduced_formula, sg


class DuplicateIndex:
    """Structures seen so far, bucketed by :func:`prefilter_key`.

    >>> index = DuplicateIndex()
    >>> index.add("a", s1); index.find("b", s2)  # "a" when s2 matches s1
    """

    def __init__(self, symprec: float = 0.1, matcher: StructureMatcher | None = None) -> None:
        self.symprec = symprec
        self.matcher = matcher or StructureMatcher()
        self._buckets: dict[tuple[str, int], list[tuple[str, Structure]]] = defaultdict(list)
        self._ids: set[str] = set()
        self.comparisons = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, cid: str) -> bool:
        return cid in self._ids

    def add(self, cid: str, structure: Structure, key: tuple[str, int] | None = None) -> None:
        self._ids.add(cid)
        self._buckets[key or prefilter_key(structure, self.symprec)].append((cid, structure))

    def find(self, cid: str, structure: Structure, key: tuple[str, int] | None = None) -> str | None:
        """Id of a stored structure that matches, else None."""
        if cid in self._ids:
            return cid
        for other_id, other in self._buckets.get(key or prefilter_key(structure, self.symprec), []):
            self.comparisons += 1
            try:
                if self.matcher.fit(structure, other):
                    return other_id
            except Exception as exc:  # matcher failures on odd cells: treat as distinct
                log.debug("StructureMatcher failed on %s vs %s: %s", cid, other_id, exc)
        return None
