"""Shared, cached test data for the MLIP tests: CHGNet labels and a tiny MACE (built once per session)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Lattice, Structure

from loop.interfaces import PluginContext

torch.set_num_threads(1)


def rocksalt(a: float = 5.64) -> Structure:
    return Structure(Lattice.cubic(a), ["Na", "Cl"] * 4, [[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0], [0.5, 0, 0.5], [0, 0, 0.5], [0, 0.5, 0.5], [0.5, 0.5, 0.5]]).get_primitive_structure()


def cscl(a: float = 3.3) -> Structure:
    return Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def bcc_na(a: float = 4.2) -> Structure:
    return Structure(Lattice.cubic(a), ["Na", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def nacl_structures(n: int, seed: int, strain: float = 0.05, rattle: float = 0.1) -> list[Structure]:
    """Strained, rattled Na-Cl cells of 2 atoms (rocksalt, CsCl, bcc Na)."""
    rng = np.random.default_rng(seed)
    bases = [rocksalt(), cscl(), bcc_na()]
    out = []
    for i in range(n):
        s = bases[i % 3].copy()
        s.apply_strain(rng.uniform(-strain, strain, 3))
        for j in range(len(s)):
            s.translate_sites([j], rng.normal(0, rattle, 3), frac_coords=False)
        out.append(s)
    return out


@functools.lru_cache(maxsize=1)
def chgnet():
    from surrogates.potentials.chgnet import CHGNetPotential

    return CHGNetPotential(CHGNetPotential.Config(), PluginContext(work_dir=Path(tempfile.mkdtemp())))


@functools.lru_cache(maxsize=4)
def labelled(n: int, seed: int, strain: float = 0.05) -> tuple[list[Structure], list[float], list[np.ndarray]]:
    ss = nacl_structures(n, seed, strain=strain)
    res = chgnet().predict(ss)
    return ss, [r.energy for r in res], [r.forces for r in res]


@functools.lru_cache(maxsize=1)
def tiny_mace_dir() -> Path:
    """A tiny MACE trained for a few epochs on CHGNet labels, saved as weights + JSON."""
    from surrogates.potentials.mace_model import save_converted_model
    from surrogates.potentials.mace_train import build_mace, train

    ss, es, fs = labelled(24, 0)
    model = build_mace(ss, es)
    train(model, ss, es, fs, epochs=10, lr=1e-2)
    return save_converted_model(model, Path(tempfile.mkdtemp()) / "tiny_mace")
