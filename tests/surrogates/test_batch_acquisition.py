"""The botorch ranker's ``batch_acquisition``: picks 2..q by sequential greedy qLogNEI / qLogEI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loop.interfaces import PluginContext
from loop.objectives import Objective
from loop.records import Candidate, Measurement, Observation
from surrogates.acquisition import greedy_discrete
from surrogates.botorch_ranker import BotorchRanker


def _f(c: Candidate) -> float:
    return -((c.params["a"] - 0.3) ** 2) - (c.params["b"] - 0.7) ** 2


def _pool(n: int = 60, seed: int = 4) -> list[Candidate]:
    rng = np.random.default_rng(seed)
    return [Candidate.from_params({"a": float(a), "b": float(b)}) for a, b in rng.random((n, 2))]


def _obs(cands: list[Candidate]) -> list[Observation]:
    return [Observation(request_id=f"r{i}", candidate_id=c.id, values={"y": Measurement(value=_f(c))}) for i, c in enumerate(cands)]


def _ranker(tmp_path, objectives=None, **kw) -> BotorchRanker:  # noqa: ANN001
    ctx = PluginContext(work_dir=tmp_path, seed=0, objectives=objectives or [Objective(name="y")])
    return BotorchRanker(BotorchRanker.Config(mc_samples=64, **kw), ctx)


@pytest.mark.parametrize("rule", ["qlognei", "qlogei"])
def test_first_pick_as_at_q1_then_distinct_picks_outside_pending(tmp_path, rule):
    pool = _pool()
    r = _ranker(tmp_path, batch_acquisition=rule)
    r.fit(pool[:20], _obs(pool[:20]))
    pending = pool[20:23]
    one = r.select(pool[20:], 1, pending)
    batch = r.select(pool[20:], 5, pending)
    ids = [s.candidate_id for s in batch]
    assert ids[0] == one[0].candidate_id  # the first pick is the ranker's qUCB pick
    assert len(set(ids)) == 5 and not set(ids) & {c.id for c in pending}
    label = r.ranking_note().acquisition
    assert label.startswith("qUCB") and ("qLogNEI" if rule == "qlognei" else "qLogEI") in label
    assert r._acqf(None).X_pending is None  # the pending points are reset after the batch


def test_same_keeps_one_acquisition_and_multi_objective_ignores_the_rule(tmp_path):
    pool = _pool()
    r = _ranker(tmp_path)
    r.fit(pool[:20], _obs(pool[:20]))
    r.select(pool[20:], 4, [])
    assert r._batch_by is None and "then" not in r.ranking_note().acquisition
    two = [Objective(name="y"), Objective(name="z")]
    r2 = _ranker(tmp_path, objectives=two, batch_acquisition="qlognei", mo_mc_samples=8)
    obs = [
        Observation(request_id=f"r{i}", candidate_id=c.id,
                    values={"y": Measurement(value=_f(c)), "z": Measurement(value=c.params["a"])})
        for i, c in enumerate(pool[:20])
    ]
    r2.fit(pool[:20], obs)
    assert len({s.candidate_id for s in r2.select(pool[20:], 3, [])}) == 3
    assert r2._batch_by is None  # qLogNEHVI already scores the batch jointly


def test_pending_picks_steer_a_later_pick_off_a_near_twin(tmp_path):
    """A near copy of qLogNEI's favourite scores as high as it alone (so without pending points
    both would join the batch), but adds almost nothing once the favourite is pending."""
    pool = _pool(60, seed=1)
    train, rest = pool[:8], pool[8:]
    r = _ranker(tmp_path, batch_acquisition="qlognei")
    r.fit(train, _obs(train))
    first = rest[int(np.argmax(r.acquisition(rest, [])))]  # the qUCB pick
    nei = r._acqf(None, acquisition="qlognei")
    with torch.no_grad():
        alone = nei(r._tensor(r._features(rest)[0]).unsqueeze(-2)).numpy()
    order = [rest[i] for i in np.argsort(-alone) if rest[i].id != first.id]
    fav = order[0]
    twin = Candidate.from_params({"a": fav.params["a"] + 1e-6, "b": fav.params["b"]})
    with torch.no_grad():
        twin_alone = float(nei(r._tensor(r._features([twin])[0]).unsqueeze(-2))[0])
    assert twin_alone > float(alone[rest.index(order[1])])  # alone, the twin would be the third pick
    picks = [s.candidate_id for s in r.select([twin, *rest], 3, [])]
    assert picks[0] == first.id
    assert not {fav.id, twin.id} <= set(picks)


def test_greedy_discrete_switches_acquisition_after_the_first_pick(tmp_path):
    pool = _pool()
    r = _ranker(tmp_path)
    r.fit(pool[:20], _obs(pool[:20]))
    X = r._tensor(r._features(pool[20:])[0])
    ucb, nei = r._acqf(None), r._acqf(None, acquisition="qlognei")
    first, _ = greedy_discrete(ucb, X, 1)
    with torch.no_grad():
        nei.set_X_pending(X[first])
        second = int(torch.argmax(torch.where(torch.arange(len(X)) == first[0], -torch.inf, nei(X.unsqueeze(-2)))))
    nei.set_X_pending(None)
    chosen, scores = greedy_discrete(ucb, X, 2, acqf_rest=nei)
    assert chosen == [first[0], second] and len(scores) == 2
    assert ucb.X_pending is None and nei.X_pending is None


def test_qlognei_scores_do_not_depend_on_the_global_torch_generator(tmp_path):
    """botorch prunes qLogNEI's baseline with torch's global generator; ours seeds the pruning,
    so the scores (pending points re-prune) are the same whatever ran before."""
    pool = _pool(60, seed=2)
    r = _ranker(tmp_path, batch_acquisition="qlognei")
    r.fit(pool[:20], _obs(pool[:20]))
    X = r._tensor(r._features(pool[20:])[0])
    runs, picks = [], []
    for state in (1, 2):
        torch.manual_seed(state)
        nei = r._acqf(X[:2], acquisition="qlognei")
        with torch.no_grad():
            runs.append(nei(X.unsqueeze(-2)))
        picks.append([s.candidate_id for s in r.select(pool[22:], 4, pool[20:22])])
    torch.testing.assert_close(runs[0], runs[1])
    assert picks[0] == picks[1]
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    r._acqf(X[:2], acquisition="qlognei")
    assert torch.equal(torch.rand(1), expected)  # the global stream is left as it was
