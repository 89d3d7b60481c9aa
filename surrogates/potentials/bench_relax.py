"""The relaxation benchmark: batched vs unbatched CHGNet relaxations of generated ternaries.

Structures: ``n`` ternary crystals of ``elements`` from the ``random_crystal`` generator
(pyxtal, seeded), reduced to primitive cells of at most ``max_atoms`` atoms. Each is relaxed
to ``fmax`` (eV/A) within ``steps`` FIRE steps with the Frechet cell filter, by

* the unbatched path: ``CHGNetPotential.relax`` (ASE's FIRE, one model call per structure
  and step), on the first ``unbatched_n`` structures;
* the batched path: ``CHGNetPotential.relax_batch`` (:mod:`.batch_relax`: the same FIRE for
  ``batch_size`` structures at once, one model call per step), for each gradient mode
  (``first_order``, ``chgnet``) and graph builder (``vectorised``, ``chgnet``), keyed
  ``"<gradients>+<graphs>"``.

Figures: ``relaxations_per_s`` of each path (structures / wall seconds, after a warm-up),
``speedup`` of each batched mode over the unbatched rate, and for structures that converge
in both paths the energy differences ``|dE|`` (meV/atom: median, 95th percentile, max) and
how many took the same number of steps. ``evaluate_share`` is the part of the batched
time spent in model calls, ``graphs_share`` the part of it that builds CHGNet's crystal
graphs (neighbour lists, line graphs); the rest of the time is the filter and FIRE.

>>> out = run_relax_bench(n=64, steps=200, threads=1)
>>> out["batched"]["first_order+vectorised"]["speedup"]
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pymatgen.core import Structure
from threadpoolctl import threadpool_limits

from loop.interfaces import PluginContext, RelaxResult

__all__ = ["TODAY_RELAX_PER_S", "compare_energies", "generated_ternaries", "run_relax_bench"]

log = logging.getLogger(__name__)

TODAY_RELAX_PER_S = 0.33
"""Relaxations/s of the screen before batching (issue 17; 1 thread), the base of the 4x target."""


def generated_ternaries(elements: Sequence[str], n: int, seed: int, max_atoms: int = 20) -> list[Structure]:
    """``n`` primitive ternary crystals of ``elements`` (``random_crystal``, seeded), at most ``max_atoms`` atoms each."""
    from generators.random_crystal import RandomCrystalGenerator

    if len(set(elements)) < 3:
        raise ValueError(f"a ternary benchmark needs at least 3 elements, got {list(elements)}")
    cfg = RandomCrystalGenerator.Config(elements=list(elements), min_elements=3, max_elements=3, max_atoms=max_atoms)
    gen = RandomCrystalGenerator(cfg, PluginContext(work_dir=Path(".")))
    rng = np.random.default_rng(seed)
    out: list[Structure] = []
    for _ in range(20 * n):
        if len(out) >= n:
            break
        for c in gen.sample(n - len(out), None, rng):
            s = c.structure.get_primitive_structure()
            if len(s.composition.elements) == 3 and len(s) <= max_atoms:
                out.append(s)
    if len(out) < n:
        raise RuntimeError(f"random_crystal gave {len(out)} ternaries of {list(elements)} with <= {max_atoms} atoms, asked for {n}")
    return out[:n]


def compare_energies(reference: Sequence[RelaxResult], other: Sequence[RelaxResult]) -> dict[str, Any]:
    """``|dE|`` (meV/atom) over the structures converged in both; counts of agreement."""
    pairs = [(a, b) for a, b in zip(reference, other, strict=False) if a.converged and b.converged]
    d = np.array([abs(a.energy_per_atom - b.energy_per_atom) * 1000 for a, b in pairs])
    return {
        "compared": len(reference),
        "converged_both": len(pairs),
        "converged_only_reference": sum(a.converged and not b.converged for a, b in zip(reference, other, strict=False)),
        "converged_only_other": sum(b.converged and not a.converged for a, b in zip(reference, other, strict=False)),
        "same_steps": sum(a.steps == b.steps for a, b in pairs),
        "median_dE_meV": float(np.median(d)) if len(d) else math.nan,
        "p95_dE_meV": float(np.percentile(d, 95)) if len(d) else math.nan,
        "max_dE_meV": float(d.max()) if len(d) else math.nan,
    }


def _reference(pot: Any, structures: list[Structure], settings: dict[str, Any], path: Path | None) -> tuple[list[RelaxResult], dict[str, Any]]:
    """The unbatched results: from ``path`` when it holds these settings, else relaxed (and written there)."""
    if path is not None and path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("settings") == settings:
            results = [RelaxResult(s, r["energy"], r["converged"], r["steps"]) for s, r in zip(structures, saved["results"], strict=True)]
            log.info("unbatched results read from %s (timed %s)", path, saved["summary"].get("measured_at"))
            return results, {**saved["summary"], "from_file": str(path)}
        log.info("%s holds other settings; relaxing the unbatched reference again", path)
    t, results = _timed(lambda: pot.relax(structures, fmax=settings["fmax"], steps=settings["steps"]))
    summary = {"n": len(structures), "seconds": t, "relaxations_per_s": len(structures) / t,
               "converged": sum(r.converged for r in results), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    log.info("unbatched: %d relaxations in %.1f s", len(structures), t)
    if path is not None:
        rows = [{"energy": r.energy if math.isfinite(r.energy) else None, "converged": r.converged, "steps": r.steps} for r in results]
        path.write_text(json.dumps({"settings": settings, "summary": summary, "results": rows}))
    return results, summary


def _displaced(structures: Sequence[Structure], distance: float, seed: int) -> list[Structure]:
    """Copies with every atom moved by ``distance`` (A) in a random direction (seeded)."""
    rng = np.random.default_rng(seed + 7)
    out = []
    for s in structures:
        c = s.copy()
        d = rng.normal(size=(len(c), 3))
        d *= distance / np.linalg.norm(d, axis=1, keepdims=True)
        for j in range(len(c)):
            c.translate_sites([j], d[j], frac_coords=False, to_unit_cell=False)
        out.append(c)
    return out


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_relax_bench(
    *,
    n: int = 64,
    elements: Sequence[str] = ("Li", "Mn", "O"),
    max_atoms: int = 20,
    fmax: float = 0.05,
    steps: int = 200,
    threads: int = 1,
    seed: int = 0,
    device: str = "cpu",
    batch_size: int = 32,
    gradients: Sequence[str] = ("first_order",),
    graphs: Sequence[str] = ("vectorised",),
    unbatched_n: int | None = None,
    reference_file: Path | None = None,
    source: str = "ternaries",
    noise_floor: float | None = None,
) -> dict[str, Any]:
    """Run the benchmark (module docs); the figures as a JSON-able dict.

    ``reference_file`` keeps the unbatched results (energies, steps, time) of these exact
    settings: an existing file of the same settings is read instead of relaxing again, and
    ``unbatched["from_file"]`` says so (its time was measured when the file was written).
    ``source="screening"`` takes the structures of ``bench screening`` instead (strained,
    rattled decorated prototypes of ``elements``), the set behind today's 0.33 relaxations/s.
    ``noise_floor`` (A) also relaxes, with the first batched mode, copies of the structures
    whose atoms are displaced by that distance in random directions, and compares them with
    the unperturbed batched results (``noise_floor["energies"]``): how far the path's own
    trajectories spread when the input changes by that much.
    """
    from surrogates.potentials.chgnet import CHGNetPotential
    from surrogates.potentials.chgnet_batch import GRADIENT_MODES, GRAPH_MODES

    bad = [g for g in gradients if g not in GRADIENT_MODES] + [g for g in graphs if g not in GRAPH_MODES]
    if bad:
        raise ValueError(f"unknown mode(s) {bad}; gradients: {list(GRADIENT_MODES)}, graphs: {list(GRAPH_MODES)}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: torch sees no CUDA device here (torch {torch.__version__})")
    if source == "ternaries":
        structures = generated_ternaries(elements, n, seed, max_atoms)
    elif source == "screening":
        from surrogates.potentials.bench import bench_structures

        structures = bench_structures(elements, n, seed, max_atoms)
        n = len(structures)
    else:
        raise ValueError(f"source must be 'ternaries' or 'screening', got {source!r}")
    n_unb = n if unbatched_n is None else max(0, min(unbatched_n, n))
    ctx = PluginContext(work_dir=Path("."))
    pots = {
        f"{g}+{gr}": CHGNetPotential(
            CHGNetPotential.Config(device=device, relax_batch_size=batch_size, relax_gradients=g, relax_graphs=gr), ctx
        )
        for g in gradients for gr in graphs
    }
    base = CHGNetPotential(CHGNetPotential.Config(device=device), ctx)
    out: dict[str, Any] = {
        "n": n, "source": source, "elements": list(elements), "max_atoms": max_atoms, "mean_atoms": float(np.mean([len(s) for s in structures])),
        "fmax": fmax, "steps": steps, "threads": threads, "seed": seed, "device": base.device, "batch_size": batch_size,
        "today_relax_per_s": TODAY_RELAX_PER_S, "target_relax_per_s": 4 * TODAY_RELAX_PER_S, "batched": {},
    }
    previous = torch.get_num_threads()
    try:
        with threadpool_limits(limits=threads):
            torch.set_num_threads(threads)
            base.relax(structures[:1], fmax=fmax, steps=2)  # warm-up: model load, first calls
            for pot in pots.values():
                pot.relax_batch(structures[:2], fmax=fmax, steps=2)
            reference: list[RelaxResult] = []
            if n_unb:
                settings = {k: out[k] for k in ("source", "elements", "max_atoms", "fmax", "steps", "threads", "seed", "device")}
                settings["n"] = n_unb
                reference, unbatched = _reference(base, structures[:n_unb], settings, reference_file)
                out["unbatched"] = unbatched
            for g, pot in pots.items():
                t, res = _timed(lambda pot=pot: pot.relax_batch(structures, fmax=fmax, steps=steps))
                stats = pot.last_batch_stats
                row: dict[str, Any] = {
                    "seconds": t, "relaxations_per_s": n / t, "converged": sum(r.converged for r in res),
                    "model_calls": int(stats["calls"]), "structure_steps": int(stats["structure_steps"]),
                    "evaluate_share": stats["evaluate_s"] / t if t > 0 else math.nan,
                    "graphs_share": stats["graphs_s"] / t if t > 0 else math.nan,
                }
                if n_unb:
                    row["speedup"] = row["relaxations_per_s"] / out["unbatched"]["relaxations_per_s"]
                    row["energies_vs_unbatched"] = compare_energies(reference, res[:n_unb])
                row["vs_target"] = row["relaxations_per_s"] / out["target_relax_per_s"]
                out["batched"][g] = row
                log.info("batched (%s): %d relaxations in %.1f s", g, n, t)
                if noise_floor and "noise_floor" not in out:
                    shaken = _displaced(structures, noise_floor, seed)
                    moved = pot.relax_batch(shaken, fmax=fmax, steps=steps)
                    out["noise_floor"] = {"displacement_A": noise_floor, "energies": compare_energies(res, moved)}
    finally:
        torch.set_num_threads(previous)
    if torch.cuda.is_available() and base.device.startswith("cuda"):
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out
