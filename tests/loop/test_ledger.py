from __future__ import annotations

import pytest

from loop.errors import LedgerError, LedgerLockedError
from loop.records import Candidate, ExperimentRequest, Observation, RequestStatus, Round, ScreenDecision, Selection
from loop.store import Ledger, WriterLock


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.for_directory(tmp_path)
    yield led
    led.close()


def request(rid: str, cand: Candidate) -> ExperimentRequest:
    return ExperimentRequest(request_id=rid, candidate=cand, round=0, created_at=1.0)


def test_schema_is_versioned(ledger):
    assert ledger.revision() == "0001"


def test_candidates_inserted_once_and_roundtrip(ledger):
    a, b = Candidate.from_params({"x": 1}), Candidate.from_params({"x": 2})
    assert ledger.add_candidates([a, b, a], at=0.0) == 2
    assert ledger.add_candidates([a], at=1.0) == 0
    assert ledger.candidates() == [a, b]
    assert ledger.candidate(b.id) == b
    with pytest.raises(LedgerError):
        ledger.candidate("nope")


def test_request_lifecycle_and_illegal_transitions(ledger):
    c = Candidate.from_params({"x": 1})
    ledger.add_candidates([c], 0.0)
    ledger.plan_requests([request("r1", c)])
    assert ledger.requests()[0].status is RequestStatus.PLANNED
    assert ledger.transition("r1", RequestStatus.SUBMITTED, 2.0)
    assert not ledger.transition("r1", RequestStatus.PLANNED, 3.0)  # never backwards
    assert ledger.requests(RequestStatus.SUBMITTED)[0].submitted_at == 2.0
    events = [e["status"] for e in ledger.request_events("r1")]
    assert events == ["planned", "submitted"]


def test_observation_recorded_exactly_once(ledger):
    c = Candidate.from_params({"x": 1})
    ledger.add_candidates([c], 0.0)
    ledger.plan_requests([request("r1", c)])
    ledger.transition("r1", RequestStatus.SUBMITTED, 1.0)
    obs = Observation.from_raw("r1", c.id, {"y": 2.0})
    assert ledger.record_observation(obs, 5.0)
    assert not ledger.record_observation(obs, 6.0)
    assert ledger.observation_count() == 1
    assert ledger.requests()[0].status is RequestStatus.DONE
    assert len(ledger.events("duplicate_result")) == 1
    # unknown request and mismatched candidate are refused and logged
    assert not ledger.record_observation(Observation.from_raw("ghost", c.id, {"y": 1}), 7.0)
    assert ledger.events("unknown_result")


def test_late_result_after_abandonment_is_kept_once(ledger):
    c = Candidate.from_params({"x": 1})
    ledger.add_candidates([c], 0.0)
    ledger.plan_requests([request("r1", c)])
    ledger.transition("r1", RequestStatus.SUBMITTED, 1.0)
    ledger.transition("r1", RequestStatus.ABANDONED, 9.0, "timeout")
    assert ledger.record_observation(Observation.from_raw("r1", c.id, {"y": 1}), 10.0)
    assert ledger.requests()[0].status is RequestStatus.ABANDONED
    assert ledger.events("late_result")


def test_failed_observation_marks_request_failed(ledger):
    c = Candidate.from_params({"x": 1})
    ledger.add_candidates([c], 0.0)
    ledger.plan_requests([request("r1", c)])
    ledger.transition("r1", RequestStatus.SUBMITTED, 1.0)
    ledger.record_observation(Observation(request_id="r1", candidate_id=c.id, success=False, failure_reason="furnace"), 2.0)
    r = ledger.requests()[0]
    assert r.status is RequestStatus.FAILED and r.status_reason == "furnace"


def test_rounds_screen_selections_and_discard(ledger):
    rnd = Round(index=0, started_at=0.0, rng_seed=3)
    ledger.start_round(rnd)
    ledger.record_screen(0, [ScreenDecision(candidate_id="a", kept=True), ScreenDecision(candidate_id="b", kept=False, reason="bad")])
    ledger.record_selections(0, [Selection(candidate_id="a", score=1.0, rank=0)])
    ledger.save_generator_state(0, {"state": {"w": 1}})
    assert ledger.screened_ids() == {"a": True, "b": False}
    assert ledger.rounds()[0][1] == "proposing"
    ledger.discard_round(0)
    assert ledger.rounds() == [] and ledger.screened_ids() == {} and ledger.latest_generator_state() is None


