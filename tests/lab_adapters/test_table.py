from __future__ import annotations

import numpy as np
import pytest

from lab_adapters.table import TableLab
from loop.clock import SimulatedClock
from loop.errors import LabError
from loop.interfaces import PluginContext
from loop.records import ExperimentRequest, RequestStatus
from loop.tables import load_design_table
from tests.conftest import P3HT_OUT


def make_lab(tmp_path, csv, **opts):
    clock = SimulatedClock()
    cfg = TableLab.Config(path=csv, outputs={"conductivity": P3HT_OUT}, **opts)
    return TableLab(cfg, PluginContext(work_dir=tmp_path, seed=1, clock=clock)), clock


def requests_for(csv, n):
    table = load_design_table(csv, exclude=[P3HT_OUT])
    return table, [ExperimentRequest(request_id=f"r{i}", candidate=table.designs[i].candidate, round=0) for i in range(n)]


def test_results_come_after_latency_and_are_replicates(tmp_path, p3ht_csv):
    lab, clock = make_lab(tmp_path, p3ht_csv, latency_s=100)
    table, reqs = requests_for(p3ht_csv, 3)
    lab.submit(reqs)
    assert lab.poll() == []
    assert lab.next_event_time() == 100
    clock.advance_to(100)
    obs = lab.poll()
    assert [o.request_id for o in obs] == ["r0", "r1", "r2"]
    for o, r in zip(obs, reqs):
        reps = table.replicates(r.candidate.id, P3HT_OUT)
        assert o.value("conductivity") in reps
    assert lab.poll() == []  # delivered once per process


def test_capacity_queues_experiments(tmp_path, p3ht_csv):
    lab, clock = make_lab(tmp_path, p3ht_csv, latency_s=10, capacity=2)
    _, reqs = requests_for(p3ht_csv, 5)
    receipts = lab.submit(reqs)
    assert [r.expected_at for r in receipts] == [10, 10, 20, 20, 30]


def test_idempotent_submit_and_restart_redelivers(tmp_path, p3ht_csv):
    lab, clock = make_lab(tmp_path, p3ht_csv, latency_s=5)
    _, reqs = requests_for(p3ht_csv, 2)
    lab.submit(reqs)
    assert all(r.duplicate for r in lab.submit(reqs))
    clock.advance_to(5)
    first = lab.poll()
    # a new process: the journal tells the lab what it accepted; finished results come again
    lab2, clock2 = make_lab(tmp_path, p3ht_csv, latency_s=5)
    clock2.advance_to(5)
    assert lab2.known(["r0", "r1", "r9"]) == {"r0", "r1"}
    again = lab2.poll()
    assert [o.model_dump() for o in again] == [o.model_dump() for o in first]  # same replicate, same noise
    submits = [e["request_id"] for e in lab2.journal.entries("submit") if not e.get("duplicate")]
    assert sorted(submits) == ["r0", "r1"]


def test_noise_is_seeded_and_reported(tmp_path, p3ht_csv):
    lab, clock = make_lab(tmp_path, p3ht_csv, noise={"conductivity": 5.0}, report_uncertainty=True)
    _, reqs = requests_for(p3ht_csv, 1)
    lab.submit(reqs)
    o = lab.poll()[0]
    assert o.values["conductivity"].uncertainty == 5.0
    assert np.isfinite(o.value("conductivity"))


def test_unknown_candidate_fails_with_reason(tmp_path, p3ht_csv):
    from loop.records import Candidate

    lab, _ = make_lab(tmp_path, p3ht_csv)
    lab.submit([ExperimentRequest(request_id="x", candidate=Candidate.from_params({"nope": 1}), round=0)])
    o = lab.poll()[0]
    assert not o.success and "not in table" in o.failure_reason


def test_terminal_request_is_refused(tmp_path, p3ht_csv):
    lab, _ = make_lab(tmp_path, p3ht_csv)
    _, reqs = requests_for(p3ht_csv, 1)
    with pytest.raises(LabError, match="already done"):
        lab.submit([reqs[0].model_copy(update={"status": RequestStatus.DONE})])
    with pytest.raises(LabError, match="repeated"):
        lab.submit([reqs[0], reqs[0]])


def test_missing_output_column_is_named(tmp_path, p3ht_csv):
    from loop.errors import InputDataError

    with pytest.raises(InputDataError, match="Resistance"):
        TableLab(TableLab.Config(path=p3ht_csv, outputs={"r": "Resistance"}), PluginContext(work_dir=tmp_path))
