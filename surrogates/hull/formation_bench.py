"""Formation energies of a potential against DFT, with and without MP2020 corrections.

For each row of a CSV with a ``cif`` column and a DFT heat of formation (perov-5:
``heat_ref``, eV/atom), one single point of the structure as given (no relaxation),
batched, gives ``E`` (eV/atom) and

    E_f,raw  = E - sum_el x_el mu_el,
    E_f,corr = E_MP2020(E, structure) - sum_el x_el mu_el,

with ``mu_el`` the potential's lowest-energy built-in elemental prototype
(:mod:`surrogates.hull.elemental`; elements get no MP2020 correction) and
``E_MP2020`` the corrections of :mod:`surrogates.hull.compatibility`. The figures are
``MAE = mean |E_f - heat_ref|`` for both. Nothing is fitted to the data set.

Single points and elemental references are cached under ``<cache>/formation`` by (file
hash, potential identity), so a rerun only recomputes the arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from loop.errors import InputDataError
from loop.interfaces import Potential

__all__ = ["formation_energy_mae"]

log = logging.getLogger(__name__)


def _single_points(structures: list[Any], potential: Potential, path: Path, batch: int) -> list[float]:
    done: list[float] = json.loads(path.read_text()) if path.is_file() else []
    t0 = time.perf_counter()
    while len(done) < len(structures):
        chunk = structures[len(done) : len(done) + batch]
        done += list(potential.energies_per_atom(chunk))  # type: ignore[attr-defined]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(done))
        tmp.replace(path)
        log.info("single points: %d of %d (%.0f s)", len(done), len(structures), time.perf_counter() - t0)
    return done


def formation_energy_mae(
    csv: Path, potential: Potential, cache_dir: Path, *, target: str = "heat_ref", batch: int = 256, limit: int | None = None
) -> dict[str, Any]:
    """``formation_mae_raw`` and ``formation_mae_corrected`` (eV/atom) of ``potential`` on ``csv``."""
    import pandas as pd
    from pymatgen.core import Structure
    from scipy.stats import spearmanr

    from surrogates.hull.compatibility import corrected_energy_per_atom
    from surrogates.hull.elemental import elemental_references
    from surrogates.hull.hull import potential_identity

    if not csv.is_file():
        raise InputDataError(f"formation-energy data not found: {csv}", source=str(csv))
    frame = pd.read_csv(csv)
    for col in ("cif", target):
        if col not in frame.columns:
            raise InputDataError(f"no {col!r} column", source=str(csv))
    if limit is not None:
        frame = frame.iloc[:limit]
    structures = [Structure.from_str(c, fmt="cif") for c in frame["cif"]]
    ident = potential_identity(potential)
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()[:16]
    energies = _single_points(structures, potential, cache_dir / "formation" / f"{digest}-{ident}-{len(structures)}.json", batch)
    elements = sorted({el.symbol for s in structures for el in s.composition.elements})
    mu = elemental_references(elements, potential, cache_dir / "formation" / "elements")
    raw, corr, ref = [], [], []
    for s, e, h in zip(structures, energies, frame[target], strict=True):
        if not math.isfinite(e):
            continue
        comp = s.composition
        mu_x = sum(comp.get_atomic_fraction(el) * mu[el.symbol].energy_per_atom for el in comp.elements)
        raw.append(e - mu_x)
        corr.append(corrected_energy_per_atom(s, e) - mu_x)
        ref.append(float(h))
    r, c, t = np.array(raw), np.array(corr), np.array(ref)
    return {
        "n": len(t),
        "potential": ident,
        "target": target,
        "formation_mae_raw": float(np.mean(np.abs(r - t))),
        "formation_mae_corrected": float(np.mean(np.abs(c - t))),
        "mean_error_raw": float(np.mean(r - t)),
        "mean_error_corrected": float(np.mean(c - t)),
        "spearman_raw": float(spearmanr(r, t).statistic),
        "spearman_corrected": float(spearmanr(c, t).statistic),
        "elemental_references": {el: ph.name for el, ph in mu.items()},
    }
