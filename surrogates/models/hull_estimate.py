"""Energy above hull estimated by a short MLIP relaxation: the ranker's physics prior.

When the screen gives a candidate no ``e_hull`` (a ``passthrough`` screen, or a screen run
elsewhere), the ranker can estimate one itself: ``steps`` FIRE steps (positions and cell)
with a potential, then the energy per atom against the hull of the candidate's chemical
system built with the same potential from its reference prototypes
(:func:`surrogates.hull.build_reference_hull`, as the ``mlip`` screen builds it). The
relaxation is deliberately short: it is not converged (a step-limit result is kept), but
it already shows which basin an unrelaxed structure falls into (the former ``crystaloop bench loop``,
docs/benchmarks.md "Closed loop (history)").

Estimates are cached in memory and on disk by candidate id (the screen's
:class:`~surrogates.screening.relaxation.RelaxCache`, keyed by potential, ``fmax`` and
``steps``); a candidate that cannot be estimated (no structure, an element the potential
does not cover, a failed relaxation) gets NaN and keeps the chemistry-only prior.

>>> est = HullEstimator(HullEstimateConfig(steps=10), context)
>>> est.estimate(candidates)   # {candidate id: e_hull in eV/atom, NaN when unknown}
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loop.records import Candidate

__all__ = ["HullEstimateConfig", "HullEstimator"]

log = logging.getLogger(__name__)


class HullEstimateConfig(BaseModel):
    """How the ranker estimates ``e_hull`` for candidates the screen left without one."""

    model_config = ConfigDict(extra="forbid")

    potential: str | None = Field("chgnet", description="potential plug-in name (None: mace if a converted model is cached, else chgnet)")
    potential_options: dict[str, Any] = Field(default_factory=dict)
    steps: int = Field(10, ge=1, description="FIRE steps of the short relaxation (positions and cell)")
    fmax: float = Field(0.1, gt=0, description="force threshold (eV/A) that ends the relaxation early")
    prototype_kinds: list[str] | None = Field(None, description="reference prototypes of the hull (None: all of surrogates/hull/prototypes.py)")
    cache_dir: str | None = Field(None, description="relaxation and hull cache (default: the crystaloop cache, shared by campaigns)")


class HullEstimator:
    """``e_hull`` estimates per candidate id (see module docstring); plug-in ``estimators/hull``."""

    Config = HullEstimateConfig

    def __init__(self, config: HullEstimateConfig, context: Any) -> None:
        from loop.tables import cache_dir
        from surrogates.screening.screen import MLIPScreen, MLIPScreenConfig

        self.config = config
        self.context = context
        self.root = Path(config.cache_dir) if config.cache_dir else cache_dir() / "hull-estimates"
        self._screen = MLIPScreen(
            MLIPScreenConfig(potential=config.potential, potential_options=config.potential_options,
                             hull_cache_dir=str(self.root / "hulls"), prototype_kinds=config.prototype_kinds, ray="never"),
            context,
        )
        self._values: dict[str, float] = {}
        self.seconds = 0.0

    def hull(self, elements: Sequence[str]) -> Any:  # noqa: ANN401 - Hull, or the reason it cannot be built
        """The reference hull of a chemical system (built once, cached on disk), or why it cannot be built."""
        return self._screen.hull(elements)

    def known(self, candidates: Sequence[Candidate]) -> dict[str, float]:
        """The estimates already made for ``candidates`` (no new relaxation)."""
        return {c.id: self._values[c.id] for c in candidates if c.id in self._values}

    def estimate(self, candidates: Sequence[Candidate]) -> dict[str, float]:
        """``{id: e_hull}`` for every candidate with a structure (NaN where it cannot be estimated)."""
        from surrogates.hull.hull import potential_identity
        from surrogates.screening.relaxation import RelaxCache, relax_many

        todo = {c.id: c.structure for c in candidates if c.structure is not None and c.id not in self._values}
        if todo:
            t0 = time.perf_counter()
            pot = self._screen.potential()
            if pot is None:
                log.warning("e_hull estimate unavailable: %s", self._screen._potential_error)
                self._values.update(dict.fromkeys(todo, math.nan))
            else:
                items = []
                for cid, s in todo.items():
                    try:
                        if (check := getattr(pot, "check", None)) is not None:
                            check(s)
                        items.append((cid, s))
                    except Exception as exc:  # an uncovered element, overlapping atoms
                        log.debug("no e_hull estimate for %s: %s", cid, exc)
                        self._values[cid] = math.nan
                cache = RelaxCache(self.root / "relax", potential_identity(pot), self.config.fmax, self.config.steps)
                results, _ = relax_many(
                    pot, self._screen.potential_spec, items, cache, fmax=self.config.fmax, steps=self.config.steps,
                    use_ray=False, chunk_size=4, work_dir=Path(self.context.work_dir),
                ) if items else ({}, {})
                for cid, r in results.items():
                    self._values[cid] = self._e_hull(r)
            self.seconds += time.perf_counter() - t0
            log.info("e_hull estimated for %d candidate(s) in %.1f s", len(todo), time.perf_counter() - t0)
        return {c.id: self._values.get(c.id, math.nan) for c in candidates}

    def _e_hull(self, r: Any) -> float:  # noqa: ANN401 - RelaxResult
        step_limit = r.error is not None and r.error.startswith("relaxation hit the step limit")
        if (r.error and not step_limit) or not math.isfinite(r.energy):
            return math.nan
        hull = self.hull([e.symbol for e in r.structure.composition.elements])
        if isinstance(hull, str):
            log.warning("e_hull estimate: %s", hull)
            return math.nan
        # on the hull's footing (MP2020 for a PBE-trained potential, as the screen corrects its references)
        energy = self._screen.corrected(r.structure, r.energy_per_atom)
        return float(hull.e_above_hull(r.structure.composition, energy))
