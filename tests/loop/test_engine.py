from __future__ import annotations

import pytest

from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.errors import LedgerError, LedgerLockedError
from loop.records import RequestStatus
from tests.conftest import P3HT_OUT, p3ht_config


def make(tmp_path, csv, name="c", **over):
    return Campaign.create(parse_config(p3ht_config(csv, **over)), tmp_path / name)


def test_campaign_runs_to_experiment_budget(tmp_path, p3ht_csv):
    with make(tmp_path, p3ht_csv) as c:
        s = c.run()
        assert s.experiments_done == 12
        assert c.ledger.status_counts() == {"done": 12}
        assert c.rounds_done() == 3
        assert c.ledger.get_meta("stop_reason") == "experiment budget spent"
        assert c.now() == pytest.approx(3 * 60)  # three synchronous rounds of 60 s latency
        ids = [r.candidate.id for r in c.ledger.requests()]
        assert len(set(ids)) == 12  # without replacement


def test_asynchronous_rounds_plan_while_pending(tmp_path, p3ht_csv):
    with make(tmp_path, p3ht_csv, budget={"experiments": 12, "batch_size": 2, "max_pending": 4}) as c:
        c.run()
        rounds = [r for r, _ in c.ledger.rounds()]
        assert any(r.pending_at_start for r in rounds)  # planned while the lab was busy
        assert c.ledger.observation_count() == 12
        # the ranker never re-selects a pending candidate
        assert len({r.candidate.id for r in c.ledger.requests()}) == 12


def test_round_budget_and_pool_exhaustion(tmp_path, p3ht_csv):
    with make(tmp_path, p3ht_csv, budget={"rounds": 2, "batch_size": 3}) as c:
        c.run()
        assert c.ledger.observation_count() == 6
    with make(tmp_path, p3ht_csv, name="all", budget={"experiments": 500, "batch_size": 50}) as c:
        c.run()
        assert c.ledger.observation_count() == 178
        assert c.ledger.get_meta("stop_reason") == "no candidates left"


def test_stop_on_goal(tmp_path, p3ht_csv):
    goal = {"name": "conductivity", "op": ">=", "value": 500}
    with make(tmp_path, p3ht_csv, goal=goal, budget={"experiments": 178, "batch_size": 1}) as c:
        s = c.run()
        assert c.ledger.get_meta("stop_reason") == "goal reached"
        assert s.goal_hits == 1 and s.first_goal_hit_at == s.experiments_done < 178


def test_max_rounds_pauses_and_run_continues(tmp_path, p3ht_csv):
    with make(tmp_path, p3ht_csv) as c:
        c.run(max_rounds=1)
        assert c.ledger.get_meta("status") == "paused"
    with Campaign.open(tmp_path / "c") as c:
        c.run()
        assert c.ledger.observation_count() == 12


def test_second_writer_refused_and_existing_folder_protected(tmp_path, p3ht_csv):
    c = make(tmp_path, p3ht_csv)
    try:
        with pytest.raises(LedgerLockedError):
            Campaign.open(tmp_path / "c")
        with pytest.raises(LedgerError, match="already holds a campaign"):
            make(tmp_path, p3ht_csv)
    finally:
        c.close()
    Campaign.open(tmp_path / "c").close()


def test_ask_tell_and_import(tmp_path, p3ht_csv):
    cfg = p3ht_config(p3ht_csv)
    del cfg["lab"]
    with Campaign.create(parse_config(cfg), tmp_path / "ask") as c:
        from loop.tables import load_design_table

        table = load_design_table(p3ht_csv, exclude=[P3HT_OUT])
        truth = table.truth(P3HT_OUT)
        n = c.import_observations([(table.designs[i].candidate, {"conductivity": truth[i]}) for i in range(5)])
        assert n == 5
        batch = c.suggest(3)
        assert len(batch) == 3 and all(r.status is RequestStatus.SUBMITTED for r in batch)
        imported = {table.designs[i].id for i in range(5)}
        assert not {r.candidate.id for r in batch} & imported  # never re-suggests what was measured
        for r in batch:
            assert c.observe(r.request_id, {"conductivity": {"value": 1.0, "uncertainty": 0.1}})
        assert not c.observe(batch[0].request_id, {"conductivity": 2.0})  # once per request
        assert c.ledger.observation_count() == 8
        from loop.errors import InputDataError

        with pytest.raises(InputDataError, match="conductivity"):
            c.observe(c.suggest(1)[0].request_id, {"conductivity": float("nan")})
        assert c.ledger.observation_count() == 8  # the NaN changed nothing


def test_timeout_abandons_and_resubmits(tmp_path, p3ht_csv):
    over = {"budget": {"experiments": 8, "batch_size": 2}, "requests": {"timeout_s": 30, "resubmit": 1}}
    with make(tmp_path, p3ht_csv, **over) as c:  # lab latency 60 s > timeout 30 s
        c.run()
        reqs = c.ledger.requests()
        abandoned = [r for r in reqs if r.status is RequestStatus.ABANDONED]
        assert abandoned and all("no result after 30 s" in r.status_reason for r in abandoned)
        resubs = [r for r in reqs if r.resubmission_of]
        assert resubs and all(r.request_id.endswith("-re1") for r in resubs)
        assert len(reqs) <= 8
        # the late results are kept (not lost), and each request has at most one observation
        assert c.ledger.events("late_result")


def test_objective_the_lab_does_not_measure_is_refused(tmp_path, p3ht_csv):
    from loop.errors import ConfigError

    with pytest.raises(ConfigError, match=r"objectives.0.name: the lab \(table\) does not measure 'resistance'"):
        make(tmp_path, p3ht_csv, objectives=[{"name": "resistance", "goal": "minimize"}])
    assert not (tmp_path / "c").exists()
