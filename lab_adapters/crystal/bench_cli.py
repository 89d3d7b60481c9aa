"""``crystaloop bench world``: the screen's computed hull against the simulated world's (see :mod:`.bench_world`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["bench_world"]

_DATA = Path("..") / "shared" / "data"


@click.command("world")
@click.option("--references", type=click.Path(exists=True, path_type=Path), default=_DATA / "references" / "li-mn-ti-o-f",
              show_default=True, help="known phases (folder of CIFs, entry JSON or CSV with a cif column)")
@click.option("--perov5", type=click.Path(path_type=Path), default=_DATA / "perov5" / "val.csv", show_default=True,
              help="perov-5 CSV for the formation-energy figures ('none' to skip)")
@click.option("--elements", default="Li,Mn,O", show_default=True, help="the world's chemical system")
@click.option("-n", "n", default=200, show_default=True, help="candidates from the demo's generator")
@click.option("--seed", default=0, show_default=True, help="generator seed")
@click.option("--stage", type=click.Choice(["all", "screen", "world", "recipes", "breakdown", "oxides"]), default="all", show_default=True,
              help="run only the screen or the world half (cached), e.g. in two processes, or only the recipe figure "
                   "(yields read from XRD), or the e_hull breakdown (by subsystem, near the hull, elemental "
                   "references), or the world's oxide enthalpies against experiment; 'all' reads the caches and computes every figure")
@click.option("--workers", default=1, show_default=True, help="processes for the recipe figure (its targets are independent)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write the figures as JSON")
def bench_world(
    references: Path, perov5: Path, elements: str, n: int, seed: int, stage: str, workers: int, json_path: Path | None
) -> None:
    """E_hull of the screen (CHGNet 0.3.0 + MP2020) against the world's (CHGNet r2SCAN + hidden error)."""
    from lab_adapters.crystal.bench_world import run_world_bench
    from loop.errors import InputDataError

    csv = None if str(perov5).lower() == "none" else perov5
    if csv is not None and not csv.is_file():
        raise InputDataError("perov-5 CSV not found (pass --perov5 none to skip)", source=str(csv))
    out = run_world_bench(references, csv, n=n, seed=seed, elements=[e.strip() for e in elements.split(",") if e.strip()], stage=stage,
                          workers=workers)
    echo = {"recipes": _echo_recipes, "oxides": _echo_oxides, "breakdown": _echo_breakdown}.get(stage)
    if echo is not None:
        echo(out)
        if json_path is not None:
            json_path.write_text(json.dumps(out, indent=1))
            click.echo(f"wrote {json_path}")
        return
    if stage != "all":
        click.echo(f"{stage} stage done: {out['n']} candidates in {out['wall_s']:.0f} s (cached)")
        return
    click.echo(f"world benchmark ({out['n_candidates']} of {out['n_proposed']} candidates scored, {out['n_known']} known phases, seed {seed})")
    click.echo(f"  screen: {out['screen']}")
    click.echo(f"  world:  {out['world']}")
    _echo_recipes(out)
    for key, value in out.items():
        if isinstance(value, float):
            click.echo(f"{key:<46} {value:>10.4f}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=1))
        click.echo(f"wrote {json_path}")


def _echo_recipes(out: dict) -> None:
    for row in out.get("recipe_targets", []):
        click.echo(f"{row['target']:>12s}  default {row['default_yield']:.2f}  best {row['best_yield']:.2f}  "
                   f"({row['default_recipe_short']} | best: {row['best_recipe_short']})")
    if "recipe_best_vs_default_yield_gain" in out:
        click.echo(f"recipes ({out['recipe_n_targets']} known ternaries, yields read from XRD): default {out['recipe_default_yield']:.3f}, "
                   f"best {out['recipe_best_yield']:.3f}, gain {out['recipe_best_vs_default_yield_gain']:.3f}")


def _echo_oxides(out: dict) -> None:
    for metal, line in out.get("correction", {}).items():
        pts = ", ".join(f"{p['formula']} (ox {p['ox']:.2f}) {-p['error_per_metal']:+.3f}" for p in line["points"])
        click.echo(f"  oxidation correction of {metal}, eV per {metal} atom: {pts}")
    for row in out["oxides"]:
        before = f"  (uncorrected {row['uncorrected_error_per_o']:+.3f})" if "uncorrected_error_per_o" in row else ""
        click.echo(f"  {row['formula']:<10} world {row['world']:+.3f}  experiment {row['experiment']:+.3f} eV/atom  "
                   f"error {row['error_per_o']:+.3f} eV per O{before}")
    click.echo(f"  a uniform O2 shift would be {out['uniform_shift_per_o']:+.3f} eV per O (least squares)")
    for row in out.get("redox", []):
        temps = ", ".join(f"{atm} {'-' if t is None else f'{t:.0f} C'}" for atm, t in row.items() if atm not in ("reaction", "d_e_per_o"))
        click.echo(f"  {row['reaction']:<28} dE {row['d_e_per_o']:+.3f} eV per O; favoured from: {temps}")


def _echo_breakdown(out: dict) -> None:
    def line(name: str, st: dict) -> None:
        click.echo(f"  {name:<22} n {st['n']:>4}  MAE {st['mae']:.4f}  rho {st['spearman']:+.3f}  "
                   f"mean offset (screen - world) {st['mean_offset']:+.4f}")

    for part in ("candidates", "known_phases"):
        b = out[part]
        click.echo(f"{part}:")
        line("all", b["all"])
        line("all, world no error", b["all_no_error"])
        line(f"world e_hull < {b['near_hull']['threshold']:g}", b["near_hull"])
        line("  same, no error", b["near_hull_no_error"])
        line("further from the hull", b["far_from_hull"])
        for name, st in b["by_subsystem"].items():
            line(name, st)
        click.echo(f"  MAE less each subsystem's mean offset (diagnostic): {b['mae_minus_subsystem_offsets']:.4f}")
    what_if = out.get("same_elemental_prototypes", {})
    for label in ("screen_choice", "world_choice"):
        if label in what_if:
            w = what_if[label]
            click.echo(f"what-if, same prototypes on both sides ({label}: {w['choice']}): MAE {w['all']['mae']:.4f}, "
                       f"near the hull {w['near_hull']['mae']:.4f}; " + ", ".join(
                           f"{k} {v['mae']:.3f} ({v['mean_offset']:+.3f})" for k, v in w["by_subsystem"].items()))
    for side, refs in out["elemental_references"].items():
        click.echo(f"elemental references, {side}: " + ", ".join(f"{el} {r['reference']} ({r['energy_per_atom']:.3f})" for el, r in refs.items()))
