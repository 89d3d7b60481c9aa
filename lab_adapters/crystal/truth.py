"""Ground truth of a candidate in a world: what the simulated lab's sample "really" is.

For a candidate structure relaxed with the world's potential (positions and cell, FIRE):

- ``energy_per_atom`` ``E = E_pot + C + delta`` (eV/atom: the potential's energy, the world's
  oxidation-state correction and its hidden error, :meth:`World.energy_per_atom`),
  ``formation_energy`` ``E - sum_el x_el mu_el`` and ``e_hull`` (eV/atom, negative below the
  world's hull) from :class:`surrogates.hull.Hull`; ``model_e_hull`` is the same without the
  hidden error (``E_pot + C`` on :attr:`World.model_hull`), for ``crystaloop bench world`` only;
- ``density`` (g/cm^3) of the relaxed cell;
- ``magmom``: mean magnetic moment ``sum_i |m_i| / N`` (mu_B/atom) where the potential
  predicts site moments (CHGNet does), else None;
- ``bulk_modulus`` ``B0`` (GPa): a Birch-Murnaghan fit (pymatgen ``EOS``) of single-point
  energies of the relaxed cell scaled isotropically to volumes ``V0 (1 + s)`` for
  ``s`` in ``eos_strains`` (internal coordinates frozen, so ``B0`` is the unrelaxed-ion value).

These are the lab's private truth: the lab uses ``e_hull`` to decide what forms, and never
reports an energy as a measurement. Results are cached per candidate id as JSON in ``<world dir>/truth/<settings>/<id>.json``, with
the potential's own energy, so a change of the world's energy model on top of the same
relaxation (:attr:`World.energy_tag`) rescores the cached truth instead of relaxing again.

:func:`ground_truths` computes many at once: the relaxations the cache lacks run in one
batched call (:meth:`~loop.interfaces.Potential.relax_batch`: the same FIRE and Frechet cell
filter to the same ``fmax`` within the same ``steps``, the structures sharing each model pass),
the single points of all of them in one ``predict``, and the energies of all their EOS cells
in one energy-only call where the potential has one (``energies_per_atom``).
``relax_mode: sequential`` relaxes one structure at a time (the unbatched path). The mode is
not part of the cache key: both paths run the same optimizer to the same settings and agree to
float32 rounding on structures with a clear minimum (docs/scale-plan.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from lab_adapters.crystal.world import World
from loop.files import atomic_write
from loop.interfaces import Potential
from loop.records import Candidate
from surrogates.potentials.base import EV_A3_TO_GPA

__all__ = ["CandidateTruth", "TruthConfig", "bulk_modulus", "ground_truth", "ground_truths"]

log = logging.getLogger(__name__)


class TruthConfig(BaseModel):
    """How the ground truth of a candidate is computed."""

    model_config = ConfigDict(extra="forbid")

    fmax: float = Field(0.05, gt=0, description="candidate relaxation force threshold, eV/A")
    steps: int = Field(200, ge=1, description="candidate relaxation step limit")
    eos_strains: list[float] = Field([-0.06, -0.03, 0.0, 0.03, 0.06], min_length=4, description="volume strains of the EOS fit")
    relax_mode: Literal["batched", "sequential"] = Field(
        "batched", description="batched: the relaxations of one call share each model pass; sequential: one at a time"
    )

    def key(self) -> str:
        """The cache key: the settings of the result (``relax_mode`` is how it is computed, not what)."""
        return hashlib.sha256(self.model_dump_json(exclude={"relax_mode"}).encode()).hexdigest()[:10]


@dataclass
class CandidateTruth:
    """The true (simulated) properties of one candidate; ``error`` set when it could not be relaxed."""

    candidate_id: str
    formula: str
    structure: dict[str, Any] | None
    energy_per_atom: float | None = None
    formation_energy: float | None = None
    e_hull: float | None = None
    density: float | None = None
    magmom: float | None = None
    bulk_modulus: float | None = None
    model_e_hull: float | None = None
    converged: bool = False
    error: str | None = None
    potential_energy_per_atom: float | None = None
    energy_tag: str | None = None

    @property
    def relaxed(self) -> Structure | None:
        return Structure.from_dict(self.structure) if self.structure else None

    def properties(self) -> dict[str, float]:
        """The finite numeric properties, by name."""
        names = ("energy_per_atom", "formation_energy", "e_hull", "density", "magmom", "bulk_modulus")
        return {n: float(v) for n in names if (v := getattr(self, n)) is not None and math.isfinite(v)}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CandidateTruth:
        return cls(**d)


def eos_cells(structure: Structure, strains: Sequence[float]) -> list[Structure]:
    """The relaxed cell scaled isotropically to volumes ``V0 (1 + s)``, internal coordinates frozen."""
    v0 = structure.volume
    cells = []
    for s in strains:
        c = structure.copy()
        c.scale_lattice(v0 * (1.0 + s))
        cells.append(c)
    return cells


def bulk_modulus(structure: Structure, potential: Potential | None, strains: Sequence[float],
                 energies: Sequence[float] | None = None) -> float | None:
    """``B0`` in GPa from a Birch-Murnaghan fit over isotropically strained cells (see module docs).

    ``energies`` (eV, one per strain) when the cells were evaluated already, else ``potential`` does it.
    """
    from pymatgen.analysis.eos import EOS

    cells = eos_cells(structure, strains)
    try:
        if energies is None:
            assert potential is not None
            energies = [r.energy for r in potential.predict(cells)]
        fit = EOS("birch_murnaghan").fit([c.volume for c in cells], list(energies))
        b0 = float(fit.b0) * EV_A3_TO_GPA
    except Exception as exc:  # a failed fit is a missing property, not a crash
        log.warning("EOS fit of %s failed: %s", structure.composition.reduced_formula, exc)
        return None
    return b0 if math.isfinite(b0) and 0 < b0 < 2000 else None


def _cache_path(world: World, config: TruthConfig, candidate_id: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in candidate_id)
    return world.directory / "truth" / config.key() / f"{safe}.json"


def ground_truth(candidate: Candidate, world: World, potential: Potential, config: TruthConfig | None = None) -> CandidateTruth:
    """The candidate's truth in ``world`` (cached on disk by candidate id)."""
    return ground_truths([candidate], world, potential, config)[0]


