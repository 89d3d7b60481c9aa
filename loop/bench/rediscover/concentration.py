"""How likely ``ours``' generator is to propose a hidden phase early: its round-0 target, measured.

``crystaloop bench rediscover-target CONFIG`` builds the ``ours`` campaign of a world exactly as the
benchmark does (same generator, screen, ranker and known phases), runs its round-0 learning step
(the ranker fitted on nothing, the generator's exact target scored with the screen's single-point
``e_hull`` estimates: what ``RoundPlanner.plan`` does before the first proposals), and then, holding
that target fixed, draws ``rounds`` rounds of ``proposals`` without replacement ``draws`` times per
sampler setting. It reports, per setting, the target's perplexity and how often a terminal that
matches a hidden phase (``StructureMatcher``, default tolerances, against the folder's CIF) is among
the proposals by each round. No screen relaxation, ranker selection or lab experiment is involved:
it measures the generator's side only, in seconds instead of campaign-hours, and it never reads the
world's truth (the match is against the folder's structure, the label the benchmark scores with).

Sampler settings: ``exact_spread`` values (None: the target as it is), and optionally a cap of
proposals per parent structure within a round (a known phase and its derivative structures; an
alternative measured in session 13 and not adopted, docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loop.bench.rediscover.arms import OURS, BenchPaths, BenchSettings, campaign_config
from loop.bench.rediscover.worlds import RediscoveryWorld
from loop.errors import ConfigError
from loop.exact_target import exact_draw, perplexity

__all__ = ["round_zero_target", "proposal_odds"]

log = logging.getLogger(__name__)


def round_zero_target(world: RediscoveryWorld, paths: BenchPaths, settings: BenchSettings, seed: int = 0) -> dict[str, Any]:
    """``ours``' round-0 exact target in ``world``: ``log_r`` per terminal, each terminal's parent
    structure and formula, and the terminals matching each hidden phase."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    from loop.campaign.engine import Campaign

    config = campaign_config(world, OURS, "", seed, paths, settings)
    directory = paths.root / "concentration" / f"{world.name}-{world.key()}-s{seed}"
    if directory.exists():
        shutil.rmtree(directory)
    campaign = Campaign.create(config, directory)
    with campaign:
        gen, ranker = campaign.generator, campaign.ranker
        if not getattr(gen, "exact", False):  # the gflownet's template space, enumerated
            raise ConfigError("bench rediscover-target", [("generator", "ours' generator does not sample an exact target here")])
        ranker.fit([], [])
        gen.update([], score=campaign.planner.generator_score(ranker, []))  # round 0's learning step
        target = gen.exact_target()
    structures = target.structures
    matcher = StructureMatcher()
    matches: dict[str, list[int]] = {}
    for stem in world.hidden:
        target = Structure.from_file(str(world.folder / f"{stem}.cif"))
        formula = target.composition.reduced_formula
        matches[stem] = [i for i, s in enumerate(structures)
                         if s.composition.reduced_formula == formula and matcher.fit(s, target)]
    return {"log_r": target.log_r, "parents": target.parents,
            "formulas": [s.composition.reduced_formula for s in structures], "names": target.names,
            "matches": {k: v for k, v in matches.items() if v}}


def proposal_odds(target: dict[str, Any], spreads: Sequence[float | None], *, proposals: int, rounds: int, draws: int,
                  per_parent: Sequence[int | None] = (None,), seed: int = 0) -> list[dict[str, Any]]:
    """Per (spread, per_parent): for each hidden phase, the share of ``draws`` in which one of its
    matches is among the proposals by each round."""
    logging.getLogger("loop.exact_target").setLevel(logging.WARNING)  # one cooling line per draw otherwise
    log_r = target["log_r"]
    stems = list(target["matches"])
    hit = np.zeros((len(stems), len(log_r)), dtype=bool)
    for k, stem in enumerate(stems):
        hit[k, target["matches"][stem]] = True
    rows = []
    for cap in per_parent:
        for spread in spreads:
            rng = np.random.default_rng(seed)
            by_round = np.zeros((len(stems), rounds))
            for _ in range(draws):
                taken: set[int] = set()
                found = np.zeros(len(stems), dtype=bool)
                for r in range(rounds):
                    picks = exact_draw(log_r, taken, proposals, rng, 1.0, spread, target["parents"], cap)
                    taken.update(picks)
                    found |= hit[:, picks].any(axis=1)
                    by_round[:, r] += found
            rows.append({"spread": spread, "per_parent": cap, "perplexity": perplexity(log_r),
                         "by_round": {stem: (by_round[k] / draws).round(3).tolist() for k, stem in enumerate(stems)}})
    return rows


def describe(target: dict[str, Any]) -> dict[str, Any]:
    """The matches, by name, formula and rank of their log R among all terminals."""
    order = list(np.argsort(-target["log_r"]))
    return {stem: [{"template": target["names"][i], "formula": target["formulas"][i], "rank": order.index(i),
                    "log_r": round(float(target["log_r"][i]), 3)} for i in idx]
            for stem, idx in target["matches"].items()} | {"terminals": len(order)}


def run_target_check(config: Path, root: Path, spreads: Sequence[float | None], *, rounds: int, draws: int,
                     per_parent: Sequence[int | None], seed: int = 0) -> dict[str, Any]:
    """The command's JSON: the world, its matches and the odds per sampler setting."""
    from loop.bench.rediscover.worlds import load_world

    world = load_world(config)
    settings = BenchSettings()
    target = round_zero_target(world, BenchPaths(root), settings, seed)
    return {"world": world.name, "proposals": settings.proposals, "rounds": rounds, "draws": draws,
            "matches": describe(target),
            "odds": proposal_odds(target, spreads, proposals=settings.proposals, rounds=rounds, draws=draws,
                                  per_parent=per_parent, seed=seed)}
