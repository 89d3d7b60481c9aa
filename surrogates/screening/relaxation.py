"""Relaxations for the screen: cached on disk by candidate id, run as Ray tasks by chunk.

Cache layout: ``<cache_dir>/<potential identity>-f<fmax>-s<steps>/<candidate id>.json``
holding the relaxed structure, energy, steps, convergence and error, so a resumed
campaign never relaxes the same candidate twice with the same potential and settings.

Parallel: ``ceil(n / chunk_size)`` Ray tasks, each building the potential from its spec
once per worker process (kept in a module cache) and relaxing its chunk in turn.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from loop.interfaces import PluginContext, Potential, RelaxResult

__all__ = ["RelaxCache", "relax_chunk", "relax_many"]

log = logging.getLogger(__name__)

_WORKER_POTENTIALS: dict[str, Potential] = {}


def _result_to_dict(r: RelaxResult, seconds: float) -> dict[str, Any]:
    return {
        "structure": r.structure.as_dict(),
        "energy": r.energy if math.isfinite(r.energy) else None,
        "converged": r.converged,
        "steps": r.steps,
        "error": r.error,
        "seconds": seconds,
    }


def _result_from_dict(d: Mapping[str, Any]) -> RelaxResult:
    energy = d.get("energy")
    return RelaxResult(
        structure=Structure.from_dict(d["structure"]),
        energy=math.nan if energy is None else float(energy),
        converged=bool(d["converged"]),
        steps=int(d["steps"]),
        error=d.get("error"),
    )


class RelaxCache:
    """Relaxation results on disk, one JSON file per candidate id."""

    def __init__(self, root: Path, potential_identity: str, fmax: float, steps: int) -> None:
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{potential_identity}-f{fmax:g}-s{steps}")
        self.folder = Path(root) / tag
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, cid: str) -> Path:
        return self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', cid)}.json"

    def get(self, cid: str) -> RelaxResult | None:
        path = self._path(cid)
        if not path.is_file():
            return None
        try:
            return _result_from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError) as exc:
            log.warning("ignoring unreadable relaxation cache %s: %s", path, exc)
            return None

    def put(self, cid: str, data: Mapping[str, Any]) -> None:
        path = self._path(cid)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def _worker_potential(spec: Mapping[str, Any], work_dir: str) -> Potential:
    from surrogates.potentials.factory import create_potential

    key = json.dumps(spec, sort_keys=True) + work_dir
    if key not in _WORKER_POTENTIALS:
        _WORKER_POTENTIALS[key] = create_potential(dict(spec), PluginContext(work_dir=Path(work_dir)))
    return _WORKER_POTENTIALS[key]


def relax_chunk(
    potential: Potential | Mapping[str, Any],
    items: Sequence[tuple[str, dict[str, Any]]],
    fmax: float,
    steps: int,
    work_dir: str = ".",
    threads: int | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Relax ``(candidate id, structure dict)`` items; one result dict per item, never raises."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    out: list[tuple[str, dict[str, Any]]] = []
    try:
        pot = potential if isinstance(potential, Potential) else _worker_potential(potential, work_dir)
    except Exception as exc:  # a corrupt model file: every item is a recorded failure
        msg = f"potential could not be loaded: {exc}"
        return [(cid, {"structure": s, "energy": None, "converged": False, "steps": 0, "error": msg, "seconds": 0.0}) for cid, s in items]
    for cid, sdict in items:
        t0 = time.perf_counter()
        try:
            res = pot.relax([Structure.from_dict(sdict)], fmax=fmax, steps=steps)[0]
        except Exception as exc:
            res = RelaxResult(Structure.from_dict(sdict), math.nan, False, 0, error=f"relaxation failed: {exc}")
        out.append((cid, _result_to_dict(res, time.perf_counter() - t0)))
    return out


def relax_many(
    potential: Potential,
    spec: Mapping[str, Any] | None,
    items: Sequence[tuple[str, Structure]],
    cache: RelaxCache | None,
    *,
    fmax: float,
    steps: int,
    use_ray: bool,
    chunk_size: int,
    work_dir: Path,
    threads_per_task: int = 1,
) -> tuple[dict[str, RelaxResult], dict[str, float]]:
    """Relax what the cache lacks (in Ray tasks when ``use_ray`` and a spec is given).

    Returns results by id and stats: ``cached``, ``relaxed``, ``relax_s`` (summed task time).
    """
    results: dict[str, RelaxResult] = {}
    todo: list[tuple[str, dict[str, Any]]] = []
    for cid, s in items:
        hit = cache.get(cid) if cache is not None else None
        if hit is not None:
            results[cid] = hit
        else:
            todo.append((cid, s.as_dict()))
    stats = {"cached": float(len(results)), "relaxed": float(len(todo)), "relax_s": 0.0}
    if not todo:
        return results, stats
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    if use_ray and spec is not None:
        import ray

        task = ray.remote(num_cpus=threads_per_task)(relax_chunk)
        futures = [task.remote(dict(spec), chunk, fmax, steps, str(work_dir), threads_per_task) for chunk in chunks]
        outputs = [r for f in futures for r in ray.get(f)]
    else:
        outputs = [r for chunk in chunks for r in relax_chunk(potential, chunk, fmax, steps, str(work_dir))]
    for cid, d in outputs:
        stats["relax_s"] += float(d.get("seconds", 0.0))
        if cache is not None and not str(d.get("error") or "").startswith("potential could not be loaded"):
            cache.put(cid, d)
        results[cid] = _result_from_dict(d)
    return results, stats