def ground_truths(
    candidates: Sequence[Candidate], world: World, potential: Potential, config: TruthConfig | None = None
) -> list[CandidateTruth]:
    """The truths of ``candidates`` in ``world``, in order; what the cache lacks is computed in one batch (module docs)."""
    cfg = config or TruthConfig()
    out: dict[str, CandidateTruth] = {}
    todo: dict[str, Candidate] = {}
    for c in candidates:
        if c.id in out or c.id in todo:
            continue
        cached = _read_cache(_cache_path(world, cfg, c.id), world)
        if cached is None:
            todo[c.id] = c
            continue
        if cached.energy_tag != world.energy_tag and cached.error is None:
            cached = _scored(cached, world)
            _write_cache(_cache_path(world, cfg, c.id), cached)
        out[c.id] = cached
    for truth in _compute_many(list(todo.values()), world, potential, cfg):
        _write_cache(_cache_path(world, cfg, truth.candidate_id), truth)
        out[truth.candidate_id] = truth
    return [out[c.id] for c in candidates]


def _read_cache(path: Path, world: World) -> CandidateTruth | None:
    """A cached truth that needs no relaxation (maybe to be rescored), or None."""
    if not path.is_file():
        return None
    try:
        cached = CandidateTruth.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        log.warning("ignoring unreadable truth cache %s: %s", path, exc)
        return None
    if cached.error is not None or cached.energy_tag == world.energy_tag:
        return cached
    if cached.potential_energy_per_atom is not None and cached.relaxed is not None:
        return cached
    return None


def _write_cache(path: Path, truth: CandidateTruth) -> None:
    atomic_write(path, json.dumps(truth.as_dict()))


