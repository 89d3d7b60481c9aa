"""The screening benchmark: throughput of potentials and of the ``mlip`` screen.

Structures (``<= max_atoms`` atoms): the decorated prototypes of ``elements`` (primitive
cells and 2x1x1 supercells), strained by up to 3 % and rattled by 0.05 A with ``seed``; or
the ``cif`` column of a CSV (``data``). Figures:

* ``single_points_per_s``: structures/s of ``predict``, batched (one call) and unbatched
  (one call per structure), per potential;
* ``relaxations_per_s``: structures/s of ``relax`` (``fmax``, ``steps``) in the best single
  process (the faster of 1 thread and all cores, for torch and BLAS/OpenMP alike), and through the screen's Ray tasks with 1 and 2 workers
  (one thread each); ``speedup_2_workers = t(best single process) / t(2 workers)``;
* ``overhead_fraction = (t_screen - t_relax) / t_relax``: the screen's time (validity,
  duplicates, cache, hull look-ups) beyond its bare potential calls, from the same run,
  with the hull built beforehand;
* ``peak_rss_mb``: the benchmark process's peak resident memory.

The tiny MACE is trained here on CHGNet single points of rattled copies of the set.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pymatgen.core import Structure
from threadpoolctl import threadpool_limits

from loop.interfaces import PluginContext
from loop.records import Candidate, Origin

__all__ = ["bench_structures", "run_screening_bench"]

log = logging.getLogger(__name__)


def bench_structures(elements: Sequence[str], n: int, seed: int, max_atoms: int = 20, data: Path | None = None) -> list[Structure]:
    """``n`` strained, rattled structures of at most ``max_atoms`` atoms."""
    rng = np.random.default_rng(seed)
    if data is not None:
        import pandas as pd

        frame = pd.read_csv(data)
        if "cif" not in frame.columns:
            from loop.errors import InputDataError

            raise InputDataError("no 'cif' column", source=str(data))
        pool = [Structure.from_str(c, fmt="cif") for c in frame["cif"].iloc[: 4 * n]]
    else:
        from surrogates.hull.prototypes import prototypes

        pool = []
        for p in prototypes(elements):
            if p.relax_cell:
                pool.append(p.structure)
                pool.append(p.structure.make_supercell([2, 1, 1], in_place=False))
    from surrogates.screening.validity import structural_problem

    pool = [s for s in pool if len(s) <= max_atoms and structural_problem(s, min_dist=1.0) is None]
    order = rng.permutation(len(pool))
    out = []
    for i in order[:n]:
        s = pool[i].copy()
        s.apply_strain(rng.uniform(-0.03, 0.03, 3))
        for j in range(len(s)):
            s.translate_sites([j], rng.normal(0, 0.05, 3), frac_coords=False)
        out.append(s)
    return out


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else math.inf


def _time(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _single_points(pot: Any, structures: Sequence[Structure]) -> dict[str, float]:
    pot.predict(structures[:2])  # warm-up
    t_b, _ = _time(lambda: pot.predict(structures))
    t_u, _ = _time(lambda: [pot.predict([s]) for s in structures])
    return {"batched": _rate(len(structures), t_b), "unbatched": _rate(len(structures), t_u)}


def _train_tiny_mace(chgnet: Any, structures: Sequence[Structure], folder: Path, seed: int) -> Path:
    from surrogates.potentials.mace_model import save_converted_model
    from surrogates.potentials.mace_train import build_mace, train

    rng = np.random.default_rng(seed + 1)
    data = []
    for s in structures:
        c = s.copy()
        for j in range(len(c)):
            c.translate_sites([j], rng.normal(0, 0.05, 3), frac_coords=False)
        data.append(c)
    res = chgnet.predict(data)
    energies = [r.energy for r in res]
    forces = [r.forces for r in res]
    model = build_mace(data, energies, seed=seed)
    train(model, data, energies, forces, epochs=10, lr=1e-2, seed=seed)
    return save_converted_model(model, folder)


def _screen(spec: dict[str, Any], elements: Sequence[str], work: Path, fmax: float, steps: int, ray_mode: str, chunk: int, potential: Any = None) -> Any:
    from surrogates.screening import MLIPScreen

    cfg = MLIPScreen.Config(
        potential=spec["kind"], potential_options=spec["options"], elements=sorted(elements), max_e_hull=1e9,
        check_composition=False, fmax=fmax, steps=steps, ray=ray_mode, chunk_size=chunk,
        prototype_kinds=["bcc", "dimer"], hull_steps=60, hull_cache_dir=str(work.parent / "hulls"),
    )
    return MLIPScreen(cfg, PluginContext(work_dir=work), potential=potential)


def run_screening_bench(
    *,
    elements: Sequence[str] = ("Li", "Mn", "O"),
    n_single: int = 16,
    n_relax: int = 6,
    fmax: float = 0.1,
    steps: int = 60,
    workers: int = 2,
    seed: int = 0,
    data: Path | None = None,
    mace_model: str | None = None,
    mace_trusted: bool = False,
    ray: bool = True,
) -> dict[str, Any]:
    """Run the benchmark (see module docs); returns the figures as a JSON-able dict."""
    from loop.runtime import start_ray
    from surrogates.potentials.chgnet import CHGNetPotential
    from surrogates.potentials.mace import MACEPotential

    cores = torch.get_num_threads()
    tmp = Path(tempfile.mkdtemp(prefix="crystaloop-bench-"))
    structures = bench_structures(elements, max(n_single, n_relax), seed, data=data)
    if data is not None:
        elements = sorted({e.symbol for s in structures for e in s.composition.elements})
    relax_set = structures[:n_relax]
    ctx = PluginContext(work_dir=tmp)
    chgnet = CHGNetPotential(CHGNetPotential.Config(), ctx)
    pots: dict[str, tuple[Any, dict[str, Any]]] = {"chgnet": (chgnet, {"kind": "chgnet", "options": {}})}
    t_train, tiny = _time(lambda: _train_tiny_mace(chgnet, structures, tmp / "tiny_mace", seed))
    pots["mace_tiny"] = (MACEPotential(MACEPotential.Config(model=str(tiny)), ctx), {"kind": "mace", "options": {"model": str(tiny)}})
    if mace_model:
        opts = {"model": mace_model, "trusted": mace_trusted}
        pots["mace"] = (MACEPotential(MACEPotential.Config(**opts), ctx), {"kind": "mace", "options": opts})

    out: dict[str, Any] = {
        "seed": seed,
        "elements": list(elements),
        "n_single": len(structures[:n_single]),
        "n_relax": len(relax_set),
        "mean_atoms": float(np.mean([len(s) for s in structures])),
        "fmax": fmax,
        "steps": steps,
        "torch_threads": cores,
        "device": chgnet.device,
        "tiny_mace_train_s": t_train,
        "single_points": {},
        "relaxations": {},
    }
    best_threads: dict[str, int] = {}
    for name, (pot, _) in pots.items():
        out["single_points"][name] = _single_points(pot, structures[:n_single])
        times = {}
        pot.relax(relax_set[:1], fmax=fmax, steps=3)  # warm-up
        for threads in sorted({1, cores}):
            with threadpool_limits(limits=threads):
                torch.set_num_threads(threads)
                times[threads], _ = _time(lambda pot=pot: pot.relax(relax_set, fmax=fmax, steps=steps))
        torch.set_num_threads(cores)
        best = min(times.values())
        best_threads[name] = min(times, key=times.__getitem__)
        out["relaxations"][name] = {f"single_process_{k}_threads": _rate(len(relax_set), v) for k, v in times.items()}
        out["relaxations"][name]["best_single_process"] = _rate(len(relax_set), best)
        log.info("%s: single points %s, relaxations %s", name, out["single_points"][name], out["relaxations"][name])

    # the screen's overhead over its own potential calls (local, hull built beforehand)
    spec = pots["chgnet"][1]
    screen = _screen(spec, elements, tmp / "screen_local", fmax, steps, "never", 4, potential=chgnet)
    screen.hull(elements)
    cands = [Candidate.from_structure(s, Origin(generator="bench")) for s in relax_set]
    with threadpool_limits(limits=best_threads["chgnet"]):
        torch.set_num_threads(best_threads["chgnet"])
        t_screen, _ = _time(lambda: screen.screen(cands, known=[]))
    torch.set_num_threads(cores)
    relax_s = screen.stats["relax_s"]
    out["screen_s"] = t_screen
    out["screen_relax_s"] = relax_s
    out["screen_relaxed"] = int(screen.stats["relaxed"])
    out["overhead_fraction"] = (t_screen - relax_s) / relax_s if relax_s > 0 else math.nan
    t_cached, _ = _time(lambda: screen.screen(cands, known=[]))
    out["resumed_screen_s"] = t_cached

    best_chgnet = len(relax_set) / out["relaxations"]["chgnet"]["best_single_process"]
    if ray:
        for k in sorted({1, workers}):
            with start_ray(num_cpus=k):
                warm = _screen(spec, elements, tmp / f"warm_{k}", fmax, 5, "always", 1, potential=chgnet)
                warm.screen([Candidate.from_structure(s) for s in structures[n_relax : n_relax + k]] or cands[:1], known=[])
                scr = _screen(spec, elements, tmp / f"ray_{k}", fmax, steps, "always", max(1, math.ceil(len(cands) / (2 * k))), potential=chgnet)
                scr._hulls = screen._hulls
                t_k, _ = _time(lambda scr=scr: scr.screen(cands, known=[]))
            out["relaxations"]["chgnet"][f"ray_{k}_workers"] = _rate(len(cands), t_k)
            out[f"ray_{k}_workers_s"] = t_k
        out["speedup_2_workers"] = best_chgnet / out[f"ray_{workers}_workers_s"]
    else:
        out["speedup_2_workers"] = None
    out["best_single_process_threads"] = best_threads
    out["single_points_per_s"] = out["single_points"]["chgnet"]["batched"]
    out["relaxations_per_s"] = out["relaxations"]["chgnet"]["best_single_process"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_rss_mb"] = rss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    if torch.cuda.is_available():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out
