"""``crystaloop bench screening``: potential and screening throughput (see :mod:`.bench`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["bench_screening"]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@click.command("screening")
@click.option("--elements", default="Li,Mn,O", show_default=True, help="chemical system of the generated structures")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="CSV with a 'cif' column instead of generated structures")
@click.option("--n-single", default=16, show_default=True, help="structures for single points")
@click.option("--n-relax", default=6, show_default=True, help="structures for relaxations")
@click.option("--fmax", default=0.1, show_default=True)
@click.option("--steps", default=60, show_default=True)
@click.option("--workers", default=2, show_default=True, help="Ray workers to compare with one")
@click.option("--seed", default=0, show_default=True)
@click.option("--mace-model", default=None, help="a MACE foundation model (converted folder, file or name) to add")
@click.option("--trusted", is_flag=True, help="the --mace-model file may be unpickled")
@click.option("--no-ray", is_flag=True, help="skip the Ray worker comparison")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the figures as JSON")
def bench_screening(
    elements: str, data: Path | None, n_single: int, n_relax: int, fmax: float, steps: int, workers: int, seed: int,
    mace_model: str | None, trusted: bool, no_ray: bool, json_path: Path | None,
) -> None:
    """Structures per second for single points and relaxations, CHGNet vs MACE, 1 vs 2 Ray workers."""
    from surrogates.potentials.bench import run_screening_bench

    out = run_screening_bench(
        elements=[e.strip() for e in elements.split(",") if e.strip()], n_single=n_single, n_relax=n_relax, fmax=fmax,
        steps=steps, workers=workers, seed=seed, data=data, mace_model=mace_model, mace_trusted=trusted, ray=not no_ray,
    )
    click.echo(f"screening benchmark (seed {seed}, {out['n_single']} single points, {out['n_relax']} relaxations, "
               f"{out['mean_atoms']:.1f} atoms on average, device {out['device']}, {out['torch_threads']} threads)")
    click.echo(f"{'potential':<12} {'mode':<28} {'structures/s':>12}")
    for name, modes in out["single_points"].items():
        for mode, v in modes.items():
            click.echo(f"{name:<12} {'single point ' + mode:<28} {_fmt(v):>12}")
    for name, modes in out["relaxations"].items():
        for mode, v in modes.items():
            click.echo(f"{name:<12} {'relax ' + mode:<28} {_fmt(v):>12}")
    for key in ("single_points_per_s", "relaxations_per_s", "speedup_2_workers", "overhead_fraction", "resumed_screen_s", "peak_rss_mb"):
        click.echo(f"{key:<41} {_fmt(out.get(key)):>12}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=1))
        click.echo(f"wrote {json_path}")
