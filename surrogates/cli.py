"""Commands of the surrogates stage: ``crystaloop bench pool | discovery | planner | synthetic-pools`` and ``crystaloop evidence``."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["bench_discovery", "bench_planner", "bench_pool", "bench_synthetic_pools", "evidence"]


def _write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2))
        click.echo(f"wrote {path}")


@click.command("pool")
@click.argument("csv", type=click.Path(dir_okay=False))
@click.option("--minimize", is_flag=True, help="the objective (last column) is minimised")
@click.option("--objective", default=None, help="objective column (default: the last one)")
@click.option("--seeds", default=20, show_default=True, type=click.IntRange(1), help="number of seeds")
@click.option("--first-seed", default=0, show_default=True, type=click.IntRange(0), help="seeds run are first-seed .. first-seed + seeds - 1")
@click.option("--q", "q", default=1, show_default=True, type=click.IntRange(1), help="batch size")
@click.option("--n-init", default=2, show_default=True, type=click.IntRange(1), help="shared start: random designs every method measures first")
@click.option("--setting", "settings", multiple=True, type=click.Choice(["shared", "own"]), default=("shared", "own"), show_default=True,
              help="shared: every method from the shared start; own: each from its documented default start")
@click.option("--stop-at", default=0.8, show_default=True, type=click.FloatRange(0.05, 1.0),
              help="stop a campaign once this fraction of the targets is found (1.0 for n100 and EF)")
@click.option("--ranker", "rankers", multiple=True, default=("botorch",), show_default=True, help="our ranker(s)")
@click.option("--peer", "peers", multiple=True, default=("botorch-plain", "baybe", "ax", "random"), show_default=True)
@click.option("--max-experiments", type=click.IntRange(1), default=None, help="cap per campaign (default: the pool size)")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="result cache (default ~/.cache/crystaloop/bench-pool)")
@click.option("--no-cache", is_flag=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="processes (seeds run in parallel)")
@click.option("--ranker-option", "ranker_options", multiple=True, help="KEY=VALUE option of our ranker's Config (YAML value)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Top% plot (PNG)")
def bench_pool(csv, minimize, objective, seeds, first_seed, q, n_init, settings, stop_at, rankers, peers, max_experiments, cache_dir, no_cache, workers, ranker_options, json_path, plot_path) -> None:  # noqa: ANN001
    """Liang et al. (2021) pool protocol on CSV: our ranker against the peers, from a shared start and from each one's own."""
    import torch

    from loop.errors import CrystaloopError
    from surrogates.bench.pool import default_cache_dir, plot_top, run_pool

    torch.set_num_threads(1)
    options = _parse_options(ranker_options, "--ranker-option")
    cache = None if no_cache else Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        report, extras = run_pool(
            csv, minimize=minimize, objective=objective, seeds=list(range(first_seed, first_seed + seeds)), q=q,
            rankers=list(rankers), peers=list(peers), max_experiments=max_experiments, cache_dir=cache,
            workers=workers, ranker_options=options, n_init=n_init, settings=tuple(dict.fromkeys(settings)), stop_level=stop_at,
        )
    except CrystaloopError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{report['dataset']}: N={report['n_designs']} designs, k={report['k']} targets, q={q}, seeds {first_seed}-{first_seed + seeds - 1}, "
        f"cap={report['max_experiments']}, shared start n_init={n_init}, stop at {stop_at:g} of the targets"
    )
    for setting in report["settings"]:
        title = f"shared start ({n_init} random designs)" if setting == "shared" else "each method's own default start"
        click.echo(f"-- {title}")
        click.echo(f"{'method':<16}{'n50':>7}{'n80':>7}{'n100':>7}{'AF50':>7}{'AF80':>7}{'AF100':>7}  n80 5-95%  >cap  EF@budgets          s")
        for name, r in report["results"][setting].items():
            b = report["bands_5_95"][setting][name]
            ef = " ".join(f"{k}:{v:.2f}" for k, v in r["ef"].items()) if r["ef"] else "-"
            cells = "".join(f"{_fmt(r[f'n{t}'], 1):>7}" for t in ("50", "80", "100")) + "".join(f"{_fmt(r[f'af{t}'], 2):>7}" for t in ("50", "80", "100"))
            click.echo(f"{name:<16}{cells}  [{b['n80'][0]:.0f},{b['n80'][1]:.0f}]{r['censored']:>6}  {ef}  {b['seconds']:.0f}")
    for ours, ratios in report["af80_ratio_vs_peers"].items():
        for peer, r in ratios.items():
            click.echo(f"AF80 {ours} / {peer}: {r['af80_ratio']:.2f}x (paired bootstrap 90%: {r['ci90'][0]:.2f}-{r['ci90'][1]:.2f})")
    best = report["best_peer"]
    if best:
        ours = next(iter(report["af80_ratio_vs_peers"]))
        click.echo(
            f"best peer: {best['peer']} ({best['setting']} start), AF80 {best['af80']:.2f}; {ours} / best peer: "
            f"{best['af80_ratio']:.2f}x (90%: {best['ci90'][0]:.2f}-{best['ci90'][1]:.2f})"
        )
    _write_json(json_path, report)
    if plot_path:
        plot_top(report, extras, plot_path)
        click.echo(f"wrote {plot_path}")


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _parse_options(items: tuple[str, ...], hint: str) -> dict:
    import yaml

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=hint)
        options[key.strip()] = yaml.safe_load(value)
    return options


