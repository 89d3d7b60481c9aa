"""Elemental references: the lowest-energy built-in elemental prototype under a potential.

When a user gives no elemental phase for an element, its reference is the lowest energy per
atom among the built-in elemental prototypes of :mod:`surrogates.hull.prototypes` (fcc,
bcc, hcp, simple cubic and diamond), each relaxed with the potential. For the molecular
elements (H, N, O, F, Cl, Br, I) it is the dimer in a box alone: their condensed prototypes
are unphysical, and a potential can put one below the molecule (CHGNet r2SCAN puts diamond O
below O2), which would make a solid "oxygen" a stable phase. The result is labelled ``builtin:<prototype>:<element>`` so that logs,
reports and MLflow can tell it from a user's reference. Relaxed references are cached as
JSON per (potential identity, element, fmax, steps).

>>> refs = elemental_references(["Li", "O"], potential, cache)
>>> refs["O"].name
'builtin:dimer:O2'
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

from loop.files import atomic_write
from loop.interfaces import Potential
from surrogates.hull.hull import ReferencePhase, potential_identity
from surrogates.hull.prototypes import DIATOMIC, prototypes

__all__ = ["BUILTIN_PREFIX", "elemental_references"]

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"


def _relax_element(element: str, potential: Potential, fmax: float, steps: int) -> ReferencePhase:
    best: ReferencePhase | None = None
    for relax_cell in (True, False):
        group = [p for p in prototypes([element]) if p.relax_cell == relax_cell and (element not in DIATOMIC or p.name.startswith("dimer:"))]
        if not group:
            continue
        for proto, res in zip(group, potential.relax([p.structure for p in group], fmax=fmax, steps=steps, relax_cell=relax_cell), strict=True):
            step_limit = res.error is not None and res.error.startswith("relaxation hit the step limit")
            if (res.error and not step_limit) or not math.isfinite(res.energy):
                log.debug("elemental prototype %s dropped: %s", proto.name, res.error)
                continue
            if best is None or res.energy_per_atom < best.energy_per_atom:
                best = ReferencePhase(f"{BUILTIN_PREFIX}{proto.name}", res.structure, res.energy_per_atom, res.converged)
    if best is None:
        from loop.errors import StructureError

        raise StructureError(f"no built-in elemental prototype of {element} could be relaxed with {potential_identity(potential)}")
    return best


def elemental_references(
    elements: Sequence[str], potential: Potential, cache_dir: Path | str | None = None, *, fmax: float = 0.05, steps: int = 150
) -> dict[str, ReferencePhase]:
    """``{element: lowest-energy built-in elemental prototype}`` relaxed with ``potential`` (cached)."""
    ident = potential_identity(potential)
    out: dict[str, ReferencePhase] = {}
    for el in sorted(set(elements)):
        kind = "molecule" if el in DIATOMIC else "solid"
        path = Path(cache_dir) / f"element-{ident}-{el}-{kind}-{fmax:g}-{steps}.json" if cache_dir is not None else None
        if path is not None and path.is_file():
            try:
                out[el] = ReferencePhase.from_dict(json.loads(path.read_text()))
                continue
            except (ValueError, KeyError) as exc:
                log.warning("ignoring unreadable elemental reference cache %s: %s", path, exc)
        out[el] = _relax_element(el, potential, fmax, steps)
        log.info("elemental reference of %s: %s (%.4f eV/atom, built-in prototype)", el, out[el].name, out[el].energy_per_atom)
        if path is not None:
            atomic_write(path, json.dumps(out[el].as_dict()))
    return out
