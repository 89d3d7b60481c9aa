"""Batched relaxation: ASE's FIRE with the Frechet cell filter, run for a whole batch at once.

Every structure follows the algorithm of the unbatched path (:meth:`ASEPotential.relax`:
``FIRE(FrechetCellFilter(atoms))``, ASE's defaults) step for step, so both converge to the
same minimum; what changes is that one call of a batched evaluator gives the energies,
forces and stresses of all structures in flight, instead of one model call per structure.

The degrees of freedom of structure ``i`` (``n`` atoms) are those of the filter: positions in
the undeformed cell ``u = r F^-T`` (``n x 3``) and the scaled log of the deformation gradient
``X = n log F`` (``3 x 3``), ``F = expm(X / n)``, with the cell ``C = C0 F^T`` and ``r = u F^T``.
The generalised forces are ``f F`` for the atoms and, for the cell,
``G_X = L_exp(log F^T, W F^-T) / n`` with the virial ``W = -V sym(sigma)`` and ``L_exp`` the
Frechet derivative of the matrix exponential (computed for the batch as the upper-right
block of ``expm([[A, W F^-T], [0, A]])``, ``A = log F^T``). A structure has converged when
every row of its ``(n + 3) x 3`` generalised forces is shorter than ``fmax`` (the filter's
criterion, ASE's; the cell rows are absent with ``relax_cell=False``).

FIRE (Bitzek et al. 2006, as in ``ase.optimize.FIRE``): per structure, with ``g`` the
generalised forces and ``v`` the velocity, ``v <- (1 - a) v + a |v| g / |g|`` while
``g . v > 0`` (after ``Nmin`` such steps ``dt <- min(1.1 dt, dtmax)``, ``a <- 0.99 a``), else
``v <- 0``, ``dt <- dt / 2``, ``a <- a0``; then ``v <- v + dt g``, ``dx = dt v`` capped at
``maxstep`` in norm. The batch keeps ``batch_size`` structures in flight: a structure that
converges, hits ``steps`` or diverges leaves and the next one of the queue takes its slot.

>>> relaxer = BatchRelaxer(evaluate, batch_size=32)
>>> results = relaxer.relax(structures, fmax=0.05, steps=200)
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from pymatgen.core import Lattice, Structure

from loop.errors import StructureError
from loop.interfaces import RelaxResult
from surrogates.potentials.base import divergence

__all__ = ["BatchEvaluator", "BatchRelaxer", "Evaluation", "frechet_cell_forces"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """One structure's energy (eV), forces ``n x 3`` (eV/A) and stress ``3 x 3`` (eV/A^3, ASE's sign)."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray


BatchEvaluator = Callable[[Sequence[Structure]], list[Evaluation]]
"""Energies, forces and stresses of many structures in one call (the batched model)."""

# ase.optimize.FIRE's defaults
_DT, _MAXSTEP, _DTMAX, _NMIN, _FINC, _FDEC, _ASTART, _FA = 0.1, 0.2, 1.0, 5, 1.1, 0.5, 0.1, 0.99


def frechet_cell_forces(log_f: np.ndarray, virial: np.ndarray) -> np.ndarray:
    """Generalised forces on ``log F`` for a batch: ``L_exp(log F^T, W F^-T)``, shapes ``b x 3 x 3``.

    ``log_f`` are the logs of the deformation gradients, ``virial`` the virials ``-V sym(sigma)``.
    Equals ASE's ``sum(expm_frechet(log F, E_mn) * W F^-T)`` for every direction ``E_mn``.
    """
    lf = torch.as_tensor(log_f, dtype=torch.float64)
    f = torch.linalg.matrix_exp(lf)
    grad = torch.as_tensor(virial, dtype=torch.float64) @ torch.linalg.inv(f.transpose(1, 2))
    a = lf.transpose(1, 2)
    block = torch.zeros(len(lf), 6, 6, dtype=torch.float64)
    block[:, :3, :3] = a
    block[:, 3:, 3:] = a
    block[:, :3, 3:] = grad
    return torch.linalg.matrix_exp(block)[:, :3, 3:].numpy()


