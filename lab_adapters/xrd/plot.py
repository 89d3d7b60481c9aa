"""Plot of a whole-pattern fit (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from lab_adapters.xrd.analyze import XRDFit

__all__ = ["plot_fit"]


def plot_fit(fit: XRDFit, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG with observed, model, background, each phase and the difference curve."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax, axd) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    x = fit.two_theta
    ax.plot(x, fit.observed, ".", ms=2, color="k", label="observed")
    ax.plot(x, fit.model, "-", lw=0.9, color="tab:red", label=f"fit (Rwp {100 * fit.rwp:.1f} %)")
    ax.plot(x, fit.background, "-", lw=0.8, color="tab:gray", label="background")
    for ph in fit.phases:
        if ph.curve is not None:
            ax.plot(x, fit.background + ph.curve, "-", lw=0.7, label=f"{ph.name} {100 * ph.weight_fraction:.1f} wt%")
    ax.set_ylabel("counts")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title or (Path(fit.source).name if fit.source else "XRD fit"))
    axd.plot(x, fit.observed - fit.model, "-", lw=0.6, color="tab:blue")
    axd.axhline(0, color="k", lw=0.5)
    axd.set_xlabel("2-theta (deg)")
    axd.set_ylabel("obs - fit")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
