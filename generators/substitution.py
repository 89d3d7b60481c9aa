"""Ionic substitution of known phases (kind ``substitution``): the chemist's first guess.

Every known phase given in ``references`` (any chemical system: a Li-Ti-O spinel is a template
for Li-Mn-O) is a *template*. Its elements get oxidation states (pymatgen's
``oxi_state_guesses``; an averaged valence such as Mn 3.5 in LiMn2O4 is rounded to the nearest
state), and each one-to-one map of the template's elements onto elements of ``elements`` is
scored by the ionic substitution probabilities of Hautier et al., Inorg. Chem. 50, 656 (2011),
whose data ships with pymatgen (``structure_prediction.SubstitutionProbability``)::

    p(map) = prod_sites-species P(target B | template A^q),   P(B | A^q) = max_qb P(B^qb | A^q)

(the product runs over the template's species, as pymatgen's ``Substitutor`` does, so an
element kept as it is contributes its own self-substitution probability). Maps with
``p >= threshold`` (pymatgen's default 1e-3) are applied: the species are swapped, oxidation
states dropped, and the cell scaled isotropically by the ratio of the summed atomic volumes
(``sum r_atomic^3``), so the MLIP relaxation starts near the new size. A product is kept when it
is charge-balanced (:func:`loop.valence.balanced`, mixed valence allowed, the screen's rule),
has at least ``min_elements`` elements and at most ``max_atoms`` sites in its primitive cell,
and is not one of the known phases itself (same reduced formula and pymatgen
``StructureMatcher`` match). Products are ordered by ``p`` rounded to 10 significant digits
(ties by template name, reduced formula and map; in the generator, by candidate id) and the
first ``max_candidates`` kept.

The order is the same in every process: pymatgen's normaliser ``P(A)`` sums over a ``set`` of
species, whose order (and so the sum's last digits) depends on Python's hash seed, which made
tied substitutions (e.g. the three TiMnO3 templates mapped onto LiMnO3) swap places between
runs. Here ``P(A) = sum_B exp(lambda(A, B))`` is an exactly rounded sum (``math.fsum``, which
does not depend on the order), the product over the template's species runs in sorted order,
and the ordering key is rounded, so ties are broken by names.

``sample(n)`` returns the next ``n`` products not proposed before (the most probable first);
with ``all_at_once`` the generator is *finite*: the campaign takes every product in its first
round and screens them all up front (the arm of ``crystaloop bench rediscover`` that runs the
baseline at its best). ``update`` is a no-op: substitution does not learn from the lab.

    generator:
      kind: substitution
      options: {elements: [Li, Mn, O], references: [../shared/data/references/li-mn-ti-o-f]}
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, field_validator
from pymatgen.core import Element, Structure

from loop.elements import element_symbols
from loop.interfaces import Generator, PluginConfig, PluginContext
from loop.records import Candidate, Observation, Origin

__all__ = ["Substitution", "atomic_volume", "template_oxidation_states", "SubstitutionConfig", "SubstitutionGenerator", "probability_key", "substitutions"]

log = logging.getLogger(__name__)


class SubstitutionConfig(PluginConfig):
    """Options of the ``substitution`` generator."""

    elements: list[str] = Field(min_length=1, description="chemical system of the products, e.g. [Li, Mn, O]")
    references: list[str] = Field(
        min_length=1, description="template phases: folders of CIFs, entry JSON or CSV with a cif column (any system)"
    )
    threshold: float = Field(1e-3, gt=0, le=1, description="least substitution probability of a map (pymatgen's default)")
    min_elements: int = Field(2, ge=1, description="fewest distinct elements of a product")
    max_atoms: int = Field(20, ge=1, description="most sites in a product's primitive cell")
    max_candidates: int = Field(48, ge=1, description="products kept, the most probable first")
    all_at_once: bool = Field(False, description="finite: every product in the first round, screened up front")

    @field_validator("elements")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return element_symbols(v)


@dataclass(frozen=True)
class Substitution:
    """One product: its structure, probability, template name and element map."""

    structure: Structure
    probability: float
    template: str
    mapping: dict[str, str]


@functools.lru_cache(maxsize=1)
def _probability_model() -> Any:  # noqa: ANN401 - pymatgen's SubstitutionProbability
    from pymatgen.analysis.structure_prediction.substitution_probability import SubstitutionProbability

    return SubstitutionProbability()


def template_oxidation_states(structure: Structure) -> dict[str, int] | None:
    """``{element: oxidation state}`` of a template (averaged valences rounded), or None when no guess exists."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guesses = structure.composition.oxi_state_guesses(max_sites=-50)
    if not guesses:
        return None
    return {el: int(math.floor(q + 0.5)) for el, q in guesses[0].items()}


def atomic_volume(structure: Structure) -> float:
    """Sum of atomic radii cubed: the isotropic scale of a substituted (or decorated) cell."""
    return float(sum((site.specie.atomic_radius or 1.5) ** 3 for site in structure))


@functools.cache
def _sorted_species() -> tuple[Any, ...]:
    return tuple(sorted(_probability_model().species, key=str))