@dataclass
class _Slot:
    """One structure in flight: the filter's coordinates and FIRE's state."""

    index: int
    species: list
    cell0: np.ndarray
    u: np.ndarray
    relax_cell: bool
    v0: float
    x_cell: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    vel: np.ndarray | None = None
    dt: float = _DT
    a: float = _ASTART
    n_pos: int = 0
    nsteps: int = 0
    energies: list[float] = field(default_factory=list)

    @classmethod
    def start(cls, index: int, structure: Structure, relax_cell: bool) -> _Slot:
        return cls(index, list(structure.species), structure.lattice.matrix.copy(), structure.cart_coords.copy(),
                   relax_cell, float(structure.volume))

    @property
    def n(self) -> int:
        return len(self.species)

    def deformation(self) -> np.ndarray:
        """``F = expm(X / n)`` (identity with a fixed cell)."""
        if not self.relax_cell:
            return np.eye(3)
        return torch.linalg.matrix_exp(torch.as_tensor(self.x_cell / self.n)).numpy()

    def structure(self, f: np.ndarray) -> Structure:
        cell = self.cell0 @ f.T
        return Structure(Lattice(cell), self.species, self.u @ f.T, coords_are_cartesian=True)

    def fire_step(self, g: np.ndarray) -> None:
        """One ``ase.optimize.FIRE.step`` on the generalised forces ``g`` (rows: atoms, then cell)."""
        if self.vel is None:
            self.vel = np.zeros_like(g)
        else:
            vf = float(np.vdot(g, self.vel))
            if vf > 0.0:
                self.vel = (1.0 - self.a) * self.vel + self.a * g / math.sqrt(float(np.vdot(g, g))) * math.sqrt(
                    float(np.vdot(self.vel, self.vel)))
                if self.n_pos > _NMIN:
                    self.dt = min(self.dt * _FINC, _DTMAX)
                    self.a *= _FA
                self.n_pos += 1
            else:
                self.vel = np.zeros_like(g)
                self.a = _ASTART
                self.dt *= _FDEC
                self.n_pos = 0
        self.vel = self.vel + self.dt * g
        dr = self.dt * self.vel
        norm = math.sqrt(float(np.vdot(dr, dr)))
        if norm > _MAXSTEP:
            dr = _MAXSTEP * dr / norm
        self.u = self.u + dr[: self.n]
        if self.relax_cell:
            self.x_cell = self.x_cell + dr[self.n :]


