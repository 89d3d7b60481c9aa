from __future__ import annotations

import numpy as np
import pytest
from botorch.acquisition import qLogNoisyExpectedImprovement

from loop.interfaces import PluginContext
from loop.objectives import Constraint, Objective
from loop.records import Candidate, Measurement, Observation
from surrogates.baselines import GreedyRanker, ThompsonRanker, UCBRanker
from surrogates.botorch_ranker import BotorchRanker


def _pool(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return [Candidate.from_params({"a": float(a), "b": float(b)}) for a, b in rng.random((n, 2))]


def _f(c):
    return -((c.params["a"] - 0.3) ** 2) - (c.params["b"] - 0.7) ** 2


def _obs(cands, fn=_f, name="y"):
    return [Observation(request_id=f"r{i}", candidate_id=c.id, values={name: Measurement(value=fn(c))}) for i, c in enumerate(cands)]


def _normalize(model):
    """The model's input normalisation (the first stage when inputs are also warped)."""
    tf = model.input_transform
    return tf["normalize"] if "normalize" in getattr(tf, "keys", lambda: [])() else tf


def _ranker(tmp_path, cls=BotorchRanker, objectives=None, constraints=None, **kw):
    ctx = PluginContext(work_dir=tmp_path, objectives=objectives or [Objective(name="y")], constraints=constraints or [])
    return cls(cls.Config(mc_samples=32, **kw), ctx)


def test_batch_distinct_excludes_pending_and_predicts(tmp_path):
    pool = _pool()
    r = _ranker(tmp_path)
    r.fit(pool[:12], _obs(pool[:12]))
    assert r.fallback is None
    pending = pool[12:15]
    sel = r.select(pool[12:], 5, pending)
    ids = [s.candidate_id for s in sel]
    assert len(set(ids)) == 5 and not set(ids) & {c.id for c in pending}
    assert [s.rank for s in sel] == list(range(5))
    assert all("y" in s.predicted and s.predicted["y"][1] >= 0 for s in sel)
    vals = r.acquisition(pool[12:], pending)
    assert vals.shape == (48,) and np.isfinite(vals).all()


@pytest.mark.slow
def test_ranker_beats_random_on_smooth_problem(tmp_path):
    pool = _pool(150, seed=1)
    truth = np.array([_f(c) for c in pool])
    r = _ranker(tmp_path)
    measured = list(pool[:5])
    for _ in range(10):
        r.fit(measured, _obs(measured))
        rest = [c for c in pool if c.id not in {m.id for m in measured}]
        measured += [next(c for c in rest if c.id == s.candidate_id) for s in r.select(rest, 1, [])]
    best = max(_f(c) for c in measured)
    assert best >= np.sort(truth)[-5]  # a top-5 of 150 within 15 experiments


def test_bad_data_is_skipped_not_crashing(tmp_path):
    pool = _pool(20)
    objectives = [Objective(name="y"), Objective(name="never"), Objective(name="flat", goal="minimize")]
    r = _ranker(tmp_path, objectives=objectives)
    obs = [
        Observation(request_id=f"r{i}", candidate_id=c.id, values={"y": Measurement(value=_f(c)), "flat": Measurement(value=1.0)})
        for i, c in enumerate(pool[:8])
    ]
    r.fit(pool[:8], obs)
    reasons = " ".join(s["what"] + s["reason"] for s in r.skips)
    assert "never" in reasons and "flat" in reasons
    assert len(r.select(pool[8:], 2, [])) == 2
    bad = Candidate(id="nan", params={"a": float("nan"), "b": 0.1})
    vals = r.acquisition([*pool[8:], bad], [])
    assert vals[-1] == -np.inf and np.isfinite(vals[:-1]).all()


def test_all_objectives_unusable_falls_back_to_random(tmp_path):
    pool = _pool(10)
    r = _ranker(tmp_path)
    r.fit(pool[:4], _obs(pool[:4], fn=lambda c: 2.0))
    assert r.fallback is not None
    assert len(r.select(pool[4:], 3, [])) == 3


def test_failures_steer_away(tmp_path):
    pool = _pool(80, seed=3)
    obs = []
    for i, c in enumerate(pool[:30]):
        ok = c.params["a"] < 0.5
        obs.append(Observation(request_id=f"r{i}", candidate_id=c.id, success=ok, values={"y": Measurement(value=_f(c))} if ok else {}))
    r = _ranker(tmp_path)
    r.fit(pool[:30], obs)
    sel = r.select(pool[30:], 4, [])
    a = {c.id: c.params["a"] for c in pool}
    assert sum(a[s.candidate_id] < 0.5 for s in sel) >= 3


@pytest.mark.slow
def test_multi_objective_window_and_constraint(tmp_path):
    pool = _pool(40)
    objectives = [Objective(name="y"), Objective(name="z", goal="minimize"), Objective(name="w", goal="target", window=(0.2, 0.4))]
    r = _ranker(tmp_path, objectives=objectives, constraints=[Constraint(name="e", op="<=", value=0.5)])
    obs = [
        Observation(
            request_id=f"r{i}", candidate_id=c.id,
            values={k: Measurement(value=v) for k, v in
                    {"y": _f(c), "z": c.params["a"], "w": c.params["b"], "e": c.params["a"] + c.params["b"]}.items()},
        )
        for i, c in enumerate(pool[:15])
    ]
    r.fit(pool[:15], obs)
    sel = r.select(pool[15:], 3, [])
    assert len({s.candidate_id for s in sel}) == 3
    assert set(sel[0].predicted) == {"y", "z", "w", "e"}


def test_window_only_prefers_inside(tmp_path):
    pool = _pool(60, seed=5)
    r = _ranker(tmp_path, objectives=[Objective(name="w", goal="target", window=(0.4, 0.6))], outcome_warp="none")
    r.fit(pool[:20], _obs(pool[:20], fn=lambda c: c.params["b"], name="w"))
    sel = r.select(pool[20:], 3, [])
    b = {c.id: c.params["b"] for c in pool}
    assert all(0.3 < b[s.candidate_id] < 0.7 for s in sel)


@pytest.mark.parametrize("cls", [GreedyRanker, UCBRanker, ThompsonRanker])
def test_baselines_same_interface(tmp_path, cls):
    pool = _pool(40)
    r = _ranker(tmp_path, cls=cls)
    r.fit(pool[:10], _obs(pool[:10]))
    sel = r.select(pool[10:], 4, pool[10:12])
    ids = [s.candidate_id for s in sel]
    assert len(set(ids)) == 4 and not set(ids) & {c.id for c in pool[10:12]}
    assert r.acquisition(pool[10:], []).shape == (30,)


def test_refit_schedule_conditions_between_refits(tmp_path):
    pool = _pool(40, seed=3)
    r = _ranker(tmp_path, refit_below=10, refit_every=3)
    opt_at = []
    for n in range(10, 16):
        r.fit(pool[:n], _obs(pool[:n]))
        opt_at.append(r._opt_n["y"])
    assert opt_at == [10, 10, 10, 13, 13, 13]  # re-optimised at 10 and 13, conditioned only in between
    assert r.fallback is None and len(r.select(pool[15:], 2, [])) == 2


def test_qlogei_option_prefers_the_optimum_region(tmp_path):
    pool = _pool(60, seed=4)
    r = _ranker(tmp_path, acquisition="qlogei")
    r.fit(pool[:20], _obs(pool[:20]))
    assert type(r._acqf(None)).__name__ == "qLogExpectedImprovement"
    sel = r.select(pool[20:], 2, [])
    assert len({s.candidate_id for s in sel}) == 2
    assert max(_f(c) for c in pool if c.id in {s.candidate_id for s in sel}) > np.median([_f(c) for c in pool])


def test_ucb_option_scores_mean_plus_scaled_spread_and_batches(tmp_path):
    pool = _pool(60, seed=4)
    r = _ranker(tmp_path, acquisition="ucb", ucb_beta=0.25)
    r.config.mc_samples = 512
    r.fit(pool[:20], _obs(pool[:20]))
    acqf = r._acqf(None)
    assert type(acqf).__name__ == "qUpperConfidenceBound"
    vals = r.acquisition(pool[20:], [])
    mean, sd = r.predict(pool[20:])["y"]
    c, spread = r._spread["y"]
    expect = (mean - c + 0.5 * sd) / spread
    np.testing.assert_allclose(vals, expect, rtol=0.05, atol=0.05 * np.abs(expect).max())
    sel = r.select(pool[20:], 3, pool[:0])
    assert len({s.candidate_id for s in sel}) == 3


def test_ucb_falls_back_to_qlognei_with_constraints(tmp_path):
    pool = _pool(40, seed=5)
    r = _ranker(tmp_path, acquisition="ucb", constraints=[Constraint(name="c", op="<=", value=0.5)])
    obs = [
        Observation(request_id=f"r{i}", candidate_id=c.id, values={"y": Measurement(value=_f(c)), "c": Measurement(value=c.params["a"])})
        for i, c in enumerate(pool[:15])
    ]
    r.fit(pool[:15], obs)
    assert isinstance(r._acqf(None), qLogNoisyExpectedImprovement)


def test_inputs_constant_in_the_data_are_kept_when_the_pool_varies(tmp_path):
    pool = [Candidate.from_params({"a": float(a), "b": float(b)}) for a, b in np.random.default_rng(8).random((30, 2))]
    flat = [Candidate.from_params({"a": float(a), "b": 0.5}) for a in np.linspace(0, 1, 6)]
    r = _ranker(tmp_path, keep_inputs="seen")
    r.fit(flat, _obs(flat))
    assert r._keep.tolist() == [True, False]  # nothing else seen yet
    r.select(pool, 1, [])
    r.fit(flat, _obs(flat))
    assert r._keep.tolist() == [True, True]
    lo = _normalize(r._model).offset.squeeze()
    assert float(lo[1]) == pytest.approx(min(c.params["b"] for c in pool + flat))
    r2 = _ranker(tmp_path, keep_inputs="data", input_bounds="data")
    r2.select(pool, 1, [])
    r2.fit(flat, _obs(flat))
    assert r2._keep.tolist() == [True, False]


def test_inputs_normalised_to_the_range_of_every_candidate_seen(tmp_path):
    pool = _pool(40, seed=6)
    inner = [c for c in pool if 0.2 < c.params["a"] < 0.8][:8]
    r = _ranker(tmp_path, input_bounds="seen")
    r.fit(inner, _obs(inner))
    r.select(pool, 1, [])  # the pool's wider range is now known
    r.fit(inner, _obs(inner))
    lo = _normalize(r._model).offset.squeeze()
    assert float(lo[0]) == pytest.approx(min(c.params["a"] for c in pool))


def test_prefilter_by_window_probability_keeps_the_window(tmp_path):
    pool = _pool(80, seed=7)
    r = _ranker(tmp_path, objectives=[Objective(name="w", goal="target", window=(0.4, 0.6))], prefilter=10)
    r.fit(pool[:20], _obs(pool[:20], fn=lambda c: c.params["b"], name="w"))
    sel = r.select(pool[20:], 3, [])
    assert all(0.3 < c.params["b"] < 0.7 for c in pool if c.id in {s.candidate_id for s in sel})


@pytest.mark.slow
def test_potential_descriptors_join_the_structure_features(tmp_path):
    """`descriptors: chgnet` adds CHGNet's crystal features to the ranker's structure features."""
    from pymatgen.core import Lattice, Structure

    from loop.interfaces import PluginContext
    from loop.objectives import Objective
    from loop.records import Candidate, Observation
    from surrogates.botorch_ranker import BotorchRanker

    ctx = PluginContext(work_dir=tmp_path, objectives=[Objective(name="y", goal="maximize")])
    cands = [
        Candidate.from_structure(Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
        for a in (3.3, 3.5, 3.7, 3.9, 4.1)
    ]
    obs = [Observation.from_raw(f"r{i}", c.id, {"y": float(i)}) for i, c in enumerate(cands[:4])]
    plain = BotorchRanker(BotorchRanker.Config(features="structure"), ctx)
    plain.fit(cands[:4], obs)
    rich = BotorchRanker(BotorchRanker.Config(features="structure", descriptors="chgnet"), ctx)
    rich.fit(cands[:4], obs)
    assert rich.featurizer.transform(cands).shape[1] > plain.featurizer.transform(cands).shape[1]
    assert rich.acquisition(cands[4:], []).shape == (1,)


def _goal_context(tmp_path, goal):
    objectives = [Objective(name="e", goal="minimize"), Objective(name="yield", goal="maximize")]
    return PluginContext(work_dir=tmp_path, objectives=objectives, goal=goal)


def _goal_obs(cands):
    # e falls towards a = 1 but no observation is near the goal yet; yield is 0 everywhere (no hit so far)
    return [
        Observation(request_id=f"r{i}", candidate_id=c.id,
                    values={"e": Measurement(value=0.3 - 0.3 * c.params["a"] + 0.05 * c.params["b"]), "yield": Measurement(value=0.0)})
        for i, c in enumerate(cands)
    ]


def test_goal_directed_ranking_scores_the_probability_of_the_goal(tmp_path):
    from scipy.stats import norm, spearmanr

    from loop.objectives import AllOf, AnyOf, Condition

    goal = AllOf(all=[Condition(name="e", op="<=", value=0.02), Condition(name="yield", op=">=", value=0.5)])
    r = BotorchRanker(BotorchRanker.Config(mc_samples=512, synthesizability="off"), _goal_context(tmp_path, goal))
    assert r.goal_bounds() == {"e": (None, 0.02), "yield": (0.5, None)}
    pool = _pool(80, seed=3)
    train = [c for c in pool if c.params["a"] < 0.6][:10]
    rest = [c for c in pool if c.id not in {t.id for t in train}]
    r.fit(train, _goal_obs(train))
    # the constant yield cannot be modelled; the goal's e condition is, as a constraint, not an objective
    assert [(s.name, s.role) for s in r._specs] == [("e", "constraint")]
    assert any(s["what"] == "output 'yield'" for s in r.skips)
    mu, sd = r.predict(rest)["e"]
    p_goal = norm.cdf((0.02 - mu) / sd)
    acq = r.acquisition(rest, [])
    top = np.argsort(-p_goal)[:5]
    assert np.argmax(acq) in top  # MC + soft indicator: the best by P(e <= 0.02) up to sampling noise
    assert spearmanr(acq, p_goal).statistic > 0.9
    # a disjunctive goal or goal_acquisition off keep the objectives' acquisition
    r_any = BotorchRanker(BotorchRanker.Config(), _goal_context(tmp_path, AnyOf(any=[goal])))
    r_off = BotorchRanker(BotorchRanker.Config(goal_acquisition="off"), _goal_context(tmp_path, goal))
    assert r_any.goal_bounds() is None and r_off.goal_bounds() is None
    r_off.fit(train, _goal_obs(train))
    assert [(s.name, s.role) for s in r_off._specs] == [("e", "minimize")]


def test_goal_bounds_intersect_conditions_on_one_property(tmp_path):
    from loop.objectives import AllOf, Condition

    goal = AllOf(all=[Condition(name="e", op="<=", value=0.1), AllOf(all=[Condition(name="e", between=(0.0, 0.05))])])
    r = BotorchRanker(BotorchRanker.Config(), _goal_context(tmp_path, goal))
    assert r.goal_bounds() == {"e": (0.0, 0.05)}


def test_contact_descriptors_tell_apart_structures_with_the_same_lattice(tmp_path):
    from pymatgen.core import Lattice, Structure

    from surrogates.featurize.contacts import contact_descriptors

    lattice = Lattice.cubic(4.21)
    rocksalt = Structure.from_spacegroup(225, lattice, ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    # same cell and composition, but O pairs at 1.5 A (peroxide-like) and Mg next to Mg
    clustered = Structure(lattice, ["Mg"] * 4 + ["O"] * 4, [
        [0, 0, 0], [0.3, 0, 0], [0, 0.3, 0], [0.3, 0.3, 0],
        [0.5, 0.5, 0.5], [0.85, 0.5, 0.5], [0.5, 0.85, 0.5], [0.85, 0.85, 0.5],
    ])
    d = contact_descriptors([rocksalt, clustered])
    assert d.shape == (2, 4)
    like_min, unlike_min, _, homo = d.T
    assert like_min[0] > 1.5 * like_min[1]  # like ions far apart in rock salt
    assert homo[0] == 0.0 and homo[1] > 0.5  # every rock-salt site has an unlike nearest neighbour
    assert unlike_min[0] == pytest.approx(2.105 / (1.5 + 0.6), rel=0.05)  # Mg-O 2.105 A over pymatgen's atomic radii
    # the ranker's structure features carry them (and tabular features do not)
    cands = [Candidate.from_structure(s) for s in (rocksalt, clustered)]
    r = _ranker(tmp_path, objectives=[Objective(name="e_hull", goal="minimize")])
    X, ok = r._features(cands)
    assert ok.all() and np.allclose(X[:, -4:], d)
    off = _ranker(tmp_path, objectives=[Objective(name="e_hull", goal="minimize")], contact_descriptors="off")
    assert off._features(cands)[0].shape[1] == X.shape[1] - 4


def test_loo_calibration_widens_an_overconfident_gp_and_keeps_its_mean():
    import torch

    from surrogates.models import fit_objective_gp
    from surrogates.models.calibration import loo_calibrate, loo_scale

    g = torch.Generator().manual_seed(0)
    X = torch.rand(20, 2, generator=g, dtype=torch.float64)
    smooth = fit_objective_gp(X, torch.sin(6 * X[:, :1]) + 0.05 * torch.randn(20, 1, generator=g, dtype=torch.float64))
    assert loo_scale(smooth) < 1.5  # a well-specified GP: LOO residuals about as large as it predicts
    # outcomes the inputs do not determine, with a tiny "measurement" noise: the GP interpolates them
    chaotic = fit_objective_gp(X, torch.randn(20, 1, generator=g, dtype=torch.float64), Yvar=torch.full((20, 1), 1e-4, dtype=torch.float64))
    Xt = torch.rand(6, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        before = chaotic.posterior(Xt)
        mu0, sd0 = before.mean.clone(), before.variance.sqrt().clone()
        c = loo_calibrate(chaotic)
        after = chaotic.posterior(Xt)
    assert c > 1.1  # its LOO residuals exceed the predicted spread
    assert torch.allclose(after.mean, mu0, atol=1e-8)
    assert torch.allclose(after.variance.sqrt(), c * sd0, rtol=1e-6)


def test_input_warping_auto_on_tabular_features_up_to_the_limit(tmp_path):
    from botorch.models.transforms.input import Warp

    pool = _pool(40, seed=9)
    r = _ranker(tmp_path)
    r.fit(pool[:12], _obs(pool[:12]))
    assert isinstance(r._model.input_transform["warp"], Warp)
    r2 = _ranker(tmp_path, input_warp_max=10)
    r2.fit(pool[:12], _obs(pool[:12]))
    assert "warp" not in dict(getattr(r2._model.input_transform, "items", lambda: [])())
    assert BotorchRanker.Config(input_warp=True).input_warp == "on"  # YAML booleans keep working
    r3 = _ranker(tmp_path, input_warp=False)
    r3.fit(pool[:12], _obs(pool[:12]))
    assert not r3._warp_inputs(12)
