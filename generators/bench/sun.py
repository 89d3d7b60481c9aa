"""The S.U.N. rate of generated crystals (stable, unique, novel), MLIP-based.

On the first ``n`` samples (a subset: each needs a relaxation)::

    sun_rate = |{x : E_hull(x) <= threshold, x unique, x novel}| / n

- stable: relaxed with the registered ``Potential`` (the ``mlip`` screen, through the
  registry: this package imports no other stage) and ``E_hull`` against a hull of the
  chemical system built with the same potential (its reference prototypes, cached under
  the crystaloop cache); a candidate whose relaxation fails or hits the step limit counts
  as not stable (the reasons are counted in ``sun_rejected``);
- unique: the first sample of each candidate id (the screen rejects later duplicates);
- novel: no reference structure of the same reduced formula matches it (pymatgen
  ``StructureMatcher``), as in :func:`generators.bench.metrics.sample_metrics`.

The figure is MLIP-based (CHGNet by default), not DFT: a lower bound on nothing, a proxy.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from loop.records import Candidate

__all__ = ["sun_rate"]

log = logging.getLogger(__name__)


def sun_rate(
    candidates: Sequence[Candidate],
    elements: Sequence[str],
    reference: Iterable[Structure] = (),
    *,
    potential: str = "chgnet",
    threshold: float = 0.1,
    fmax: float = 0.1,
    steps: int = 200,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """S.U.N. figures of ``candidates`` (see the module docs); ``n`` is ``len(candidates)``."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from loop import registry
    from loop.interfaces import PluginContext
    from loop.tables import cache_dir

    n = len(candidates)
    out: dict[str, Any] = {"sun_rate": None, "sun_n": n, "sun_basis": f"MLIP-based ({potential} relaxation and hull)",
                           "sun_threshold_ev": threshold}
    if n == 0:
        return out
    ctx = PluginContext(work_dir=Path(work_dir or cache_dir() / "bench-sun"), seed=0)
    options = {"potential": potential, "elements": sorted(set(elements)), "max_e_hull": 1e6, "fmax": fmax,
               "steps": steps, "hull_fmax": fmax, "hull_steps": 80, "ray": "never",
               "hull_cache_dir": str(cache_dir() / "hulls")}
    screen = registry.create("screens", {"kind": "mlip", "options": options}, ctx, where="bench.sun")
    t0 = time.perf_counter()
    decisions = screen.screen(list(candidates), known=[])
    refs: dict[str, list[Structure]] = defaultdict(list)
    for r in reference:
        refs[r.composition.reduced_formula].append(r)
    matcher = StructureMatcher()
    stable = unique_stable = sun = 0
    seen: set[str] = set()
    for c, d in zip(candidates, decisions, strict=True):
        ok = d.kept and d.e_hull is not None and d.e_hull <= threshold
        stable += ok
        if not ok or c.id in seen:
            seen.add(c.id)
            continue
        seen.add(c.id)
        unique_stable += 1
        s = d.relaxed_structure or c.structure
        if s is not None and not any(matcher.fit(s, r) for r in refs.get(s.composition.reduced_formula, [])):
            sun += 1
    hulls = [d.e_hull for d in decisions if d.e_hull is not None]
    rejected: dict[str, int] = defaultdict(int)
    for d in decisions:
        if not d.kept:
            rejected[(d.reason or "?").split("(")[0].split(":")[0].strip()] += 1
    out.update(
        sun_rate=sun / n,
        stable_rate=stable / n,
        stable_unique_rate=unique_stable / n,
        relaxed=len(hulls),
        sun_rejected=dict(rejected),
        sun_steps=steps,
        median_e_hull=float(sorted(hulls)[len(hulls) // 2]) if hulls else None,
        sun_seconds=round(time.perf_counter() - t0, 1),
    )
    return out
