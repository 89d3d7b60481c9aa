"""``crystaloop train-gap``: train the ABX3 band-gap emulator of the crystal lab and save it."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["bench_synthesis", "train_gap"]


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


@click.command("bench.synthesis")
@click.option("--references", "references", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data/references/li-mn-ti-o-f"), show_default=True, help="folder of known-phase CIFs")
@click.option("--n-recipes", default=10, show_default=True, help="recipes tried per target (the default planner's first)")
@click.option("--n-seeds", default=5, show_default=True, help="fresh seeds the best and the default recipe are re-measured on")
@click.option("--kinetics-seed", default=0, show_default=True, help="seed of the world's hidden kinetics")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the figures as JSON")
def bench_synthesis(references: Path, n_recipes: int, n_seeds: int, kinetics_seed: int, json_path: Path | None) -> None:
    """Synthesis-level recipe_best_vs_default_yield_gain on the known ternaries of a reference folder.

    Energies: CHGNet 0.3.0 single points on the CIFs, aligned to experiment by fitted elemental
    references (lab_adapters.crystal.reference_landscape). Yield: the target weight fraction of the
    simulated synthesis (no XRD).
    """
    import tempfile

    from lab_adapters.crystal.synthesis_bench import run_synthesis_bench

    with tempfile.TemporaryDirectory() as work:
        figures = run_synthesis_bench(references, Path(work), n_recipes=n_recipes, n_seeds=n_seeds, kinetics_seed=kinetics_seed)
    for row in figures["targets"]:
        click.echo(f"{row['target']:>12s}  e_hull {row['e_hull']:+.3f}  default {row['default_yield']:.2f}  "
                   f"best {row['best_yield']:.2f}  ({row['default_recipe_short']} | best: {row['best_recipe_short']})")
    click.echo(f"FERE fit MAE on {figures['fere_n_fitted']} binaries: {figures['fere_fit_mae']:.3f} eV/atom; "
               f"held out: {figures['fere_held_out']}")
    click.echo(f"targets: {figures['n_targets']}; default yield {figures['default_yield_mean']:.3f}; "
               f"best-of-{n_recipes} yield {figures['best_yield_mean']:.3f}")
    click.echo(f"recipe_best_vs_default_yield_gain (synthesis level): {figures['recipe_best_vs_default_yield_gain']:.3f}")
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=1))
