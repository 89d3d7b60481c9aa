from __future__ import annotations

import numpy as np
import pytest

from loop.interfaces import PluginContext
from loop.objectives import Objective
from loop.records import Candidate, Measurement, Observation
from surrogates.featurize.simplex import SimplexRule, simplex_transform


def _blends(n: int, seed: int = 0, total: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = rng.dirichlet(np.ones(4), n)
    W[: n // 3, 0] = 0.0  # blends without a component, as P3HT's
    W /= W.sum(1, keepdims=True)
    return np.round(total * W, 1)


def test_rule_holds_on_blends_within_one_percent_and_breaks_for_good():
    rule = SimplexRule("sqrt")
    rule.see(_blends(30))
    assert rule.holds
    rule.see(np.array([[50.0, 50.5, 0.0, 0.0]]))  # 100.5: within 1 %
    assert rule.holds
    rule.see(np.array([[50.0, 53.0, 0.0, 0.0]]))  # 103: the row sums spread over 3 %
    assert not rule.holds
    rule.see(_blends(5))
    assert not rule.holds  # sticky
    neg = SimplexRule("sqrt")
    neg.see(np.array([[0.5, 0.5], [1.2, -0.2]]))
    assert not neg.holds
    one = SimplexRule("clr")
    one.see(np.array([[1.0], [1.0]]))
    assert not one.holds


def test_transforms():
    X = _blends(10)
    f = simplex_transform(X, "closure")
    assert np.allclose(f.sum(1), 1.0)
    assert np.allclose(simplex_transform(X, "sqrt") ** 2, f)
    z = simplex_transform(X, "clr")
    assert np.allclose(z.sum(1), 0.0) and np.isfinite(z).all()
    with pytest.raises(ValueError, match="bogus"):
        simplex_transform(X, "bogus")  # type: ignore[arg-type]


@pytest.mark.parametrize(("mixture", "expect_on"), [(True, True), (False, False)])
def test_ranker_transforms_only_compositional_inputs(mixture, expect_on):
    from surrogates.botorch_ranker import BotorchRanker

    X = _blends(40, 1) if mixture else np.random.default_rng(1).random((40, 4)) * 10
    cands = [Candidate(id=f"c{i}", params={f"x{j}": float(v) for j, v in enumerate(row)}) for i, row in enumerate(X)]
    y = (X[:, 1] - X[:, 2]) / X.sum(1)
    ctx = PluginContext(work_dir=".", seed=0, objectives=[Objective(name="y", goal="maximize")])
    ranker = BotorchRanker(BotorchRanker.Config(simplex_inputs="sqrt", input_warp="off"), ctx)
    ranker.select(cands, 1, [])  # sees the pool first, as a campaign's generator hands it over
    obs = [Observation(request_id=f"r{i}", candidate_id=f"c{i}", values={"y": Measurement(value=float(y[i]))}) for i in range(12)]
    ranker.fit(cands[:12], obs)
    assert ranker._simplex_on is expect_on
    picks = ranker.select(cands[12:], 3, [])
    assert len({p.candidate_id for p in picks}) == 3
    bounds = ranker._bounds()
    if expect_on:  # normalised over the transformed (sqrt-fraction) range, not the percentages
        assert float(bounds.max()) <= 1.0 + 1e-9
    else:
        assert float(bounds.max()) > 1.5
