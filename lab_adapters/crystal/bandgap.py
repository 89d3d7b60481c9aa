"""A band-gap emulator for ABX3 crystals, trained on the perov-5 data (DFT gaps).

Features of an ABX3 structure (5 atoms per formula unit; the 3 most electronegative
atoms are the X sites, mixed anions allowed; ``B``: the cation closest to an anion,
octahedral in a perovskite; ``A``: the other cation): per site the atomic number, Pauling
electronegativity, atomic radius, row, group and Mendeleev number (X: the mean over its 3
atoms, plus the spread of electronegativity and Z); from the cell the volume per atom,
density, the shortest ``A-X`` and ``B-X`` distances and ``t = d_AX / (sqrt 2 d_BX)``.
Target: the fundamental gap ``min(dir_gap, ind_gap)`` when both are open, else the open one
(eV; most perov-5 rows are metals, gap 0). Model (scikit-learn gradient boosting): a
classifier of ``P(gap > 0)`` and a regressor of the gap on the rows with a gap;
``gap = regressor(x)`` where ``P >= 0.5``, else 0. Saved with ``skops`` (no
pickle); loading accepts only scikit-learn and numpy types.

>>> model = train_gap_model("perov5/val.csv")        # doctest: +SKIP
>>> model.save("gap.skops"); GapModel.load("gap.skops").predict([structure])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Element, Structure

from loop.errors import InputDataError

__all__ = ["FEATURES", "GapModel", "abx3_features", "abx3_sites", "train_gap_model"]

log = logging.getLogger(__name__)

_EL = ("Z", "X", "atomic_radius", "row", "group", "mendeleev_no")
FEATURES = [f"{site}_{p}" for site in "ABX" for p in _EL] + ["X_X_spread", "X_Z_spread", "vpa", "density", "d_AX", "d_BX", "tolerance"]


def _el(symbol: str) -> list[float]:
    e = Element(symbol)
    vals = [e.Z, e.X, e.atomic_radius or e.atomic_radius_calculated, e.row, e.group, e.mendeleev_no]
    return [float(v) if v is not None and math.isfinite(float(v)) else float("nan") for v in vals]


def abx3_sites(structure: Structure) -> tuple[str, str, list[str]] | None:
    """``(A, B, [X1, X2, X3])`` of an ABX3 structure, or None when it is not ABX3.

    The formula unit must have 5 atoms; the 3 most electronegative atoms are the X sites
    (mixed anions allowed: ABX2Y, ABXYZ), the other two the cations; ``B`` is the cation
    closest to an anion (octahedral in a perovskite), ``A`` the other one (``A = B`` allowed).
    """
    comp = structure.composition.reduced_composition
    if len(comp) < 2 or abs(comp.num_atoms - 5) > 1e-6 or any(abs(n - round(n)) > 1e-6 for n in comp.values()):
        return None
    atoms = sorted((s for e, n in comp.items() for s in [e.symbol] * int(round(n))), key=lambda e: (Element(e).X, e))
    cations, anions = atoms[:2], atoms[2:]
    if set(cations) & set(anions):
        return None
    d = {c: _shortest(structure, c, anions) for c in set(cations)}
    b = min(cations, key=lambda c: (d[c], c))
    a = cations[1] if cations[0] == b else cations[0]
    return a, b, anions


def _shortest(structure: Structure, a: str, others: Sequence[str]) -> float:
    ia = [i for i, s in enumerate(structure) if s.specie.symbol == a]
    ib = [i for i, s in enumerate(structure) if s.specie.symbol in set(others)]
    dm = structure.distance_matrix
    return float(dm[np.ix_(ia, ib)].min())


def abx3_features(structure: Structure) -> np.ndarray | None:
    """The feature vector (``len(FEATURES)``) of an ABX3 structure, or None when not ABX3."""
    sites = abx3_sites(structure)
    if sites is None:
        return None
    a, b, xs = sites
    d_ax, d_bx = _shortest(structure, a, xs), _shortest(structure, b, xs)
    geo = [structure.volume / len(structure), float(structure.density), d_ax, d_bx, d_ax / (math.sqrt(2) * max(d_bx, 1e-6))]
    xf = np.array([_el(x) for x in xs])
    spread = [float(xf[:, 1].max() - xf[:, 1].min()), float(xf[:, 0].max() - xf[:, 0].min())]
    return np.array(_el(a) + _el(b) + list(xf.mean(axis=0)) + spread + geo, dtype=float)


def _gap(dir_gap: float, ind_gap: float) -> float:
    if dir_gap > 0 and ind_gap > 0:
        return float(min(dir_gap, ind_gap))
    return float(max(dir_gap, ind_gap, 0.0))


class GapModel:
    """A fitted band-gap emulator with its provenance and held-out error."""

    def __init__(self, estimator: Any, meta: dict[str, Any]) -> None:
        self.estimator = estimator
        self.meta = meta

    @staticmethod
    def applies(structure: Structure) -> bool:
        return abx3_sites(structure) is not None

    def predict(self, structures: Sequence[Structure]) -> np.ndarray:
        """Band gaps (eV, ``(n,)``); NaN for a structure that is not ABX3."""
        out = np.full(len(structures), np.nan)
        rows = [(i, f) for i, s in enumerate(structures) if (f := abx3_features(s)) is not None]
        if rows:
            out[[i for i, _ in rows]] = _predict(self.estimator, np.stack([f for _, f in rows]))
        return out

    def save(self, path: str | Path) -> Path:
        import skops.io as sio

        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        sio.dump({"estimator": self.estimator, "meta": self.meta}, p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> GapModel:
        import skops.io as sio

        p = Path(path)
        if not p.is_file():
            raise InputDataError("band-gap model file does not exist (train it with `crystaloop train-gap`)", source=str(p))
        try:
            untrusted = sio.get_untrusted_types(file=p)
            bad = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
            if bad:
                raise InputDataError(f"band-gap model holds types outside scikit-learn/numpy: {bad}", source=str(p))
            data = sio.load(p, trusted=untrusted)
        except InputDataError:
            raise
        except Exception as exc:  # skops raises many types for a corrupt file
            raise InputDataError(f"cannot read band-gap model: {type(exc).__name__}: {exc}", source=str(p)) from exc
        return cls(data["estimator"], dict(data.get("meta", {})))


def load_perov5(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(X (n, d), gap (n,), ids)`` from a perov-5 CSV (columns cif, dir_gap, ind_gap)."""
    import warnings

    import pandas as pd

    p = Path(path)
    frame = pd.read_csv(p)
    missing = {"cif", "dir_gap", "ind_gap"} - set(frame.columns)
    if missing:
        raise InputDataError(f"perov-5 file lacks columns {sorted(missing)}", source=str(p))
    xs, ys, ids = [], [], []
    for i, row in frame.iterrows():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = Structure.from_str(row["cif"], fmt="cif")
        except Exception as exc:  # a broken CIF row is skipped, with its index
            log.warning("%s row %s: unreadable CIF (%s)", p.name, i, exc)
            continue
        f = abx3_features(s)
        if f is None:
            continue
        xs.append(f)
        ys.append(_gap(float(row["dir_gap"]), float(row["ind_gap"])))
        ids.append(str(row.get("material_id", i)))
    if not xs:
        raise InputDataError("no ABX3 rows could be read", source=str(p))
    return np.stack(xs), np.array(ys), ids


