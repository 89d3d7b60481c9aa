"""Reference phases for XRD analysis: a folder of CIFs or structures built in code.

Each reference is named after its CIF file stem (``LiMn2O4.cif`` -> ``LiMn2O4``); its
reflection list (:mod:`lab_adapters.xrd.peaks`) is computed once and cached, so analysing
many patterns against one reference set costs the pymatgen diffraction calculation once.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pymatgen.core import Structure
from pymatgen.io.cif import CifParser

from lab_adapters.xrd.peaks import PhasePeaks, phase_peaks
from loop.errors import InputDataError, StructureError

__all__ = ["ReferenceSet", "load_references"]

logger = logging.getLogger(__name__)

_DIR_CACHE: dict[tuple[str, tuple[tuple[str, float, int], ...]], ReferenceSet] = {}


@dataclass(frozen=True)
class ReferenceSet:
    """An ordered set of reference phases with unique names."""

    phases: tuple[PhasePeaks, ...]
    source: str | None = None

    def __post_init__(self) -> None:
        names = [p.name for p in self.phases]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputDataError(f"duplicate reference phase names: {', '.join(dup)}", source=self.source)
        if not self.phases:
            raise InputDataError("the reference set is empty", source=self.source)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.phases]

    def within(self, elements: Iterable[str]) -> ReferenceSet:
        """The phases made only of ``elements`` (the chemistry a lab knows from its precursors)."""
        allowed = {str(e) for e in elements}
        kept = tuple(p for p in self.phases if {el.symbol for el in p.structure.composition.elements} <= allowed)
        if not kept:
            raise InputDataError(f"no reference phase is made only of {', '.join(sorted(allowed))}", source=self.source)
        return ReferenceSet(kept, source=self.source)

    def __len__(self) -> int:
        return len(self.phases)

    def __getitem__(self, name: str) -> PhasePeaks:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(f"no reference phase {name!r}; known: {', '.join(self.names)}")

    @classmethod
    def from_structures(cls, structures: Mapping[str, Structure] | Iterable[tuple[str, Structure]]) -> ReferenceSet:
        """Build from ``{name: Structure}`` (names kept as given)."""
        items = structures.items() if isinstance(structures, Mapping) else structures
        return cls(tuple(phase_peaks(s, name) for name, s in items))


def _read_cif(path: Path) -> Structure:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parser = CifParser(path)
            structures = parser.parse_structures(primitive=False)
    except Exception as exc:  # pymatgen raises many types for broken CIFs
        raise InputDataError(f"cannot parse CIF: {type(exc).__name__}: {exc}", source=str(path)) from exc
    if not structures:
        raise InputDataError("CIF holds no crystal structure", source=str(path))
    if len(structures) > 1:
        logger.warning("%s holds %d structures; using the first", path, len(structures))
    s = structures[0]
    if len(s) == 0:
        raise InputDataError("CIF structure has no atoms", source=str(path))
    if not s.is_ordered:
        logger.warning("%s has partial occupancies; its pattern is computed for the average (disordered) structure",
                       path)
    return s


def load_references(directory: str | Path) -> ReferenceSet:
    """Load every ``*.cif`` in ``directory`` (sorted by name); cached per folder content."""
    root = Path(directory)
    if not root.is_dir():
        raise InputDataError("reference folder does not exist", source=str(root))
    files = sorted(p for p in root.iterdir() if p.suffix.lower() == ".cif" and p.is_file())
    if not files:
        raise InputDataError("reference folder holds no .cif files", source=str(root))
    stamp = tuple((p.name, p.stat().st_mtime, p.stat().st_size) for p in files)
    key = (str(root.resolve()), stamp)
    if key in _DIR_CACHE:
        return _DIR_CACHE[key]
    phases = []
    for path in files:
        structure = _read_cif(path)
        try:
            phases.append(phase_peaks(structure, path.stem))
        except StructureError as exc:
            raise InputDataError(str(exc), source=str(path)) from exc
    refs = ReferenceSet(tuple(phases), source=str(root))
    _DIR_CACHE[key] = refs
    logger.info("loaded %d reference phases from %s", len(refs), root)
    return refs
