"""Convex hull of a chemical system, with reference phases relaxed by the same potential.

For a composition ``x`` with energy ``E(x)`` (eV/atom), the formation energy is
``E_f(x) = E(x) - sum_el x_el mu_el`` against the lowest-energy elemental references, and
the energy above hull is ``E_hull(x) = E(x) - min_{convex combinations of reference
phases with composition x} E`` (pymatgen ``PhaseDiagram``); negative when ``x`` is below
the hull. Reference phases are the decorated prototypes of :mod:`.prototypes` and/or a
user-supplied set of structures, each relaxed with the potential; the set is cached on
disk under a key of (elements, potential identity, references, relaxation settings).

>>> hull = build_reference_hull(["Na", "Cl"], potential, cache_dir)
>>> hull.e_above_hull("NaCl", -3.6)
>>> hull.decomposition("Na2Cl")   # [(phase, fraction), ...]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Structure

from loop.errors import StructureError
from loop.files import atomic_write
from loop.interfaces import Potential
from surrogates.hull.prototypes import Prototype, prototypes

__all__ = ["Hull", "ReferencePhase", "build_reference_hull", "potential_identity"]

log = logging.getLogger(__name__)


@dataclass
class ReferencePhase:
    """A reference phase: name, relaxed structure and energy per atom (eV/atom)."""

    name: str
    structure: Structure | None
    energy_per_atom: float
    converged: bool = True
    formula_only: str | None = None  # the composition of a phase known only by its energy (a ComputedEntry)

    @property
    def composition(self) -> Composition:
        if self.structure is None:
            return Composition(self.formula_only)
        return self.structure.composition

    @property
    def formula(self) -> str:
        return self.composition.reduced_formula

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "structure": self.structure.as_dict() if self.structure is not None else None,
            "energy_per_atom": self.energy_per_atom,
            "converged": self.converged,
            "formula_only": self.formula_only,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReferencePhase:
        structure = Structure.from_dict(d["structure"]) if d.get("structure") else None
        return cls(d["name"], structure, float(d["energy_per_atom"]), bool(d["converged"]), d.get("formula_only"))


class Hull:
    """A phase diagram over reference phases (see module docs for the math)."""

    def __init__(self, elements: Sequence[str], phases: Sequence[ReferencePhase], potential: str = "") -> None:
        self.elements = sorted(set(elements))
        self.phases = list(phases)
        self.potential = potential
        present = {el.symbol for p in self.phases if len(p.composition.elements) == 1 for el in p.composition.elements}
        missing = sorted(set(self.elements) - present)
        if missing:
            raise StructureError(f"hull of {'-'.join(self.elements)}: no elemental reference for {missing}")
        self._by_name = {p.name: p for p in self.phases}
        entries = [PDEntry(p.composition, p.energy_per_atom * p.composition.num_atoms, name=p.name) for p in self.phases]
        self.diagram = PhaseDiagram(entries)

    @property
    def chemsys(self) -> str:
        return "-".join(self.elements)

    def _entry(self, composition: Composition | str, energy_per_atom: float) -> PDEntry:
        comp = Composition(composition)
        outside = sorted({el.symbol for el in comp.elements} - set(self.elements))
        if outside:
            raise StructureError(f"composition {comp.reduced_formula} has elements {outside} outside the hull {self.chemsys}")
        if not math.isfinite(energy_per_atom):
            raise StructureError(f"energy of {comp.reduced_formula} is not finite ({energy_per_atom})")
        return PDEntry(comp, energy_per_atom * comp.num_atoms)

    def covers(self, composition: Composition | str) -> bool:
        return {el.symbol for el in Composition(composition).elements} <= set(self.elements)

    def e_above_hull(self, composition: Composition | str, energy_per_atom: float) -> float:
        """``E_hull`` in eV/atom (negative below the hull)."""
        entry = self._entry(composition, energy_per_atom)
        _, e = self.diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
        return float(e)

    def formation_energy_per_atom(self, composition: Composition | str, energy_per_atom: float) -> float:
        return float(self.diagram.get_form_energy_per_atom(self._entry(composition, energy_per_atom)))

    def decomposition(self, composition: Composition | str) -> list[tuple[ReferencePhase, float]]:
        """Stable phases (and atom fractions) the composition falls apart into on the hull."""
        comp = Composition(composition)
        self._entry(comp, 0.0)
        decomp = self.diagram.get_decomposition(comp)
        out = [(self._by_name[e.name], float(f)) for e, f in decomp.items() if f > 1e-12]
        return sorted(out, key=lambda t: -t[1])

    def hull_energy_per_atom(self, composition: Composition | str) -> float:
        return float(self.diagram.get_hull_energy_per_atom(Composition(composition)))

    @property
    def stable_phases(self) -> list[ReferencePhase]:
        names = {e.name for e in self.diagram.stable_entries}
        return [p for p in self.phases if p.name in names]

    def as_dict(self) -> dict[str, Any]:
        return {"elements": self.elements, "potential": self.potential, "phases": [p.as_dict() for p in self.phases]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Hull:
        return cls(d["elements"], [ReferencePhase.from_dict(p) for p in d["phases"]], d.get("potential", ""))


def potential_identity(potential: Potential) -> str:
    """Name and model version of a potential (the cache key's potential part)."""
    ident = getattr(potential, "identity", None)
    return str(ident) if ident else f"{potential.name}-{potential.version}"


def _cache_key(
    elements: Sequence[str], ident: str, refs: Sequence[Prototype], fmax: float, steps: int,
    correction: str = "none", fixed: Sequence[ReferencePhase] = (),
) -> str:
    from loop.identity import structure_id

    payload = {
        "elements": sorted(elements),
        "potential": ident,
        "refs": sorted(f"{p.name}|{structure_id(p.structure)}|{p.relax_cell}" for p in refs),
        "fmax": fmax,
        "steps": steps,
    }
    if correction != "none" or fixed:
        payload["correction"] = correction
        payload["fixed"] = sorted(f"{p.name}|{p.formula}|{p.energy_per_atom:.6f}" for p in fixed)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def build_reference_hull(
    elements: Sequence[str],
    potential: Potential,
    cache_dir: Path | str | None = None,
    *,
    structures: Sequence[Structure] | None = None,
    include_prototypes: bool = True,
    prototype_kinds: Sequence[str] | None = None,
    fmax: float = 0.05,
    steps: int = 200,
    correction: str = "none",
    fixed_phases: Sequence[ReferencePhase] = (),
    names: Sequence[str] | None = None,
    relax_mode: str = "batched",
) -> Hull:
    """Relax the reference phases of ``elements`` with ``potential`` and build their hull.

    ``structures`` adds user-supplied references (named ``names`` or ``user:<formula>:<i>``);
    ``include_prototypes=False`` uses only those. ``correction="mp2020"`` puts the relaxed
    energies on MP2020's footing (:mod:`surrogates.hull.compatibility`); ``fixed_phases``
    enter with their energies as given (built-in elemental references, entries without a
    structure). The result is cached in ``cache_dir``. ``relax_mode="batched"`` relaxes the
    references in one :meth:`relax_batch` call where the potential has one (the same FIRE and
    settings; not part of the cache key), ``"sequential"`` one at a time.
    """
    els = sorted({str(e) for e in elements})
    refs: list[Prototype] = prototypes(els, prototype_kinds) if include_prototypes else []
    for i, s in enumerate(structures or []):
        outside = sorted({el.symbol for el in s.composition.elements} - set(els))
        if outside:
            raise StructureError(f"reference structure {i} ({s.composition.reduced_formula}) has elements {outside} outside {els}")
        refs.append(Prototype(names[i] if names is not None else f"user:{s.composition.reduced_formula}:{i}", s))
    if not refs and not fixed_phases:
        raise StructureError(f"no reference phases for {'-'.join(els)}")
    ident = potential_identity(potential)
    path = None
    if cache_dir is not None:
        key = _cache_key(els, ident, refs, fmax, steps, correction, fixed_phases)
        path = Path(cache_dir) / f"hull-{'-'.join(els)}-{key}.json"
        if path.is_file():
            try:
                hull = Hull.from_dict(json.loads(path.read_text()))
                log.info("hull %s read from cache %s", hull.chemsys, path)
                return hull
            except (ValueError, KeyError, StructureError) as exc:
                log.warning("ignoring unreadable hull cache %s: %s", path, exc)
    phases: list[ReferencePhase] = []
    for relax_cell in (True, False):
        group = [p for p in refs if p.relax_cell == relax_cell]
        if not group:
            continue
        relax = getattr(potential, "relax_batch", potential.relax) if relax_mode == "batched" else potential.relax
        results = relax([p.structure for p in group], fmax=fmax, steps=steps, relax_cell=relax_cell)
        for proto, res in zip(group, results, strict=True):
            step_limit = res.error is not None and res.error.startswith("relaxation hit the step limit")
            if (res.error and not step_limit) or not math.isfinite(res.energy):
                log.warning("reference %s dropped: %s", proto.name, res.error)
                continue
            e = res.energy_per_atom
            if correction == "mp2020":
                from surrogates.hull.compatibility import corrected_energy_per_atom

                e = corrected_energy_per_atom(res.structure, e)
            phases.append(ReferencePhase(proto.name, res.structure, e, res.converged))
    phases += list(fixed_phases)
    hull = Hull(els, phases, ident)
    log.info("hull %s: %d reference phases, %d stable", hull.chemsys, len(phases), len(hull.stable_phases))
    if path is not None:
        atomic_write(path, json.dumps(hull.as_dict()))
    return hull
