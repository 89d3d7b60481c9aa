"""Command line: ``crystaloop xrd analyze`` and ``crystaloop bench xrd``.

Registered through the ``crystaloop.commands`` entry-point group as ``xrd`` (the group
:data:`xrd`) and ``bench.xrd`` (the command :data:`bench_xrd`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from lab_adapters.xrd.analyze import XRDAnalyzer
from lab_adapters.xrd.readers import read_pattern
from lab_adapters.xrd.references import load_references
from loop.errors import CrystaloopError

__all__ = ["bench_xrd", "xrd"]

logger = logging.getLogger(__name__)


@click.group(name="xrd")
def xrd() -> None:
    """Powder XRD: phase identification and quantification against reference CIFs."""


@xrd.command(name="analyze")
@click.argument("patterns", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--references", "references", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder of reference CIFs; each phase is named after its file stem")
@click.option("--wavelength", default=None, help="CuKa (default), CuKa1, MoKa, ... or Angstrom; "
              "overrides the wavelength stored in the file")
@click.option("--target", default=None, help="reference name whose weight fraction is the yield")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="write {patterns: [{file, phases: [{name, formula, weight_fraction}], rwp}]}")
@click.option("--plot-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="folder for a PNG plot of each fit (default: beside the JSON file, else none)")
def analyze_command(
    patterns: tuple[Path, ...], references: Path, wavelength: str | None, target: str | None,
    json_path: Path | None, plot_dir: Path | None,
) -> None:
    """Identify the reference phases in each PATTERN (.xy/.csv/.txt two-column or .xrdml)."""
    from lab_adapters.xrd.plot import plot_fit

    try:
        refs = load_references(references)
        analyzer = XRDAnalyzer(refs)
        if target is not None and target not in refs.names:
            raise click.BadParameter(f"{target!r} is not a reference; known: {', '.join(refs.names)}",
                                     param_hint="--target")
    except CrystaloopError as exc:
        raise click.ClickException(str(exc)) from exc
    if plot_dir is None and json_path is not None:
        plot_dir = json_path.parent
    results = []
    failed = 0
    for path in patterns:
        try:
            pattern = read_pattern(path, wavelength)
            fit = analyzer.fit(pattern, target)
        except CrystaloopError as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
            continue
        a = fit.analysis
        click.echo(f"{path}  Rwp {100 * fit.rwp:.2f} %  Rexp {100 * fit.rexp:.2f} %  confidence {a.confidence:.2f}")
        if not a.phases:
            click.echo("  no reference phase found")
        for ph in a.phases:
            click.echo(f"  {ph.name:<24} {ph.formula or '':<14} {100 * ph.weight_fraction:6.1f} wt%")
        if target is not None:
            click.echo(f"  target {target}: {100 * (a.target_fraction or 0.0):.1f} wt%")
        if plot_dir is not None:
            png = plot_fit(fit, Path(plot_dir) / f"{path.stem}_fit.png", title=path.name)
            click.echo(f"  plot: {png}")
        results.append({
            "file": str(path),
            "phases": [{"name": p.name, "formula": p.formula, "weight_fraction": p.weight_fraction} for p in a.phases],
            "rwp": a.rwp,
        })
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"patterns": results}, indent=2))
    if failed:
        raise click.exceptions.Exit(1)


@click.command(name="xrd")
@click.option("--n", "n", default=200, show_default=True, type=click.IntRange(1), help="number of patterns")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the simulated mixtures")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False, path_type=Path))
def bench_xrd(n: int, seed: int, json_path: Path | None) -> None:
    """Phase identification on N simulated 1-3 phase mixtures (Ka2, displacement, unlisted impurity)."""
    from lab_adapters.xrd.benchmark import run_benchmark

    t0 = time.perf_counter()
    res = run_benchmark(n=n, seed=seed)
    res["total_s"] = time.perf_counter() - t0
    failures = res.pop("failures")
    res["n_wrong_phase_set"] = len(failures)
    click.echo(f"XRD benchmark: {n} simulated patterns, seed {seed}")
    click.echo(f"  {'phase_set_accuracy':<20} {res['phase_set_accuracy']:.3f}   (target >= 0.95)")
    click.echo(f"  {'wt_fraction_mae':<20} {res['wt_fraction_mae']:.4f}  (target <= 0.05)")
    click.echo(f"  {'patterns_per_s':<20} {res['patterns_per_s']:.2f}")
    click.echo(f"  {'total_s':<20} {res['total_s']:.1f}")
    for f in failures[:10]:
        click.echo(f"  wrong set in case {f['case']}: truth {sorted(f['truth'])} reported {sorted(f['reported'])}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(res | {"failures": failures}, indent=2))
