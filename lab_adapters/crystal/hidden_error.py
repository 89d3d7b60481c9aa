"""The world's hidden error: a seeded, smooth function over composition and structure.

A universal MLIP misses DFT by tens of meV/atom: on the WBM test set of Matbench Discovery
(Riebesell et al., Nat. Mach. Intell. 7, 836 (2025)) the mean absolute error of the energy
above hull is about 0.02 eV/atom for the best models and 0.06-0.07 eV/atom for CHGNet and
M3GNet. The simulated world adds such an error on top of its own potential, so that a
screen's potential cannot be "right" by sharing the world's physics.

The error is one draw of a Gaussian process with an RBF kernel of variance ``sigma^2`` and
length scale ``l`` over a descriptor ``d(s)``, written with ``M`` random Fourier features
(Rahimi & Recht, NIPS 2007):

    delta(s) = sigma * sqrt(2 / M) * sum_m a_m cos(w_m . d(s) / l + b_m),
    a_m ~ N(0, 1),  w_m ~ N(0, I),  b_m ~ U(0, 2 pi),

drawn once from ``seed`` and the world's elements. ``d(s)`` holds the atomic fractions of
the world's elements and four structure terms (volume per atom / 20 A^3, shortest bond /
3 A, mean coordination within 1.2 x the shortest bond / 12, packing fraction of atomic
radii), so polymorphs of one composition get different errors while near-identical
structures get nearly the same one. For a Gaussian, ``MAE = sigma sqrt(2 / pi)``: the
default ``sigma = 0.05`` eV/atom gives ``MAE ~ 0.04`` eV/atom, between the best MLIPs and
CHGNet on Matbench Discovery.

This module lives with the simulated lab; no screen, ranker or estimator imports it
(``tests/lab_adapters/test_world_privacy.py`` fails if one does).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Element, Structure

__all__ = ["HiddenError", "HiddenErrorConfig"]


class HiddenErrorConfig(BaseModel):
    """Size and smoothness of the world's hidden error."""

    model_config = ConfigDict(extra="forbid")

    sigma: float = Field(0.05, ge=0, description="standard deviation of the error, eV/atom (MAE = 0.8 sigma)")
    length_scale: float = Field(0.3, gt=0, description="RBF length scale over the descriptor")
    features: int = Field(256, ge=8, description="random Fourier features")
    seed: int = Field(0, description="seed of the draw (with the world's elements)")


def _radius(symbol: str) -> float:
    el = Element(symbol)
    r = el.atomic_radius or el.atomic_radius_calculated
    return float(r) if r else 1.5


class HiddenError:
    """``delta(structure)`` in eV/atom (see module docs)."""

    def __init__(self, config: HiddenErrorConfig, elements: Sequence[str]) -> None:
        self._config = config
        self._elements = sorted(set(elements))
        digest = hashlib.sha256(f"{config.seed}|{'-'.join(self._elements)}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        dim = len(self._elements) + 4
        self._w = rng.normal(size=(config.features, dim))
        self._b = rng.uniform(0.0, 2 * math.pi, config.features)
        self._a = rng.normal(size=config.features)

    def descriptor(self, structure: Structure) -> np.ndarray:
        comp = structure.composition
        fractions = [comp.get_atomic_fraction(el) for el in self._elements]
        n = len(structure)
        dm = structure.distance_matrix + np.diag(np.full(n, np.inf)) if n > 1 else np.full((1, 1), np.inf)
        shortest = float(min(dm.min(), min(structure.lattice.abc)))
        neighbours = structure.get_all_neighbors(1.2 * shortest)
        coordination = float(np.mean([len(nb) for nb in neighbours]))
        packing = sum(4 / 3 * math.pi * _radius(site.specie.symbol) ** 3 for site in structure) / structure.volume
        return np.array([*fractions, structure.volume / n / 20.0, shortest / 3.0, coordination / 12.0, packing])

    def __call__(self, structure: Structure) -> float:
        cfg = self._config
        if cfg.sigma == 0:
            return 0.0
        d = self.descriptor(structure)
        phase = self._w @ d / cfg.length_scale + self._b
        return float(cfg.sigma * math.sqrt(2.0 / cfg.features) * (self._a @ np.cos(phase)))
