"""The crystal environment of the GFlowNet: a DAG of partial crystals.

A trajectory builds a crystal in five stages (``E`` elements, ``W`` = most Wyckoff
positions of a configured space group, ``L`` lattice bins, ``C`` coordinate bins)::

    SG     pick a space group from the configured subset                  (n_sg actions)
    COMP   set one still-unset element e to a count k (any order)        (E * (K + 1))
    WYCK   add a Wyckoff position w for element e (a multiset, any order) (E * W)
    LAT    pick a bin for the next lattice parameter of the crystal system (L)
    COORD  pick a grid point for the free coordinates of the next free site (C ** 3;
           a site with d free parameters uses a grid of min(floor(C ** (3/d)), 3C) per axis)

With ``templates`` (known phases, :mod:`generators.gflownet.templates`) the initial state
also offers a second branch::

    TMPL   pick a template (a known phase's primitive cell)               (T actions)
    ORBIT  give its next symmetry-distinct orbit an element of the campaign (E actions)

so the policy can start from the known phases' prototypes as well as from scratch
(``from_scratch=False``: from the templates only). Without templates the action layout and the
features are exactly those of the five-stage space.

A terminal state decodes to a pymatgen ``Structure`` (conventional cell; a template's primitive cell). Masks keep every
trajectory completable: COMP only offers counts with a feasible, charge-neutral completion
(:class:`~generators.gflownet.feasibility.Feasibility`; preferring compositions that fit
the soft per-position caps ``max_repeats``), WYCK only positions whose use leaves the
remaining counts completable (within the caps when possible), COORD only coordinates whose orbit keeps
``mask_distance`` from itself and every placed atom (when none does, those farthest
apart, so a trajectory never dead-ends; :attr:`CrystalEnv.fallbacks` counts those).

Backward actions (``1 + E + E * W``): ``0`` pops the last SG/LAT/COORD choice, ``1 + e``
unsets element ``e`` (COMP), ``1 + E + e * W + w`` removes a ``(e, w)`` site (WYCK). COMP
and WYCK states have several parents, so the backward policy is learned there; a template
state has one parent (action ``0`` pops the last choice).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
from pydantic import Field, model_validator
from pymatgen.core import Lattice, Structure

from generators.gflownet.chemistry import ChargeRules
from generators.gflownet.feasibility import Feasibility, all_count_vectors
from generators.gflownet.geometry import cross_min_distance, self_min_distance
from generators.gflownet.spacegroups import PARAM_KINDS, SpaceGroupTable, space_group_table
from generators.gflownet.templates import Template, decorate
from loop.errors import ConfigError
from loop.interfaces.plugin import PluginConfig

__all__ = ["STAGES", "CrystalEnv", "EnvConfig", "State"]

log = logging.getLogger(__name__)

STAGES = ("SG", "COMP", "WYCK", "LAT", "COORD", "DONE")


class EnvConfig(PluginConfig):
    """Search limits of the crystal environment."""

    elements: list[str] = Field(min_length=1, description="chemical system, e.g. [Li, Mn, O]")
    space_groups: list[int] | None = Field(None, description="subset of 1-230; None: all that fit max_atoms")
    max_atoms: int = Field(20, ge=1, le=64, description="most atoms in the conventional cell")
    min_atoms: int = Field(1, ge=1)
    min_elements: int = Field(1, ge=1, description="fewest distinct elements in a composition")
    max_elements: int | None = Field(None, ge=1)
    charge_neutral: bool = Field(True, description="only SMACT-valid (charge-neutral, Pauling) compositions")
    vpa_bins: list[float] = Field([9.0, 12.0, 16.0, 21.0, 28.0], min_length=1, description="volume per atom, A^3")
    ratio_bins: list[float] = Field([0.8, 1.0, 1.25, 1.6], min_length=1, description="b/a and c/a")
    angle_bins: list[float] = Field([80.0, 90.0, 100.0, 110.0], min_length=1, description="degrees")
    coord_bins: int = Field(6, ge=1, le=12, description="bins per free Wyckoff coordinate")
    mask_distance: float = Field(1.0, ge=0.0, description="A; coordinates closer than this are masked")
    max_repeats: list[int] = Field(
        [1, 2, 6],
        min_length=3,
        max_length=3,
        description="soft cap on uses of one Wyckoff position with 1, 2, 3 free parameters",
    )

    @model_validator(mode="after")
    def _check(self) -> EnvConfig:
        if self.min_atoms > self.max_atoms:
            raise ValueError(f"min_atoms ({self.min_atoms}) > max_atoms ({self.max_atoms})")
        from pymatgen.core.periodic_table import Element

        unknown = [e for e in self.elements if not Element.is_valid_symbol(e)]
        if unknown:
            raise ValueError(f"unknown element symbols {unknown}")
        if len(set(self.elements)) != len(self.elements):
            raise ValueError(f"elements has duplicates: {self.elements}")
        bad = [g for g in self.space_groups or [] if not 1 <= g <= 230]
        if bad:
            raise ValueError(f"space_groups must be within 1-230, got {bad}")
        if any(v <= 0 for v in self.vpa_bins + self.ratio_bins):
            raise ValueError("vpa_bins and ratio_bins must be positive")
        if any(not 60.0 <= a <= 120.0 for a in self.angle_bins):
            raise ValueError("angle_bins must be within 60-120 degrees")
        return self


class State(NamedTuple):
    """A partial crystal; ``-1`` / empty tuples mark what is not chosen yet."""

    sg: int = -1
    counts: tuple[int, ...] = ()
    sites: tuple[tuple[int, int], ...] = ()
    lattice: tuple[int, ...] = ()
    coords: tuple[int, ...] = ()
    template: tuple[int, ...] = ()  # (template index, element of orbit 0, element of orbit 1, ...)


class CrystalEnv:
    """Space group -> composition -> Wyckoff sites -> lattice -> coordinates -> Structure."""

    def __init__(
        self,
        config: EnvConfig,
        where: str = "generator.options",
        templates: list[Template] | None = None,
        from_scratch: bool = True,
    ) -> None:
        self.config = c = config
        self.elements = list(c.elements)
        self.E = len(self.elements)
        self.K = c.max_atoms
        self.C = c.coord_bins
        self.where = where
        self._bins = {
            "vpa": list(c.vpa_bins),
            "b/a": list(c.ratio_bins),
            "c/a": list(c.ratio_bins),
            "alpha": list(c.angle_bins),
            "beta": list(c.angle_bins),
            "gamma": list(c.angle_bins),
        }
        self.L = max(len(v) for v in self._bins.values())
        self.charge = ChargeRules(self.elements, where) if c.charge_neutral else None
        self.space_groups, self._feas = self._build_space_groups()
        self.tables: list[SpaceGroupTable] = [space_group_table(g) for g in self.space_groups]
        self.n_sg = len(self.space_groups)
        self.W = max(len(t.wyckoffs) for t in self.tables)
        self.max_sites = self.K
        # action layout
        self.off_comp = self.n_sg
        self.off_wyck = self.off_comp + self.E * (self.K + 1)
        self.off_lat = self.off_wyck + self.E * self.W
        self.off_coord = self.off_lat + self.L
        self.templates = list(templates or [])
        self.T = len(self.templates)
        if not (from_scratch or self.T):
            raise ConfigError(where, [("templates", "without templates the crystals can only be built from scratch")])
        self.from_scratch = from_scratch
        self.max_orbits = max((t.n_orbits for t in self.templates), default=0)
        self.off_tmpl = self.off_coord + self.C**3
        self.off_orbit = self.off_tmpl + self.T
        self.n_actions = self.off_orbit + (self.E if self.T else 0)
        self.n_bwd_actions = 1 + self.E + self.E * self.W
        self.max_lat = max(len(t.lattice_params) for t in self.tables)
        self._root_features = self._wyckoff_features(self.initial_state())
        self.feature_dim = len(self.features(self.initial_state()))
        self._mask_cache: dict[State, np.ndarray] = {}
        self.fallbacks = 0

    # ----------------------------------------------------------------- configuration
    def _composition_ok(self) -> np.ndarray:
        """Flags of ``all_count_vectors(E, K)`` that pass the atom, element and charge filters."""
        vectors = all_count_vectors(self.E, self.K)
        n_present = (vectors > 0).sum(1)
        ok = (n_present >= self.config.min_elements) & (vectors.sum(1) >= self.config.min_atoms)
        if self.config.max_elements is not None:
            ok &= n_present <= self.config.max_elements
        if self.charge is not None:
            ok[ok] = self.charge.valid(vectors[ok])
        return ok

    def _build_space_groups(self) -> tuple[list[int], list[Feasibility]]:
        c = self.config
        explicit = c.space_groups is not None
        groups = sorted(set(c.space_groups)) if explicit else list(range(1, 231))
        kept, feas, problems = [], [], []
        composition_ok = self._composition_ok()
        for g in groups:
            table = space_group_table(g)
            if table.min_multiplicity > c.max_atoms:
                problems.append((g, f"smallest Wyckoff multiplicity {table.min_multiplicity} > max_atoms"))
                continue
            room = tuple(
                (wp.multiplicity, c.max_repeats[wp.dof - 1] if wp.dof else 1)
                for wp in table.wyckoffs
                if wp.multiplicity <= c.max_atoms
            )
            f = Feasibility(table, self.E, c.max_atoms, composition_ok, room)
            if len(f.uncapped_vectors) == 0:
                problems.append((g, "no composition of the elements fits its Wyckoff multiplicities"))
                continue
            kept.append(g)
            feas.append(f)
        if explicit and problems:
            raise ConfigError(
                self.where,
                [
                    (
                        "space_groups",
                        f"space group {g} ({space_group_table(g).symbol}) cannot hold a composition of "
                        f"{self.elements} with {c.min_atoms}-{c.max_atoms} atoms"
                        f"{' (charge-neutral)' if c.charge_neutral else ''}: {why}",
                    )
                    for g, why in problems
                ],
            )
        if not kept:
            what = "charge-neutral (SMACT) composition" if c.charge_neutral else "composition"
            raise ConfigError(
                self.where,
                [
                    (
                        "elements",
                        f"elements {self.elements} admit no {what} with "
                        f"{c.min_atoms}-{c.max_atoms} atoms and {c.min_elements}+ elements "
                        "in any allowed space group",
                    )
                ],
            )
        return kept, feas

    # ----------------------------------------------------------------- structure of states
    def initial_state(self) -> State:
        return State(sg=-1, counts=(-1,) * self.E)

    def _assigned(self, s: State) -> np.ndarray:
        got = np.zeros(self.E, dtype=np.int64)
        table = self.tables[s.sg]
        for e, w in s.sites:
            got[e] += table.wyckoffs[w].multiplicity
        return got

    def free_sites(self, s: State) -> list[int]:
        """Indices into ``s.sites`` of the sites with free coordinates, in order."""
        table = self.tables[s.sg]
        return [i for i, (_, w) in enumerate(s.sites) if table.wyckoffs[w].dof > 0]

    def stage(self, s: State) -> str:
        if s.template:
            return "ORBIT" if len(s.template) <= self.templates[s.template[0]].n_orbits else "DONE"
        if s.sg < 0:
            return "SG"
        if min(s.counts) < 0:
            return "COMP"
        if np.any(self._assigned(s) < np.array(s.counts)):
            return "WYCK"
        if len(s.lattice) < len(self.tables[s.sg].lattice_params):
            return "LAT"
        if len(s.coords) < len(self.free_sites(s)):
            return "COORD"
        return "DONE"

    def is_terminal(self, s: State) -> bool:
        return self.stage(s) == "DONE"

    def depth(self, s: State) -> int:
        """Number of actions from the initial state (every path to ``s`` has this length)."""
        return (int(s.sg >= 0) + sum(1 for n in s.counts if n >= 0) + len(s.sites) + len(s.lattice) + len(s.coords)
                + len(s.template))

    # ----------------------------------------------------------------- forward
    def forward_mask(self, s: State) -> np.ndarray:
        """Valid forward actions of a non-terminal state (``n_actions`` bools, never all False)."""
        cached = self._mask_cache.get(s)
        if cached is not None:
            return cached
        mask = np.zeros(self.n_actions, dtype=bool)
        stage = self.stage(s)
        if stage == "SG":
            mask[: self.n_sg] = self.from_scratch
            mask[self.off_tmpl : self.off_orbit] = True
        elif stage == "ORBIT":
            t = self.templates[s.template[0]]
            mask[self.off_orbit + np.array(t.allowed(s.template[1:], self.E), dtype=np.int64)] = True
        elif stage == "COMP":
            for e, ks in self._feas[s.sg].allowed_counts(s.counts).items():
                mask[self.off_comp + e * (self.K + 1) + ks] = True
        elif stage == "WYCK":
            mask[self.off_wyck : self.off_wyck + self.E * self.W] = self._wyckoff_mask(s)
        elif stage == "LAT":
            kind = self.tables[s.sg].lattice_params[len(s.lattice)]
            mask[self.off_lat : self.off_lat + len(self._bins[kind])] = True
        elif stage == "COORD":
            mask[self.off_coord : self.off_tmpl] = self._coord_mask(s)
        else:
            raise ValueError("a terminal state has no forward actions")
        if not mask.any():  # an invariant of the masks above
            raise RuntimeError(f"dead end at {s}")
        if len(self._mask_cache) > 500_000:
            self._mask_cache.clear()
        self._mask_cache[s] = mask
        return mask

    def _wyckoff_mask(self, s: State) -> np.ndarray:
        table, feas = self.tables[s.sg], self._feas[s.sg]
        remaining = np.array(s.counts) - self._assigned(s)
        used = {w for _, w in s.sites}
        fixed_left = [i for i in table.fixed if i not in used and table.wyckoffs[i].multiplicity <= self.K]
        out = np.zeros(self.E * self.W, dtype=bool)
        for e in np.flatnonzero(remaining > 0):
            for w, wp in enumerate(table.wyckoffs):
                if wp.multiplicity > remaining[e] or (wp.dof == 0 and w in used):
                    continue
                # keep the sites a sorted multiset: fixed positions only in canonical use
                rest = remaining.copy()
                rest[e] -= wp.multiplicity
                left = tuple(sorted(table.wyckoffs[i].multiplicity for i in fixed_left if i != w))
                if feas.completable(tuple(int(r) for r in rest), left):
                    out[e * self.W + w] = True
        # soft caps: a position with d free parameters is used at most max_repeats[d - 1] times
        # (fixed ones once) whenever the counts can still be completed that way; otherwise any
        # completable position is offered (a line or plane holds few atoms before orbits collide)
        uses = np.zeros(self.W, dtype=np.int64)
        for _, w in s.sites:
            uses[w] += 1
        caps = [self.config.max_repeats[wp.dof - 1] if wp.dof else 1 for wp in table.wyckoffs]
        capped = np.zeros_like(out)
        for k in np.flatnonzero(out):
            e, w = divmod(int(k), self.W)
            if uses[w] >= caps[w]:
                continue
            rest = remaining.copy()
            rest[e] -= table.wyckoffs[w].multiplicity
            room = tuple(
                (wp.multiplicity, caps[i] - uses[i] - (i == w))
                for i, wp in enumerate(table.wyckoffs)
                if wp.multiplicity <= self.K
            )
            capped[k] = feas.completable_capped(tuple(int(r) for r in rest), room)
        return capped if capped.any() else out

    def step(self, s: State, a: int) -> State:
        """The child of ``s`` under forward action ``a`` (assumed valid)."""
        a = int(a)
        if a >= self.off_orbit:
            return s._replace(template=(*s.template, a - self.off_orbit))
        if a >= self.off_tmpl:
            return s._replace(template=(a - self.off_tmpl,))
        if a < self.off_comp:
            return s._replace(sg=a)
        if a < self.off_wyck:
            e, k = divmod(a - self.off_comp, self.K + 1)
            counts = list(s.counts)
            counts[e] = k
            return s._replace(counts=tuple(counts))
        if a < self.off_lat:
            e, w = divmod(a - self.off_wyck, self.W)
            return s._replace(sites=tuple(sorted((*s.sites, (e, w)))))
        if a < self.off_coord:
            return s._replace(lattice=(*s.lattice, a - self.off_lat))
        return s._replace(coords=(*s.coords, a - self.off_coord))

    # ----------------------------------------------------------------- backward
    def backward_index(self, a: int) -> int:
        """The backward action at the child that undoes forward action ``a``."""
        a = int(a)
        if self.off_comp <= a < self.off_wyck:
            return 1 + (a - self.off_comp) // (self.K + 1)
        if self.off_wyck <= a < self.off_lat:
            return 1 + self.E + (a - self.off_wyck)
        return 0

    def backward_mask(self, s: State) -> np.ndarray:
        """Valid backward actions of a non-initial state."""
        mask = np.zeros(self.n_bwd_actions, dtype=bool)
        if s.coords or s.lattice or s.template:
            mask[0] = True
        elif s.sites:
            for e, w in set(s.sites):  # a parent counts only if it offers the site (soft caps)
                rest = list(s.sites)
                rest.remove((e, w))
                if self.forward_mask(s._replace(sites=tuple(rest)))[self.off_wyck + e * self.W + w]:
                    mask[1 + self.E + e * self.W + w] = True
        elif s.sg >= 0 and max(s.counts) >= 0:
            mask[1 + np.flatnonzero(np.array(s.counts) >= 0)] = True
        elif s.sg >= 0:
            mask[0] = True
        return mask

    # ----------------------------------------------------------------- geometry
    def lattice(self, s: State) -> Lattice:
        """The lattice of a state whose lattice parameters are all set (volume from ``vpa * N``)."""
        table = self.tables[s.sg]
        p = {kind: self._bins[kind][b] for kind, b in zip(table.lattice_params, s.lattice, strict=True)}
        system = table.crystal_system
        ba, ca = p.get("b/a", 1.0), p.get("c/a", 1.0)
        alpha, beta, gamma = 90.0, 90.0, 90.0
        if system in ("trigonal", "hexagonal"):
            gamma = 120.0
        elif system == "monoclinic":
            beta = p["beta"]
        elif system == "triclinic":
            alpha, beta, gamma = p["alpha"], p["beta"], p["gamma"]
        if system in ("tetragonal", "trigonal", "hexagonal"):
            ba = 1.0
        unit = Lattice.from_parameters(1.0, ba, ca, alpha, beta, gamma)
        volume = p["vpa"] * sum(s.counts)
        scale = (volume / unit.volume) ** (1.0 / 3.0)
        return Lattice.from_parameters(scale, scale * ba, scale * ca, alpha, beta, gamma)

    def grid(self, dof: int) -> int:
        """Points per free axis of a ``dof``-parameter site: ``min(floor(C ** (3 / dof)), 3 C)``."""
        return min(int(np.floor(self.C ** (3 / dof) + 1e-9)), 3 * self.C)

    def generic_points(self, axes: tuple[int, ...], actions: np.ndarray) -> np.ndarray:
        """Generic points (``k x 3``) of COORD actions (offsets from ``off_coord``) for free ``axes``.

        Action ``a`` is read as ``dof`` digits base ``g = grid(dof)``, one per free axis, each
        the bin centre ``(digit + 1/2) / g``; unused axes are 0 (the orbit ignores them).
        """
        actions = np.asarray(actions, dtype=np.int64)
        points = np.zeros((len(actions), 3))
        g = self.grid(len(axes))
        for j, axis in enumerate(axes):
            digit = (actions // g ** (len(axes) - 1 - j)) % g
            points[:, axis] = (digit + 0.5) / g
        return points

    def _positions(self, s: State) -> tuple[list[int], list[np.ndarray]]:
        """Species indices and fractional orbits of every placed site (fixed ones and set free ones)."""
        table = self.tables[s.sg]
        free = self.free_sites(s)
        species, orbits = [], []
        for i, (e, w) in enumerate(s.sites):
            wp = table.wyckoffs[w]
            if wp.dof == 0:
                point = np.zeros((1, 3))
            elif free.index(i) < len(s.coords):
                point = self.generic_points(wp.free_axes, np.array([s.coords[free.index(i)]]))
            else:
                continue
            species.append(e)
            orbits.append(wp.orbit(point)[0])
        return species, orbits

    def _coord_mask(self, s: State) -> np.ndarray:
        table = self.tables[s.sg]
        i = self.free_sites(s)[len(s.coords)]
        wp = table.wyckoffs[s.sites[i][1]]
        acts = np.arange(self.grid(wp.dof) ** wp.dof)
        orbits = wp.orbit(self.generic_points(wp.free_axes, acts))  # k x m x 3
        matrix = self.lattice(s).matrix
        _, placed = self._positions(s)
        d_min = self_min_distance(orbits, matrix)
        if placed:
            d_min = np.minimum(d_min, cross_min_distance(orbits, np.concatenate(placed), matrix))
        ok = d_min >= self.config.mask_distance
        if not ok.any():  # crowded: offer the placements that keep atoms farthest apart
            self.fallbacks += 1
            ok = d_min >= min(0.5 * self.config.mask_distance, float(d_min.max()))
        out = np.zeros(self.C**3, dtype=bool)
        out[acts[ok]] = True
        return out

    def decode(self, s: State) -> Structure:
        """The pymatgen Structure of a terminal state (conventional cell)."""
        if not self.is_terminal(s):
            raise ValueError(f"state is not terminal (stage {self.stage(s)})")
        if s.template:
            return decorate(self.templates[s.template[0]], s.template[1:], self.elements)
        species, orbits = self._positions(s)
        symbols = [self.elements[e] for e, orb in zip(species, orbits, strict=True) for _ in orb]
        return Structure(self.lattice(s), symbols, np.concatenate(orbits))

    def describe(self, s: State) -> dict[str, object]:
        """JSON-able summary of a terminal state (space group, formula counts, Wyckoff letters or template)."""
        if s.template:
            t = self.templates[s.template[0]]
            counts = np.zeros(self.E, dtype=np.int64)
            for orbit, e in zip(t.orbits, s.template[1:], strict=True):
                counts[e] += len(orbit)
            return {
                "space_group": t.space_group,
                "counts": {self.elements[e]: int(n) for e, n in enumerate(counts) if n > 0},
                "template": t.name,
                "decoration": [
                    f"{len(orbit)}{src}->{self.elements[e]}"
                    for orbit, src, e in zip(t.orbits, t.orbit_elements, s.template[1:], strict=True)
                ],
            }
        table = self.tables[s.sg]
        return {
            "space_group": table.number,
            "counts": {self.elements[e]: int(n) for e, n in enumerate(s.counts) if n > 0},
            "wyckoffs": [
                f"{self.elements[e]}:{table.wyckoffs[w].multiplicity}{table.wyckoffs[w].letter}" for e, w in s.sites
            ],
        }

    # ----------------------------------------------------------------- features
    def features(self, s: State) -> np.ndarray:
        """Fixed-length encoding of a state (float32, length :attr:`feature_dim`), concatenating:
        stage one-hot (6); space group and crystal system one-hots (``n_sg + 7``); per element a
        one-hot of its count or "unset" (``E x (K + 2)``); Wyckoff-site counts (``E x W``, / 4)
        and atoms still to place per element (``E``, / K); chosen lattice bins (``max_lat x L``);
        what comes next (lattice parameter kind, free axes, multiplicity / K and element of the
        next free site); per placed free site ``[1, sin 2 pi p, cos 2 pi p]`` (``K x 7``); with
        templates, :meth:`_template_features` (a template state shows the initial state's
        encoding with its stage cleared, or set to DONE when complete).
        """
        if not self.T:
            return self._wyckoff_features(s)
        if not s.template:
            return np.concatenate([self._wyckoff_features(s), self._template_features(s)])
        base = self._root_features.copy()  # a template state carries the initial state's encoding
        base[: len(STAGES)] = 0.0
        if self.is_terminal(s):
            base[STAGES.index("DONE")] = 1.0
        return np.concatenate([base, self._template_features(s)])

    def _template_features(self, s: State) -> np.ndarray:
        """The template branch (only with templates): ``[in branch]``, template one-hot (``T``),
        orbit elements so far (``max_orbits x E``), atoms per element so far (``E``, / K), the next
        orbit's position (``max_orbits``), anion flag, multiplicity / K and template element
        (``E + 1``: one of the campaign's, or another)."""
        E, K, T, M = self.E, self.K, self.T, self.max_orbits
        head = np.zeros(1 + T, dtype=np.float32)
        assigned = np.zeros((M, E), dtype=np.float32)
        counts = np.zeros(E, dtype=np.float32)
        nxt = np.zeros(M + 2 + E + 1, dtype=np.float32)
        if s.template:
            t = self.templates[s.template[0]]
            head[0] = 1.0
            head[1 + s.template[0]] = 1.0
            for j, e in enumerate(s.template[1:]):
                assigned[j, e] = 1.0
                counts[e] += len(t.orbits[j]) / K
            j = len(s.template) - 1
            if j < t.n_orbits:
                nxt[j] = 1.0
                nxt[M] = float(t.orbit_anion[j])
                nxt[M + 1] = len(t.orbits[j]) / K
                src = t.orbit_elements[j]
                nxt[M + 2 + (self.elements.index(src) if src in self.elements else E)] = 1.0
        return np.concatenate([head, assigned.ravel(), counts, nxt])

    def _wyckoff_features(self, s: State) -> np.ndarray:
        """The five-stage space's encoding (see :meth:`features`)."""
        E, K, L, W, max_lat, n_sg = self.E, self.K, self.L, self.W, self.max_lat, self.n_sg
        parts: list[np.ndarray] = []
        stage_name = self.stage(s)
        stage = np.zeros(len(STAGES), dtype=np.float32)
        stage[STAGES.index(stage_name)] = 1.0
        parts.append(stage)
        sg = np.zeros(n_sg + 7, dtype=np.float32)
        systems = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
        if s.sg >= 0:
            sg[s.sg] = 1.0
            sg[n_sg + systems.index(self.tables[s.sg].crystal_system)] = 1.0
        parts.append(sg)
        comp = np.zeros((E, K + 2), dtype=np.float32)
        counts = s.counts
        comp[np.arange(E), np.array(counts) + 1] = 1.0
        parts.append(comp.ravel())
        sites = np.zeros((E, W), dtype=np.float32)
        remaining = np.zeros(E, dtype=np.float32)
        if s.sg >= 0 and min(counts) >= 0:
            for e, w in s.sites:
                sites[e, w] += 1.0
            remaining = (np.array(counts) - self._assigned(s)) / K
        parts += [sites.ravel() / 4.0, remaining.astype(np.float32)]
        lat = np.zeros((max_lat, L), dtype=np.float32)
        for j, b in enumerate(s.lattice):
            lat[j, b] = 1.0
        nxt = np.zeros(len(PARAM_KINDS) + 3 + 1 + E, dtype=np.float32)
        if stage_name == "LAT":
            nxt[PARAM_KINDS.index(self.tables[s.sg].lattice_params[len(s.lattice)])] = 1.0
        coords = np.zeros((K, 7), dtype=np.float32)
        if stage_name in ("COORD", "DONE"):
            free = self.free_sites(s)
            for j, a in enumerate(s.coords):
                wp = self.tables[s.sg].wyckoffs[s.sites[free[j]][1]]
                angle = 2 * np.pi * self.generic_points(wp.free_axes, np.array([a]))[0]
                coords[j] = [1.0, *np.sin(angle), *np.cos(angle)]
        if stage_name == "COORD":
            e, w = s.sites[self.free_sites(s)[len(s.coords)]]
            wp = self.tables[s.sg].wyckoffs[w]
            nxt[len(PARAM_KINDS) + np.array(wp.free_axes)] = 1.0
            nxt[len(PARAM_KINDS) + 3] = wp.multiplicity / K
            nxt[len(PARAM_KINDS) + 4 + e] = 1.0
        parts += [lat.ravel(), nxt, coords.ravel()]
        return np.concatenate(parts).astype(np.float32)
