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

    with pytest.raises(ConfigError, match=r"objectives.0.name: no lab measures .resistance. \(labs: table \(table\)"):
        make(tmp_path, p3ht_csv, objectives=[{"name": "resistance", "goal": "minimize"}])
    assert not (tmp_path / "c").exists()


B6 = {f"x{i}": [0.0, 1.0] for i in range(6)}


def two_lab_config(**over):
    cfg = {
        "name": "two-labs",
        "objectives": [{"name": "y", "goal": "minimize"}],
        "budget": {"experiments": 20, "batch_size": 3, "max_pending": 6},
        "generator": {"kind": "sobol", "options": {"n": 128, "bounds": B6}},
        "labs": [
            {"name": "fast", "kind": "analytic", "options": {"bounds": B6, "latency_s": 50, "capacity": 1}},
            {"name": "slow", "kind": "analytic", "options": {"bounds": B6, "latency_s": 400, "capacity": 4}},
        ],
        "tracking": {"enabled": False},
    }
    cfg.update(over)
    return cfg


def test_several_labs_get_requests_by_free_capacity(tmp_path):
    with Campaign.create(parse_config(two_lab_config()), tmp_path / "c") as c:
        c.run()
        reqs = c.ledger.requests()
        by_lab = {name: [r for r in reqs if r.lab == name] for name in ("fast", "slow")}
        assert len(reqs) == 20 and all(r.status is RequestStatus.DONE for r in reqs)
        assert by_lab["fast"] and by_lab["slow"]
        obs = {o.request_id: o for o in c.ledger.observations()}
        assert all(obs[r.request_id].lab == r.lab for r in reqs)
        assert (tmp_path / "c" / "stages" / "lab-fast" / "journal.jsonl").exists()
        assert (tmp_path / "c" / "stages" / "lab-slow" / "journal.jsonl").exists()


def test_requests_only_go_to_labs_that_measure_the_objectives(tmp_path):
    cfg = two_lab_config()
    cfg["labs"][1]["options"]["output"] = "other"  # the slow lab reports a different property
    with Campaign.create(parse_config(cfg), tmp_path / "c") as c:
        c.run()
        assert {r.lab for r in c.ledger.requests()} == {"fast"}


def test_lab_and_labs_are_exclusive_and_names_unique(tmp_path):
    from loop.errors import ConfigError

    cfg = two_lab_config(lab={"kind": "analytic", "options": {"bounds": B6}})
    with pytest.raises(ConfigError, match="either lab or labs"):
        parse_config(cfg)
    cfg = two_lab_config()
    cfg["labs"][1]["name"] = "fast"
    with pytest.raises(ConfigError, match="unique"):
        parse_config(cfg)
    cfg = two_lab_config()
    cfg["labs"][0]["options"]["latency_s"] = "soon"
    with pytest.raises(ConfigError, match=r"labs\.0\.options\.latency_s"):
        parse_config(cfg)


@pytest.mark.slow
def test_labs_as_ray_actors_give_the_same_campaign(tmp_path):
    import ray

    results = {}
    for actors in (False, True):
        cfg = two_lab_config(runtime={"lab_actors": actors, "num_cpus": 2})
        with Campaign.create(parse_config(cfg), tmp_path / f"c-{actors}") as c:
            c.run()
            results[actors] = [(r.request_id, r.lab, r.status.value) for r in c.ledger.requests()], sorted(
                (o.request_id, o.value("y"), o.received_at) for o in c.ledger.observations()
            )
    assert results[True] == results[False]
    assert not ray.is_initialized()  # no Ray state survives the campaign
