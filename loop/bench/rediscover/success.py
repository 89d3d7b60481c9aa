"""What counts as a rediscovery, and whether a world can be rediscovered at all.

Scoring (after a campaign, by the benchmark, never by the loop): an experiment succeeds when
its XRD-read yield is >= 0.5 and its target's *world-relaxed* structure (the lab's truth,
:meth:`lab.truth`) either

- matches the world-relaxed structure of a hidden phase (pymatgen ``StructureMatcher``,
  default tolerances): a **rediscovery**; or
- lies within :data:`NEW_E_HULL` (25 meV/atom) of the world's hull and matches no phase of
  the folder, hidden ones included: a **new material** of that world, counted separately.

Experiments are numbered in the order the ledger recorded their observations (1-based), as
the campaign's own goal count does.

Reachability (decided before the arms run, :func:`reachability`): a hidden phase is reachable
when its primitive cell has at most ``max_atoms`` sites and its world structure, made with the
lab's default recipe, reads a yield >= 0.5 in the median of ``draws`` experiments (the lab's
noise drawn per draw). A world is reachable when one of its hidden phases is.

The ceiling (:func:`seed_ceiling`, after reachability, for the report): the lab's kinetics are
drawn per campaign seed (a hidden rate factor per target formula), so a phase reachable in the
base seed may not form in another seed's world at all. Per seed, the reachable hidden phases'
world structures are made once with the default recipe in that seed's lab, as a campaign's
experiment would be; a seed where none reads >= 0.5 is one no arm can rediscover in (short of a
generated structure that the truth relaxes lower than the world's own). ``median_first``, the
median over seeds of 1 (formable) or ``budget + 1``, is the lowest median any arm can reach: where
it is ``budget + 1``, every arm's median is too, whatever the method.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loop.records import Candidate

__all__ = ["NEW_E_HULL", "RunScore", "reachability", "score_campaign", "seed_ceiling", "world_phases"]

log = logging.getLogger(__name__)

NEW_E_HULL = 0.025
"""eV/atom: a new material lies at most this far above the world's hull."""
YIELD_HIT = 0.5


@dataclass
class RunScore:
    """A campaign's rediscoveries and new-material hits."""

    experiments: int
    first_rediscovery: int | None
    rediscovered: list[str] = field(default_factory=list)
    new_hits: list[str] = field(default_factory=list)
    hits: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def world_phases(lab: Any) -> dict[str, Any]:  # noqa: ANN401 - the crystal lab plug-in
    """Label -> world-relaxed structure of every phase of the lab's world (known and hidden alike)."""
    world = lab.world
    return {world.phase_label(p): p.structure for p in world.hull.phases if not world.is_gas(p)}


def _match(structure: Any, phases: dict[str, Any]) -> str | None:  # noqa: ANN401
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    formula = structure.composition.reduced_formula
    for name, ref in phases.items():
        if ref.composition.reduced_formula == formula and matcher.fit(structure, ref):
            return name
    return None


def score_campaign(directory: Path, lab: Any, hidden: list[str]) -> RunScore:  # noqa: ANN401
    """Score the campaign in ``directory`` against the world of ``lab`` (see the module docs)."""
    from loop.store import Ledger

    ledger = Ledger.for_directory(directory, None)
    try:
        observations = ledger.observations()
        cands = {c.id: c for c in ledger.candidates(list(dict.fromkeys(o.candidate_id for o in observations)))}
    finally:
        ledger.close()
    phases = world_phases(lab)
    hidden_phases = {n: s for n, s in phases.items() if n in set(hidden)}
    score = RunScore(experiments=len(observations), first_rediscovery=None)
    for i, obs in enumerate(observations, start=1):
        y = obs.measured().get("yield")
        if not obs.success or y is None or y.value < YIELD_HIT:
            continue
        truth = lab.truth(cands[obs.candidate_id])
        target = truth.relaxed
        if target is None:
            continue
        name = _match(target, hidden_phases)
        if name is not None:
            score.hits.append({"experiment": i, "kind": "rediscovery", "phase": name, "yield": y.value})
            if name not in score.rediscovered:
                score.rediscovered.append(name)
            if score.first_rediscovery is None:
                score.first_rediscovery = i
        elif truth.e_hull is not None and truth.e_hull <= NEW_E_HULL and _match(target, phases) is None:
            score.hits.append({"experiment": i, "kind": "new", "formula": truth.formula, "e_hull": truth.e_hull, "yield": y.value})
            if obs.candidate_id not in score.new_hits:
                score.new_hits.append(obs.candidate_id)
    return score