def _compute_many(candidates: list[Candidate], world: World, potential: Potential, cfg: TruthConfig) -> list[CandidateTruth]:
    """Relax (batched), then one ``predict`` for every relaxed cell and its EOS cells; one truth per candidate."""
    out: list[CandidateTruth] = []
    starts: list[tuple[Candidate, str, Structure]] = []
    for c in candidates:
        start = c.relaxed_structure or c.structure
        formula = c.formula or (start.composition.reduced_formula if start is not None else "?")
        if start is None:
            out.append(CandidateTruth(c.id, formula, None, error="candidate has no structure"))
        elif not world.covers(start.composition):
            outside = sorted({e.symbol for e in start.composition.elements} - set(world.elements))
            out.append(CandidateTruth(c.id, formula, None, error=f"elements {outside} are outside the world {'-'.join(world.elements)}"))
        else:
            starts.append((c, formula, start))
    if not starts:
        return out
    structures = [s for _, _, s in starts]
    relax = getattr(potential, "relax_batch", potential.relax) if cfg.relax_mode == "batched" else potential.relax
    t0 = time.perf_counter()
    results = relax(structures, fmax=cfg.fmax, steps=cfg.steps)
    log.info("truth: %d relaxation(s) (%s) in %.1f s", len(structures), cfg.relax_mode, time.perf_counter() - t0)
    relaxed: list[tuple[Candidate, Any]] = []
    for (c, formula, _), res in zip(starts, results, strict=True):
        step_limit = res.error is not None and res.error.startswith("relaxation hit the step limit")
        if (res.error and not step_limit) or not math.isfinite(res.energy):
            out.append(CandidateTruth(c.id, formula, None, error=res.error or "non-finite energy"))
        else:
            relaxed.append((c, res))
    # one predict for the relaxed cells (magnetic moments), one for all EOS cells (energies only
    # where the potential can skip forces: the same energies without the gradient passes)
    k = len(cfg.eos_strains)
    eos = [c for _, res in relaxed for c in eos_cells(res.structure, cfg.eos_strains)]
    try:
        singles: list[Any] | None = potential.predict([res.structure for _, res in relaxed]) if relaxed else []
        if hasattr(potential, "energies_per_atom"):
            eos_e = [e * len(c) for e, c in zip(potential.energies_per_atom(eos), eos, strict=True)] if eos else []
        else:
            eos_e = [r.energy for r in potential.predict(eos)] if eos else []
    except Exception as exc:  # one bad cell: each candidate on its own, as the unbatched path does
        log.warning("batched single points of %d truths failed (%s): one at a time", len(relaxed), exc)
        singles = None
    for i, (c, res) in enumerate(relaxed):
        s = res.structure
        if singles is not None:
            single = singles[i]
            b0 = bulk_modulus(s, None, cfg.eos_strains, energies=eos_e[i * k : (i + 1) * k])
        else:
            single, b0 = potential.predict([s])[0], bulk_modulus(s, potential, cfg.eos_strains)
        magmom = None
        if single.magmoms is not None and len(single.magmoms) == len(s):
            magmom = float(np.abs(np.asarray(single.magmoms, dtype=float)).sum() / len(s))
        truth = CandidateTruth(
            candidate_id=c.id,
            formula=s.composition.reduced_formula,
            structure=s.as_dict(),
            density=float(s.density),
            magmom=magmom,
            bulk_modulus=b0,
            converged=res.converged,
            potential_energy_per_atom=float(res.energy_per_atom),
        )
        out.append(_scored(truth, world))
    order = {c.id: i for i, c in enumerate(candidates)}
    return sorted(out, key=lambda t: order[t.candidate_id])


def _scored(truth: CandidateTruth, world: World) -> CandidateTruth:
    """``truth`` with its world energies from its potential energy under the world's energy model."""
    s = truth.relaxed
    assert s is not None and truth.potential_energy_per_atom is not None
    comp = s.composition
    e = world.energy_per_atom(s, truth.potential_energy_per_atom)
    truth.energy_per_atom = e
    truth.formation_energy = world.hull.formation_energy_per_atom(comp, e)
    truth.e_hull = world.hull.e_above_hull(comp, e)
    truth.model_e_hull = world.model_hull.e_above_hull(comp, world.model_energy_per_atom(s, truth.potential_energy_per_atom))
    truth.energy_tag = world.energy_tag
    return truth