def test_meta_and_export_tables(ledger):
    ledger.set_meta("clock", 12.5)
    ledger.set_meta("clock", 13.0)
    assert ledger.get_meta("clock") == 13.0
    assert "observations" in ledger.table_names()
    assert ledger.dump_table("meta")[0]["key"] == "clock"


def test_writer_lock_refuses_second_writer(tmp_path):
    with WriterLock(tmp_path):
        with pytest.raises(LedgerLockedError, match="already being run"):
            WriterLock(tmp_path).acquire()
    with WriterLock(tmp_path):  # released on exit
        pass


def test_bad_url_is_a_ledger_error():
    with pytest.raises(LedgerError):
        Ledger("nosuchdialect://x")


@pytest.mark.slow
def test_campaign_on_a_postgresql_ledger(tmp_path, p3ht_csv, postgres_url):
    from loop.campaign.engine import Campaign
    from loop.config import parse_config
    from tests.conftest import p3ht_config

    cfg = parse_config(p3ht_config(p3ht_csv, ledger={"url": postgres_url}))
    d = tmp_path / "c"
    with Campaign.create(cfg, d) as c:
        c.run(max_rounds=1)
    assert not (d / "ledger.db").exists()  # the record lives in PostgreSQL
    with Campaign.open(d) as c:  # the URL comes back from the campaign folder's config.yaml
        c.run()
        assert c.ledger.revision() == "0001"
        assert c.ledger.observation_count() == 12
        obs = c.ledger.observations()[0]
        assert not c.ledger.record_observation(obs, 1e9)  # exactly once, on PostgreSQL too


def test_a_batch_of_results_is_recorded_in_one_go_with_repeats_refused(ledger):
    cands = [Candidate.from_params({"x": i}) for i in range(3)]
    ledger.add_candidates(cands, 0.0)
    ledger.plan_requests([request(f"r{i}", c) for i, c in enumerate(cands)])
    assert ledger.transitions([(f"r{i}", RequestStatus.SUBMITTED, None) for i in range(3)], 1.0) == [True] * 3
    a = Observation.from_raw("r0", cands[0].id, {"y": 1.0})
    b = Observation(request_id="r1", candidate_id=cands[1].id, success=False, failure_reason="furnace")
    wrong = Observation.from_raw("r2", cands[0].id, {"y": 3.0})  # names another candidate
    assert ledger.record_observations([a, b, a, wrong], 2.0) == [True, True, False, False]
    status = {r.request_id: r.status for r in ledger.requests()}
    assert status == {"r0": RequestStatus.DONE, "r1": RequestStatus.FAILED, "r2": RequestStatus.SUBMITTED}
    assert [o.request_id for o in ledger.observations()] == ["r0", "r1"]
    assert ledger.events("duplicate_result") and ledger.events("mismatched_result")


def test_a_result_for_a_request_still_planned_closes_it(ledger):
    """The lab ran it, but a crash came before the ledger marked it sent."""
    c = Candidate.from_params({"x": 1})
    ledger.add_candidates([c], 0.0)
    ledger.plan_requests([request("r1", c)])
    assert ledger.record_observation(Observation.from_raw("r1", c.id, {"y": 2.0}), 5.0)
    assert ledger.requests()[0].status is RequestStatus.DONE
    assert [e["status"] for e in ledger.request_events("r1")] == ["planned", "submitted", "done"]


def test_open_requests_with_a_recorded_result_are_closed_on_resume(ledger):

    from loop.store import schema

    c = Candidate.from_params({"x": 1})
    ledger.add_candidates([c], 0.0)
    ledger.plan_requests([request("r1", c)])
    ledger.transition("r1", RequestStatus.SUBMITTED, 1.0)
    ledger.record_observation(Observation.from_raw("r1", c.id, {"y": 2.0}), 5.0)
    with ledger.engine.begin() as conn:  # a ledger left inconsistent by an older version
        conn.execute(schema.requests.update().values(status="submitted"))
    assert ledger.close_observed_requests(9.0) == ["r1"]
    assert ledger.requests()[0].status is RequestStatus.DONE
    assert ledger.close_observed_requests(9.0) == []