class BatchRelaxer:
    """Relax structures ``batch_size`` at a time with one ``evaluate`` call per FIRE step (module docs).

    ``check`` raises :class:`StructureError` for a structure the model cannot take (its result
    then carries the error, as in the unbatched path). ``max_volume_ratio`` bounds the volume
    change before a relaxation counts as diverged. After :meth:`relax`, ``stats`` holds
    ``evaluate_s`` (model calls), ``optimizer_s`` (the filter and FIRE), ``calls`` and
    ``structure_steps`` (evaluations summed over structures).
    """

    def __init__(
        self,
        evaluate: BatchEvaluator,
        *,
        batch_size: int = 32,
        check: Callable[[Structure], None] | None = None,
        max_volume_ratio: float = 5.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.evaluate = evaluate
        self.batch_size = batch_size
        self.check = check
        self.max_volume_ratio = max_volume_ratio
        self.stats: dict[str, float] = {}

    def _evaluate(self, structures: list[Structure]) -> list[Evaluation | str]:
        """The batch in one call; on failure each structure alone, so one bad structure fails alone."""
        try:
            return list(self.evaluate(structures))
        except Exception as exc:  # isolate the structure that breaks the batch
            log.warning("batched evaluation of %d structures failed (%s); evaluating them one by one", len(structures), exc)
        out: list[Evaluation | str] = []
        for s in structures:
            try:
                out.append(self.evaluate([s])[0])
            except Exception as exc:
                out.append(f"relaxation failed: {exc}")
        return out

    def relax(
        self, structures: Sequence[Structure], *, fmax: float = 0.05, steps: int = 200, relax_cell: bool = True
    ) -> list[RelaxResult]:
        """One :class:`RelaxResult` per structure, in order; failures carry ``error`` and never raise."""
        if fmax <= 0:
            raise ValueError(f"fmax must be > 0 eV/A, got {fmax}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        structures = list(structures)
        for i, s in enumerate(structures):
            if not isinstance(s, Structure):
                raise StructureError(f"structure {i}: expected a pymatgen Structure, got {type(s).__name__}")
        results: list[RelaxResult | None] = [None] * len(structures)
        queue = deque(range(len(structures)))
        active: list[_Slot] = []
        t_eval = t_opt = 0.0
        calls = evals = 0
        while queue or active:
            while queue and len(active) < self.batch_size:
                i = queue.popleft()
                try:
                    if self.check is not None:
                        self.check(structures[i])
                except StructureError as exc:
                    results[i] = RelaxResult(structure=structures[i], energy=math.nan, converged=False, steps=0, error=str(exc))
                    continue
                active.append(_Slot.start(i, structures[i], relax_cell))
            if not active:
                break
            t0 = time.perf_counter()
            fs = [s.deformation() for s in active]
            current = [s.structure(f) for s, f in zip(active, fs, strict=True)]
            t1 = time.perf_counter()
            outs = self._evaluate(current)
            t2 = time.perf_counter()
            calls += 1
            evals += len(active)
            gen = self._generalised_forces(active, fs, current, outs)
            still: list[_Slot] = []
            for slot, s, out, g in zip(active, current, outs, gen, strict=True):
                done = self._advance(slot, s, out, g, fmax, steps)
                if done is None:
                    still.append(slot)
                else:
                    results[slot.index] = done
            active = still
            t_opt += (t1 - t0) + (time.perf_counter() - t2)
            t_eval += t2 - t1
        self.stats = {"evaluate_s": t_eval, "optimizer_s": t_opt, "calls": float(calls), "structure_steps": float(evals)}
        return [r for r in results if r is not None]

    def _generalised_forces(
        self, active: list[_Slot], fs: list[np.ndarray], current: list[Structure], outs: list[Evaluation | str]
    ) -> list[np.ndarray | None]:
        """The filter's ``(n + 3) x 3`` forces per slot (``n x 3`` with a fixed cell); None for a failed evaluation."""
        cells = [k for k, (slot, out) in enumerate(zip(active, outs, strict=True)) if slot.relax_cell and isinstance(out, Evaluation)]
        cell_forces: dict[int, np.ndarray] = {}
        if cells:
            logs = np.stack([active[k].x_cell / active[k].n for k in cells])
            virials = []
            for k in cells:
                sigma = np.asarray(outs[k].stress, dtype=float)  # type: ignore[union-attr]
                virials.append(-current[k].volume * 0.5 * (sigma + sigma.T))
            for k, gc in zip(cells, frechet_cell_forces(logs, np.stack(virials)), strict=True):
                cell_forces[k] = gc / active[k].n
        gen: list[np.ndarray | None] = []
        for k, (slot, out) in enumerate(zip(active, outs, strict=True)):
            if not isinstance(out, Evaluation):
                gen.append(None)
                continue
            f_atoms = np.asarray(out.forces, dtype=float) @ fs[k]
            gen.append(np.vstack([f_atoms, cell_forces[k]]) if slot.relax_cell else f_atoms)
        return gen

    def _advance(
        self, slot: _Slot, current: Structure, out: Evaluation | str, g: np.ndarray | None, fmax: float, steps: int
    ) -> RelaxResult | None:
        """Record the step; the result when the slot is done (converged, diverged, failed, out of steps), else step."""
        if not isinstance(out, Evaluation) or g is None:
            return RelaxResult(current, math.nan, False, slot.nsteps, slot.energies, error=str(out))
        energy = float(out.energy)
        slot.energies.append(energy)
        problem = divergence(slot.n, energy, current.volume, slot.v0, self.max_volume_ratio, _shortest_pair(current))
        if problem:
            return RelaxResult(current, energy, False, slot.nsteps, slot.energies, error=f"relaxation diverged: {problem}")
        if float(np.sqrt((g**2).sum(axis=1)).max()) < fmax:
            return RelaxResult(current, energy, True, slot.nsteps, slot.energies)
        if slot.nsteps >= steps:
            return RelaxResult(current, energy, False, slot.nsteps, slot.energies,
                               error=f"relaxation hit the step limit ({steps} steps, fmax {fmax} eV/A)")
        slot.fire_step(g)
        slot.nsteps += 1
        return None


def _shortest_pair(structure: Structure) -> float:
    """Shortest distance between two atoms (periodic); ``inf`` for one atom, as in the unbatched check."""
    n = len(structure)
    if n < 2:
        return math.inf
    return float(structure.distance_matrix[np.triu_indices(n, k=1)].min())
