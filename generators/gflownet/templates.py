"""Templates: known phases whose symmetry-distinct sites the GFlowNet decorates anew.

The template branch of the :class:`~generators.gflownet.env.CrystalEnv` (issue 17: "a GFlowNet
whose actions start from the known phases' prototypes"). A template is a known phase of any
chemical system (a Li-Ti-O spinel is a template for Mn-Ti-O), reduced to its primitive cell;
its sites are grouped into *orbits* (symmetry-equivalent sites, spglib through pymatgen's
``SpacegroupAnalyzer``). A trajectory picks a template, then one element of the campaign
for each orbit in turn::

    TMPL   pick a template t                                        (T actions)
    ORBIT  give orbit j of t an element e (cation orbits take cations,
           anion orbits anions)                                       (E actions)

Unlike ionic substitution (:mod:`generators.substitution`), which maps every atom of one
template element onto one target element by Hautier et al.'s probabilities, the orbits are
decorated one by one: Mn3O4's tetrahedral Mn can stay Mn while its octahedral Mn become Ti
(MnTi2O4), and the policy, not a fixed table, learns which decorations the loop's score
rewards. The masks keep every prefix completable: a decoration is offered only when some
completion of it is charge-neutral by the GFlowNet's own rule
(:class:`~generators.gflownet.chemistry.ChargeRules`: SMACT, then mixed valence), has at least
``min_elements`` elements and is not the template itself. Each decoration is enumerated once,
when the templates are read, and templates with none (or with more than ``max_decorations``
products to enumerate) are dropped with a log line. A decorated cell is scaled isotropically
by the ratio of summed atomic volumes, as substitution does, so the relaxation starts near
the new size.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Element, Structure

from generators.gflownet.chemistry import ChargeRules
from generators.substitution import atomic_volume, template_oxidation_states

__all__ = ["Template", "decorate", "load_templates", "make_templates"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Template:
    """A primitive cell, its orbits and every kept decoration (as prefixes, for the masks)."""

    name: str
    structure: Structure
    space_group: int
    orbits: tuple[tuple[int, ...], ...]
    orbit_elements: tuple[str, ...]
    orbit_anion: tuple[bool, ...]
    prefixes: frozenset[tuple[int, ...]]
    n_decorations: int

    @property
    def n_orbits(self) -> int:
        return len(self.orbits)

    def allowed(self, prefix: tuple[int, ...], n_elements: int) -> list[int]:
        """Elements (indices) the next orbit may take after ``prefix`` with some kept completion."""
        return [e for e in range(n_elements) if (*prefix, e) in self.prefixes]


def _anion_flags(structure: Structure) -> dict[str, bool] | None:
    """``{element: is an anion}`` from pymatgen's oxidation-state guess; None when there is none."""
    states = template_oxidation_states(structure)
    return None if states is None else {el: q < 0 for el, q in states.items()}


def _is_anion(symbol: str) -> bool:
    states = Element(symbol).common_oxidation_states
    return bool(states) and max(states) < 0


class _Decorations:
    """Kept decorations per (class sizes, element choices), enumerated once a template read.

    Kept: not ``own`` (the template itself), ``min_elements``+ elements, charge-neutral by
    ``charge``; with ``differ`` the first two classes (a derivative's ``A`` and ``B``) differ."""

    def __init__(self, n_elements: int, charge: ChargeRules | None, min_elements: int) -> None:
        self.n_elements, self.charge, self.min_elements = n_elements, charge, min_elements
        self._valid: dict[tuple[int, ...], bool] = {}
        self._done: dict[tuple, tuple[frozenset[tuple[int, ...]], int]] = {}

    def __call__(self, mult: Sequence[int], choices: Sequence[Sequence[int]], own: tuple[int, ...], *,
                 differ: bool) -> tuple[frozenset[tuple[int, ...]], int]:
        """Prefixes of every kept decoration (one element per site class) and how many there are."""
        key = (tuple(mult), tuple(tuple(c) for c in choices), own, differ)
        if key not in self._done:  # derivatives of one size share their classes: enumerated once
            self._done[key] = self._enumerate(np.asarray(mult), choices, own, differ)
        return self._done[key]

    def _enumerate(self, m: np.ndarray, choices: Sequence[Sequence[int]], own: tuple[int, ...],
                   differ: bool) -> tuple[frozenset[tuple[int, ...]], int]:
        prefixes: set[tuple[int, ...]] = set()
        kept = 0
        for combo in itertools.product(*choices):
            if combo == own or (differ and combo[0] == combo[1]):
                continue
            counts = np.zeros(self.n_elements, dtype=np.int64)
            np.add.at(counts, np.array(combo), m)
            key = tuple(int(c) for c in counts)
            ok = self._valid.get(key)
            if ok is None:
                ok = int((counts > 0).sum()) >= self.min_elements and (
                    self.charge is None or bool(self.charge.valid(counts[None, :])[0])
                )
                self._valid[key] = ok
            if ok:
                kept += 1
                prefixes.update(combo[:j] for j in range(len(combo) + 1))
        return frozenset(prefixes), kept


