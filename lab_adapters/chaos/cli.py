"""``crystaloop chaos [--kills 20] [--json FILE]``: the reliability report."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

__all__ = ["chaos"]


@click.command()
@click.option("--kills", default=20, show_default=True, help="SIGKILLs of the running campaign.")
@click.option("--fuzz", "n_fuzz", default=25, show_default=True, help="Bad inputs per boundary.")
@click.option("--experiments", default=150, show_default=True, help="Experiment budget of the chaos campaign.")
@click.option("--seed", default=0, show_default=True)
@click.option("--work", type=click.Path(path_type=Path), help="Keep the campaigns here (default: a temp folder).")
@click.option("--json", "json_file", type=click.Path(path_type=Path), help="Write the figures as JSON.")
def chaos(kills: int, n_fuzz: int, experiments: int, seed: int, work: Path | None, json_file: Path | None) -> None:
    """Kill a simulated campaign with every lab fault switched on, feed bad input to every
    boundary, and report what was lost or repeated (both must be 0)."""
    from lab_adapters.chaos.fuzz import fuzz_boundaries
    from lab_adapters.chaos.kills import chaos_config, run_kills

    work = work or Path(tempfile.mkdtemp(prefix="crystaloop-chaos-"))
    console = Console()
    console.print(f"chaos campaign in {work} (seed {seed}, {kills} kills)")
    rep = run_kills(work / "kills", kills=kills, seed=seed, config=chaos_config(seed, experiments))
    fz = fuzz_boundaries(work / "fuzz", n=n_fuzz, seed=seed)
    figures = {
        "kills": rep.kills,
        "kills_by_point": rep.kills_by_point,
        "faults_injected": rep.faults_injected,
        "bad_inputs": fz.tried,
        "bad_inputs_by_boundary": {k: v.tried for k, v in fz.by_boundary.items()},
        "bad_input_findings": fz.findings,
        "lost": rep.lost,
        "duplicates": rep.duplicates,
        "matches_uninterrupted_run": rep.matches_reference,
        "differences": rep.differences,
        "seconds": round(rep.seconds, 1),
    }
    table = Table(title="crystaloop chaos")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("kills survived", str(rep.kills))
    for point, n in sorted(rep.kills_by_point.items()):
        table.add_row(f"  at {point}", str(n))
    table.add_row("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(rep.faults_injected.items())) or "0")
    table.add_row("bad inputs tried", str(fz.tried))
    table.add_row("bad inputs badly handled", str(len(fz.findings)))
    table.add_row("requests lost", str(rep.lost))
    table.add_row("duplicate submissions", str(rep.duplicates))
    table.add_row("final ledger = uninterrupted run", "yes" if rep.matches_reference else "NO: " + "; ".join(rep.differences))
    table.add_row("seconds", f"{rep.seconds:.1f}")
    console.print(table)
    for f in fz.findings[:20]:
        console.print(f"[red]finding[/red] {f}")
    if json_file:
        json_file.write_text(json.dumps(figures, indent=2))
    if rep.lost or rep.duplicates or fz.findings or not rep.matches_reference:
        raise SystemExit(1)

