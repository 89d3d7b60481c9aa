"""The figures of a campaign report, each drawn from ledger records alone (matplotlib, Agg).

Every function returns a :class:`matplotlib.figure.Figure` or ``None`` when the campaign
has nothing to show for it (e.g. no Pareto front with one objective).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from loop.campaign.progress import observed_values  # noqa: E402
from loop.objectives import Objective  # noqa: E402
from loop.records import Observation, Selection  # noqa: E402

__all__ = [
    "calibration_figure",
    "pareto_figure",
    "progress_figure",
    "structure_figure",
    "success_figure",
    "xrd_figure",
]


def _utility(obj: Objective, v: float) -> float:
    return -obj.distance(v) if obj.goal == "target" else obj.sign * v


def progress_figure(objectives: Sequence[Objective], observations: Sequence[Observation]) -> Figure | None:
    """Best so far per objective against experiments (failed experiments count as spent)."""
    if not observations:
        return None
    fig, axes = plt.subplots(1, len(objectives), figsize=(5 * len(objectives), 3.6), squeeze=False)
    for ax, obj in zip(axes[0], objectives, strict=True):
        best, xs, ys, raw_x, raw_y = None, [], [], [], []
        for i, o in enumerate(observations, start=1):
            v = observed_values(o).get(obj.name) if o.success else None
            if v is not None:
                raw_x.append(i)
                raw_y.append(v)
                if best is None or _utility(obj, v) > _utility(obj, best):
                    best = v
            if best is not None:
                xs.append(i)
                ys.append(best)
        ax.scatter(raw_x, raw_y, s=10, alpha=0.4, color="tab:gray", label="measured")
        ax.step(xs, ys, where="post", color="tab:blue", lw=2, label="best so far")
        if obj.goal == "target" and obj.window is not None:
            ax.axhspan(*obj.window, color="tab:green", alpha=0.15, label="target window")
        ax.set_xlabel("experiments")
        ax.set_ylabel(f"{obj.name} ({obj.goal})")
        ax.legend(fontsize=8)
    fig.suptitle("Progress")
    fig.tight_layout()
    return fig


def pareto_figure(objectives: Sequence[Objective], observations: Sequence[Observation]) -> Figure | None:
    """Measured points of the first two objectives with the non-dominated ones highlighted."""
    if len(objectives) < 2:
        return None
    a, b = objectives[0], objectives[1]
    pts = []
    for o in observations:
        v = observed_values(o) if o.success else {}
        if a.name in v and b.name in v:
            pts.append((v[a.name], v[b.name]))
    if not pts:
        return None
    p = np.array(pts)
    u = np.column_stack([[_utility(a, x) for x in p[:, 0]], [_utility(b, y) for y in p[:, 1]]])
    front = np.array([not np.any(np.all(u >= ui, axis=1) & np.any(u > ui, axis=1)) for ui in u])
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(p[~front, 0], p[~front, 1], s=14, color="tab:gray", alpha=0.6, label="measured")
    order = np.argsort(p[front, 0])
    ax.plot(p[front, 0][order], p[front, 1][order], "o-", color="tab:red", label="Pareto front")
    ax.set_xlabel(f"{a.name} ({a.goal})")
    ax.set_ylabel(f"{b.name} ({b.goal})")
    ax.legend(fontsize=8)
    ax.set_title("Pareto front")
    fig.tight_layout()
    return fig


def calibration_figure(
    objectives: Sequence[Objective], pairs: Sequence[tuple[Selection, Observation]]
) -> Figure | None:
    """Predicted (mean ± 2 sd, at selection time) against measured, per objective."""
    panels = []
    for obj in objectives:
        rows = [
            (s.predicted[obj.name][0], s.predicted[obj.name][1], observed_values(o)[obj.name])
            for s, o in pairs
            if obj.name in s.predicted and o.success and obj.name in observed_values(o)
        ]
        if rows:
            panels.append((obj, np.array(rows, dtype=float)))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    for ax, (obj, r) in zip(axes[0], panels, strict=True):
        ax.errorbar(r[:, 2], r[:, 0], yerr=2 * r[:, 1], fmt="o", ms=4, alpha=0.7, capsize=2)
        lo, hi = float(np.nanmin(r[:, [0, 2]])), float(np.nanmax(r[:, [0, 2]]))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        inside = np.mean(np.abs(r[:, 0] - r[:, 2]) <= 2 * r[:, 1])
        ax.set_title(f"{obj.name}: {inside:.0%} within 2 sd")
        ax.set_xlabel("measured")
        ax.set_ylabel("predicted")
    fig.suptitle("Surrogate calibration")
    fig.tight_layout()
    return fig


def success_figure(observations: Sequence[Observation], window: int = 10) -> Figure | None:
    """Synthesis / experiment success rate over time (moving window), with yields when reported."""
    if not observations:
        return None
    ok = np.array([o.success for o in observations], dtype=float)
    k = max(1, min(window, len(ok)))
    rate = np.convolve(ok, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(np.arange(k, len(ok) + 1), rate, color="tab:green", lw=2, label=f"success rate (last {k})")
    yields = [(i, observed_values(o).get("yield")) for i, o in enumerate(observations, start=1)]
    yields = [(i, y) for i, y in yields if y is not None]
    if yields:
        ax.scatter(*zip(*yields, strict=True), s=12, color="tab:orange", label="yield (XRD)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("experiments")
    ax.set_ylabel("fraction")
    ax.legend(fontsize=8)
    ax.set_title("Success over time")
    fig.tight_layout()
    return fig


def _read_columns(path: Path) -> tuple[list[str], np.ndarray] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        if any(c.isalpha() for c in first.replace("e", "").replace("E", "")):
            with open(path, encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            header, body = rows[0], rows[1:]
            data = np.array([[float(x) for x in r] for r in body if r], dtype=float)
            return header, data
        data = np.loadtxt(path, delimiter="," if "," in first else None, ndmin=2)
        return ["two_theta", "observed"][: data.shape[1]], data
    except (OSError, ValueError):
        return None


def xrd_figure(observation: Observation, title: str) -> Figure | None:
    """The measured pattern, with the fitted phases overlaid when a ``*.fit.csv`` is attached."""
    fit_file = next((Path(f) for f in observation.raw_files if f.endswith(".fit.csv") and Path(f).exists()), None)
    pattern = Path(observation.xrd_pattern) if observation.xrd_pattern else None
    read = _read_columns(fit_file) if fit_file else (_read_columns(pattern) if pattern and pattern.exists() else None)
    if read is None:
        return None
    header, data = read
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(data[:, 0], data[:, 1], color="black", lw=0.8, label="measured")
    for j, name in enumerate(header[2:], start=2):
        ax.plot(data[:, 0], data[:, j], lw=1, label=name)
    analysis = observation.phase_analysis
    if analysis is not None:
        txt = ", ".join(f"{p.name} {p.weight_fraction:.0%}" for p in analysis.phases)
        rwp = analysis.rwp
        title_text = f"{title}: {txt}" + (f" (Rwp {100 * rwp:.1f} %)" if rwp is not None and math.isfinite(rwp) else "")
        u = analysis.unidentified
        if u is not None and u.detected:  # peaks no reference explains: marked, and said in the title
            for j, peak in enumerate(u.peaks):
                ax.axvline(peak.two_theta, color="red", lw=0.7, ls=":", label="unidentified" if j == 0 else None)
            title_text += f"; unidentified peaks carry {u.intensity_share:.0%} of the intensity"
        ax.set_title(title_text, fontsize=9)
    else:
        ax.set_title(title, fontsize=9)
    ax.set_xlabel("2θ (deg)")
    ax.set_ylabel("intensity")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def structure_figure(structure: Any, title: str) -> Figure:
    """A picture of a crystal: atoms of the cell coloured by element, with the cell edges."""
    from pymatgen.core import Structure

    s: Structure = structure
    fig = plt.figure(figsize=(3.2, 3.2))
    ax = fig.add_subplot(projection="3d")
    m = s.lattice.matrix
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float) @ m
    for a in range(8):
        for b in range(a + 1, 8):
            if bin(a ^ b).count("1") == 1:
                ax.plot(*zip(corners[a], corners[b], strict=True), color="gray", lw=0.6)
    species = sorted({site.specie.symbol for site in s})
    cmap = plt.get_cmap("tab10")
    for n, el in enumerate(species):
        xyz = np.array([site.coords for site in s if site.specie.symbol == el])
        ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], s=80, color=cmap(n % 10), label=el, depthshade=True)
    ax.set_axis_off()
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig
