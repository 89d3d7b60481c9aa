"""Benchmark commands of the surrogates stage: ``crystaloop bench pool``."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["bench_pool"]


def _write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2))
        click.echo(f"wrote {path}")


@click.command("pool")
@click.argument("csv", type=click.Path(dir_okay=False))
@click.option("--minimize", is_flag=True, help="the objective (last column) is minimised")
@click.option("--objective", default=None, help="objective column (default: the last one)")
@click.option("--seeds", default=20, show_default=True, type=click.IntRange(1))
@click.option("--q", "q", default=1, show_default=True, type=click.IntRange(1), help="batch size")
@click.option("--ranker", "rankers", multiple=True, default=("botorch",), show_default=True, help="our ranker(s)")
@click.option("--peer", "peers", multiple=True, default=("botorch-plain", "random"), show_default=True)
@click.option("--max-experiments", type=click.IntRange(1), default=None, help="cap per campaign (default: the pool size)")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="peer result cache (default ~/.cache/crystaloop/bench-pool)")
@click.option("--no-cache", is_flag=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="processes (seeds run in parallel)")
@click.option("--ranker-option", "ranker_options", multiple=True, help="KEY=VALUE option of our ranker's Config (YAML value)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Top% plot (PNG)")
def bench_pool(csv, minimize, objective, seeds, q, rankers, peers, max_experiments, cache_dir, no_cache, workers, ranker_options, json_path, plot_path) -> None:  # noqa: ANN001
    """Liang et al. (2021) pool protocol on CSV: our ranker against the peers."""
    import torch
    import yaml

    from loop.errors import CrystaloopError
    from surrogates.bench.pool import default_cache_dir, plot_top, run_pool

    torch.set_num_threads(1)
    options = {}
    for item in ranker_options:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--ranker-option")
        options[key.strip()] = yaml.safe_load(value)
    cache = None if no_cache else Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        report, extras = run_pool(
            csv, minimize=minimize, objective=objective, seeds=seeds, q=q, rankers=list(rankers), peers=list(peers),
            max_experiments=max_experiments, cache_dir=cache,
            workers=workers, ranker_options=options,
        )
    except CrystaloopError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{report['dataset']}: N={report['n_designs']} designs, k={report['k']} targets, q={q}, {seeds} seeds, cap={report['max_experiments']}")
    click.echo(f"{'method':<16}{'n50':>7}{'n80':>7}{'n100':>7}{'AF50':>7}{'AF80':>7}{'AF100':>7}  n80 5-95%   EF@budgets          s")
    for name, r in report["results"].items():
        b = report["bands_5_95"][name]
        ef = " ".join(f"{k}:{v:.2f}" for k, v in r["ef"].items())
        click.echo(
            f"{name:<16}{r['n50']:>7.1f}{r['n80']:>7.1f}{r['n100']:>7.1f}{r['af50']:>7.2f}{r['af80']:>7.2f}{r['af100']:>7.2f}"
            f"  [{b['n80'][0]:.0f},{b['n80'][1]:.0f}]  {ef}  {b['seconds']:.0f}"
        )
    for ours, ratios in report["af80_ratio_vs_peers"].items():
        for peer, r in ratios.items():
            click.echo(f"AF80 {ours} / {peer}: {r['af80_ratio']:.2f}x (paired bootstrap 90%: {r['ci90'][0]:.2f}-{r['ci90'][1]:.2f})")
    _write_json(json_path, report)
    if plot_path:
        plot_top(report, extras, plot_path)
        click.echo(f"wrote {plot_path}")
