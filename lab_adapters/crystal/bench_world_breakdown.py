"""Where the screen's ``e_hull`` departs from the world's: ``crystaloop bench world --stage breakdown``.

``screen_vs_world_e_hull_mae`` is one number over random crystals of a whole chemical system.
The breakdown splits the same pairs (screen ``e_hull``, world ``e_hull``; eV/atom) by:

- **chemical subsystem** of the candidate (``Li-Mn``, ``Li-O``, ``Mn-O``, ``Li-Mn-O``): count,
  MAE, Spearman's rho, and the mean signed offset ``mean(E_hull,screen - E_hull,world)``. A subsystem whose
  error is mostly a common offset points to the hull (its references) rather than to the
  candidates: e.g. a binary with no known compound, whose hull is only the two elemental
  references, so that ``E_hull = E - x_A E_A - x_B E_B`` inherits any difference in how the two
  potentials place the elements;
- **distance from the hull**: candidates the world puts within ``near_hull`` (default 0.1
  eV/atom) of its hull, where a screen's error decides discoveries, and the rest;
- **hidden error**: the same split against the world without its hidden error;
- ``mae_minus_subsystem_offsets``: the MAE left once each subsystem's mean offset is removed (a
  diagnostic of how much is a common offset; not a figure of merit, since a screen cannot know
  the world's offsets);
- **elemental references**: the built-in prototype each hull uses per element, and its energy
  per atom; and, as a what-if, the figures when screen and world use the *same* prototype for
  each element (each side's energy of it from its own potential; :func:`same_reference_records`),
  once with the screen's choices and once with the world's. Neither is what campaigns do: each
  hull takes its own potential's lowest built-in prototype.

Pure functions over records, so they are tested without a potential.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Composition

__all__ = ["breakdown", "elemental_choices", "prototype_energies", "same_reference_records", "subsystem", "with_elemental_references"]


def subsystem(formula: str) -> str:
    """``Li-Mn-O`` style name of a formula's chemical system (elements sorted)."""
    return "-".join(sorted(el.symbol for el in Composition(formula).elements))


