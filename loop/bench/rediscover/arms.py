"""The arms of ``crystaloop bench rediscover`` and the one campaign they all run.

Every arm runs the same campaign (:func:`campaign_config`): objectives, goal, budget (24
experiments), batch (4), proposals screened per round (8), screen (``mlip``: CHGNet 0.3.0
relaxation to fmax 0.1 eV/A within 200 steps, ``e_hull`` <= 0.5 eV/atom on the hull of the
*known* phases, MP2020-corrected, and no relaxed candidate that matches a known phase:
``novel_only``, since session 11; before, every arm spent experiments remaking known MnO or
TiO2, and a yield of 1.0 on a known phase taught the ranker to chase known phases), recipe planner (the lab's default) and lab (the
``crystal`` lab whose world holds every phase of the folder, hidden ones included; its XRD
analyst knows only the known phases and the target), and the same campaign seed and name.
The lab draws an experiment's noise from (seed, candidate id) (``noise_key: candidate``), so a
candidate gives the same result in every arm, and relaxations are cached by (candidate id,
potential, settings) in one folder for all arms and seeds. Arms differ only in the generator
and the ranker:

==========================  ==============================  ======================
arm                         generator                       ranker
==========================  ==============================  ======================
``ours``                    ``gflownet`` (user defaults)    ``botorch`` (defaults)
``random_crystal_random``   ``random_crystal``              ``random``
``gflownet_random``         ``gflownet`` (user defaults)    ``random``
``substitution_greedy``     ``substitution``                ``e_hull``
``substitution_bo``         ``substitution``                ``botorch`` (defaults)
==========================  ==============================  ======================

Every arm gets the known phases: substitution as its templates, the GFlowNet as the templates
of its template branch (known phases decorated orbit by orbit beside crystals built from
scratch, :mod:`generators.gflownet.templates`; session 11: before, the GFlowNet built every
crystal from scratch and never used them).

``substitution_greedy`` runs at its best: two variants, ``per_round`` (8 substitutions per
round, the most probable first) and ``all_at_once`` (every substitution screened up front, up
to the generator's ``max_candidates``); the better one (lower median, then more
rediscoveries) counts. Every generator gets the same search limits: the world's elements,
``max_atoms`` (20) and ``min_elements`` (2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop.bench.rediscover.worlds import RediscoveryWorld
from loop.config import CampaignConfig, parse_config
from loop.errors import ConfigError

__all__ = ["ARMS", "OURS", "ArmSpec", "BenchSettings", "BenchPaths", "campaign_config", "check_arms"]

OURS = "ours"


@dataclass(frozen=True)
class ArmSpec:
    """Generator and ranker kinds of an arm, and its variants (name -> extra generator options)."""

    generator: str
    ranker: str
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {"": {}})


ARMS: dict[str, ArmSpec] = {
    OURS: ArmSpec("gflownet", "botorch"),
    "random_crystal_random": ArmSpec("random_crystal", "random"),
    "gflownet_random": ArmSpec("gflownet", "random"),
    "substitution_greedy": ArmSpec("substitution", "e_hull", {"per_round": {}, "all_at_once": {"all_at_once": True}}),
    "substitution_bo": ArmSpec("substitution", "botorch"),
}


@dataclass(frozen=True)
class BenchSettings:
    """The campaign's size and the generators' search limits (the issue fixes them; ``--quick`` shrinks the budget)."""

    budget: int = 24
    batch: int = 4
    proposals: int = 8
    max_atoms: int = 20
    min_elements: int = 2


@dataclass(frozen=True)
class BenchPaths:
    """Where a run keeps its files: the known-phase folders, the shared caches, campaigns and results."""

    root: Path

    def known(self, world: RediscoveryWorld) -> Path:
        return self.root / "known" / f"{world.name}-{world.key()}"

    @property
    def relax_cache(self) -> Path:
        return self.root / "cache" / "relax"

    @property
    def hull_cache(self) -> Path:
        return self.root / "cache" / "hulls"

    def campaign(self, world: RediscoveryWorld, arm: str, variant: str, seed: int) -> Path:
        return self.root / "campaigns" / f"{world.name}-{world.key()}" / (f"{arm}-{variant}" if variant else arm) / f"seed{seed}"

    def result(self, world: RediscoveryWorld, arm: str, variant: str, seed: int, settings: BenchSettings,
               config: CampaignConfig | None = None) -> Path:
        """Per-run figures; ``config`` (the run's campaign) adds a hash of its settings, so changed settings rerun."""
        tag = f"b{settings.budget}q{settings.batch}p{settings.proposals}a{settings.max_atoms}"
        if config is not None:
            import hashlib
            import json

            tag += "-" + hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:8]
        name = f"{arm}-{variant}" if variant else arm
        return self.root / "results" / f"{world.name}-{world.key()}" / tag / name / f"seed{seed}.json"


