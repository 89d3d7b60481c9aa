"""The simulated chemical world: elements, a potential, a hidden error, and the hull of its phases.

A world is built once per (elements, potential identity, reference phases, relaxation
settings, hidden error, :data:`WORLD_VERSION`) and cached as JSON under
``<cache>/worlds/<key>/world.json`` (``<cache>`` is :func:`loop.tables.cache_dir`, shared by
campaigns and study trials); the ground truth of candidates is cached beside it
(:mod:`lab_adapters.crystal.truth`).

Reference phases, in order of preference:

- **known phases** (``references``: a folder of CIFs, entry JSON or a CSV with a ``cif``
  column, :func:`loop.known_phases.load_known_phases`; entries without a structure are
  never used here), each relaxed with the world's potential, plus for every element the
  user gave no elemental phase for the lowest-energy built-in elemental prototype
  (:mod:`surrogates.hull.elemental`, named ``builtin:...``);
- else the **decorated prototypes** of :mod:`surrogates.hull.prototypes` and the ionic ones
  of :mod:`lab_adapters.crystal.prototypes` (the fallback; logged as such, and
  :attr:`World.reference_source` says ``prototypes``).

The world's energy of a relaxed structure ``s`` is ``E_world(s) = E_pot(s) + C(X) + delta(s)``:
the potential's energy per atom (CHGNet r2SCAN in the lab by default, not the screen's
CHGNet 0.3.0), the oxidation-state correction ``C`` of its composition ``X``
(:mod:`lab_adapters.crystal.oxidation_correction`, fitted on the world's binary oxides against
experiment; ``oxidation_correction: false`` turns it off), and the hidden error ``delta`` of
:mod:`lab_adapters.crystal.hidden_error`. The hull is pymatgen's ``PhaseDiagram`` over the
references' world energies (:class:`surrogates.hull.Hull`).

>>> world = build_world(WorldConfig(elements=["Li", "O"]), potential)   # doctest: +SKIP
>>> world.hull.e_above_hull("Li2O2", -4.5)                               # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pymatgen.core import Composition, Element, Structure

from lab_adapters.crystal.hidden_error import HiddenError, HiddenErrorConfig
from lab_adapters.crystal.oxidation_correction import OxidationCorrection, fit_oxidation_correction
from lab_adapters.crystal.prototypes import IONIC_PROTOTYPES, ionic_prototypes
from loop.elements import element_symbols
from loop.errors import StructureError
from loop.identity import structure_id
from loop.interfaces import PluginConfig, Potential
from surrogates.hull import Hull, ReferencePhase, potential_identity
from surrogates.hull.prototypes import PROTOTYPE_NAMES, Prototype, prototypes

__all__ = ["WORLD_VERSION", "World", "WorldConfig", "build_world", "worlds_dir"]

log = logging.getLogger(__name__)

WORLD_VERSION = 3
"""Bump when the world's physics changes, so cached worlds are rebuilt."""

_MEMO: dict[str, World] = {}


