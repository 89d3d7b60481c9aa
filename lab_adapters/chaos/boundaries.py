"""Fuzz boundaries of the lab adapters: result files, XRD files, HTTP payloads.

Listed in :data:`ADAPTER_BOUNDARIES`, which :data:`lab_adapters.chaos.fuzz.BOUNDARIES` joins to
the core boundaries, so ``crystaloop chaos`` exercises them all.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lab_adapters.chaos.mutate import Boundary, BoundaryResult, check, mutate_text
from loop.errors import CrystaloopError

__all__ = ["ADAPTER_BOUNDARIES"]


def _fuzz_result_json(work: Path, rng: np.random.Generator, n: int) -> BoundaryResult:
    """A filedrop result file: every malformed one raises an error naming the field."""
    from lab_adapters.filedrop_files import parse_result

    res = BoundaryResult()
    base = {"request_id": "chaos-r0001-000", "values": {"y": 1.5, "yield": {"value": 0.7, "uncertainty": 0.05}}}
    junk: list[object] = [math.nan, math.inf, -1.0, "high", None, [1], {"value": "x"}, {"value": 1, "uncertainty": -2}]
    for i in range(n):
        if i % 2:
            text = mutate_text(json.dumps(base), rng)
        else:
            doc = json.loads(json.dumps(base))
            key = ["y", "yield", "request_id", "success", "extra_field"][int(rng.integers(5))]
            value = junk[int(rng.integers(len(junk)))]
            if key in ("y", "yield"):
                doc["values"][key] = value
            else:
                doc[key] = value
            text = json.dumps(doc)
        check(res, f"result {i}", lambda t=text: parse_result(t, properties=["y", "yield"], allow_negative=set(), strict_properties=True), None)
    return res


def _fuzz_xrd(work: Path, rng: np.random.Generator, n: int) -> BoundaryResult:
    """Powder patterns: NaN or negative counts, wrong columns, truncation, junk -> a named error."""
    from lab_adapters.xrd import read_pattern

    res = BoundaryResult()
    tt = np.linspace(10, 80, 400)
    counts = 100 + 1000 * np.exp(-((tt - 35) ** 2) / 0.1)
    base = "\n".join(f"{a:.3f} {b:.1f}" for a, b in zip(tt, counts, strict=True))
    for i in range(n):
        path = work / f"pattern-{i}.{['xy', 'csv', 'xrdml'][i % 3]}"
        text = mutate_text(base if i % 3 != 2 else "<xrdMeasurements>" + base[:200], rng)
        if i % 4 == 0:
            text = text.replace("100.0", "-5.0", 3)
        path.write_text(text.replace(" ", "," if path.suffix == ".csv" else " "), encoding="utf-8", errors="replace")
        check(res, path.name, lambda p=path: read_pattern(p), path.name)
    return res


def _fuzz_http(work: Path, rng: np.random.Generator, n: int) -> BoundaryResult:
    """The lab server's API: junk bodies get a 4xx with a message, and nothing is submitted."""
    from fastapi.testclient import TestClient

    from lab_adapters.http.server import LabService, create_app
    from loop.interfaces import PluginContext

    res = BoundaryResult()
    token = "chaos-token-123"
    bounds = {f"x{i}": [0.0, 1.0] for i in range(6)}
    from loop import registry
    from loop.clock import SimulatedClock

    lab = registry.create("labs", {"kind": "analytic", "options": {"bounds": bounds}}, PluginContext(work_dir=work / "lab", clock=SimulatedClock()), "lab")
    service = LabService(lab, work / "server")
    client = TestClient(create_app(service, token))
    bodies: list[str] = ['{"requests": [{"request_id": 1}]}', "[]", "null", "Infinity", '{"requests": "all"}', "{", '{"request_ids": [NaN]}']
    for i in range(n):
        body = bodies[i % len(bodies)] if i < len(bodies) else mutate_text(bodies[int(rng.integers(len(bodies)))], rng)
        route = ["submit", "known", "cancel"][i % 3]
        res.tried += 1
        try:
            resp = client.post(f"/v1/{route}", content=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        except (CrystaloopError, Exception) as exc:  # the server itself must never raise
            res.findings.append(f"{route} {body[:40]!r}: server raised {type(exc).__name__}: {exc}")
            continue
        if resp.status_code >= 500:
            res.findings.append(f"{route} {body[:40]!r}: HTTP {resp.status_code}")
        elif resp.status_code >= 400:
            res.rejected += 1
            if not resp.json().get("detail"):
                res.findings.append(f"{route} {body[:40]!r}: HTTP {resp.status_code} without a message")
    if service.lab.journal.entries("submit"):
        res.findings.append("a junk payload reached the lab")
    unauth = client.post("/v1/submit", content="{}", headers={"Authorization": "Bearer wrong"})
    res.tried += 1
    if unauth.status_code != 401:
        res.findings.append(f"a wrong token got HTTP {unauth.status_code}, not 401")
    else:
        res.rejected += 1
    return res


ADAPTER_BOUNDARIES: dict[str, Boundary] = {
    "result_json": _fuzz_result_json,
    "xrd_files": _fuzz_xrd,
    "http_payloads": _fuzz_http,
}