def _derivative_parents(prims: Sequence[tuple[str, Structure]], max_atoms: int) -> list[tuple[str, Structure]]:
    """The phases small enough for a supercell of index 2, one per structure type (species ignored)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    kept: list[tuple[str, Structure]] = []
    for name, prim in prims:
        if 2 * len(prim) > max_atoms:
            continue
        if any(len(k) == len(prim) and matcher.fit_anonymous(prim, k) for _, k in kept):
            continue
        kept.append((name, prim))
    return kept


def make_templates(
    phases: Sequence[tuple[str, Structure]],
    elements: Sequence[str],
    charge: ChargeRules | None,
    *,
    max_atoms: int,
    min_elements: int = 1,
    max_decorations: int = 200_000,
    derivative_index: int = 0,
) -> list[Template]:
    """Templates of ``phases`` for the campaign's ``elements`` (see the module docs); with
    ``derivative_index`` >= 2 also the derivative structures of the small phases (one per
    structure type) up to that supercell index (:mod:`generators.gflownet.derivatives`)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from generators.gflownet.derivatives import derivatives

    anion = [_is_anion(e) for e in elements]
    cations = [i for i, a in enumerate(anion) if not a]
    anions = [i for i, a in enumerate(anion) if a]
    index = {e: i for i, e in enumerate(elements)}
    decorations = _Decorations(len(elements), charge, min_elements)
    out: list[Template] = []
    usable: list[tuple[str, Structure, tuple[tuple[int, ...], ...], dict[str, bool]]] = []
    for name, structure in phases:
        prim = structure.get_primitive_structure()
        if len(prim) > max_atoms:
            continue
        flags = _anion_flags(prim)
        if flags is None:
            log.debug("templates: %s has no oxidation-state guess; skipped", name)
            continue
        analyzer = SpacegroupAnalyzer(prim)
        symmetrized = analyzer.get_symmetrized_structure()
        orbits = tuple(tuple(int(i) for i in group) for group in symmetrized.equivalent_indices)
        usable.append((name, prim, orbits, flags))
        template = _template(name, prim, analyzer.get_space_group_number(), orbits,
                             tuple(prim[g[0]].specie.symbol for g in orbits), flags, cations, anions, index,
                             max_decorations, decorations, differ=False)
        if template is not None:
            out.append(template)
    if derivative_index >= 2:
        by_name = {name: (orbits, flags) for name, _, orbits, flags in usable}
        for name, prim in _derivative_parents([(n, p) for n, p, _, _ in usable], max_atoms):
            orbits, flags = by_name[name]
            for j in range(len(orbits)):
                pool = anions if flags[prim[orbits[j][0]].specie.symbol] else cations
                if len(pool) < 2:
                    continue

                classes_of = [prim[orbits[j][0]].specie.symbol] * 2 + [
                    prim[orbits[i][0]].specie.symbol for i in range(len(orbits)) if i != j]
                class_choices = [anions if flags[e] else cations for e in classes_of]

                def feasible(sizes: tuple[int, ...], class_choices=class_choices) -> bool:
                    return decorations(sizes, class_choices, (), differ=True)[1] > 0

                found = derivatives(prim, orbits, j, max_index=derivative_index, max_atoms=max_atoms, feasible=feasible)
                for k, d in enumerate(found):
                    template = _template(f"{name}*{d.index}.{j}.{k}", d.structure, d.space_group, d.classes,
                                         d.class_elements, flags, cations, anions, index, max_decorations,
                                         decorations, differ=True)
                    if template is not None:
                        out.append(template)
    out.sort(key=lambda t: t.name)
    return out


def _template(
    name: str, structure: Structure, space_group: int, orbits: tuple[tuple[int, ...], ...],
    orbit_elements: tuple[str, ...], flags: dict[str, bool], cations: list[int], anions: list[int],
    index: dict[str, int], max_decorations: int, decorations: _Decorations, *, differ: bool,
) -> Template | None:
    """A template with its kept decorations; None when it has none or too many to enumerate."""
    orbit_anion = tuple(flags[e] for e in orbit_elements)
    choices = [anions if a else cations for a in orbit_anion]
    if any(not c for c in choices):
        return None
    n_total = math.prod(len(c) for c in choices)
    if n_total > max_decorations:
        log.info("templates: %s has %d decorations to enumerate (> %d); skipped", name, n_total, max_decorations)
        return None
    own = tuple(index.get(e, -1) for e in orbit_elements)
    prefixes, kept = decorations([len(g) for g in orbits], choices, own, differ=differ)
    if not kept:
        return None
    return Template(name, structure, space_group, orbits, orbit_elements, orbit_anion, prefixes, kept)


def load_templates(
    paths: Sequence[str], elements: Sequence[str], charge: ChargeRules | None, *, max_atoms: int, min_elements: int = 1,
    max_decorations: int = 200_000, derivative_index: int = 0,
) -> list[Template]:
    """Read the known phases of ``paths`` (any chemical system) and keep those usable as templates."""
    from loop.known_phases import load_known_phases

    known = load_known_phases(list(paths), [e.symbol for e in Element])
    phases = [(p.name, p.structure) for p in known.with_structures() if p.structure is not None]
    templates = make_templates(phases, elements, charge, max_atoms=max_atoms, min_elements=min_elements,
                               max_decorations=max_decorations, derivative_index=derivative_index)
    n_derived = sum("*" in t.name for t in templates)
    log.info("templates: %d of %d known phases and %d derivative structures, %d decorations",
             len(templates) - n_derived, len(phases), n_derived, sum(t.n_decorations for t in templates))
    return templates


def decorate(template: Template, assignment: Sequence[int], elements: Sequence[str]) -> Structure:
    """The template's cell with orbit ``j`` made of ``elements[assignment[j]]``, rescaled to the new atoms' size."""
    species = [""] * len(template.structure)
    for orbit, e in zip(template.orbits, assignment, strict=True):
        for i in orbit:
            species[i] = elements[e]
    new = Structure(template.structure.lattice, species, template.structure.frac_coords)
    new.scale_lattice(template.structure.volume * atomic_volume(new) / atomic_volume(template.structure))
    return new
