"""The LabAdapter wrapper: validation, idempotency, retries of transient failures."""

from __future__ import annotations

import pytest

from loop.errors import LabError
from loop.interfaces import LabAdapter, PluginContext
from loop.records import Candidate, ExperimentRequest, LabCapabilities, Receipt


class FlakyLab(LabAdapter):
    retry_backoff_s = 0.0

    def __init__(self, fail_times: int, transient: bool = True, drop_receipt: bool = False):
        super().__init__(None, PluginContext(work_dir="."))
        self.fail_times, self.transient, self.drop_receipt = fail_times, transient, drop_receipt
        self.calls = 0

    def _capabilities(self):
        return LabCapabilities(properties=["y"])

    def _submit(self, requests):
        self.calls += 1
        if self.calls <= self.fail_times:
            raise LabError("robot arm busy", transient=self.transient)
        out = [Receipt(request_id=r.request_id) for r in requests]
        return out[:-1] if self.drop_receipt else out

    def _poll(self):
        return [{"request_id": "r1", "candidate_id": "c", "values": {"y": {"value": "nan"}}}, {"request_id": "r1", "candidate_id": "c"}]


def req(rid="r1"):
    return ExperimentRequest(request_id=rid, candidate=Candidate.from_params({"a": 1}), round=0)


def test_transient_failures_are_retried():
    lab = FlakyLab(fail_times=2)
    assert lab.submit([req()])[0].accepted
    assert lab.calls == 3 and lab.stats["retries"] == 2


def test_permanent_failure_and_missing_receipt_raise():
    with pytest.raises(LabError, match="busy"):
        FlakyLab(fail_times=1, transient=False).submit([req()])
    with pytest.raises(LabError, match="no receipt"):
        FlakyLab(0, drop_receipt=True).submit([req("a"), req("b")])


def test_malformed_results_are_dropped_not_raised():
    lab = FlakyLab(0)
    got = lab.poll()
    assert len(got) == 1 and got[0].request_id == "r1"


def test_closed_lab_refuses_work():
    lab = FlakyLab(0)
    lab.close()
    with pytest.raises(LabError, match="closed"):
        lab.submit([req()])