def check_arms(arms: list[str]) -> None:
    """An unknown arm name is a configuration error naming the valid ones."""
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ConfigError("bench rediscover", [("arms", f"unknown arm(s) {unknown}; valid: {', '.join(ARMS)}")])
    if not arms:
        raise ConfigError("bench rediscover", [("arms", "no arm chosen")])


def lab_options(world: RediscoveryWorld) -> dict[str, Any]:
    """The crystal lab of the world: every phase of the folder in its truth, the hidden ones unknown to its analyst."""
    return {
        "elements": world.elements,
        "potential": {"kind": "chgnet", "options": {"model_name": "r2scan"}},
        "hidden_error": {"sigma": 0.05, "seed": 0},
        "references": [str(world.folder)],
        "unknown_to_analyst": list(world.hidden),
        "noise_key": "candidate",
        "reference_fmax": 0.1,
        "reference_steps": 80,
        "truth": {"fmax": 0.1, "steps": 60},
        "latency_s": 43200,
        "capacity": 4,
        "xrd": True,
    }


def generator_spec(kind: str, world: RediscoveryWorld, known: Path, settings: BenchSettings, extra: dict[str, Any]) -> dict[str, Any]:
    """The generator's options: the shared search limits, plus the known phases for the generators that read them
    (substitution's templates; the GFlowNet's template branch)."""
    options: dict[str, Any] = {"elements": world.elements, "max_atoms": settings.max_atoms, "min_elements": settings.min_elements}
    if kind == "substitution":
        options["references"] = [str(known)]
    elif kind == "gflownet":
        options["templates"] = [str(known)]
    return {"kind": kind, "options": {**options, **extra}}


def campaign_config(
    world: RediscoveryWorld, arm: str, variant: str, seed: int, paths: BenchPaths, settings: BenchSettings
) -> CampaignConfig:
    """The campaign of ``arm`` (``variant``) at ``seed`` in ``world`` (see the module docs)."""
    check_arms([arm])
    spec = ARMS[arm]
    if variant not in spec.variants:
        raise ConfigError("bench rediscover", [("variant", f"arm {arm} has variants {list(spec.variants)}, not {variant!r}")])
    if settings.budget < settings.batch:
        raise ConfigError("bench rediscover", [("budget", f"budget {settings.budget} is below one round ({settings.batch} experiments)")])
    known = world.write_known(paths.known(world))
    data = {
        "name": f"rediscover-{world.name}",
        "seed": int(seed),
        "objectives": [{"name": "yield", "goal": "maximize"}],
        "goal": {"all": [{"name": "yield", "op": ">=", "value": 0.5}]},
        "budget": {"experiments": settings.budget, "batch_size": settings.batch, "stop_on_goal": False},
        "proposals": settings.proposals,
        "generator": generator_spec(spec.generator, world, known, settings, spec.variants[variant]),
        "screen": {"kind": "mlip", "options": {
            "potential": "chgnet", "elements": world.elements, "max_e_hull": 0.5, "fmax": 0.1, "steps": 200,
            "references": [str(known)], "hull_fmax": 0.1, "hull_steps": 60, "ray": "never",
            "relax_cache_dir": str(paths.relax_cache), "hull_cache_dir": str(paths.hull_cache), "novel_only": True,
            "reward_estimates": True,
        }},
        "ranker": {"kind": spec.ranker},
        "lab": {"kind": "crystal", "options": lab_options(world)},
        "tracking": {"enabled": False},
    }
    return parse_config(data, source=f"bench rediscover {world.name} {arm}")