def _stats(pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    ok = [(a, b) for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
    if not ok:
        return {"n": 0, "mae": math.nan, "mean_offset": math.nan, "spearman": math.nan}
    d = np.array([a - b for a, b in ok])
    rho = math.nan
    if len(ok) >= 3:
        from scipy.stats import spearmanr

        rho = float(spearmanr([a for a, _ in ok], [b for _, b in ok]).statistic)
    return {"n": len(ok), "mae": float(np.mean(np.abs(d))), "mean_offset": float(np.mean(d)), "spearman": rho}


def breakdown(records: Iterable[dict[str, Any]], near_hull: float = 0.1) -> dict[str, Any]:
    """The split of the module docs. ``records``: dicts with ``formula``, ``screen``, ``world`` and
    (optionally) ``world_no_error`` (eV/atom)."""
    rows = [r for r in records if r.get("screen") is not None and r.get("world") is not None]
    nan = math.nan

    def pairs(rs: Iterable[dict[str, Any]], key: str = "world") -> list[tuple[float, float]]:
        return [(float(r["screen"]), float(r[key]) if r.get(key) is not None else nan) for r in rs]

    systems: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        systems.setdefault(subsystem(r["formula"]), []).append(r)
    by_system = {}
    for name, rs in sorted(systems.items()):
        s = _stats(pairs(rs))
        s0 = _stats(pairs(rs, "world_no_error"))
        by_system[name] = {**s, "mae_no_error": s0["mae"], "mean_offset_no_error": s0["mean_offset"]}
    # the MAE once each subsystem's own mean offset is taken out (a diagnostic)
    centred = [abs((float(r["screen"]) - float(r["world"])) - by_system[subsystem(r["formula"])]["mean_offset"]) for r in rows]
    near = [r for r in rows if float(r["world"]) < near_hull]
    far = [r for r in rows if float(r["world"]) >= near_hull]
    return {
        "all": _stats(pairs(rows)),
        "all_no_error": _stats(pairs(rows, "world_no_error")),
        "by_subsystem": by_system,
        "near_hull": {**_stats(pairs(near)), "threshold": near_hull},
        "near_hull_no_error": _stats(pairs(near, "world_no_error")),
        "far_from_hull": _stats(pairs(far)),
        "mae_minus_subsystem_offsets": float(np.mean(centred)) if centred else nan,
    }


def elemental_choices(phases: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """``{element: {"reference": name, "energy_per_atom": e}}`` of a hull's one-element phases (the stable one)."""
    best: dict[str, Any] = {}
    for ph in phases:
        comp = ph.composition
        if len(comp.elements) != 1:
            continue
        el = comp.elements[0].symbol
        if el not in best or ph.energy_per_atom < best[el].energy_per_atom:
            best[el] = ph
    return {el: {"reference": ph.name, "energy_per_atom": float(ph.energy_per_atom)} for el, ph in sorted(best.items())}


def prototype_energies(elements: Sequence[str], potential: Any, fmax: float = 0.1, steps: int = 60) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """``{element: {prototype: ReferencePhase}}``: every built-in elemental prototype relaxed with ``potential``
    (the candidates :mod:`surrogates.hull.elemental` picks the lowest of); molecular elements: the dimer only."""
    from surrogates.hull.elemental import BUILTIN_PREFIX
    from surrogates.hull.hull import ReferencePhase
    from surrogates.hull.prototypes import DIATOMIC, prototypes

    out: dict[str, dict[str, Any]] = {}
    for el in sorted(set(elements)):
        out[el] = {}
        for relax_cell in (True, False):
            group = [p for p in prototypes([el]) if p.relax_cell == relax_cell and (el not in DIATOMIC or p.name.startswith("dimer:"))]
            if not group:
                continue
            results = potential.relax([p.structure for p in group], fmax=fmax, steps=steps, relax_cell=relax_cell)
            for proto, res in zip(group, results, strict=True):
                if math.isfinite(res.energy):
                    name = f"{BUILTIN_PREFIX}{proto.name}"
                    out[el][proto.name.split(":")[0]] = ReferencePhase(name, res.structure, res.energy_per_atom, res.converged)
    return out


def with_elemental_references(hull: Any, chosen: dict[str, Any]) -> Any:  # noqa: ANN401 - Hull
    """``hull`` with its one-element phases replaced by ``chosen`` (``{element: ReferencePhase}``) for its elements."""
    from surrogates.hull.hull import Hull

    keep = [p for p in hull.phases if len(p.composition.elements) != 1 or p.composition.elements[0].symbol not in chosen]
    return Hull(hull.elements, keep + [chosen[el] for el in hull.elements if el in chosen], hull.potential)


def same_reference_records(
    records: Sequence[dict[str, Any]], screen_hull_of: Any, world_hull: Any,  # noqa: ANN401
    screen_protos: dict[str, dict[str, Any]], world_protos: dict[str, dict[str, Any]], choice: dict[str, str],
) -> list[dict[str, Any]]:
    """The records' e_hull on both sides recomputed with the *same* elemental prototype per element
    (``choice``: ``{element: "bcc"}``), each side's energy of it from its own potential. ``records`` need
    ``screen_energy`` and ``world_energy`` (eV/atom, on each hull's footing); ``screen_hull_of(elements)``
    gives the screen's hull of a subsystem."""
    s_refs = {el: screen_protos[el][k] for el, k in choice.items()}
    w_refs = {el: world_protos[el][k] for el, k in choice.items()}
    w_hull = with_elemental_references(world_hull, w_refs)
    s_hulls: dict[str, Any] = {}
    out = []
    for r in records:
        key = subsystem(r["formula"])
        if key not in s_hulls:
            s_hulls[key] = with_elemental_references(screen_hull_of(key.split("-")), s_refs)
        out.append({**r, "screen": s_hulls[key].e_above_hull(r["formula"], r["screen_energy"]),
                    "world": w_hull.e_above_hull(r["formula"], r["world_energy"]), "world_no_error": None})
    return out
