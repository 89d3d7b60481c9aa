"""Single-point ``e_hull`` of unrelaxed proposals: the ``mlip`` screen's cheap estimate for the generator's reward.

A generator that learns from the loop's score (the GFlowNet) scores many more proposals than the
screen relaxes. With ``reward_estimates`` the screen gives each of them one single-point energy
with its own potential, on the structure as proposed, and places it against its own hull (the
known phases, relaxed), with its energy correction: a computed number, labelled as such where it
is used, never a measurement and never a screen decision. Unrelaxed, it is an upper bound of the
relaxed ``e_hull`` in the usual case; for decorations of known prototypes (a template or
derivative structure, whose geometry is already near a minimum) it ranks candidates much as the
relaxed value does (docs/benchmarks.md, "Session 12").

Energies are kept per candidate id in memory and on disk (one JSON file per id under
``<relax cache>/single_points/<potential>``), so a benchmark's seeds and arms share them.
A candidate that fails the screen's structural or element checks, or whose energy is not
finite, gets no estimate.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from loop.files import atomic_write
from loop.records import Candidate
from surrogates.hull import potential_identity
from surrogates.screening.validity import structural_problem

if TYPE_CHECKING:
    from surrogates.screening.screen import MLIPScreen

__all__ = ["single_point_e_hull"]

log = logging.getLogger(__name__)

_BATCH = 32


def _folder(screen: MLIPScreen, identity: str) -> Path:
    cfg = screen.config
    root = Path(cfg.relax_cache_dir) if cfg.relax_cache_dir else screen.work_dir / "relax_cache"
    folder = root / "single_points" / re.sub(r"[^A-Za-z0-9_.-]", "_", identity)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def single_point_e_hull(
    screen: MLIPScreen, candidates: Sequence[Candidate], energies: MutableMapping[str, float]
) -> dict[str, float]:
    """``{candidate id: e_hull}`` for the candidates that could be estimated (see the module docs).

    ``energies`` holds energies per atom already computed (NaN: none possible) and is updated."""
    pot = screen.potential()
    if pot is None:
        return {}
    cfg = screen.config
    supported = getattr(pot, "supported_numbers", None)
    folder = _folder(screen, potential_identity(pot))
    todo: dict[str, Candidate] = {}
    for c in candidates:
        if c.id in energies or c.id in todo:
            continue
        s = c.structure
        if s is None or structural_problem(s, min_dist=cfg.min_distance, v_min=cfg.min_volume_per_atom,
                                           v_max=cfg.max_volume_per_atom):
            energies[c.id] = math.nan
            continue
        symbols = {e.symbol for e in s.composition.elements}
        if (cfg.elements is not None and not symbols <= set(cfg.elements)) or (
                supported is not None and any(e.Z not in supported for e in s.composition.elements)):
            energies[c.id] = math.nan
            continue
        path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', c.id)}.json"
        if path.is_file():
            try:
                energies[c.id] = float(json.loads(path.read_text())["energy_per_atom"])
                continue
            except (ValueError, KeyError) as exc:
                log.warning("ignoring unreadable single-point cache %s: %s", path, exc)
        todo[c.id] = c
    items = list(todo.values())
    for i in range(0, len(items), _BATCH):
        chunk = items[i:i + _BATCH]
        try:
            # energies only: no forces, so no autograd graph (CHGNet's predict with forces peaked at 13.6 GB
            # over li-ti-o's 1,070 terminals, docs/benchmarks.md "Session 13")
            values = [float(e) for e in pot.energies_per_atom([c.structure for c in chunk])]  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - an estimate that fails leaves the reward as it was
            log.warning("single points failed on a batch of %d: %s", len(chunk), exc)
            values = [math.nan] * len(chunk)
        for c, e in zip(chunk, values, strict=True):
            energies[c.id] = e
            if math.isfinite(e):
                atomic_write(folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', c.id)}.json",
                             json.dumps({"energy_per_atom": e, "formula": c.formula}))
    out: dict[str, float] = {}
    for c in candidates:
        e = energies.get(c.id, math.nan)
        if not math.isfinite(e) or c.structure is None:
            continue
        hull = screen.hull([el.symbol for el in c.structure.composition.elements])
        if isinstance(hull, str):
            continue
        out[c.id] = float(hull.e_above_hull(c.structure.composition, screen.corrected(c.structure, e)))
    return out