def reachability(lab: Any, hidden: list[str], max_atoms: int, *, draws: int = 3) -> dict[str, Any]:  # noqa: ANN401
    """Per hidden phase: primitive sites, whether they fit ``max_atoms``, the yields of ``draws`` default-recipe experiments."""

    phases = world_phases(lab)
    out: dict[str, Any] = {}
    for name in hidden:
        structure = phases.get(name)
        if structure is None:
            out[name] = {"reachable": False, "why": "not a solid phase of the world (dropped when the world was built)"}
            continue
        primitive = structure.get_primitive_structure()
        fits = len(primitive) <= max_atoms
        cand = Candidate.from_structure(primitive)
        yields, recipe = [], None
        for k in range(draws):
            y, obs = default_recipe_yield(lab, cand, f"reachability-{name}-{k}")
            yields.append(y)
            if recipe is None:
                recipe = json_recipe(obs)
        median = statistics.median(yields)
        out[name] = {"primitive_sites": len(primitive), "fits_max_atoms": fits, "yields": yields, "median_yield": median,
                     "reachable": bool(fits and median >= YIELD_HIT), "recipe": recipe}
    return out


def default_recipe_yield(lab: Any, cand: Candidate, request_id: str) -> tuple[float, Any]:  # noqa: ANN401
    """The XRD-read yield (0 for a failed run) of ``cand`` made once with the lab's default recipe, and the observation."""
    job = {"request_id": request_id, "candidate_id": cand.id, "start": 0.0, "finish": 0.0, "recipe": None}
    obs = lab._measure(job, cand)
    y = obs.measured().get("yield") if obs.success else None
    return (float(y.value) if y is not None else 0.0), obs


def seed_ceiling(lab: Any, phases: list[str], seed: int) -> dict[str, float]:  # noqa: ANN401
    """Per hidden phase in ``phases``: the yield of its world structure (primitive cell) made once with the
    default recipe in ``lab``, the lab of campaign seed ``seed`` (see the module docs)."""
    structures = world_phases(lab)
    out = {}
    for name in phases:
        cand = Candidate.from_structure(structures[name].get_primitive_structure())
        out[name] = round(default_recipe_yield(lab, cand, f"ceiling-{name}-s{seed}")[0], 4)
    return out


def ceiling_summary(per_seed: dict[int, dict[str, float]], budget: int) -> dict[str, Any]:
    """The seeds in which a reachable hidden phase forms, and the lowest median any arm can reach."""
    formable = [seed for seed, ys in per_seed.items() if any(y >= YIELD_HIT for y in ys.values())]
    firsts = [1 if seed in formable else budget + 1 for seed in per_seed]
    return {"yields": {str(k): v for k, v in per_seed.items()}, "formable_seeds": formable,
            "median_first": float(statistics.median(firsts)) if firsts else None}


def json_recipe(obs: Any) -> dict[str, Any] | None:  # noqa: ANN401
    """The recipe the lab used (its sample sheet), for the report."""
    import json

    for f in obs.raw_files:
        if f.endswith(".json"):
            try:
                return json.loads(Path(f).read_text()).get("recipe")
            except (OSError, ValueError):
                return None
    return None
