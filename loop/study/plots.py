"""Study figures drawn from the aggregate (matplotlib, Agg): one line per setting, median over
seeds with its 5-95 % band, against experiments; the random baseline dashed.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["best_so_far_figure", "top_percent_figure"]


def _series(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _draw(ax: Any, setting: dict[str, Any], curve: dict[str, list[float | None]], color: Any) -> None:
    med, lo, hi = _series(curve["median"]), _series(curve["p5"]), _series(curve["p95"])
    x = np.arange(1, med.size + 1)
    style = {"ls": "--", "lw": 1.8} if setting["baseline"] else {"ls": "-", "lw": 2.0}
    label = f"{setting['setting']} (n={setting['finished']})"
    ax.plot(x, med, color=color, label=label, **style)
    ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)


def best_so_far_figure(agg: dict[str, Any]) -> Figure | None:
    """Best measured value so far per objective against experiments, per setting."""
    objectives = [o["name"] for o in agg.get("objectives", [])]
    settings = [s for s in agg.get("settings", []) if s.get("curves")]
    if not objectives or not settings:
        return None
    fig, axes = plt.subplots(1, len(objectives), figsize=(5.5 * len(objectives), 3.8), squeeze=False)
    colors = plt.get_cmap("tab10")
    expected = (agg.get("random_expected") or {}).get("best", {})
    for ax, name in zip(axes[0], objectives, strict=True):
        for i, s in enumerate(settings):
            _draw(ax, s, s["curves"][name], "0.25" if s["baseline"] else colors(i % 10))
        if name in expected:
            y = np.asarray(expected[name])
            ax.plot(np.arange(1, y.size + 1), y, color="0.5", ls=":", lw=1.5, label="random (expected, table means)")
        ax.set_xlabel("experiments")
        ax.set_ylabel(f"best {name} so far")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{agg['study']}: median and 5-95 % band over seeds", fontsize=10)
    fig.tight_layout()
    return fig


def top_percent_figure(agg: dict[str, Any]) -> Figure | None:
    """Top% (fraction of the table's targets found) against experiments, per setting."""
    settings = [s for s in agg.get("settings", []) if s.get("top_curve")]
    if not settings:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.get_cmap("tab10")
    for i, s in enumerate(settings):
        _draw(ax, s, s["top_curve"], "0.25" if s["baseline"] else colors(i % 10))
    expected = (agg.get("random_expected") or {}).get("top_curve")
    if expected:
        y = np.asarray(expected)
        ax.plot(np.arange(1, y.size + 1), y, color="0.5", ls=":", lw=1.5, label="random (expected)")
    truth = agg.get("truth", {})
    ax.set_xlabel("experiments")
    ax.set_ylabel("Top% (targets found / k)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{agg['study']}: {truth.get('k')} targets of {truth.get('n_designs')} designs", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
