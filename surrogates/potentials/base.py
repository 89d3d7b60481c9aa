"""What the MLIP plug-ins share: structure checks, ASE conversion and relaxation.

Relaxation minimises the energy over positions (and the cell, through ASE's
``FrechetCellFilter``) with FIRE until ``max_i |F_i| < fmax`` (eV/A; the filter folds the
stress into generalised forces) or ``steps`` is reached. A relaxation that diverges
(non-finite energy, atoms closer than ``min_distance``, the volume growing or shrinking
more than ``max_volume_ratio``-fold) or raises is returned with ``error`` set, never raised,
so that one bad structure cannot stop a batch.
"""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from loop.errors import StructureError
from loop.interfaces import Potential, PotentialResult, RelaxResult

__all__ = [
    "EV_A3_TO_GPA",
    "ASEPotential",
    "check_structure",
    "divergence",
    "min_distance",
    "to_atoms",
    "to_structure",
]

log = logging.getLogger(__name__)

EV_A3_TO_GPA = 160.21766208
"""1 eV/A^3 in GPa."""


def to_atoms(structure: Structure) -> Atoms:
    return AseAtomsAdaptor.get_atoms(structure)


def to_structure(atoms: Atoms) -> Structure:
    """A plain structure (lattice, species, coordinates; no calculator results as site properties)."""
    s = AseAtomsAdaptor.get_structure(atoms)
    return Structure(s.lattice, s.species, s.frac_coords)


def min_distance(structure: Structure) -> float:
    """Shortest interatomic distance (A) under periodic boundaries; ``inf`` for one atom far from images."""
    if len(structure) == 0:
        return math.inf
    dm = structure.distance_matrix
    if len(structure) > 1:
        d = dm[np.triu_indices(len(structure), k=1)].min()
    else:
        d = math.inf
    # an atom and its own periodic image: the shortest lattice vector
    return float(min(d, min(structure.lattice.abc)))


def check_structure(structure: Structure, supported: frozenset[int] | None, min_dist: float = 0.5) -> None:
    """Raise :class:`StructureError` saying what is wrong with a structure a potential cannot take."""
    if not isinstance(structure, Structure):
        raise StructureError(f"expected a pymatgen Structure, got {type(structure).__name__}")
    if len(structure) == 0:
        raise StructureError("structure has no sites")
    if not structure.is_ordered:
        raise StructureError("structure is disordered (partial occupancies); potentials need an ordered cell")
    if not math.isfinite(structure.volume) or structure.volume <= 1e-6:
        raise StructureError(f"structure has a zero-volume cell ({structure.volume:.3g} A^3)")
    if supported is not None:
        missing = sorted({el.symbol for el in structure.composition.elements if el.Z not in supported})
        if missing:
            raise StructureError(f"elements {missing} are not covered by the potential")
    d = min_distance(structure)
    if d < min_dist:
        raise StructureError(f"sites that are {d:.3f} A apart (< {min_dist} A): overlapping atoms")


