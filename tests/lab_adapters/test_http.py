from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time

import httpx
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab_adapters.cli import lab as lab_cli
from lab_adapters.cli import load_lab_spec
from lab_adapters.http.client import HttpLab
from lab_adapters.http.server import LabService, ServerThread, create_app
from lab_adapters.table import TableLab
from loop.clock import SimulatedClock
from loop.errors import LabError, LabTimeoutError
from loop.interfaces import PluginContext
from loop.records import ExperimentRequest
from loop.tables import load_design_table
from tests.conftest import P3HT_OUT

TOKEN = "s3cret-token-for-tests"
LATENCY = 3600.0
SCALE = 3600.0  # one simulated hour per wall second


@pytest.fixture(scope="module")
def p3ht(data_dir):
    return data_dir / "liang2021" / "P3HT_dataset.csv"


@pytest.fixture(scope="module")
def server(tmp_path_factory, p3ht):
    work = tmp_path_factory.mktemp("server")
    cfg = TableLab.Config(path=p3ht, outputs={"conductivity": P3HT_OUT}, latency_s=LATENCY)
    table_lab = TableLab(cfg, PluginContext(work_dir=work / "lab", seed=3, clock=SimulatedClock(), name="lab"))
    service = LabService(table_lab, work, time_scale=SCALE)
    app = create_app(service, TOKEN, max_body_bytes=200_000)
    with ServerThread(app) as url:
        yield url, service


def client(tmp_path, url, monkeypatch, token=TOKEN, **opts):
    monkeypatch.setenv("TEST_LAB_TOKEN", token)
    opts.setdefault("backoff_s", 0.01)
    cfg = HttpLab.Config(url=url, token_env="TEST_LAB_TOKEN", **opts)
    return HttpLab(cfg, PluginContext(work_dir=tmp_path, name="lab"))


def requests_for(csv, n, prefix="r"):
    table = load_design_table(csv, exclude=[P3HT_OUT])
    return table, [ExperimentRequest(request_id=f"{prefix}{i}", candidate=table.designs[i].candidate, round=0) for i in range(n)]


def test_openapi_and_auth(server):
    url, _ = server
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/submit", "/v1/results", "/v1/known", "/v1/cancel", "/v1/capabilities"} <= set(spec["paths"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}
    assert httpx.get(f"{url}/v1/capabilities").status_code == 401
    assert httpx.get(f"{url}/v1/capabilities", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{url}/v1/capabilities", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    ok = httpx.get(f"{url}/v1/capabilities", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["properties"] == ["conductivity"]


def test_wrong_token_is_a_clear_error_that_never_shows_the_token(server, tmp_path, monkeypatch, caplog):
    url, _ = server
    with caplog.at_level(logging.DEBUG):
        lab = client(tmp_path, url, monkeypatch, token="not-the-token")
        with pytest.raises(LabError) as err:
            lab.capabilities()
    assert not err.value.transient and "TEST_LAB_TOKEN" in str(err.value)
    assert "not-the-token" not in caplog.text and "not-the-token" not in repr(lab)
    monkeypatch.delenv("TEST_LAB_TOKEN")
    with pytest.raises(LabError, match="TEST_LAB_TOKEN"):
        HttpLab(HttpLab.Config(url=url, token_env="TEST_LAB_TOKEN"), PluginContext(work_dir=tmp_path))


def test_oversize_and_malformed_payloads(server, tmp_path, monkeypatch, p3ht):
    url, _ = server
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(f"{url}/v1/known", content=b"x" * 300_000, headers=auth).status_code == 413
    chunks = (b"y" * 50_000 for _ in range(6))  # no Content-Length: counted as it arrives
    assert httpx.post(f"{url}/v1/known", content=chunks, headers=auth).status_code == 413
    bad = httpx.post(f"{url}/v1/submit", json={"requests": [{"request_id": "x"}]}, headers=auth)
    assert bad.status_code == 422 and "candidate" in bad.text
    assert httpx.post(f"{url}/v1/known", content=b"{not json", headers=auth).status_code == 422
    _, reqs = requests_for(p3ht, 1, prefix="big")
    huge = reqs[0].model_copy(update={"recipe": reqs[0].recipe.model_copy(update={"params": {"notes": "z" * 300_000}})})
    with pytest.raises(LabError, match="too large"):
        client(tmp_path, url, monkeypatch).submit([huge])


def test_submit_poll_cycle_through_http(server, tmp_path, monkeypatch, p3ht):
    url, service = server
    lab = client(tmp_path, url, monkeypatch)
    caps = lab.capabilities()
    assert caps.properties == ["conductivity"] and caps.clock == "wall"
    table, reqs = requests_for(p3ht, 4, prefix="cyc")
    t0 = time.monotonic()
    receipts = lab.submit(reqs)
    assert all(r.accepted and not r.duplicate for r in receipts)
    assert all(r.duplicate for r in lab.submit(reqs[:2]))  # idempotent through the server too
    assert lab.known(["cyc0", "cyc3", "nope"]) == {"cyc0", "cyc3"}
    seen: dict[str, float] = {}
    while len(seen) < 4 and time.monotonic() - t0 < 20:
        for o in lab.poll():
            seen[o.request_id] = o.value("conductivity")
        time.sleep(0.1)
    assert sorted(seen) == ["cyc0", "cyc1", "cyc2", "cyc3"]
    assert time.monotonic() - t0 >= 0.9 * LATENCY / SCALE  # the simulated latency, scaled to wall time
    for r in reqs:
        assert seen[r.request_id] in table.replicates(r.candidate.id, P3HT_OUT)
    assert not lab.cancel("cyc0")  # already done
    # a client that crashed before the campaign recorded its last batch reads it again
    lab2 = client(tmp_path, url, monkeypatch)
    again = {o.request_id for o in lab2.poll()}
    assert again and again <= set(seen)
    lab2.poll()  # acknowledges
    assert client(tmp_path, url, monkeypatch).poll() == []
    submits = [e["request_id"] for e in service.lab.journal.entries("submit") if e["request_id"].startswith("cyc") and not e.get("duplicate")]
    assert sorted(submits) == ["cyc0", "cyc1", "cyc2", "cyc3"]  # each experiment ran once


class _Flaky(http.server.BaseHTTPRequestHandler):
    failures = 2
    calls = 0

    def do_GET(self):  # noqa: N802
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b'{"detail": "busy"}')
            return
        body = json.dumps({"properties": ["y"], "capacity": 2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_retries_with_backoff_then_transient_or_timeout_errors(tmp_path, monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        lab = client(tmp_path, url, monkeypatch, retries=3)
        assert lab.capabilities().capacity == 2
        assert lab.stats["retries"] == 2 and _Flaky.calls == 3
        _Flaky.calls, _Flaky.failures = 0, 100
        with pytest.raises(LabError, match="503") as err:
            client(tmp_path, url, monkeypatch, retries=2).capabilities()
        assert err.value.transient and _Flaky.calls == 3
    finally:
        httpd.shutdown()
    # nobody listening: transient, after the retries
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LabError, match="cannot reach") as err:
        client(tmp_path, f"http://127.0.0.1:{port}", monkeypatch, retries=1).capabilities()
    assert err.value.transient and not isinstance(err.value, LabTimeoutError)
    # a server that accepts and never answers: a timeout
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        lab = client(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}", monkeypatch, retries=1, timeout_s=0.2)
        with pytest.raises(LabTimeoutError, match="no answer"):
            lab.capabilities()
    finally:
        silent.close()


def test_lab_serve_command_checks_token_and_config(tmp_path, monkeypatch, p3ht):
    cfg = tmp_path / "lab.yaml"
    cfg.write_text(yaml.safe_dump({"kind": "table", "options": {"path": str(p3ht), "outputs": {"c": P3HT_OUT}}}))
    monkeypatch.delenv("CRYSTALOOP_LAB_TOKEN", raising=False)
    res = CliRunner().invoke(lab_cli, ["serve", "--lab", str(cfg)])
    assert res.exit_code != 0 and "CRYSTALOOP_LAB_TOKEN" in res.output
    campaign = tmp_path / "sub" / "campaign.yaml"
    campaign.parent.mkdir()
    campaign.write_text(yaml.safe_dump({"name": "x", "lab": {"kind": "table", "options": {"path": "../data.csv", "outputs": {"c": "y"}}}}))
    spec = load_lab_spec(campaign)
    assert spec["kind"] == "table" and spec["options"]["path"] == str((tmp_path / "data.csv").resolve())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"kind": "table", "options": {"path": "x.csv", "outputs": {"c": "y"}, "latency_s": "slow"}}))
    monkeypatch.setenv("CRYSTALOOP_LAB_TOKEN", TOKEN)
    res = CliRunner().invoke(lab_cli, ["serve", "--lab", str(bad)])
    assert res.exit_code != 0 and "latency_s" in str(res.exception or res.output)


