"""The ``crystaloop`` command line.

    crystaloop run CONFIG [--dir DIR] [--set key=value ...]
    crystaloop resume DIR
    crystaloop status DIR
    crystaloop validate CONFIG [--set key=value ...]
    crystaloop export DIR OUT
    crystaloop approve DIR | pause DIR | cancel DIR [REQUEST_ID ...]
    crystaloop bench NAME ...        (contributed by the stages)
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console

from loop.errors import CrystaloopError

__all__ = ["cli", "main"]

log = logging.getLogger("crystaloop")


def _setup_logging(verbose: int, directory: Path | None = None) -> None:
    root = logging.getLogger()
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    logging.captureWarnings(True)  # library warnings go to the campaign log, not the terminal
    if not any(getattr(h, "_crystaloop", False) for h in root.handlers):
        console = logging.StreamHandler(sys.stderr)
        if verbose == 0:
            console.addFilter(lambda record: record.name != "py.warnings")
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        console.setLevel(level)
        console._crystaloop = True  # type: ignore[attr-defined]
        root.addHandler(console)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    for noisy in ("alembic", "mlflow", "urllib3", "matplotlib", "filelock", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(directory / "campaign.log", encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        root.addHandler(fh)


class _Root(click.Group):
    """Turns crystaloop errors into one clear line and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CrystaloopError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """crystaloop: closed-loop active learning for self-driving materials labs."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    _setup_logging(verbose)  # every command, plug-in commands included; campaign commands add their log file


def _run(campaign, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    from loop.cli.display import CampaignProgress, status_tables

    console = Console()
    try:
        if quiet:
            campaign.run()
        else:
            with CampaignProgress(campaign):
                campaign.run()
        for table in status_tables(campaign, top=5):
            console.print(table)
        console.print(f"campaign folder: {campaign.directory}")
        if campaign.config.tracking.enabled:
            console.print(f"MLflow: mlflow ui --backend-store-uri {campaign.tracker.uri}")
    finally:
        campaign.close()


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Campaign folder (default campaigns/<name>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config field, e.g. budget.experiments=20.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def run(ctx: click.Context, config: Path, directory: Path | None, overrides: tuple[str, ...], quiet: bool) -> None:
    """Run a campaign from a CONFIG file to its end."""
    from loop.campaign.engine import Campaign
    from loop.config import load_config

    cfg = load_config(config, overrides)
    directory = directory or Path("campaigns") / cfg.name
    _setup_logging(ctx.obj["verbose"], directory)
    campaign = Campaign.create(cfg, directory)
    log.info("campaign %s in %s", cfg.name, directory)
    _run(campaign, quiet)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def resume(ctx: click.Context, directory: Path, quiet: bool) -> None:
    """Continue a campaign after a crash, a kill or a pause."""
    from loop.campaign.engine import Campaign

    _setup_logging(ctx.obj["verbose"], directory)
    campaign = Campaign.open(directory)
    _run(campaign, quiet)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--top", default=10, show_default=True, help="Rows of best candidates and rounds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--watch", type=float, default=None, metavar="SECONDS", help="Refresh live every SECONDS until Ctrl-C.")
@click.pass_context
def status(ctx: click.Context, directory: Path, top: int, as_json: bool, watch: float | None) -> None:
    """Rounds, pending requests (per lab) and the best candidates of a campaign."""
    from dataclasses import asdict

    from loop.campaign.engine import Campaign
    from loop.cli.display import status_tables

    _setup_logging(ctx.obj["verbose"])
    campaign = Campaign.open(directory, lock=False)
    try:
        if as_json:
            s = asdict(campaign.summary())
            s["status"] = campaign.ledger.get_meta("status")
            s["requests"] = campaign.ledger.status_counts()
            rounds = campaign.ledger.rounds()
            s["rounds"] = len(rounds)
            s["ranking"] = [{"round": rnd.index, **rnd.ranking.model_dump()} for rnd, _ in rounds if rnd.ranking is not None]
            s["acquisition"] = s["ranking"][-1]["acquisition"] if s["ranking"] else None
            click.echo(json.dumps(s, indent=2))
            return
        console = Console()
        if watch:
            import time

            from rich.console import Group
            from rich.live import Live

            with Live(Group(*status_tables(campaign, top=top)), console=console, refresh_per_second=4) as live:
                try:
                    while True:
                        time.sleep(watch)
                        live.update(Group(*status_tables(campaign, top=top)))
                except KeyboardInterrupt:
                    pass
            return
        for table in status_tables(campaign, top=top):
            console.print(table)
    finally:
        campaign.close()


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def validate(config: Path, overrides: tuple[str, ...]) -> None:
    """Check a campaign config; reports every problem at once."""
    from loop.config import load_config
    from loop.errors import ConfigError

    try:
        cfg = load_config(config, overrides)
    except ConfigError as exc:
        click.echo(f"{config}: {len(exc.problems)} problem(s)", err=True)
        for loc, msg in exc.problems:
            click.echo(f"  {loc or '(file)'}: {msg}", err=True)
        sys.exit(2)
    click.echo(f"{config}: valid campaign {cfg.name!r}")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def export(directory: Path, out: Path) -> None:
    """Write the whole ledger of a campaign as CSV (one per table) and ledger.json."""
    from loop.store import Ledger

    if not (directory / "ledger.db").exists():
        raise click.ClickException(f"{directory}: no ledger.db here")
    ledger = Ledger.for_directory(directory, migrate=False)
    out.mkdir(parents=True, exist_ok=True)
    everything = {}
    for name in ledger.table_names():
        rows = ledger.dump_table(name)
        everything[name] = rows
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            cols = list(rows[0]) if rows else []
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    (out / "ledger.json").write_text(json.dumps(everything, indent=1, default=str), encoding="utf-8")
    click.echo(f"exported {len(everything)} tables to {out}")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default DIR/report).")
@click.option("--top", default=6, show_default=True, help="Top candidates shown with their structures.")
@click.pass_context
def report(ctx: click.Context, directory: Path, out: Path | None, top: int) -> None:
    """Write a self-contained HTML report of a campaign (figures also logged to MLflow)."""
    from loop.report import build_report

    _setup_logging(ctx.obj["verbose"])
    rep = build_report(directory, out, top=top)
    click.echo(f"report: {rep.path} ({len(rep.figures)} figures)")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--round", "round_index", type=int, help="Approve only this round (default: every waiting batch).")
@click.option("--drop", multiple=True, metavar="REQUEST_ID", help="Reject this request of the batch (repeatable).")
@click.option("--list", "list_only", is_flag=True, help="Show the batches that wait, approve nothing.")
def approve(directory: Path, round_index: int | None, drop: tuple[str, ...], list_only: bool) -> None:
    """Approve the batch(es) a campaign with `requests.approval: true` is waiting on."""
    from loop.campaign.control import send_control
    from loop.store import Ledger

    ledger = Ledger.for_directory(directory, migrate=False)
    try:
        waiting = [rnd for rnd, state in ledger.rounds() if state == "awaiting_approval"]
        for rnd in waiting:
            click.echo(f"round {rnd.index}:")
            for r in ledger.requests():
                if r.round == rnd.index:
                    desc = r.candidate.formula or ", ".join(f"{k}={v:g}" for k, v in r.candidate.params.items())
                    click.echo(f"  {r.request_id}  {r.candidate.id}  {desc}")
    finally:
        ledger.close()
    if not waiting:
        click.echo("no batch is waiting for approval")
        return
    if not list_only:
        send_control(directory, "approve", round_index=round_index, drop=drop)
        click.echo("approved; the campaign submits the batch at its next step")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
def pause(directory: Path) -> None:
    """Ask a running campaign to stop after its current step (continue with `resume`)."""
    from loop.campaign.control import send_control

    send_control(directory, "pause")
    click.echo(f"pause queued; continue later with: crystaloop resume {directory}")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("request_ids", nargs=-1)
def cancel(directory: Path, request_ids: tuple[str, ...]) -> None:
    """Cancel some requests, or (with no REQUEST_IDS) the whole campaign."""
    from loop.campaign.control import send_control

    send_control(directory, "cancel", request_ids=request_ids)
    what = ", ".join(request_ids) if request_ids else "the campaign"
    click.echo(f"cancellation of {what} queued")


@cli.command("config-reference")
def config_reference_cmd() -> None:
    """Print the configuration reference (campaign + every installed plug-in) as Markdown."""
    from loop.config_reference import config_reference

    click.echo(config_reference(), nl=False)


@cli.group()
def bench() -> None:
    """Benchmarks: each prints a table and writes the same figures with --json FILE (progress with -v)."""


def main() -> None:
    from loop.cli.plugins import attach_plugin_commands

    attach_plugin_commands(cli)
    cli(prog_name="crystaloop")


if __name__ == "__main__":
    main()
