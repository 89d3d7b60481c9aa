"""``crystaloop bench screening``: potential and screening throughput (see :mod:`.bench`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["bench_relax", "bench_screening"]


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


@click.command("relax")
@click.option("--n", "n", default=64, show_default=True, help="generated ternaries to relax")
@click.option("--elements", default="Li,Mn,O", show_default=True, help="the ternary system of the generated structures")
@click.option("--source", type=click.Choice(["ternaries", "screening"]), default="ternaries", show_default=True,
              help="generated ternaries, or bench screening's strained prototypes (behind today's 0.33 relax/s)")
@click.option("--max-atoms", default=20, show_default=True, help="most atoms in a primitive cell")
@click.option("--fmax", default=0.05, show_default=True, help="force threshold (eV/A), the same for both paths")
@click.option("--steps", default=200, show_default=True, help="FIRE step limit")
@click.option("--threads", default=1, show_default=True, help="torch and BLAS threads")
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu | cuda | cuda:N | auto")
@click.option("--batch-size", default=32, show_default=True, help="structures in flight per model call")
@click.option("--gradients", default="first_order", show_default=True, help="batched gradient modes, comma-separated: first_order, chgnet")
@click.option("--graphs", default="vectorised", show_default=True, help="batched graph builders, comma-separated: vectorised, chgnet")
@click.option("--unbatched-n", type=int, default=None, help="relax only the first N unbatched (default: all n)")
@click.option("--reference", "reference_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="keep the unbatched results here; reused when the settings match")
@click.option("--skip-unbatched", is_flag=True, help="no unbatched reference (rates only)")
@click.option("--noise-floor", type=float, default=None, help="also relax copies displaced by this many A and compare (batched)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the figures as JSON")
def bench_relax(
    n: int, elements: str, source: str, max_atoms: int, fmax: float, steps: int, threads: int, seed: int, device: str, batch_size: int,
    gradients: str, graphs: str, unbatched_n: int | None, reference_file: Path | None, skip_unbatched: bool, noise_floor: float | None,
    json_path: Path | None,
) -> None:
    """Relaxations per second, batched vs unbatched CHGNet, and how far their converged energies differ."""
    from surrogates.potentials.bench_relax import run_relax_bench

    try:
        out = run_relax_bench(
            n=n, elements=[e.strip() for e in elements.split(",") if e.strip()], max_atoms=max_atoms, fmax=fmax, steps=steps,
            threads=threads, seed=seed, device=device, batch_size=batch_size,
            gradients=[g.strip() for g in gradients.split(",") if g.strip()], graphs=[g.strip() for g in graphs.split(",") if g.strip()],
            unbatched_n=0 if skip_unbatched else unbatched_n, reference_file=reference_file, source=source,
            noise_floor=noise_floor,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    kind = "ternaries" if out["source"] == "ternaries" else "strained prototypes"
    click.echo(f"relaxation benchmark: {out['n']} {kind} of {'-'.join(out['elements'])}, {out['mean_atoms']:.1f} atoms on average, "
               f"fmax {out['fmax']} eV/A, {out['steps']} steps, {out['threads']} thread(s), device {out['device']}, batch {out['batch_size']}")
    if "unbatched" in out:
        u = out["unbatched"]
        where = f", read from {u['from_file']}, timed {u.get('measured_at')}" if u.get("from_file") else ""
        click.echo(f"{'unbatched':<30} {_fmt(u['relaxations_per_s']):>10} relax/s  ({u['n']} in {u['seconds']:.0f} s, {u['converged']} converged{where})")
    for g, row in out["batched"].items():
        line = (f"{'batched ' + g:<30} {_fmt(row['relaxations_per_s']):>10} relax/s  ({out['n']} in {row['seconds']:.0f} s, "
                f"{row['converged']} converged; model calls {row['evaluate_share']:.0%} of the time, graphs {row['graphs_share']:.0%})")
        if "speedup" in row:
            cmp = row["energies_vs_unbatched"]
            line += (f"\n{'':<30} speedup {row['speedup']:.2f}x; |dE| vs unbatched over {cmp['converged_both']} converged in both: "
                     f"median {cmp['median_dE_meV']:.3g}, p95 {cmp['p95_dE_meV']:.3g}, max {cmp['max_dE_meV']:.3g} meV/atom; "
                     f"same steps {cmp['same_steps']}")
        click.echo(line)
        click.echo(f"{'':<30} {row['vs_target']:.2f} of the target {out['target_relax_per_s']:.2f} relax/s (4 x {out['today_relax_per_s']})")
    if "noise_floor" in out:
        nf = out["noise_floor"]["energies"]
        click.echo(f"{'noise floor':<30} atoms moved {out['noise_floor']['displacement_A']:g} A: |dE| vs unmoved over "
                   f"{nf['converged_both']} converged in both: median {nf['median_dE_meV']:.3g}, p95 {nf['p95_dE_meV']:.3g}, "
                   f"max {nf['max_dE_meV']:.3g} meV/atom; same steps {nf['same_steps']}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=1))
        click.echo(f"wrote {json_path}")
