"""``crystaloop bench generator``: sample quality, throughput, the enumerable L1 check, the
MLIP-based S.U.N. rate.

Registered as entry point ``bench.generator`` in group ``crystaloop.commands``. The closed-loop
benchmarks (``bench rediscover``, ``bench loop-prior``) drive every stage and live in
:mod:`loop.bench`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click
import numpy as np

__all__ = ["bench_generator"]

log = logging.getLogger(__name__)


def _uniform_score(candidates):  # the proxy reward of the benchmark: every valid structure alike
    return np.zeros(len(candidates))


@click.command("generator")
@click.option("--elements", default="Li,Mn,Ti,O", show_default=True, help="comma-separated chemical system")
@click.option("--max-atoms", default=20, show_default=True, type=int)
@click.option("--n", "n_samples", default=1000, show_default=True, type=int, help="samples to evaluate")
@click.option(
    "--train-seconds",
    default=30.0,
    show_default=True,
    type=float,
    help="TB training on the uniform proxy reward before sampling",
)
@click.option(
    "--enum-seconds", default=120.0, show_default=True, type=float, help="training budget of the enumerable L1 check"
)
@click.option("--skip-enumerable", is_flag=True, help="skip the enumerable L1 check")
@click.option(
    "--pyxtal-samples",
    default=50,
    show_default=True,
    type=int,
    help="pyxtal from_random calls on the same (space group, composition) inputs",
)
@click.option(
    "--baseline-samples",
    default=100,
    show_default=True,
    type=int,
    help="samples of the random_crystal baseline (0 to skip)",
)
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CSV with a 'cif' column: the novelty reference (e.g. ../shared/data/carbon24/val.csv)",
)
@click.option("--reference-limit", type=int, default=None, help="read only the first rows of --reference")
@click.option(
    "--sun-samples",
    default=20,
    show_default=True,
    type=int,
    help="first samples relaxed for the MLIP-based S.U.N. rate (0 to skip)",
)
@click.option("--sun-threshold", default=0.1, show_default=True, type=float, help="eV/atom above the MLIP hull")
@click.option("--sun-steps", default=200, show_default=True, type=int, help="relaxation step limit of the S.U.N. rate")
@click.option("--potential", default="chgnet", show_default=True, help="registered Potential of the S.U.N. rate")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=1, show_default=True, type=int, help="torch threads")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def bench_generator(
    elements: str,
    max_atoms: int,
    n_samples: int,
    train_seconds: float,
    enum_seconds: float,
    skip_enumerable: bool,
    pyxtal_samples: int,
    baseline_samples: int,
    reference: Path | None,
    reference_limit: int | None,
    sun_samples: int,
    sun_threshold: float,
    sun_steps: int,
    potential: str,
    seed: int,
    threads: int,
    json_path: Path | None,
) -> None:
    """Benchmark the GFlowNet crystal generator (seeds: --seed for model, training and sampling)."""
    import torch

    from generators.bench.enumerable import enumerable_check
    from generators.bench.metrics import load_reference, sample_metrics
    from generators.gflownet import GFlowNetGenerator
    from generators.random_crystal import RandomCrystalGenerator, pyxtal_random
    from loop.interfaces import PluginContext

    torch.set_num_threads(threads)
    out: dict[str, object] = {"seed": seed, "threads": threads, "elements": elements.split(","), "max_atoms": max_atoms}
    if not skip_enumerable:
        check = enumerable_check(seconds=enum_seconds, seed=seed, threads=threads)
        out.update(l1_enumerable=check.l1, enumerable=check.as_dict())
    ctx = PluginContext(work_dir=Path("."), seed=seed)
    options = {"elements": elements.split(","), "max_atoms": max_atoms}
    t0 = time.perf_counter()
    gen = GFlowNetGenerator(GFlowNetGenerator.Config(**options), ctx)
    out["setup_s"] = round(time.perf_counter() - t0, 2)
    history = gen.train(_uniform_score, steps=10**9, seconds=train_seconds) if train_seconds > 0 else []
    out["train_steps"] = len(history)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    cands = gen.sample(n_samples, None, rng)
    out["decoded_per_s"] = len(cands) / (time.perf_counter() - t0)
    refs = load_reference(reference, reference_limit) if reference else []
    out["reference"] = str(reference) if reference else None
    out.update(sample_metrics(cands, refs))
    out["env_fallbacks"] = gen.env.fallbacks
    inputs = [
        (c.metadata["space_group"], list(c.metadata["counts"]), list(c.metadata["counts"].values()))
        for c in cands[:pyxtal_samples]
    ]
    t0 = time.perf_counter()
    made = sum(pyxtal_random(sg, sp, n, seed=seed + i) is not None for i, (sg, sp, n) in enumerate(inputs))
    out["pyxtal_per_s"] = len(inputs) / max(time.perf_counter() - t0, 1e-9)
    out["pyxtal_success"] = made / max(len(inputs), 1)
    if baseline_samples > 0:
        base = RandomCrystalGenerator(RandomCrystalGenerator.Config(**options), ctx)
        t0 = time.perf_counter()
        bc = base.sample(baseline_samples, None, np.random.default_rng(seed))
        rate = len(bc) / (time.perf_counter() - t0)
        out["random_crystal"] = {**sample_metrics(bc, refs), "decoded_per_s": rate}
    if sun_samples > 0:
        from generators.bench.sun import sun_rate

        out.update(sun_rate(cands[:sun_samples], options["elements"], refs, potential=potential, threshold=sun_threshold,
                           steps=sun_steps))
    else:
        out["sun_rate"] = None

    rows = [
        ("structural_validity", out["structural_validity"]),
        ("smact_validity", out["smact_validity"]),
        ("uniqueness", out["uniqueness"]),
        ("novelty", out["novelty"]),
        ("n_space_groups", out["n_space_groups"]),
        ("n_compositions", out["n_compositions"]),
        ("decoded_per_s (gflownet)", out["decoded_per_s"]),
        ("pyxtal_per_s (same inputs)", out["pyxtal_per_s"]),
        (f"sun_rate (MLIP-based, n {out.get('sun_n', 0)})", out["sun_rate"]),
    ]
    if "l1_enumerable" in out:
        rows.insert(0, ("l1_enumerable", out["l1_enumerable"]))
    click.echo(f"generator benchmark: gflownet, {elements}, max_atoms {max_atoms}, n {len(cands)}, seed {seed}")
    for name, value in rows:
        text = "n/a" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
        click.echo(f"  {name:<30} {text:>10}")
    if "random_crystal" in out:
        rc = out["random_crystal"]
        click.echo(
            "  random_crystal baseline: "
            + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in rc.items())
        )
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=2, default=float))
        click.echo(f"wrote {json_path}")
