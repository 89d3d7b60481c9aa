"""Pairwise solid-state reactions on an energy landscape (the ARROWS picture).

Szymanski et al., "Autonomous and dynamic precursor selection for solid-state materials
synthesis", Nat. Commun. 14, 6956 (2023) (ARROWS): solid-state reactions proceed through
pairwise reactions between the phases in contact, the pair with the largest driving force
first; the target forms only if enough driving force is left once the intermediates have
formed. Bianchini et al., Nat. Mater. 19, 1088 (2020) and Miura et al., Adv. Mater. 33,
2100312 (2021) observed the same sequences in situ.

**Landscape.** :class:`EnergyLandscape` holds formation energies per atom ``e`` (eV/atom,
relative to the elements) of the phases of a chemical system: the world's hull, or any
pymatgen ``PhaseDiagram``. Oxygen is exchanged with the furnace atmosphere at the chemical
potential ``dmu_O`` (:mod:`.atmosphere`), so energies are grand potentials per atom of the
other elements (pymatgen's ``GrandPotentialPhaseDiagram``):

    phi(X) = (e_X - dmu_O x_O) / (1 - x_O)       (x_O: atomic fraction of O in X)

**Pairwise step.** For two phases A and B in the sample (or one phase alone: its
decomposition or a change of oxidation state), mixed in the ratio ``r`` of their non-oxygen
atoms, the reaction energy is

    dPhi(r) = phi_hull(r A + (1 - r) B) - [r phi_A + (1 - r) phi_B]

evaluated at the kinks of the grand hull along the A-B line (pymatgen's critical
compositions, as in its ``InterfacialReactivity``). The pair's reaction is the ``r*`` with the
most negative ``dPhi``; its products are the hull phases at ``r*``. The driving force per
atom, ``dG = dPhi(r*) (1 - x_O,reactants)``, is what ARROWS ranks: the pair with the most
negative ``dG`` reacts first, to completion of its limiting reactant; then the next, until
no pair has ``dG < -min_driving_force``. The sequence of assemblages is the reaction path.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pymatgen.analysis.phase_diagram import GrandPotentialPhaseDiagram, PDEntry, PhaseDiagram
from pymatgen.core import Composition, Element, Structure

__all__ = ["EnergyLandscape", "LandscapePhase", "PathStage", "Solid", "grand_energy", "reaction_path"]

OPEN = "O"
GRAND_CACHE = 16
"""Grand phase diagrams kept per landscape (one per oxygen potential: temperature x atmosphere)."""


@dataclass(frozen=True)
class LandscapePhase:
    """A phase of the landscape: ``energy_per_atom`` is its formation energy (eV/atom)."""

    name: str
    composition: Composition
    energy_per_atom: float
    structure: Structure | None = None


@dataclass(frozen=True)
class Solid:
    """A phase in the furnace: a landscape phase, a precursor outside the landscape, or the target.

    ``composition`` is in the landscape's elements (a carbonate's is its oxide residue, the CO2
    being released on reaction); ``energy_per_atom`` is its (effective) formation energy per atom
    of that composition; ``mass_per_atom`` is its mass (g/mol) per atom of that composition;
    ``reactive_c`` the temperature (deg C) above which it takes part in reactions.
    """

    name: str
    formula: str
    composition: Composition
    energy_per_atom: float
    mass_per_atom: float
    reactive_c: float
    structure: Structure | None = None

    @property
    def x_open(self) -> float:
        c = self.composition
        return float(c.get_atomic_fraction(Element(OPEN))) if Element(OPEN) in c else 0.0


def grand_energy(solid: Solid, mu: float | None) -> float:
    """``phi`` per atom of the non-oxygen elements (eV); the plain formation energy when oxygen is closed."""
    if mu is None:
        return solid.energy_per_atom
    x = solid.x_open
    return (solid.energy_per_atom - mu * x) / (1.0 - x)


class EnergyLandscape:
    """Formation energies of a chemical system's phases, closed or open to oxygen.

    Elements without an elemental phase get one at zero energy (the formation-energy reference).
    """

    def __init__(self, phases: list[LandscapePhase], elements: list[str] | None = None) -> None:
        phases = [p if all(isinstance(el, Element) for el in p.composition) else
                  LandscapePhase(p.name, p.composition.element_composition, p.energy_per_atom, p.structure) for p in phases]
        els = sorted(set(elements or []) | {e.symbol for p in phases for e in p.composition.elements})
        have = {p.composition.elements[0].symbol for p in phases if len(p.composition.elements) == 1}
        phases = list(phases) + [LandscapePhase(f"{el}_element", Composition(el), 0.0) for el in els if el not in have]
        self.elements = els
        self.phases = phases
        self._by_name = {p.name: p for p in phases}
        if len(self._by_name) != len(phases):
            dup = sorted({p.name for p in phases if sum(q.name == p.name for q in phases) > 1})
            raise ValueError(f"landscape phases with the same name: {dup}")
        self._entries = [PDEntry(p.composition, p.energy_per_atom * p.composition.num_atoms, name=p.name) for p in phases]
        self.diagram = PhaseDiagram(self._entries)
        self._grand: dict[float, PhaseDiagram] = {}

    @classmethod
    def from_phase_diagram(cls, diagram: PhaseDiagram, structures: dict[str, Structure] | None = None) -> EnergyLandscape:
        """Every entry of a pymatgen phase diagram, by its formation energy; names from ``entry.name`` (made unique)."""
        structures = structures or {}
        phases, seen = [], set()
        for i, entry in enumerate(diagram.all_entries):
            name = str(getattr(entry, "name", "") or entry.composition.reduced_formula)
            name = name if name not in seen else f"{name}#{i}"
            seen.add(name)
            e = float(diagram.get_form_energy_per_atom(entry))
            phases.append(LandscapePhase(name, entry.composition, e, structures.get(name)))
        return cls(phases, [el.symbol for el in diagram.elements])

    @property
    def has_open_oxygen(self) -> bool:
        return OPEN in self.elements and len(self.elements) > 1

    def phase(self, name: str) -> LandscapePhase:
        return self._by_name[name]

    def lowest(self, formula: str) -> LandscapePhase | None:
        """The lowest-energy phase of a reduced formula, if the landscape has one."""
        red = Composition(formula).reduced_formula
        same = [p for p in self.phases if p.composition.reduced_formula == red]
        return min(same, key=lambda p: p.energy_per_atom) if same else None

    def hull_energy(self, composition: Composition | str) -> float:
        """Formation energy per atom of the closed-system hull at ``composition``."""
        return float(self.diagram.get_hull_energy_per_atom(Composition(composition)))

    def e_above_hull(self, composition: Composition | str, energy_per_atom: float) -> float:
        return energy_per_atom - self.hull_energy(composition)

    def grand(self, mu: float | None) -> PhaseDiagram:
        """The (grand) phase diagram at oxygen chemical potential ``mu`` (``None``: closed).

        Cached on the landscape (at most ``GRAND_CACHE`` potentials), so it goes with it.
        """
        if mu is None or not self.has_open_oxygen:
            return self.diagram
        key = float(mu)
        hit = self._grand.pop(key, None)
        if hit is None:
            hit = GrandPotentialPhaseDiagram(self._entries, {Element(OPEN): key})
        self._grand[key] = hit  # the most recent last
        while len(self._grand) > GRAND_CACHE:
            self._grand.pop(next(iter(self._grand)))
        return hit

    def open_mu(self, mu: float | None) -> float | None:
        """``mu`` when oxygen is open in this landscape, else ``None``."""
        return None if (mu is None or not self.has_open_oxygen) else round(float(mu), 4)

    def reduced_space(self, composition: Composition, mu: float | None) -> Composition:
        """The composition in the (grand) diagram's elements: oxygen dropped when it is open."""
        if mu is None:
            return composition
        return Composition({el: amt for el, amt in composition.items() if el.symbol != OPEN})

    def hull_decomposition(self, composition: Composition, mu: float | None) -> list[tuple[LandscapePhase, float]]:
        """Hull phases and their fractions (of non-oxygen atoms when open) at ``composition``."""
        gpd = self.grand(mu)
        comp = self.reduced_space(composition, mu)
        out = []
        for entry, frac in gpd.get_decomposition(comp).items():
            if frac > 1e-10:
                name = entry.original_entry.name if hasattr(entry, "original_entry") else entry.name
                out.append((self._by_name[name], float(frac)))
        return out


