"""``crystaloop train-gap``: train the ABX3 band-gap emulator of the crystal lab and save it."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["train_gap"]


def default_gap_model_path() -> Path:
    from loop.tables import cache_dir

    return cache_dir() / "models" / "bandgap-perov5.skops"


@click.command("train-gap")
@click.option("--data", "data", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="perov-5 CSV (columns cif, dir_gap, ind_gap), e.g. ../shared/data/perov5/val.csv")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="model file (default: <crystaloop cache>/models/bandgap-perov5.skops)")
@click.option("--seed", default=0, show_default=True, help="seed of the train/test split and the model")
@click.option("--test-fraction", default=0.2, show_default=True, help="share of rows held out for the error")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the figures as JSON")
def train_gap(data: Path, out: Path | None, seed: int, test_fraction: float, json_path: Path | None) -> None:
    """Train the band-gap emulator on DFT gaps, report its held-out error, save it (skops)."""
    from lab_adapters.crystal.bandgap import train_gap_model

    model = train_gap_model(data, seed=seed, test_fraction=test_fraction)
    path = model.save(out or default_gap_model_path())
    m = model.meta
    click.echo(f"rows: {m['n_train']} train, {m['n_test']} held out ({100 * m['gapped_fraction']:.1f} % with a gap)")
    click.echo(f"held-out MAE: {m['mae_test']:.3f} eV (predicting 0 for all: {m['mae_zero_baseline']:.3f} eV)")
    if m["mae_test_gapped"] is not None:
        click.echo(f"held-out MAE on rows with a gap: {m['mae_test_gapped']:.3f} eV")
    click.echo(f"saved: {path}")
    if json_path is not None:
        json_path.write_text(json.dumps({**m, "model": str(path)}, indent=1))
