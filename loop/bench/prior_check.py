"""``crystaloop bench loop-prior``: does the ranker's ``e_hull`` estimate tell the goal's proposals apart?

For a campaign config with a crystal lab (default ``experiments/crystal_demo.yaml``): the first
round's proposals of each seed (the config's generator, untrained, ``proposals`` per seed,
campaign seed ``base + i``), their truth from the config's crystal lab (cached per candidate
id), and for each ``--steps`` value the ranker's short-relaxation estimate
(the ``hull`` estimator plug-in, :class:`surrogates.models.hull_estimate.HullEstimator`). A proposal is a *hit* when its true
``e_hull`` meets the goal's ``e_hull`` bound. Reported per ``steps``:

- ``auc``: the probability that a random hit has a lower estimate than a random miss;
- ``top_hit_rate``: the share of hits among the ``batch_size`` proposals of each seed with
  the lowest estimate (what a ranker that knew nothing else would send first), against
  ``base_rate``, the share of hits among all proposals (what a random pick sends);
- ``seconds_per_candidate`` of the estimate (hulls built beforehand; no relaxation cache
  hits: the cache lives in the run's temporary folder).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loop.config import CampaignConfig
from loop.errors import ConfigError

__all__ = ["auc", "goal_e_hull_bound", "run_prior_check"]

log = logging.getLogger(__name__)


def auc(scores: np.ndarray, hits: np.ndarray) -> float | None:
    """``P(score(hit) > score(miss))`` (ties count half); ``None`` without both classes."""
    pos, neg = scores[hits], scores[~hits]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


HIT_E_HULL = 0.02
"""eV/atom: a proposal is a hit when its true ``e_hull`` is at most this, unless the goal bounds ``e_hull`` itself."""


def goal_e_hull_bound(config: CampaignConfig, default: float | None = HIT_E_HULL) -> float:
    """The upper bound the campaign's goal puts on ``e_hull``, else ``default`` (goals are measured: the lab reports no e_hull)."""
    from loop.objectives import AllOf, Condition

    stack: list[Any] = [config.goal] if config.goal is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, AllOf):
            stack.extend(node.all)
        elif isinstance(node, Condition) and node.name == "e_hull" and node.op in ("<=", "<"):
            return float(node.value)
    if default is not None:
        return float(default)
    raise ConfigError("bench loop-prior", [("goal", "the goal has no 'e_hull <= value' condition")])


def run_prior_check(config: CampaignConfig, seeds: int, steps: Sequence[int], *, base_seed: int = 0) -> dict[str, Any]:
    """Proposals, truth and estimates (see the module docstring); returns the JSON report."""
    from loop import registry
    from loop.interfaces import PluginContext

    if config.lab is None or config.lab.kind != "crystal":
        kind = None if config.lab is None else config.lab.kind
        raise ConfigError("bench loop-prior", [("lab.kind", f"needs the crystal lab, got {kind!r}")])
    bound = goal_e_hull_bound(config)
    batch = config.budget.batch_size
    with tempfile.TemporaryDirectory(prefix="bench-loop-prior-") as tmp:
        work = Path(tmp)
        base_ctx = PluginContext(work_dir=work / "lab", seed=base_seed, objectives=list(config.objectives), goal=config.goal)
        lab: Any = registry.create("labs", config.lab.model_dump(mode="json"), base_ctx)
        groups: list[list[Any]] = []
        for i in range(seeds):
            seed = base_seed + i
            ctx = PluginContext(work_dir=work / f"g{seed}", seed=seed, objectives=list(config.objectives), goal=config.goal)
            gen = registry.create("generators", config.generator.model_dump(mode="json"), ctx)
            groups.append(gen.sample(config.proposals, config.condition, np.random.default_rng(seed)))
        cands = [c for g in groups for c in g]
        t0 = time.perf_counter()
        truth = {c.id: lab.truth(c) for c in cands}
        log.info("truth of %d proposals in %.0f s", len(truth), time.perf_counter() - t0)
        hit = {cid: t.e_hull is not None and math.isfinite(t.e_hull) and t.e_hull <= bound for cid, t in truth.items()}
        hits = np.array([hit[c.id] for c in cands])
        rows = {}
        systems = {tuple(sorted(e.symbol for e in c.structure.composition.elements)) for c in cands if c.structure is not None}
        for n_steps in steps:
            est: Any = registry.create("estimators", {"kind": "hull", "options": {
                "steps": int(n_steps), "cache_dir": str(work / "estimates")}}, base_ctx)
            for system in systems:  # the hulls are built (once) before the clock starts
                est.hull(list(system))
            t0 = time.perf_counter()
            values = est.estimate(cands)
            seconds = time.perf_counter() - t0
            e = np.array([values[c.id] if math.isfinite(values[c.id]) else np.inf for c in cands])
            top = []
            for g in groups:
                ge = np.array([e[cands.index(c)] for c in g])
                order = np.argsort(ge, kind="stable")[:batch]
                top += [hit[g[j].id] for j in order]
            rows[str(n_steps)] = {
                "auc": auc(-e, hits),
                "top_hit_rate": float(np.mean(top)),
                "seconds_per_candidate": seconds / max(len({c.id for c in cands}), 1),
            }
    return {
        "config": config.name, "seeds": seeds, "base_seed": base_seed, "proposals": len(cands), "hits": int(hits.sum()),
        "base_rate": float(hits.mean()) if len(hits) else 0.0, "e_hull_bound": bound, "batch_size": batch, "steps": rows,
    }