_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["requests", "request_ids", "request_id", "candidate", "round", "params"]), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(["submit", "known", "cancel"]), body=_junk)
def test_fuzzed_payloads_get_a_clear_4xx_and_change_nothing(server, route, body):
    url, service = server
    before = len(service.lab.journal.entries("submit"))
    # json.dumps writes NaN/Infinity as bare tokens: payloads a strict JSON parser must refuse
    resp = httpx.post(
        f"{url}/v1/{route}",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    if resp.status_code == 200:  # a well-formed call (e.g. known([]) or cancel of an unknown id)
        assert route != "submit" or not body.get("requests")
    else:
        assert resp.status_code == 422 and resp.json()["detail"], resp.text
    assert len(service.lab.journal.entries("submit")) == before


@pytest.mark.slow
def test_a_campaign_runs_against_the_table_lab_served_over_http(server, tmp_path, monkeypatch, p3ht):
    from loop.campaign.engine import Campaign
    from loop.config import parse_config
    from tests.conftest import p3ht_config

    url, service = server
    monkeypatch.setenv("TEST_LAB_TOKEN", TOKEN)
    cfg = p3ht_config(p3ht, budget__experiments=8, budget__batch_size=4)
    cfg["lab"] = {"kind": "http", "options": {"url": url, "token_env": "TEST_LAB_TOKEN", "backoff_s": 0.01}}
    cfg["requests"] = {"poll_interval_s": 0.1, "timeout_s": 60}
    campaign = Campaign.create(parse_config(cfg), tmp_path / "campaign")
    try:
        campaign.run()
        obs = campaign.ledger.observations()
        reqs = campaign.ledger.requests()
    finally:
        campaign.close()
    assert len(obs) == 8
    table = load_design_table(p3ht, exclude=[P3HT_OUT])
    by_id = {r.request_id: r for r in reqs}
    for o in obs:
        assert o.value("conductivity") in table.replicates(by_id[o.request_id].candidate.id, P3HT_OUT)
    lab_ids = [e["request_id"] for e in service.lab.journal.entries("submit") if not e.get("duplicate")]
    assert all(lab_ids.count(r) == 1 for r in by_id)  # no experiment ran twice
