"""Relaxations for the screen: cached on disk by candidate id, run as Ray tasks by chunk.

Cache layout: ``<cache_dir>/<potential identity>-f<fmax>-s<steps>/<candidate id>.json``
holding the relaxed structure, energy, steps, convergence and error, so a resumed
campaign never relaxes the same candidate twice with the same potential and settings.

Parallel: ``ceil(n / chunk_size)`` Ray tasks, each building the potential from its spec
once per worker process (kept in a module cache) and relaxing its chunk. ``mode="batched"``
relaxes a chunk in one batched call (:meth:`ASEPotential.relax_batch`: the structures of the
chunk share each model pass); without Ray, all the structures to relax form one chunk then.
``mode="sequential"`` relaxes them one at a time.

Resources (:func:`relax_task_resources`): a task asks Ray for ``threads_per_task`` CPUs,
and for ``gpus_per_task`` GPUs when its potential runs on CUDA (default 1; a fraction such
as 0.25 lets four tasks share one GPU). A Ray runtime without enough GPUs for one task is a
configuration error, not a task that waits for ever.
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

from loop.errors import ConfigError
from loop.files import atomic_write
from loop.interfaces import PluginContext, Potential, RelaxResult

__all__ = ["RELAX_MODES", "RelaxCache", "potential_device", "relax_chunk", "relax_many", "relax_task_resources"]

log = logging.getLogger(__name__)

_WORKER_POTENTIALS: dict[str, Potential] = {}

RELAX_MODES = ("batched", "sequential")


def potential_device(potential: Potential | None, spec: Mapping[str, Any] | None) -> str:
    """Where the potential runs: its spec's ``device`` option when set (``cuda:1``), else the loaded one's, else ``cpu``."""
    options = dict((spec or {}).get("options") or {})
    device = str(options.get("device", "auto"))
    if device != "auto":
        return device
    return str(getattr(potential, "device", "cpu") or "cpu")


def relax_task_resources(device: str, threads_per_task: int = 1, gpus_per_task: float | None = None) -> dict[str, float]:
    """Ray resources of one relaxation task: ``num_cpus``, and ``num_gpus`` for a CUDA potential (module docs).

    ``gpus_per_task`` None means 1 on CUDA and 0 elsewhere; an explicit value is used as given.
    """
    if threads_per_task < 1:
        raise ValueError(f"threads_per_task must be >= 1, got {threads_per_task}")
    gpus = (1.0 if device.startswith("cuda") else 0.0) if gpus_per_task is None else float(gpus_per_task)
    if gpus < 0:
        raise ValueError(f"gpus_per_task must be >= 0, got {gpus_per_task}")
    out: dict[str, float] = {"num_cpus": float(threads_per_task)}
    if gpus > 0:
        out["num_gpus"] = gpus
    return out


def _check_cluster_gpus(resources: Mapping[str, float]) -> None:
    import ray

    need = resources.get("num_gpus", 0.0)
    have = float(ray.cluster_resources().get("GPU", 0.0))
    if need > have:
        raise ConfigError("screen", [(
            "options.gpus_per_task",
            f"a relaxation task asks for {need:g} GPU(s) for a CUDA potential but the Ray runtime has {have:g}; "
            "start Ray on GPU nodes, lower gpus_per_task, or run the potential on the CPU (potential_options.device: cpu)",
        )])


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
        atomic_write(self._path(cid), json.dumps(data))


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
    mode: str = "sequential",
) -> list[tuple[str, dict[str, Any]]]:
    """Relax ``(candidate id, structure dict)`` items; one result dict per item, never raises.

    ``mode="batched"`` relaxes the chunk in one :meth:`relax_batch` call (each item's
    ``seconds`` is then the chunk's time divided by its size).
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    out: list[tuple[str, dict[str, Any]]] = []
    try:
        pot = potential if isinstance(potential, Potential) else _worker_potential(potential, work_dir)
    except Exception as exc:  # a corrupt model file: every item is a recorded failure
        msg = f"potential could not be loaded: {exc}"
        return [(cid, {"structure": s, "energy": None, "converged": False, "steps": 0, "error": msg, "seconds": 0.0}) for cid, s in items]
    if mode == "batched" and hasattr(pot, "relax_batch"):
        return _relax_chunk_batched(pot, items, fmax, steps)
    for cid, sdict in items:
        t0 = time.perf_counter()
        try:
            res = pot.relax([Structure.from_dict(sdict)], fmax=fmax, steps=steps)[0]
        except Exception as exc:
            res = RelaxResult(Structure.from_dict(sdict), math.nan, False, 0, error=f"relaxation failed: {exc}")
        out.append((cid, _result_to_dict(res, time.perf_counter() - t0)))
    return out


def _relax_chunk_batched(pot: Any, items: Sequence[tuple[str, dict[str, Any]]], fmax: float, steps: int) -> list[tuple[str, dict[str, Any]]]:
    t0 = time.perf_counter()
    structures = [Structure.from_dict(s) for _, s in items]
    try:
        results = pot.relax_batch(structures, fmax=fmax, steps=steps)
    except Exception as exc:  # the batched path failing as a whole: every item records it
        log.warning("batched relaxation of %d structures failed: %s", len(items), exc)
        results = [RelaxResult(s, math.nan, False, 0, error=f"relaxation failed: {exc}") for s in structures]
    each = (time.perf_counter() - t0) / max(len(items), 1)
    return [(cid, _result_to_dict(r, each)) for (cid, _), r in zip(items, results, strict=True)]


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
    mode: str = "batched",
    gpus_per_task: float | None = None,
) -> tuple[dict[str, RelaxResult], dict[str, float]]:
    """Relax what the cache lacks (in Ray tasks when ``use_ray`` and a spec is given; see module docs).

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
    if mode not in RELAX_MODES:
        raise ValueError(f"relax mode must be one of {RELAX_MODES}, got {mode!r}")
    ray_tasks = use_ray and spec is not None
    size = chunk_size if ray_tasks or mode == "sequential" else len(todo)
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    if ray_tasks:
        import ray

        resources = relax_task_resources(potential_device(potential, spec), threads_per_task, gpus_per_task)
        _check_cluster_gpus(resources)
        task = ray.remote(**resources)(relax_chunk)
        futures = [task.remote(dict(spec), chunk, fmax, steps, str(work_dir), threads_per_task, mode) for chunk in chunks]
        outputs = [r for f in futures for r in ray.get(f)]
    else:
        outputs = [r for chunk in chunks for r in relax_chunk(potential, chunk, fmax, steps, str(work_dir), mode=mode)]
    for cid, d in outputs:
        stats["relax_s"] += float(d.get("seconds", 0.0))
        if cache is not None and not str(d.get("error") or "").startswith("potential could not be loaded"):
            cache.put(cid, d)
        results[cid] = _result_from_dict(d)
    return results, stats
