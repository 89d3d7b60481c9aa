"""Command line: ``crystaloop xrd analyze``, ``crystaloop bench xrd`` and ``crystaloop bench xrd-measured``.

Registered through the ``crystaloop.commands`` entry-point group as ``xrd`` (the group
:data:`xrd`), ``bench.xrd`` (:data:`bench_xrd`) and ``bench.xrd-measured`` (:data:`bench_xrd_measured`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from lab_adapters.xrd.analyze import AnalysisConfig, XRDAnalyzer
from lab_adapters.xrd.measured import combine_references
from lab_adapters.xrd.readers import read_pattern
from lab_adapters.xrd.references import load_references
from loop.errors import CrystaloopError

__all__ = ["bench_xrd", "bench_xrd_measured", "xrd"]

DEFAULT_DISTRACTORS = Path("../shared/data/references/li-mn-ti-o-f")

logger = logging.getLogger(__name__)


@click.group(name="xrd")
def xrd() -> None:
    """Powder XRD: phase identification and quantification against reference CIFs."""


@xrd.command(name="analyze")
@click.argument("patterns", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--references", "references", required=True, multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder of reference CIFs; each phase is named after its file stem; repeatable (a name "
              "already taken by an earlier folder is skipped)")
@click.option("--wavelength", default=None, help="CuKa (K-alpha1 + K-alpha2), CuKa1, MoKa, ... or Angstrom; "
              "used when the file stores none (default then: CuKa, and the output says so)")
@click.option("--force-wavelength", is_flag=True, help="use --wavelength even where it contradicts the file")
@click.option("--target", default=None, help="reference name whose weight fraction is the yield")
@click.option("--elements", default=None, help="comma-separated elements of the sample (e.g. the precursors'): "
              "only references made of them are fitted")
@click.option("--texture", "texture", multiple=True, metavar="PHASE[=H,K,L|auto]",
              help="refine March-Dollase preferred orientation of PHASE ('*': every identified phase) along "
              "H,K,L, or along the best low-index direction ('auto', the default; kept only if significant); "
              "repeatable")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="write {patterns: [{file, phases: [{name, formula, weight_fraction}], rwp}]}")
@click.option("--plot-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="folder for a PNG plot of each fit (default: beside the JSON file, else none)")
def analyze_command(
    patterns: tuple[Path, ...], references: tuple[Path, ...], wavelength: str | None, force_wavelength: bool,
    target: str | None, elements: str | None, texture: tuple[str, ...], json_path: Path | None,
    plot_dir: Path | None,
) -> None:
    """Identify the reference phases in each PATTERN (.xy/.xye/.csv/.txt, .xrdml, .ras)."""
    from lab_adapters.xrd.plot import plot_fit

    try:
        refs = load_references(references[0])
        for folder in references[1:]:
            refs = combine_references(refs, load_references(folder))
        if elements:
            refs = refs.within(e.strip() for e in elements.split(",") if e.strip())
        config = texture_config(texture, refs.names)
        analyzer = XRDAnalyzer(refs, config)
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
            pattern = read_pattern(path, wavelength, force_wavelength)
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
            kept = "" if ph.kept_on_evidence else "  (kept without passing the evidence tests)"
            po = ph.preferred_orientation
            tex = f"  texture [{po[0]:.0f}{po[1]:.0f}{po[2]:.0f}] r {po[3]:.2f}" if po else ""
            click.echo(f"  {ph.name:<24} {ph.formula or '':<14} {100 * ph.weight_fraction:6.1f} wt%  "
                       f"confidence {ph.confidence or 0.0:.3f}{tex}{kept}")
        u = a.unidentified
        if u is not None and u.detected:
            where = ", ".join(f"{p.two_theta:.2f}" for p in u.peaks)
            click.echo(f"  unidentified: {100 * u.intensity_share:.1f} % of the net intensity in peaks at {where} deg")
        for w in a.warnings:
            click.echo(f"  warning: {w}")
        if target is not None:
            click.echo(f"  target {target}: {100 * (a.target_fraction or 0.0):.1f} wt%")
        if plot_dir is not None:
            png = plot_fit(fit, Path(plot_dir) / f"{path.stem}_fit.png", title=path.name)
            click.echo(f"  plot: {png}")
        results.append({"file": str(path), **a.model_dump(mode="json"), "rexp": fit.rexp,
                        "zero_shift_deg": fit.zero_shift, "displacement_deg": fit.displacement})
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"patterns": results}, indent=2))
    if failed:
        raise click.exceptions.Exit(1)


def texture_config(options: tuple[str, ...], names: tuple[str, ...] | list[str] | None) -> AnalysisConfig:
    """``--texture PHASE[=H,K,L|auto]`` options as an :class:`AnalysisConfig` (``names``: the known phases)."""
    requests: dict[str, str] = {}
    for opt in options:
        phase, _, direction = opt.partition("=")
        phase = phase.strip()
        if names is not None and phase != "*" and phase not in names:
            raise click.BadParameter(f"{phase!r} is not a reference; known: {', '.join(names)}", param_hint="--texture")
        requests[phase] = direction.strip() or "auto"
    try:
        return AnalysisConfig(preferred_orientation=requests)
    except (ValueError, CrystaloopError) as exc:
        raise click.BadParameter(str(exc), param_hint="--texture") from exc


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


@click.command(name="xrd-measured")
@click.argument("patterns", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--references", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="folder of reference CIFs")
@click.option("--truth", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="CSV with columns file,phase_formula,wt_fraction")
@click.option("--distractors", default=None, type=click.Path(file_okay=False, path_type=Path),
              help=f"extra reference CIFs that are not in the samples (default: {DEFAULT_DISTRACTORS}, when present)")
@click.option("--no-distractors", is_flag=True, help="use the references alone")
@click.option("--wavelength", default=None, help="for files that store no wavelength (default Cu K-alpha1 + K-alpha2)")
@click.option("--sample-elements", is_flag=True, help="a different arm: each pattern's references restricted to "
              "the elements of its truth phases (what a lab knows from its precursors; adds information)")
@click.option("--texture", "texture", multiple=True, metavar="PHASE[=H,K,L|auto]",
              help="as in `xrd analyze`: March-Dollase refinement on request ('*' for every identified phase)")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False, path_type=Path))
def bench_xrd_measured(
    patterns: Path, references: Path, truth: Path, distractors: Path | None, no_distractors: bool,
    wavelength: str | None, sample_elements: bool, texture: tuple[str, ...], json_path: Path | None,
) -> None:
    """Phase identification on measured PATTERNS with a known answer (phase sets, wt %, unknown peaks)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lab_adapters.xrd.measured import run_measured_benchmark

    if no_distractors:
        distractors = None
    elif distractors is None and DEFAULT_DISTRACTORS.is_dir():
        distractors = DEFAULT_DISTRACTORS
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("patterns", total=None)

        def step(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name[:40])

        try:
            res = run_measured_benchmark(patterns, references, truth, distractors, wavelength=wavelength,
                                         progress=step, sample_elements=sample_elements,
                                         config=texture_config(texture, None))
        except CrystaloopError as exc:
            raise click.ClickException(str(exc)) from exc
    res["distractors"] = str(distractors) if distractors else None
    click.echo(f"XRD on measured patterns: {res['n_patterns']} patterns, {res['n_references']} references"
               f" (distractors: {res['distractors']})"
               + ("; arm: references restricted to each sample's elements (adds information)" if sample_elements else ""))
    targets = {"phase_set_accuracy": ">= 0.9", "wt_fraction_mae": "<= 0.05", "spurious_rate": "<= 0.05",
               "seconds_per_pattern": "<= 5"}
    for key in ("phase_set_accuracy", "wt_fraction_mae", "spurious_rate", "unknown_detection_rate",
                "unknown_false_alarm_rate", "seconds_per_pattern"):
        value = res[key]
        text = "n/a" if value is None else f"{value:.3f}"
        click.echo(f"  {key:<26} {text:>7}   {('target ' + targets[key]) if key in targets else ''}")
    for scan, sub in sorted(res.get("by_scan", {}).items()):
        click.echo(f"  {scan}: accuracy {sub['phase_set_accuracy']:.3f}, wt MAE {sub['wt_fraction_mae']:.3f}, "
                   f"spurious {sub['spurious_rate']:.3f}")
    for row in res["patterns"]:
        if not row["correct"] or row["spurious"]:
            click.echo(f"  {row['file']}: truth {row['truth']} reported {row['reported']}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(res, indent=2))
