"""Synthetic pools in the shape of the Liang et al. (2021) data, for checking a ranker off the shipped sets.

``crystaloop bench synthetic-pools DIR`` writes three CSVs (inputs then the objective in the
last column, one row per replicate, objective maximised), each built to probe one way real
pool data differs from the shipped sets:

- ``hartmann3.csv``: Hartmann-3 (a smooth multimodal function on the unit cube, inputs scaled
  to 0-10), 150 designs, 1-3 replicates, noise sd 0.1. Inputs already on the right scale.
- ``ackley4.csv``: negated Ackley on a 5-level grid in [-2, 2]^4, 200 designs, 2 replicates,
  noise sd 0.3. Rugged, grid-valued inputs like a designed experiment.
- ``logscale6.csv``: 6 inputs drawn log-uniformly over three decades (concentrations, rates),
  objective a smooth function of their logarithms, 180 designs, 1-2 replicates, noise sd 0.2.
  Inputs whose natural scale is not the measured one.

The functions and noise are fixed by ``seed``, so the files are reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_synthetic_pools"]

_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H3_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann3(x: np.ndarray) -> np.ndarray:
    return (_H3_ALPHA * np.exp(-(_H3_A * (x[:, None, :] - _H3_P) ** 2).sum(-1))).sum(1)


def _neg_ackley(x: np.ndarray) -> np.ndarray:
    return 20 * np.exp(-0.2 * np.sqrt((x**2).mean(1))) + np.exp(np.cos(2 * np.pi * x).mean(1)) - 20 - np.e


def _rows(X: np.ndarray, f: np.ndarray, reps: np.ndarray, sd: float, rng: np.random.Generator) -> list[list[float]]:
    return [[*x, float(v + sd * rng.normal())] for x, v, r in zip(X, f, reps, strict=True) for _ in range(int(r))]


def write_synthetic_pools(out_dir: str | Path, seed: int = 42) -> list[Path]:
    """Write the three pools (see module docstring) into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pools: dict[str, tuple[list[str], list[list[float]]]] = {}

    X = rng.random((150, 3))
    pools["hartmann3"] = (["a", "b", "c", "y"], _rows(np.round(X * 10, 3), _hartmann3(X), rng.integers(1, 4, 150), 0.1, rng))

    g = np.linspace(-2, 2, 5)
    grid = np.array(np.meshgrid(g, g, g, g)).reshape(4, -1).T
    G = grid[rng.permutation(len(grid))[:200]]
    pools["ackley4"] = (["p", "q", "r", "s", "y"], _rows(G, _neg_ackley(G), np.full(200, 2), 0.3, rng))

    L = rng.uniform(-2, 1, (180, 6))
    f = L[:, 0] - (L[:, 1] - 0.3) ** 2 + 0.5 * L[:, 2] * L[:, 3]
    pools["logscale6"] = ([*"uvwxyz", "t"], _rows(np.round(10**L, 4), f, rng.integers(1, 3, 180), 0.2, rng))

    paths = []
    for name, (cols, rows) in pools.items():
        path = out / f"{name}.csv"
        pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
        paths.append(path)
    return paths