@dataclass
class PathStage:
    """One pairwise reaction of the path and the assemblage it leaves."""

    reactants: tuple[str, ...]
    products: tuple[str, ...]
    driving_force: float
    """eV/atom of the reactants (negative)."""
    onset_c: float
    """Temperature (deg C) above which the reaction runs: the mean reactivity temperature of the reactants."""
    assemblage: dict[str, float] = field(default_factory=dict)
    """Phase name -> amount (atoms of non-oxygen elements when open, else atoms) after this step."""


def _mix(a: Composition, b: Composition, r: float) -> Composition:
    a1, b1 = a.fractional_composition, b.fractional_composition
    return Composition({el: r * a1[el] + (1 - r) * b1[el] for el in set(a1.elements) | set(b1.elements)})


def _pair_reaction(
    a: Solid, b: Solid, land: EnergyLandscape, mu: float | None
) -> tuple[float, float, list[tuple[LandscapePhase, float]]]:
    """``(dG per atom, r*, products)`` of the best reaction of ``a`` with ``b`` (``a is b``: alone)."""
    gpd = land.grand(mu)
    ca, cb = land.reduced_space(a.composition, mu), land.reduced_space(b.composition, mu)
    pa, pb = grand_energy(a, mu), grand_energy(b, mu)
    if a is b:
        ratios = [1.0]
    else:
        crit = gpd.get_critical_compositions(ca.fractional_composition, cb.fractional_composition)
        ratios = []
        fa, fb = ca.fractional_composition, cb.fractional_composition
        el = next((e for e in set(fa.elements) | set(fb.elements) if abs(fa[e] - fb[e]) > 1e-9), None)
        if el is None:  # one composition (polymorphs, a carbonate and its oxide): nothing to mix
            return 0.0, 1.0, []
        for c in crit:
            ratios.append(min(max((c.fractional_composition[el] - fb[el]) / (fa[el] - fb[el]), 0.0), 1.0))
        ratios = [r for r in ratios if 0.0 < r < 1.0] or [0.5]
    best = (0.0, 1.0, [])
    for r in ratios:
        comp = _mix(ca, cb, r)
        d_phi = float(gpd.get_hull_energy_per_atom(comp)) - (r * pa + (1 - r) * pb)
        x_open = r * a.x_open + (1 - r) * b.x_open if mu is not None else 0.0
        # per atom of the reactants: phi is per non-oxygen atom
        d_g = d_phi * (1.0 - x_open) if mu is not None else d_phi
        if d_g < best[0]:
            best = (d_g, r, land.hull_decomposition(comp, mu))
    return best