@functools.cache
def _normaliser(species: Any) -> float:  # noqa: ANN401 - a pymatgen Species
    """``P(A) = sum_B exp(lambda(A, B))``, pymatgen's ``get_px``, summed exactly (order-independent)."""
    model = _probability_model()
    return math.fsum(math.exp(model.get_lambda(species, b)) for b in _sorted_species())


def _cond_prob(target: Any, source: Any) -> float:  # noqa: ANN401
    """``P(target | source)``: pymatgen's ``cond_prob`` with the deterministic normaliser."""
    return math.exp(_probability_model().get_lambda(target, source)) / _normaliser(source)


def _map_probability(model: Any, template: Mapping[str, int], mapping: Mapping[str, str]) -> float:  # noqa: ANN401
    from pymatgen.core import Species

    allowed = model.species
    p = 1.0
    for el, q in sorted(template.items()):
        src = Species(el, q)
        if src not in allowed:
            return 0.0
        best = max((_cond_prob(t, src) for t in _sorted_species() if t.symbol == mapping[el]), default=0.0)
        p *= best
    return p


def probability_key(p: float) -> float:
    """``p`` rounded to 10 significant digits: the ordering key, so last-digit noise never reorders ties."""
    return float(f"{p:.10g}")


def substitutions(
    templates: Sequence[tuple[str, Structure]], elements: Sequence[str], *, threshold: float = 1e-3, min_elements: int = 2,
    max_atoms: int = 20,
) -> list[Substitution]:
    """Every kept product of every template (see the module docs), the most probable first."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from loop.valence import balanced

    model = _probability_model()
    targets = sorted(set(elements))
    matcher = StructureMatcher()
    known_by_formula: dict[str, list[Structure]] = {}
    for _, s in templates:
        known_by_formula.setdefault(s.composition.reduced_formula, []).append(s)
    out: list[Substitution] = []
    for name, structure in templates:
        if len(structure) > max_atoms:
            continue
        species = template_oxidation_states(structure)
        if species is None:
            log.debug("substitution: template %s has no oxidation-state guess; skipped", name)
            continue
        els = sorted(species)
        if len(els) < min_elements or len(els) > len(targets):
            continue
        for image in itertools.permutations(targets, len(els)):
            mapping = dict(zip(els, image, strict=True))
            if all(a == b for a, b in mapping.items()):
                continue  # the template itself
            p = _map_probability(model, species, mapping)
            if p < threshold:
                continue
            new = structure.copy()
            new.replace_species({Element(a): Element(b) for a, b in mapping.items() if a != b})
            if not balanced(new.composition.get_el_amt_dict())[1]:
                continue
            ratio = atomic_volume(new) / atomic_volume(structure)
            new.scale_lattice(structure.volume * ratio)
            formula = new.composition.reduced_formula
            if any(matcher.fit(new, k) for k in known_by_formula.get(formula, [])):
                continue  # a known phase
            out.append(Substitution(new, p, name, mapping))
    out.sort(key=lambda s: (-probability_key(s.probability), s.template, s.structure.composition.reduced_formula,
                            sorted(s.mapping.items())))
    return out


class SubstitutionGenerator(Generator):
    """Known phases with their ions swapped, the most probable substitutions first."""

    Config = SubstitutionConfig
    name = "substitution"
    version = "1"

    def __init__(self, config: SubstitutionConfig | None = None, context: PluginContext | None = None) -> None:
        super().__init__(config, context)
        self.finite = bool(self.config.all_at_once)
        self._products: list[Candidate] | None = None
        self.proposed: set[str] = set()

    def products(self) -> list[Candidate]:
        """Every kept product as a candidate (computed once), the most probable first."""
        if self._products is None:
            from loop.known_phases import load_known_phases

            cfg: SubstitutionConfig = self.config  # type: ignore[assignment]
            all_elements = [e.symbol for e in Element]
            known = load_known_phases(cfg.references, all_elements)
            templates = [(p.name, p.structure) for p in known.with_structures() if p.structure is not None]
            subs = substitutions(templates, cfg.elements, threshold=cfg.threshold, min_elements=cfg.min_elements,
                                 max_atoms=cfg.max_atoms)
            cands: dict[str, Candidate] = {}
            for s in subs:
                c = Candidate.from_structure(s.structure, origin=Origin(generator=self.name), metadata={
                    "template": s.template, "substitution": s.mapping, "substitution_probability": s.probability})
                if c.id not in cands:
                    cands[c.id] = c
            ordered = sorted(cands.values(), key=lambda c: (-probability_key(c.metadata["substitution_probability"]), c.id))
            self._products = ordered[: cfg.max_candidates]
            log.info("substitution: %d products from %d templates (%d kept)", len(cands), len(templates), len(self._products))
        return self._products

    def sample(self, n: int | None, condition: Mapping[str, Any] | None, rng: np.random.Generator) -> list[Candidate]:
        products = self.products()
        if self.finite or n is None:
            picked = list(products)
        else:
            picked = [c for c in products if c.id not in self.proposed][: int(n)]
        self.proposed.update(c.id for c in picked)
        return picked

    def update(self, observations: Sequence[Observation], score: Any = None) -> None:  # noqa: ANN401
        """Substitution does not learn from the lab."""

    def state_dict(self) -> dict[str, Any]:
        return {"version": self.version, "proposed": sorted(self.proposed)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.proposed = set(state.get("proposed", []))
