"""A seeded mutation fuzzer over crystaloop's input boundaries.

Each boundary takes a valid input, mutates it (truncation, junk bytes, NaN/inf/text in
numeric fields, missing or extra fields, a BOM, binary noise) and feeds it to the real
parser. A boundary passes when every input either parses or raises a
:class:`~loop.errors.CrystaloopError` whose message names the file or field; anything
else (a bare traceback, an empty message) is a finding. Observations fed to a live
campaign must also leave its ledger unchanged.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lab_adapters.chaos.boundaries import ADAPTER_BOUNDARIES
from lab_adapters.chaos.mutate import Boundary, BoundaryResult, check, mutate_text

__all__ = ["BOUNDARIES", "FuzzReport", "fuzz_boundaries"]

log = logging.getLogger(__name__)


@dataclass
class FuzzReport:
    by_boundary: dict[str, BoundaryResult] = field(default_factory=dict)

    @property
    def tried(self) -> int:
        return sum(b.tried for b in self.by_boundary.values())

    @property
    def findings(self) -> list[str]:
        return [f"{name}: {f}" for name, b in self.by_boundary.items() for f in b.findings]


def _fuzz_yaml(work: Path, rng: np.random.Generator, n: int) -> BoundaryResult:
    from lab_adapters.chaos.kills import chaos_config
    from loop.config import load_config

    res = BoundaryResult()
    base = yaml.safe_dump(chaos_config())
    for i in range(n):
        path = work / f"fuzz-{i}.yaml"
        if i % 2:
            path.write_text(mutate_text(base, rng), encoding="utf-8", errors="replace")
        else:
            data = chaos_config()
            keys = ["budget", "lab", "generator", "objectives", "seed", "name"]
            k = keys[int(rng.integers(len(keys)))]
            data[k] = [None, "x", -1, {"kind": "nope"}, [1, 2], math.nan][int(rng.integers(6))]
            path.write_text(yaml.safe_dump(data))
        check(res, path.name, lambda p=path: load_config(p), path.name)
    return res


def _fuzz_csv(work: Path, rng: np.random.Generator, n: int) -> BoundaryResult:
    from loop.tables import load_design_table

    res = BoundaryResult()
    x = np.round(rng.random((12, 3)), 3)
    base = "a,b,c,y\n" + "\n".join(",".join(map(str, [*row, float(row.sum())])) for row in x) + "\n"
    for i in range(n):
        path = work / f"fuzz-{i}.csv"
        path.write_text(mutate_text(base, rng), encoding="utf-8", errors="replace")
        check(res, path.name, lambda p=path: load_design_table(p, inputs=["a", "b", "c"]).truth("y"), path.name)
    return res


def _fuzz_cif(work: Path, rng: np.random.Generator, n: int) -> BoundaryResult:
    import pandas as pd
    from pymatgen.core import Lattice, Structure

    from loop.tables import load_design_table

    res = BoundaryResult()
    cif = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(fmt="cif")
    for i in range(n):
        path = work / f"fuzz-cif-{i}.csv"
        pd.DataFrame({"cif": [mutate_text(cif, rng)], "y": [1.0]}).to_csv(path, index=False)
        check(res, path.name, lambda p=path: load_design_table(p, cif_column="cif"), path.name)
    return res


def _fuzz_observations(work: Path, rng: np.random.Generator, n: int) -> BoundaryResult:
    from lab_adapters.chaos.kills import chaos_config, ledger_fingerprint
    from loop.campaign.engine import Campaign
    from loop.config import parse_config

    res = BoundaryResult()
    cfg = chaos_config()
    cfg.pop("lab")
    cfg["tracking"] = {"enabled": False}
    d = work / "ask-tell"
    with Campaign.create(parse_config(cfg), d) as campaign:
        reqs = campaign.suggest(4)
        bad_values: list[Any] = [math.nan, math.inf, -math.inf, "12 S/cm", None, [1, 2], {"value": "x"}, {"value": 1, "uncertainty": -1}]
        for i in range(n):
            before = ledger_fingerprint(d)
            value = bad_values[int(rng.integers(len(bad_values)))]
            rid = reqs[i % len(reqs)].request_id
            check(res, f"observe {value!r}", lambda r=rid, v=value: campaign.observe(r, {"y": v}), "y")
            if ledger_fingerprint(d) != before:
                res.findings.append(f"observe {value!r} changed the ledger")
            check(res, "observe unknown request", lambda: campaign.observe("no-such-request", {"y": 1.0}), "no-such-request")
    return res


BOUNDARIES: dict[str, Boundary] = {
    "campaign_yaml": _fuzz_yaml,
    "csv_pool": _fuzz_csv,
    "cif_structures": _fuzz_cif,
    "observations": _fuzz_observations,
    **ADAPTER_BOUNDARIES,
}
"""Every input boundary ``crystaloop chaos`` fuzzes: the core ones here, the lab adapters' beside them."""


def fuzz_boundaries(work: Path, n: int = 25, seed: int = 0) -> FuzzReport:
    """Run every registered boundary ``n`` times; returns tries and findings per boundary."""
    report = FuzzReport()
    rng = np.random.default_rng(seed)
    for name, fn in BOUNDARIES.items():
        sub = work / name
        sub.mkdir(parents=True, exist_ok=True)
        report.by_boundary[name] = fn(sub, rng, n)
        log.info("fuzz %s: %d tried, %d rejected, %d findings", name, report.by_boundary[name].tried,
                 report.by_boundary[name].rejected, len(report.by_boundary[name].findings))
    return report


def dumps(report: FuzzReport) -> str:
    return json.dumps({k: vars(v) for k, v in report.by_boundary.items()}, indent=1)