def reaction_path(
    solids: dict[str, tuple[Solid, float]],
    land: EnergyLandscape,
    mu: float | None,
    solid_of: callable,
    min_driving_force: float = 0.002,
    max_steps: int = 12,
) -> list[PathStage]:
    """The ARROWS sequence of pairwise reactions from ``solids`` (name -> (solid, amount)).

    ``amount`` counts atoms of non-oxygen elements when oxygen is open (``mu`` not ``None``), else
    atoms. ``solid_of(phase)`` turns a landscape phase (a product) into a :class:`Solid`.
    Stage 0 is the starting assemblage (no reaction).
    """
    state = {k: v for k, v in solids.items() if v[1] > 1e-12}
    stages = [PathStage((), (), 0.0, 0.0, {k: v[1] for k, v in state.items()})]
    cache: dict[tuple[str, str], tuple[float, float, list]] = {}
    for _ in range(max_steps):
        best = None
        for ka, kb in itertools.combinations_with_replacement(sorted(state), 2):
            key = (ka, kb)
            if key not in cache:
                cache[key] = _pair_reaction(state[ka][0], state[kb][0], land, mu)
            d_g, r, products = cache[key]
            if d_g < -min_driving_force and (best is None or d_g < best[0]):
                best = (d_g, r, products, ka, kb)
        if best is None:
            break
        d_g, r, products, ka, kb = best
        (sa, na), (sb, nb) = state[ka], state[kb]
        if ka == kb:
            used = na
            state.pop(ka)
        else:
            used = min(na / r, nb / (1 - r))
            for k, n, share in ((ka, na, r), (kb, nb, 1 - r)):
                left = n - used * share
                if left > 1e-9 * max(na, nb):
                    state[k] = (state[k][0], left)
                else:
                    state.pop(k)
        for phase, frac in products:
            s = solid_of(phase)
            old = state.get(s.name, (s, 0.0))[1]
            state[s.name] = (s, old + used * frac)
        onset = (sa.reactive_c + sb.reactive_c) / 2.0
        stages.append(PathStage((ka, kb) if ka != kb else (ka,), tuple(p.name for p, _ in products), d_g, onset,
                                {k: v[1] for k, v in state.items()}))
    return stages
