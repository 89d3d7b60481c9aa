"""Synthetic pools in the shape of the Liang et al. (2021) data, for checking a ranker off the shipped sets.

``crystaloop bench synthetic-pools DIR`` writes six CSVs (inputs then the objective in the
last column, one row per replicate, objective maximised), each built to probe one way real
pool data differs from the shipped sets. They are the declared *tuning set* of the pool
ranker's defaults (docs/benchmarks.md); the shipped Liang sets are reported, not tuned on.

- ``hartmann3.csv``: Hartmann-3 (a smooth multimodal function on the unit cube, inputs scaled
  to 0-10), 150 designs, 1-3 replicates, noise sd 0.1. Inputs already on the right scale.
- ``ackley4.csv``: negated Ackley on a 5-level grid in [-2, 2]^4, 200 designs, 2 replicates,
  noise sd 0.3. Rugged, grid-valued inputs like a designed experiment.
- ``logscale6.csv``: 6 inputs drawn log-uniformly over three decades (concentrations, rates),
  objective a smooth function of their logarithms, 180 designs, 1-2 replicates, noise sd 0.2.
  Inputs whose natural scale is not the measured one.
- ``mixture5.csv``: 5 blend percentages on the simplex (sum 100, rounded to 0.1 as P3HT's
  are), many designs on edges and faces of the simplex (components left out), objective a
  Scheffé quadratic blending model plus a narrow synergy peak inside a face, 180 designs,
  1-2 replicates, noise sd 0.15. Compositional inputs that are not independent.
- ``categorical3.csv``: two categorical factors coded as integers (5 and 4 levels, the code
  order unrelated to the effect) and one 8-level numeric factor, the full 160-design grid,
  2 replicates, noise sd 0.2; the effect of the numeric factor depends on the categories.
  A designed experiment whose codes are labels, not quantities.
- ``hetero4.csv``: 4 inputs in [0, 1] (rounded to 0.01), 160 designs, 3 replicates; the
  noise sd grows from 0.02 to 0.8 along the first input, and the best designs lie where the
  noise is large. Noise that is not the same everywhere.

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


def _simplex_designs(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` blends of ``d`` components in percent: a third on faces (2-3 components), the rest in the interior."""
    rows = []
    for i in range(n):
        k = int(rng.integers(2, 4)) if i % 3 == 0 else d
        w = np.zeros(d)
        w[rng.choice(d, size=k, replace=False)] = rng.dirichlet(np.ones(k))
        rows.append(w)
    pct = np.round(100 * np.array(rows), 1)
    pct[:, -1] = np.round(100 - pct[:, :-1].sum(1), 1)  # close to 100 as a lab's sheet does
    return np.abs(pct)


def _mixture(w: np.ndarray) -> np.ndarray:
    """Scheffe quadratic blending model (fractions ``w``) plus a synergy peak on the face of components 1 and 3."""
    lin = w @ np.array([1.0, 0.4, 0.2, 0.8, 0.1])
    quad = 3.0 * w[:, 0] * w[:, 2] - 2.0 * w[:, 1] * w[:, 3] + 1.5 * w[:, 2] * w[:, 4]
    peak = 1.2 * np.exp(-((w[:, 1] - 0.55) ** 2 + (w[:, 3] - 0.35) ** 2) / 0.01)
    return lin + quad + peak


def _categorical(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Level effects in an order unrelated to the codes; the slope and optimum in ``c`` depend on the categories."""
    eff_a = np.array([0.3, -0.6, 1.0, 0.0, 0.7])[a]
    eff_b = np.array([0.0, 0.8, -0.4, 0.5])[b]
    centre = np.array([0.2, 0.8, 0.5, 0.1, 0.9])[a]
    return eff_a + eff_b - 2.5 * (c / 7 - centre) ** 2 + 0.6 * (b == 1) * (a == 2)


def write_synthetic_pools(out_dir: str | Path, seed: int = 42) -> list[Path]:
    """Write the six pools (see module docstring) into ``out_dir``; returns their paths."""
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

    M = _simplex_designs(180, 5, rng)
    cols = ["A (%)", "B (%)", "C (%)", "D (%)", "E (%)", "y"]
    pools["mixture5"] = (cols, _rows(M, _mixture(M / 100), rng.integers(1, 3, 180), 0.15, rng))

    a, b, c = (g.ravel() for g in np.meshgrid(np.arange(5), np.arange(4), np.arange(8), indexing="ij"))
    codes_a, codes_b = np.array([3, 1, 5, 2, 4]), np.array([2, 4, 1, 3])  # the lab's labels for the levels
    C = np.column_stack([codes_a[a], codes_b[b], 10.0 * c])
    pools["categorical3"] = (["solvent", "anneal", "temperature", "y"], _rows(C, _categorical(a, b, c), np.full(160, 2), 0.2, rng))

    H = np.round(rng.random((160, 4)), 2)
    f = 1.5 * np.exp(-((H[:, 0] - 0.75) ** 2 + (H[:, 1] - 0.3) ** 2) / 0.08) + 0.5 * H[:, 2] - 0.3 * H[:, 3]
    sd = 0.02 + 0.78 * H[:, 0]
    hetero = [[*x, float(v + s_ * rng.normal())] for x, v, s_ in zip(H, f, sd, strict=True) for _ in range(3)]
    pools["hetero4"] = (["u", "v", "w", "x", "y"], hetero)

    paths = []
    for name, (cols, rows) in pools.items():
        path = out / f"{name}.csv"
        pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
        paths.append(path)
    return paths