class ASEPotential(Potential, abc.ABC):
    """A potential with a batched single-point path and an ASE calculator for relaxation.

    Subclasses implement :meth:`_predict_batch`, :meth:`calculator`, :meth:`descriptors`,
    ``supported_numbers`` and ``identity`` (name + model version, the hull's cache key).
    """

    max_volume_ratio: float = 5.0

    @property
    @abc.abstractmethod
    def identity(self) -> str:
        """Name and model version, e.g. ``chgnet-0.4.2-0.3.0``."""

    @property
    @abc.abstractmethod
    def supported_numbers(self) -> frozenset[int] | None:
        """Atomic numbers the model covers (None: all)."""

    @abc.abstractmethod
    def _predict_batch(self, structures: Sequence[Structure]) -> list[PotentialResult]:
        """Single points of valid structures, batched."""

    @abc.abstractmethod
    def calculator(self) -> Calculator:
        """An ASE calculator (energy eV, forces eV/A, stress eV/A^3) for relaxations."""

    def check(self, structure: Structure) -> None:
        check_structure(structure, self.supported_numbers)

    def check_all(self, structures: Sequence[Structure]) -> None:
        """:meth:`check` each structure; the error names the structure's index."""
        for i, s in enumerate(structures):
            try:
                self.check(s)
            except StructureError as exc:
                raise StructureError(f"structure {i}: {exc}") from None

    def predict(self, structures: Sequence[Structure]) -> list[PotentialResult]:
        """Energies (eV), forces ``n x 3`` (eV/A), stresses ``3 x 3`` (GPa, ASE sign: negative under compression), batched.

        Raises :class:`StructureError` naming the index of the first invalid structure.
        """
        for i, s in enumerate(structures):
            try:
                self.check(s)
            except StructureError as exc:
                raise StructureError(f"structure {i}: {exc}") from None
        if not structures:
            return []
        return self._predict_batch(list(structures))

    def energies_per_atom(self, structures: Sequence[Structure]) -> list[float]:
        """Energies per atom (eV/atom) only, batched: the cheap path for single-point benchmarks."""
        return [r.energy_per_atom for r in self.predict(structures)]

    def relax(
        self, structures: Sequence[Structure], *, fmax: float = 0.05, steps: int = 200, relax_cell: bool = True
    ) -> list[RelaxResult]:
        """Relax each structure; failures come back with ``error`` set (see module docs)."""
        calc = self.calculator()
        return [self._relax_one(s, calc, fmax=fmax, steps=steps, relax_cell=relax_cell) for s in structures]

    def relax_batch(
        self, structures: Sequence[Structure], *, fmax: float = 0.05, steps: int = 200, relax_cell: bool = True
    ) -> list[RelaxResult]:
        """Relax many structures per model call where the potential has a batched path; here, :meth:`relax`.

        A potential with a batched evaluator overrides this with
        :class:`~surrogates.potentials.batch_relax.BatchRelaxer` (same FIRE, same criterion).
        """
        return self.relax(structures, fmax=fmax, steps=steps, relax_cell=relax_cell)

    def _relax_one(self, structure: Structure, calc: Calculator, *, fmax: float, steps: int, relax_cell: bool) -> RelaxResult:
        from ase.filters import FrechetCellFilter
        from ase.optimize import FIRE

        try:
            self.check(structure)
        except StructureError as exc:
            return RelaxResult(structure=structure, energy=math.nan, converged=False, steps=0, error=str(exc))
        atoms = to_atoms(structure)
        atoms.calc = calc
        v0 = atoms.get_volume()
        energies: list[float] = []
        try:
            target = FrechetCellFilter(atoms) if relax_cell else atoms
            opt = FIRE(target, logfile=None)
            converged = False
            for step_converged in opt.irun(fmax=fmax, steps=steps):
                converged = bool(step_converged)
                e = float(atoms.get_potential_energy())
                energies.append(e)
                problem = self._diverged(atoms, e, v0)
                if problem:
                    final = to_structure(atoms)
                    return RelaxResult(final, e, False, opt.nsteps, energies, error=f"relaxation diverged: {problem}")
            nsteps = int(opt.nsteps)
            energy = float(atoms.get_potential_energy())
        except Exception as exc:  # a model or optimiser failure is a result, not a crash
            log.warning("relaxation of %s failed: %s", structure.composition.reduced_formula, exc)
            return RelaxResult(structure, math.nan, False, 0, energies, error=f"relaxation failed: {exc}")
        final = to_structure(atoms)
        error = None if converged else f"relaxation hit the step limit ({steps} steps, fmax {fmax} eV/A)"
        return RelaxResult(final, energy, bool(converged), nsteps, energies, error=error)

    def _diverged(self, atoms: Atoms, energy: float, v0: float) -> str | None:
        n = len(atoms)
        shortest = math.inf
        if n > 1 and math.isfinite(energy):
            shortest = float(atoms.get_all_distances(mic=True)[np.triu_indices(n, k=1)].min())
        return divergence(n, energy, float(atoms.get_volume()), v0, self.max_volume_ratio, shortest)


def divergence(n: int, energy: float, volume: float, v0: float, max_volume_ratio: float, shortest: float) -> str | None:
    """Why a relaxation step has diverged (energy ``eV`` of ``n`` atoms, volume vs ``v0``, shortest pair ``A``), or None."""
    if not math.isfinite(energy):
        return "non-finite energy"
    if energy / n < -50.0:
        return f"energy {energy / n:.1f} eV/atom is unphysical"
    if not (v0 / max_volume_ratio <= volume <= v0 * max_volume_ratio):
        return f"volume changed from {v0:.1f} to {volume:.1f} A^3"
    if shortest < 0.5:
        return f"atoms collapsed to {shortest:.2f} A apart"
    return None