class WorldConfig(PluginConfig):
    """The chemical system and how its reference phases are made."""

    elements: list[str] = Field(min_length=1, description="chemical system, e.g. [Li, Mn, O]")
    prototype_kinds: list[str] | None = Field(
        None, description=f"reference prototypes (None: all of {', '.join(PROTOTYPE_NAMES + IONIC_PROTOTYPES)})"
    )
    fmax: float = Field(0.05, gt=0, description="reference relaxation force threshold, eV/A")
    steps: int = Field(200, ge=1, description="reference relaxation step limit")
    cache_dir: str | None = Field(None, description="default: <crystaloop cache>/worlds")
    references: list[str] | None = Field(
        None, description="known phases: folders of CIFs, entry JSON or CSV files with a cif column (None: decorated prototypes)"
    )
    max_disordered_atoms: int = Field(120, ge=1, description="atom cap of the ordered supercell of a disordered CIF")
    hidden_error: HiddenErrorConfig | None = Field(None, description="the world's hidden smooth error (None: none)")
    oxidation_correction: bool = Field(
        True, description="correct the world's transition-metal oxides per oxidation state, fitted on its binary oxides against experiment"
    )

    @field_validator("elements")
    @classmethod
    def _known_elements(cls, v: list[str]) -> list[str]:
        return element_symbols(v)

    @field_validator("prototype_kinds")
    @classmethod
    def _known_kinds(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            bad = sorted(set(v) - set(PROTOTYPE_NAMES) - set(IONIC_PROTOTYPES))
            if bad:
                raise ValueError(f"unknown prototypes {bad}; valid: {', '.join(PROTOTYPE_NAMES + IONIC_PROTOTYPES)}")
        return v


def worlds_dir(config: WorldConfig | None = None) -> Path:
    """Where worlds are cached."""
    from loop.tables import cache_dir

    if config is not None and config.cache_dir:
        return Path(config.cache_dir)
    return cache_dir() / "worlds"


def _references(config: WorldConfig) -> list[Prototype]:
    """The world's reference structures: known phases when given, else decorated prototypes."""
    if config.references:
        from loop.known_phases import load_known_phases

        known = load_known_phases(config.references, config.elements, max_atoms=config.max_disordered_atoms)
        refs = [Prototype(f"known:{p.name}", p.structure) for p in known.with_structures() if p.structure is not None]
        log.info("world %s: %s", "-".join(config.elements), known.label())
        return refs
    kinds = config.prototype_kinds
    base = prototypes(config.elements, None if kinds is None else [k for k in kinds if k in PROTOTYPE_NAMES])
    ionic = ionic_prototypes(config.elements, None if kinds is None else [k for k in kinds if k in IONIC_PROTOTYPES])
    # the hull needs every element: keep elemental prototypes even when kinds leave them out
    have = {p.name.split(":")[1] for p in base if len(p.structure.composition.elements) == 1}
    for el in config.elements:
        if el not in have:
            base += [p for p in prototypes([el]) if p.name.split(":")[0] in ("fcc", "bcc", "dimer")]
    log.info("world %s: no known phases given; references are decorated prototypes (fallback)", "-".join(config.elements))
    return base + ionic


def world_key(config: WorldConfig, ident: str, refs: list[Prototype]) -> str:
    payload = {
        "version": WORLD_VERSION,
        "elements": config.elements,
        "potential": ident,
        "refs": sorted(f"{p.name}|{structure_id(p.structure)}|{p.relax_cell}" for p in refs),
        "fmax": config.fmax,
        "steps": config.steps,
        "error": config.hidden_error.model_dump() if config.hidden_error else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class World:
    """A chemical system with its hull; ``directory`` holds the cache of this world.

    ``potential_hull`` holds the potential's energies alone (what is cached), ``model_hull``
    adds the oxidation-state correction (the world without its hidden error), and ``hull``
    the hidden error too. The error itself is kept in a private attribute and reached only
    through :meth:`energy_per_atom`.
    """

    def __init__(self, config: WorldConfig, potential_hull: Hull, directory: Path, key: str) -> None:
        self.config = config
        self.directory = directory
        self.key = key
        self.__error = HiddenError(config.hidden_error, config.elements) if config.hidden_error else None
        self.potential_hull = potential_hull
        self.correction = OxidationCorrection()
        if config.oxidation_correction:  # fitted on the energies with the hidden error: its binary oxides land on experiment
            noisy = Hull(potential_hull.elements, [ReferencePhase(p.name, p.structure, p.energy_per_atom + self.hidden_error_of(p.structure),
                                                                  p.converged) for p in potential_hull.phases], potential_hull.potential)
            self.correction = fit_oxidation_correction(
                [(p.composition, noisy.formation_energy_per_atom(p.composition, p.energy_per_atom)) for p in noisy.phases]
            )
        corrected = [ReferencePhase(p.name, p.structure, self.model_energy_per_atom(p.structure, p.energy_per_atom), p.converged)
                     for p in potential_hull.phases]
        self.model_hull = Hull(potential_hull.elements, corrected, potential_hull.potential)
        phases = [ReferencePhase(p.name, p.structure, p.energy_per_atom + self.hidden_error_of(p.structure), p.converged)
                  for p in corrected]
        self.hull = Hull(potential_hull.elements, phases, potential_hull.potential)

    def hidden_error_of(self, structure: Structure) -> float:
        """``delta(s)`` in eV/atom (0 without a hidden error)."""
        return self.__error(structure) if self.__error is not None else 0.0

    def model_energy_per_atom(self, structure: Structure, potential_energy_per_atom: float) -> float:
        """The world's energy without its hidden error: ``E_pot + C``."""
        return potential_energy_per_atom + self.correction.per_atom(structure.composition)

    def energy_per_atom(self, structure: Structure, potential_energy_per_atom: float) -> float:
        """The world's energy of a structure the world's potential relaxed: ``E_pot + C + delta``."""
        return self.model_energy_per_atom(structure, potential_energy_per_atom) + self.hidden_error_of(structure)

    @property
    def energy_tag(self) -> str:
        """Identifies the energy model on top of the cached relaxations (for caches of world energies)."""
        payload = json.dumps(self.correction.summary(), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:8]

    @property
    def reference_source(self) -> str:
        """``known phases`` or ``prototypes`` (the fallback), for logs, reports and MLflow."""
        return "known phases" if self.config.references else "prototypes"

    @property
    def elements(self) -> list[str]:
        return list(self.config.elements)

    @property
    def potential_identity(self) -> str:
        return self.hull.potential

    @property
    def anion(self) -> str | None:
        """The most electronegative element (None for a one-element world)."""
        if len(self.elements) < 2:
            return None
        return max(self.elements, key=lambda e: (Element(e).X, e))

    @staticmethod
    def is_gas(phase: ReferencePhase) -> bool:
        """A molecule in a box (O2, N2, ...): no powder pattern."""
        return phase.name.startswith("dimer:") or phase.name.startswith("builtin:dimer:")

    @property
    def stable_phases(self) -> list[ReferencePhase]:
        return self.hull.stable_phases

    @staticmethod
    def phase_label(phase: ReferencePhase) -> str:
        """A file-stem-like name: ``LiMn2O4_spinel`` (prototypes), ``LiMn2O4_227`` (a known phase's file stem)."""
        kind, _, rest = phase.name.partition(":")
        if kind == "known":
            return rest
        if kind == "builtin":
            return f"{phase.formula}_{rest.split(':')[0]}"
        return f"{phase.formula}_{kind}"

    def solid_stable_phases(self) -> list[ReferencePhase]:
        return [p for p in self.stable_phases if not self.is_gas(p)]

    def covers(self, composition: Composition | str) -> bool:
        return self.hull.covers(composition)

    def as_dict(self) -> dict[str, Any]:
        return {"version": WORLD_VERSION, "key": self.key, "config": self.config.model_dump(mode="json"), "model_hull": self.potential_hull.as_dict()}


def _relax_references(refs: list[Prototype], potential: Potential, config: WorldConfig) -> list[ReferencePhase]:
    phases: list[ReferencePhase] = []
    for relax_cell in (True, False):
        group = [p for p in refs if p.relax_cell == relax_cell]
        if not group:
            continue
        results = potential.relax([p.structure for p in group], fmax=config.fmax, steps=config.steps, relax_cell=relax_cell)
        for proto, res in zip(group, results, strict=True):
            step_limit = res.error is not None and res.error.startswith("relaxation hit the step limit")
            if (res.error and not step_limit) or not math.isfinite(res.energy):
                log.warning("world reference %s dropped: %s", proto.name, res.error)
                continue
            phases.append(ReferencePhase(proto.name, res.structure, res.energy_per_atom, res.converged))
    return phases


def build_world(config: WorldConfig, potential: Potential) -> World:
    """The world of ``config`` under ``potential``: from memory, the disk cache, or built now."""
    refs = _references(config)
    ident = potential_identity(potential)
    key = world_key(config, ident, refs)
    memo = f"{key}-c{int(config.oxidation_correction)}"  # the cache holds relaxations; the energy model sits on top
    if memo in _MEMO:
        return _MEMO[memo]
    directory = worlds_dir(config) / f"{'-'.join(config.elements)}-{key}"
    path = directory / "world.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            world = World(config, Hull.from_dict(data["model_hull"]), directory, key)
            log.info("world %s read from %s", world.hull.chemsys, path)
            _MEMO[memo] = world
            return world
        except (ValueError, KeyError, StructureError) as exc:
            log.warning("ignoring unreadable world cache %s: %s", path, exc)
    t0 = time.perf_counter()
    phases = _relax_references(refs, potential, config)
    if config.references:
        from surrogates.hull.elemental import elemental_references

        have = {p.composition.elements[0].symbol for p in phases if len(p.composition.elements) == 1}
        missing = sorted(set(config.elements) - have)
        builtin = elemental_references(missing, potential, worlds_dir(config) / "elements", fmax=config.fmax, steps=config.steps)
        for el, ph in builtin.items():
            log.info("world %s: elemental reference of %s is the built-in prototype %s", "-".join(config.elements), el, ph.name)
        phases += list(builtin.values())
    world = World(config, Hull(config.elements, phases, ident), directory, key)
    hull = world.hull
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{time.time_ns()}")
    tmp.write_text(json.dumps(world.as_dict()))
    tmp.replace(path)
    log.info(
        "world %s built in %.1f s: %d references, stable %s -> %s",
        hull.chemsys, time.perf_counter() - t0, len(hull.phases), [p.name for p in hull.stable_phases], path,
    )
    _MEMO[memo] = world
    return world