@click.command("discovery")
@click.argument("csv", type=click.Path(dir_okay=False))
@click.option("--seeds", default=10, show_default=True, type=click.IntRange(1))
@click.option("--q", "q", default=10, show_default=True, type=click.IntRange(1), help="batch size")
@click.option("--ranker", "rankers", multiple=True, default=("botorch",), show_default=True, help="our ranker(s)")
@click.option("--max-experiments", type=click.IntRange(1), default=None, help="cap per campaign (default: the pool size)")
@click.option("--heat-max", default=0.2, show_default=True, type=float, help="target: heat_ref <= this (eV/atom)")
@click.option("--window", nargs=2, type=float, default=(1.5, 3.0), show_default=True, help="target gap window (eV)")
@click.option("--ranker-option", "ranker_options", multiple=True, help="KEY=VALUE option of our ranker's Config (YAML value)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def bench_discovery(csv, seeds, q, rankers, max_experiments, heat_max, window, ranker_options, json_path) -> None:  # noqa: ANN001
    """Perovskite discovery on CSV (perov-5 columns): experiments to find the first / all targets."""
    import torch
    from threadpoolctl import threadpool_limits

    from loop.errors import CrystaloopError
    from surrogates.bench.discovery import run_discovery

    torch.set_num_threads(1)
    options = _parse_options(ranker_options, "--ranker-option")
    try:
        with threadpool_limits(1):
            report = run_discovery(
                csv, seeds=seeds, q=q, rankers=list(rankers), max_experiments=max_experiments,
                ranker_options=options, heat_max=heat_max, window=tuple(window),
            )
    except CrystaloopError as exc:
        raise click.ClickException(str(exc)) from None
    exp = report["random_expectation"]
    click.echo(f"{report['dataset']}: N={report['n_designs']} crystals, k={report['k']} targets, q={q}, {seeds} seeds")
    click.echo(f"{'method':<12}{'n_first':>9}{'n_all':>9}  n_all 5-95%   found  stable        s")
    for name, r in report["results"].items():
        b = r["n_all_5_95"]
        click.echo(
            f"{name:<12}{r['n_first']:>9.1f}{r['n_all']:>9.1f}  [{b[0]:.0f},{b[1]:.0f}]{r['found']:>10.1f}{r['stable_measured']:>8.1f}  {r['seconds']:>8.0f}"
        )
    click.echo(f"(found: targets found within the cap; stable: crystals measured with heat_ref <= {heat_max:g}; medians over seeds)")
    click.echo(f"{'random (exp)':<12}{exp['n_first']:>9.1f}{exp['n_all']:>9.1f}")
    _write_json(json_path, report)


@click.command("planner")
@click.option("--setting", "settings", multiple=True, help="CANDIDATES,OBSERVATIONS,OBJECTIVES (default: the issue's grid)")
@click.option("--prefilter", "prefilters", multiple=True, help="CANDIDATES=M: acquisition on the top M by UCB (default 10000=1000, 100000=1000)")
@click.option("--no-prefilter", is_flag=True, help="score every candidate")
@click.option("--value-seeds", default=3, show_default=True, type=click.IntRange(1), help="problems on which the pre-filter's batch value is compared (the worst is reported)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def bench_planner(settings, prefilters, no_prefilter, value_seeds, json_path) -> None:  # noqa: ANN001
    """Latency and peak memory of one q=8 selection (fit + select) against a bare posterior evaluation."""
    from surrogates.bench.planner import run_planner

    grid = None
    if settings:
        try:
            grid = [tuple(int(v) for v in s.split(",")) for s in settings]
        except ValueError:
            raise click.BadParameter("expected CANDIDATES,OBSERVATIONS,OBJECTIVES", param_hint="--setting") from None
        if any(len(g) != 3 for g in grid):
            raise click.BadParameter("expected CANDIDATES,OBSERVATIONS,OBJECTIVES", param_hint="--setting")
    pf = None
    if no_prefilter:
        pf = {}
    elif prefilters:
        pf = {int(k): int(v) for k, v in (p.split("=") for p in prefilters)}
    report = run_planner(grid, prefilter=pf, value_seeds=value_seeds)
    click.echo(f"{'cands':>7}{'obs':>6}{'m':>3}{'prefilt':>8}{'total s':>9}{'fit s':>7}{'select s':>9}{'floor s':>8}{'ratio':>7}{'peak MB':>9}  value ratio (worst of --value-seeds)")
    for r in report["rows"]:
        vr = r.get("prefilter_value_ratio")
        click.echo(
            f"{r['candidates']:>7}{r['observations']:>6}{r['objectives']:>3}{str(r['prefilter'] or '-'):>8}{r['seconds']:>9.2f}"
            f"{r['fit_s']:>7.2f}{r['select_s']:>9.2f}{r['floor_s']:>8.3f}{r['ratio']:>7.1f}{r['peak_mb']:>9.0f}  {'' if vr is None else f'{vr:.4f}'}"
        )
    _write_json(json_path, report)


@click.command("synthetic-pools")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--seed", default=42, show_default=True, type=int)
def bench_synthetic_pools(out_dir, seed) -> None:  # noqa: ANN001
    """Write pool CSVs of the Liang shape built from known functions (objective maximised) into OUT_DIR,
    to run ``crystaloop bench pool`` on data other than the shipped sets."""
    from surrogates.bench.synthetic_pools import write_synthetic_pools

    for path in write_synthetic_pools(out_dir, seed=seed):
        click.echo(str(path))


@click.command("evidence")
@click.argument("directories", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def evidence(directories: tuple[Path, ...], json_path: str | None) -> None:
    """Where the lab's XRD saw new phases, by composition, over the campaigns in DIRECTORIES: experiments, best
    yield, the share of the patterns no known phase explained (mean, largest) and the weight the botorch ranker's
    ``phase_evidence`` gives that composition (surrogates/models/phase_evidence.py)."""
    from loop.store import Ledger
    from surrogates.models.phase_evidence import evidence_by_composition

    cands, obs = [], []
    for d in directories:
        if not (d / "ledger.db").exists():
            raise click.ClickException(f"{d}: no ledger.db here")
        ledger = Ledger.for_directory(d, migrate=False)
        try:
            by_id = {c.id: c for c in ledger.candidates()}
            for o in ledger.observations():
                if o.candidate_id in by_id:
                    cands.append(by_id[o.candidate_id])
                    obs.append(o)
        finally:
            ledger.close()
    rows = evidence_by_composition(cands, obs)
    if not rows:
        click.echo(f"no XRD-read experiments with an unexplained-intensity figure in {len(directories)} campaign(s)")
    else:
        click.echo(f"{'formula':14s} {'n':>3s} {'best yield':>10s} {'mean unexpl.':>12s} {'max unexpl.':>11s} {'weight':>7s}")
        for r in rows:
            click.echo(f"{r['formula']:14s} {r['experiments']:3d} {r['best_yield']:10.2f} {r['mean_evidence']:12.2f} {r['max_evidence']:11.2f} {r['weight']:7.2f}")
    _write_json(json_path, {"campaigns": [str(d) for d in directories], "compositions": rows})
