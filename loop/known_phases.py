"""Known phases of a chemical system, from the user: the hulls', worlds' and XRD's references.

Accepted inputs (one path or several):

- a folder of CIFs (``*.cif``; other files are ignored);
- a ``.json`` file: a list of pymatgen ``ComputedStructureEntry`` / ``ComputedEntry``
  dicts (what ``mp-api`` returns, saved with ``json.dump([e.as_dict() for e in entries])``);
- a ``.csv`` file with a ``cif`` column (a ``material_id`` or ``formula`` column names rows);
- a single ``.cif`` file.

Rules, each counted in :attr:`KnownPhases.skipped` and logged:

- **outside**: a phase with an element outside the campaign's system is dropped. When
  *every* phase of a file named explicitly (not a folder) is outside, that is an
  :class:`~loop.errors.InputDataError` naming the file;
- **disordered**: a CIF with partial occupancies is ordered (:func:`order_structure`): the
  smallest supercell ``n`` (``n <= max_atoms / sites``) in which every site's occupancies
  times ``n`` are whole numbers within 0.05, then species dealt round-robin over each
  site's ``n`` images (vacancies removed). Above ``max_atoms`` the phase is skipped
  (**disordered_over_cap**);
- **duplicate**: a structure that pymatgen's ``StructureMatcher`` maps onto an earlier one
  of the same reduced formula (or an entry without structure with the same formula and
  energy) is skipped; the first one read is kept;
- a CIF that cannot be read is an :class:`~loop.errors.InputDataError` naming the file.

Structures are reduced to their primitive cell, oxidation states removed. A
``ComputedEntry`` has no structure: it keeps its formula and energy per atom and may feed
only a screen's hull, never a world or the XRD references (:meth:`KnownPhases.with_structures`).

Elemental references are the user's when given; :meth:`KnownPhases.missing_elements` lists
the elements for which a built-in elemental prototype must stand in
(:mod:`surrogates.hull.elemental`, labelled ``builtin:...``).

>>> known = load_known_phases("../shared/data/references/li-mn-ti-o-f", ["Li", "Mn", "O"])
>>> known.counts()
{'kept': ..., 'outside': ..., 'duplicate': ..., 'disordered_ordered': ..., 'disordered_over_cap': ...}
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymatgen.core import Composition, Structure

from loop.errors import InputDataError

__all__ = ["DEFAULT_MAX_ATOMS", "FALLBACK", "KnownPhase", "KnownPhases", "load_known_phases", "order_structure", "reference_provenance"]

log = logging.getLogger(__name__)

DEFAULT_MAX_ATOMS = 120
"""Atom cap of an ordered supercell of a disordered CIF."""

_OCC_TOL = 0.05
FALLBACK = "decorated prototypes (fallback)"
"""The provenance of a hull or world built without known phases."""
SKIP_REASONS = ("outside", "duplicate", "disordered_over_cap")


@dataclass(frozen=True)
class KnownPhase:
    """One known phase: a name (file stem, row or entry id), its structure, and an energy if an entry gave one."""

    name: str
    composition: Composition
    structure: Structure | None = None
    energy_per_atom: float | None = None
    source: str = ""
    ordered_from_disorder: bool = False

    @property
    def formula(self) -> str:
        return self.composition.reduced_formula

    @property
    def elements(self) -> set[str]:
        return {el.symbol for el in self.composition.elements}

    @property
    def is_elemental(self) -> bool:
        return len(self.composition.elements) == 1


@dataclass
class KnownPhases:
    """The known phases of ``elements``, what was skipped and why, and where they came from."""

    elements: list[str]
    phases: list[KnownPhase] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in SKIP_REASONS})
    sources: list[str] = field(default_factory=list)
    n_ordered: int = 0

    def with_structures(self) -> list[KnownPhase]:
        """Phases that have a structure: the only ones a world or the XRD references may use."""
        return [p for p in self.phases if p.structure is not None]

    def within(self, elements: Sequence[str]) -> list[KnownPhase]:
        """Phases of a subsystem."""
        allowed = set(elements)
        return [p for p in self.phases if p.elements <= allowed]

    def missing_elements(self, elements: Sequence[str] | None = None) -> list[str]:
        """Elements without a user elemental phase (with a structure): a built-in prototype stands in."""
        have = {next(iter(p.elements)) for p in self.phases if p.is_elemental and p.structure is not None}
        return sorted(set(elements or self.elements) - have)

    def counts(self) -> dict[str, int]:
        return {"kept": len(self.phases), **{r: len(v) for r, v in self.skipped.items()}, "disordered_ordered": self.n_ordered}

    def label(self) -> str:
        """``known phases from <sources> (<counts>)``, for logs, reports and MLflow."""
        c = self.counts()
        return f"known phases from {', '.join(self.sources)}: {c['kept']} kept, " + ", ".join(f"{k} {v}" for k, v in c.items() if k != "kept")


# -- ordering disordered CIFs ------------------------------------------------------------
def _supercell_size(structure: Structure, max_atoms: int) -> int | None:
    """Smallest ``n`` making every occupancy ``* n`` whole (within tolerance), or None above the cap."""
    n_max = max(1, max_atoms // max(1, len(structure)))
    for n in range(1, n_max + 1):
        ok = all(abs(occ * n - round(occ * n)) <= _OCC_TOL for site in structure for occ in site.species.values())
        if ok:
            atoms = sum(round(occ * n) for site in structure for occ in site.species.values())
            return n if atoms <= max_atoms else None
    return None


def _scaling_matrix(n: int) -> list[int]:
    """A near-cubic factorisation of ``n`` into three integers."""
    best = (n, 1, 1)
    for a in range(1, n + 1):
        for b in range(1, n // a + 1):
            if n % (a * b) == 0:
                c = n // (a * b)
                trio = tuple(sorted((a, b, c), reverse=True))
                if max(trio) - min(trio) < max(best) - min(best):
                    best = trio  # type: ignore[assignment]
    return list(best)


def order_structure(structure: Structure, max_atoms: int = DEFAULT_MAX_ATOMS) -> Structure | None:
    """An ordered supercell of a disordered ``structure`` (see module docs); None above ``max_atoms``."""
    if structure.is_ordered:
        return structure
    n = _supercell_size(structure, max_atoms)
    if n is None:
        return None
    scale = _scaling_matrix(n)
    species: list[str] = []
    coords: list[Any] = []
    for site in structure:
        # this site's n images in the supercell, in a fixed order
        images = [(i, j, k) for i in range(scale[0]) for j in range(scale[1]) for k in range(scale[2])]
        counts: dict[str | None, int] = {}
        for sp, occ in site.species.items():
            counts[getattr(sp, "symbol", str(sp))] = round(occ * n)
        counts[None] = n - sum(counts.values())  # vacancies
        # round-robin: species k of count c sits at (k + 1/2) / c along the images
        deal = sorted(((k + 0.5) / c, str(el), el) for el, c in counts.items() if c > 0 for k in range(c))
        for (i, j, k), (_, _, el) in zip(images, deal, strict=False):
            if el is None:
                continue
            f = site.frac_coords
            coords.append([(f[0] + i) / scale[0], (f[1] + j) / scale[1], (f[2] + k) / scale[2]])
            species.append(el)
    if not species:
        return None
    lattice = structure.lattice.matrix * [[s] for s in scale]
    return Structure(lattice, species, coords)


# -- reading -----------------------------------------------------------------------------
def _read_cif_text(text: str, source: str) -> Structure:
    import warnings

    from pymatgen.io.cif import CifParser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = CifParser.from_str(text, occupancy_tolerance=1.05).parse_structures(primitive=False)
    except Exception as exc:
        raise InputDataError(f"cannot read CIF: {exc}", source=source) from None
    if not structures:
        raise InputDataError("CIF holds no structure", source=source)
    return structures[0]


def _raw_items(path: Path) -> list[tuple[str, Structure | None, Composition | None, float | None]]:
    """(name, structure, composition, energy per atom) per phase of one file."""
    suffix = path.suffix.lower()
    if suffix == ".cif":
        return [(path.stem, _read_cif_text(path.read_text(errors="replace"), str(path)), None, None)]
    if suffix == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(path)
        except Exception as exc:
            raise InputDataError(f"cannot read CSV: {exc}", source=str(path)) from None
        if "cif" not in frame.columns:
            raise InputDataError("no 'cif' column", source=str(path))
        name_col = next((c for c in ("material_id", "name", "formula") if c in frame.columns), None)
        out = []
        for i, row in frame.iterrows():
            name = f"{row[name_col]}" if name_col else f"row{i}"
            out.append((name, _read_cif_text(str(row["cif"]), f"{path} row {i} (cif)"), None, None))
        return out
    if suffix == ".json":
        from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise InputDataError(f"not JSON: {exc}", source=str(path)) from None
        if isinstance(data, dict):
            data = [data]
        out = []
        for i, d in enumerate(data):
            try:
                cls = ComputedStructureEntry if "structure" in d else ComputedEntry
                entry = cls.from_dict(d)
            except Exception as exc:
                raise InputDataError(f"entry {i} is not a ComputedEntry/ComputedStructureEntry: {exc}", source=str(path)) from None
            name = str(entry.entry_id or f"entry{i}")
            structure = getattr(entry, "structure", None)
            e = float(entry.energy_per_atom)
            out.append((name, structure, entry.composition, e if math.isfinite(e) else None))
        return out
    raise InputDataError(f"unknown known-phase file type {suffix!r} (use a folder of CIFs, .json entries or a .csv with a 'cif' column)", source=str(path))


_MEMO: dict[tuple[Any, ...], KnownPhases] = {}
_MEMO_SIZE = 32


def _memo_key(items: Sequence[str | Path], elements: Sequence[str], max_atoms: int) -> tuple[Any, ...] | None:
    """What a load depends on: the files read (name, size, modification time), the system and the cap; None if a path is missing."""
    files: list[tuple[str, int, int]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            chosen = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".cif")
        elif path.is_file():
            chosen = [path]
        else:
            return None
        for f in chosen:
            st = f.stat()
            files.append((str(f.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(str(Path(i)) for i in items), tuple(files), tuple(sorted(set(elements))), max_atoms


def load_known_phases(
    paths: str | Path | Sequence[str | Path], elements: Sequence[str], *, max_atoms: int = DEFAULT_MAX_ATOMS
) -> KnownPhases:
    """The known phases of the system ``elements`` read from ``paths`` (see module docs for the rules).

    Kept in memory per process for the same files (name, size, modification time), system and
    cap: a campaign's screen, generator, lab and provenance read the same folder; each caller
    gets its own copy.
    """
    import copy

    items = [paths] if isinstance(paths, str | Path) else list(paths)
    key = _memo_key(items, elements, max_atoms)
    if key is not None and key in _MEMO:
        known = copy.deepcopy(_MEMO[key])
        log.debug("%s (read before in this process)", known.label())
        return known
    known = _load_known_phases(items, elements, max_atoms)
    if key is not None:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = copy.deepcopy(known)
    return known


def _load_known_phases(items: list[str | Path], elements: Sequence[str], max_atoms: int) -> KnownPhases:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    allowed = set(elements)
    known = KnownPhases(elements=sorted(allowed), sources=[str(p) for p in items])
    matcher = StructureMatcher()
    by_formula: dict[str, list[KnownPhase]] = {}
    for item in items:
        path = Path(item)
        if path.is_dir():
            files, explicit = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".cif"), False
            if not files:
                raise InputDataError("folder holds no .cif files", source=str(path))
        elif path.is_file():
            files, explicit = [path], True
        else:
            raise InputDataError("known-phase path not found", source=str(path))
        for file in files:
            raw = _raw_items(file)
            n_inside = 0
            for name, structure, comp, energy in raw:
                comp = structure.composition if structure is not None else comp
                assert comp is not None
                if structure is not None:
                    structure = structure.copy()
                    structure.remove_oxidation_states()
                    comp = structure.composition
                if not {el.symbol for el in comp.elements} <= allowed:
                    known.skipped["outside"].append(name)
                    continue
                n_inside += 1
                ordered = False
                if structure is not None and not structure.is_ordered:
                    fixed = order_structure(structure, max_atoms)
                    if fixed is None:
                        log.warning("known phase %s (%s) is disordered beyond the %d-atom cap: skipped", name, file, max_atoms)
                        known.skipped["disordered_over_cap"].append(name)
                        continue
                    structure, ordered = fixed, True
                    known.n_ordered += 1
                if structure is not None:
                    structure = structure.get_primitive_structure()
                phase = KnownPhase(name, Composition(comp), structure, energy, str(file), ordered)
                same = by_formula.setdefault(phase.formula, [])
                if any(_duplicate(phase, other, matcher) for other in same):
                    known.skipped["duplicate"].append(name)
                    log.info("known phase %s duplicates an earlier %s: skipped", name, phase.formula)
                    continue
                same.append(phase)
                known.phases.append(phase)
            if explicit and raw and n_inside == 0:
                raise InputDataError(
                    f"all {len(raw)} phase(s) lie outside the chemical system {'-'.join(sorted(allowed))}", source=str(file)
                )
    c = known.counts()
    log.info("%s (%d outside %s)", known.label(), c["outside"], "-".join(known.elements))
    return known


def _duplicate(a: KnownPhase, b: KnownPhase, matcher: Any) -> bool:  # noqa: ANN401 - StructureMatcher
    if a.structure is not None and b.structure is not None:
        return bool(matcher.fit(a.structure, b.structure))
    if a.structure is None and b.structure is None:
        return a.energy_per_atom is not None and b.energy_per_atom is not None and abs(a.energy_per_atom - b.energy_per_atom) < 1e-6
    return False


def reference_provenance(
    paths: str | Path | Sequence[str | Path] | None, elements: Sequence[str] | None, *, max_atoms: int = DEFAULT_MAX_ATOMS
) -> dict[str, Any]:
    """Where a hull's or world's reference phases come from, for the ledger, the report and MLflow.

    ``{"source": "known phases", "paths": [...], "files": {file name: phases kept}, "counts": {...},
    "label": ...}`` (``counts`` as :meth:`KnownPhases.counts`), or ``{"source": FALLBACK}`` when no
    known phases are given. ``elements`` None: no phase is outside.
    """
    if not paths:
        return {"source": FALLBACK}
    from pymatgen.core import Element

    els = list(elements) if elements else [e.symbol for e in Element]
    known = load_known_phases(paths, els, max_atoms=max_atoms)
    files: dict[str, int] = {}
    for p in known.phases:
        name = Path(p.source).name
        files[name] = files.get(name, 0) + 1
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    return {
        "source": "known phases", "paths": [str(p) for p in items], "elements": sorted(set(els)) if elements else None,
        "files": dict(sorted(files.items())), "counts": known.counts(), "label": known.label(),
    }
