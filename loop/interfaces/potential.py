"""The potential contract: energies, forces, relaxations and descriptors of structures.

Declared here so any stage (screen, simulated lab, generator reward) can get one through
the registry (group ``crystaloop.potentials``); implemented in ``surrogates/``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Structure

from loop.interfaces.plugin import Plugin

__all__ = ["Potential", "PotentialResult", "RelaxResult"]


@dataclass
class PotentialResult:
    """Single-point result. ``energy`` in eV (whole cell), forces eV/A ``n x 3``, stress GPa ``3 x 3``."""

    energy: float
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    magmoms: np.ndarray | None = None
    n_atoms: int = 0

    @property
    def energy_per_atom(self) -> float:
        return self.energy / max(self.n_atoms, 1)


@dataclass
class RelaxResult:
    """Relaxation result: the final structure and energy; ``converged`` is False at the step limit."""

    structure: Structure
    energy: float
    converged: bool
    steps: int
    trajectory_energies: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def energy_per_atom(self) -> float:
        return self.energy / max(len(self.structure), 1)


class Potential(Plugin, abc.ABC):
    """A machine-learned interatomic potential (batched)."""

    @abc.abstractmethod
    def predict(self, structures: Sequence[Structure]) -> list[PotentialResult]:
        """Single points."""

    @abc.abstractmethod
    def relax(
        self, structures: Sequence[Structure], *, fmax: float = 0.05, steps: int = 200, relax_cell: bool = True
    ) -> list[RelaxResult]:
        """Relax positions (and cell) until ``max |F| < fmax`` or ``steps``."""

    @abc.abstractmethod
    def descriptors(self, structures: Sequence[Structure]) -> np.ndarray:
        """Per-structure descriptor vectors, shape ``n x d``."""
