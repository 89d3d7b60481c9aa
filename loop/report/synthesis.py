"""The per-experiment synthesis table: recipe -> XRD phases -> Rwp -> yield -> novel, beside the computed e_hull.

One row per experiment that returned an XRD phase analysis:

- ``recipe``: precursors with amounts, temperature, dwell time, atmosphere (the request's
  recipe, else the lab's sample sheet);
- ``phases``: the phases the XRD fit kept, with weight fractions (``LiMn2O4_227 0.82; Mn3O4 0.18``);
- ``rwp_percent`` (the fit's Rwp, stored as a fraction), ``yield`` (the target's weight fraction read from the pattern), ``novel``
  (the lab's measured novelty: target found and not a known phase) and ``known_as`` (the
  known phase the target matched);
- ``e_hull_computed``: the *screen's* computed energy above its hull (eV/atom, candidate
  metadata), with ``e_hull_source``. It is computed, never measured.

Written as ``report/synthesis.csv`` and shown in the HTML report.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from loop.records import ExperimentRequest, Observation, Recipe

__all__ = ["COLUMNS", "recipe_text", "synthesis_rows", "write_synthesis_csv"]

log = logging.getLogger(__name__)

COLUMNS = [
    "request", "candidate", "formula", "recipe", "phases", "rwp_percent", "yield", "novel", "known_as",
    "e_hull_computed", "e_hull_source",
]


def recipe_text(recipe: Recipe) -> str:
    """``1 Li2CO3 + 2 MnO2, 800 C, 12 h, air``."""
    pre = " + ".join(f"{p.amount:g} {p.formula}" for p in recipe.precursors)
    parts = [pre] if pre else []
    if recipe.temperature_c is not None:
        parts.append(f"{recipe.temperature_c:g} C")
    if recipe.time_h is not None:
        parts.append(f"{recipe.time_h:g} h")
    if recipe.atmosphere:
        parts.append(recipe.atmosphere)
    return ", ".join(parts)


def _sheet_recipe(obs: Observation) -> Recipe | None:
    """The recipe of the lab's sample sheet (``<request>.json`` among the raw files), if any."""
    for f in obs.raw_files:
        if f.endswith(".json") and Path(f).is_file():
            try:
                data = json.loads(Path(f).read_text())
                return Recipe.model_validate(data["recipe"]) if "recipe" in data else None
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("sample sheet %s: unreadable recipe (%s)", f, exc)
    return None


def synthesis_rows(observations: list[Observation], requests: dict[str, ExperimentRequest]) -> list[dict[str, Any]]:
    """One row (``COLUMNS``) per observation with a phase analysis, in ledger order."""
    rows = []
    for o in observations:
        pa = o.phase_analysis
        if pa is None:
            continue
        req = requests.get(o.request_id)
        cand = req.candidate if req is not None else None
        recipe = req.recipe if req is not None and req.recipe.precursors else _sheet_recipe(o)
        meta = cand.metadata if cand is not None else {}
        e_hull = meta.get("e_hull")
        novel = o.value("novel")
        rows.append({
            "request": o.request_id,
            "candidate": o.candidate_id,
            "formula": cand.formula if cand is not None else None,
            "recipe": recipe_text(recipe) if recipe is not None else "",
            "phases": "; ".join(f"{p.name} {p.weight_fraction:.2f}" for p in pa.phases),
            "rwp_percent": None if pa.rwp is None else round(100.0 * pa.rwp, 2),
            "yield": pa.target_fraction,
            "novel": None if novel is None else int(novel),
            "known_as": pa.target_known_as,
            "e_hull_computed": None if e_hull is None else float(e_hull),
            "e_hull_source": meta.get("e_hull_source") if e_hull is not None else None,
        })
    return rows


def write_synthesis_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """The rows as CSV (``COLUMNS``; empty cells for missing values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else r[k] for k in COLUMNS})
    return path