def _predict(estimator: dict[str, Any], x: np.ndarray) -> np.ndarray:
    gapped = estimator["classifier"].predict_proba(x)[:, 1] >= float(estimator.get("threshold", 0.5))
    out = np.zeros(len(x))
    if gapped.any():
        out[gapped] = np.clip(estimator["regressor"].predict(x[gapped]), 0.0, None)
    return out


def train_gap_model(path: str | Path, *, seed: int = 0, test_fraction: float = 0.2) -> GapModel:
    """Fit on a random ``1 - test_fraction`` of the rows; ``meta`` holds the held-out MAE."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x, y, _ = load_perov5(path)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = max(1, int(round(test_fraction * len(y))))
    test, train = order[:n_test], order[n_test:]
    on = train[y[train] > 0]
    if len(on) < 5:
        raise InputDataError(f"only {len(on)} training rows have a band gap; need at least 5", source=str(path))

    def fit(rows: np.ndarray) -> dict[str, Any]:
        clf = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, class_weight="balanced", random_state=seed)
        clf.fit(x[rows], (y[rows] > 0).astype(int))
        pos = rows[y[rows] > 0]
        reg = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, min_samples_leaf=5, random_state=seed)
        reg.fit(x[pos], y[pos])
        return {"classifier": clf, "regressor": reg, "threshold": 0.5}

    # the classifier threshold minimising the MAE on a validation quarter of the training rows
    n_val = len(train) // 4
    val, sub = train[:n_val], train[n_val:]
    probe = fit(sub)
    thresholds = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    maes = [float(np.mean(np.abs(_predict({**probe, "threshold": t}, x[val]) - y[val]))) for t in thresholds]
    est = fit(train)
    est["threshold"] = thresholds[int(np.argmin(maes))]
    pred = _predict(est, x[test])
    gapped = y[test] > 0
    meta = {
        "data": str(path),
        "seed": seed,
        "n_train": int(len(train)),
        "n_test": int(n_test),
        "mae_test": float(np.mean(np.abs(pred - y[test]))),
        "mae_test_gapped": float(np.mean(np.abs(pred[gapped] - y[test][gapped]))) if gapped.any() else None,
        "mae_zero_baseline": float(np.mean(np.abs(y[test]))),
        "threshold": est["threshold"],
        "gap_detection_accuracy": float(np.mean((pred > 0) == gapped)),
        "gapped_fraction": float(np.mean(y > 0)),
        "features": FEATURES,
    }
    log.info("band-gap emulator: held-out MAE %.3f eV (zero baseline %.3f eV)", meta["mae_test"], meta["mae_zero_baseline"])
    return GapModel(est, meta)
