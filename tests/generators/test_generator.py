from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from generators.gflownet import GFlowNetGenerator
from generators.gflownet.validity import structure_valid
from loop.errors import ConfigError, PluginNotFoundError
from loop.interfaces import PluginContext, Potential, PotentialResult
from loop.objectives import Objective
from loop.records import Observation

OPTIONS = {
    "elements": ["Na", "Cl"],
    "space_groups": [14, 62, 194, 221, 225],
    "max_atoms": 8,
    "hidden": 64,
    "steps_per_update": 3,
    "train": {"batch_size": 8},
}


def _gen(tmp_path: Path, **kw) -> GFlowNetGenerator:
    ctx = PluginContext(work_dir=tmp_path, objectives=[Objective(name="bulk_modulus", goal="maximize")])
    return GFlowNetGenerator(GFlowNetGenerator.Config(**{**OPTIONS, **kw}), ctx)


def _na_rich_score(cands):
    return np.array([c.structure.composition.get_atomic_fraction("Na") for c in cands])


def test_sample_gives_valid_structure_candidates(tmp_path: Path) -> None:
    gen = _gen(tmp_path)
    assert gen.condition_names == ["bulk_modulus"]
    cands = gen.sample(12, {"bulk_modulus": 100.0}, np.random.default_rng(0))
    assert len(cands) == 12
    for c in cands:
        assert c.structure is not None and c.origin.generator == "gflownet"
        assert set(c.structure.composition.get_el_amt_dict()) <= {"Na", "Cl"}
        assert structure_valid(c.structure) == c.metadata["valid"]
        assert c.metadata["space_group"] in OPTIONS["space_groups"]
    assert gen.cond.tolist() == [100.0]
    scaled = _gen(tmp_path, condition_scales={"bulk_modulus": 100.0})
    assert scaled.condition_vector({"bulk_modulus": 250.0}).tolist() == [2.5]
    cfg = GFlowNetGenerator.Config(**OPTIONS)
    assert GFlowNetGenerator.Config.model_validate_json(cfg.model_dump_json()) == cfg
    with pytest.raises(ConfigError, match="unknown targets"):
        gen.sample(1, {"band_gap": 1.0}, np.random.default_rng(0))


def test_update_trains_and_checkpoint_round_trips(tmp_path: Path) -> None:
    gen = _gen(tmp_path)
    cands = gen.sample(4, None, np.random.default_rng(0))
    obs = [Observation(request_id=f"r{i}", candidate_id=c.id) for i, c in enumerate(cands)]
    gen.update(obs, score=_na_rich_score)
    assert gen.trainer.steps == 3
    assert len(gen.buffer.lab) >= 1 and len(gen.buffer.high) > 0
    state = json.loads(json.dumps(gen.state_dict()))
    other = _gen(tmp_path)
    other.load_state_dict(state)
    a = gen.sample(5, None, np.random.default_rng(7))
    b = other.sample(5, None, np.random.default_rng(7))
    assert [c.id for c in a] == [c.id for c in b]
    assert other.observed == gen.observed and len(other.buffer.lab) == len(gen.buffer.lab)
    other.update([], score=_na_rich_score)  # training continues from the checkpoint
    assert other.trainer.steps == 6


def _na_fraction_of_samples(gen: GFlowNetGenerator) -> float:
    return float(_na_rich_score(gen.sample(128, None, np.random.default_rng(5))).mean())


@pytest.mark.slow
def test_update_moves_the_policy_toward_the_rewarded_states(tmp_path: Path) -> None:
    """Trained on ``s = Na fraction`` the policy samples Na-richer crystals; on ``1 - s``, Cl-richer ones.

    Both generators start from the same weights (same seed), so the only difference is the score."""
    fast = {"steps_per_update": 10, "beta": 8.0, "train": {"batch_size": 16, "lr": 0.01}}
    toward_na, toward_cl = _gen(tmp_path / "na", **fast), _gen(tmp_path / "cl", **fast)
    start = _na_fraction_of_samples(toward_na)
    assert _na_fraction_of_samples(toward_cl) == start
    toward_na.update([], score=_na_rich_score)
    toward_cl.update([], score=lambda cands: 1.0 - _na_rich_score(cands))
    assert _na_fraction_of_samples(toward_na) > start + 0.15
    assert _na_fraction_of_samples(toward_cl) < start - 0.1


def test_nan_reward_is_recorded_and_penalised(tmp_path: Path) -> None:
    gen = _gen(tmp_path)

    def half_nan(cands):
        out = _na_rich_score(cands)
        out[::2] = np.nan
        return out

    log_r = gen.log_reward_fn(half_nan)([t.terminal for t in _rollouts(gen, 6)])
    assert np.all(np.isfinite(log_r)) and gen.nan_rewards == 3
    assert np.all(log_r[::2] <= log_r[1::2].min())
    gen.train(half_nan, steps=2)
    assert gen.nan_rewards > 3


def _rollouts(gen: GFlowNetGenerator, n: int):
    from generators.gflownet.sampler import rollout

    return rollout(gen.space, gen.policy, n, gen.cond, np.random.default_rng(0))


def test_duplicates_of_observed_candidates_are_penalised(tmp_path: Path) -> None:
    gen = _gen(tmp_path)
    trajs = _rollouts(gen, 3)
    fn = gen.log_reward_fn(lambda c: np.zeros(len(c)))
    plain = fn([t.terminal for t in trajs])
    cand = gen._candidate(trajs[0])
    gen.observed.add(cand.id)
    again = fn([t.terminal for t in trajs])
    assert again[0] == pytest.approx(plain[0] - gen.config.beta * gen.config.duplicate_penalty)


def test_generator_imports_no_other_stage() -> None:
    root = Path(__file__).resolve().parents[2] / "generators"
    for path in [*root.joinpath("gflownet").glob("*.py"), root / "random_crystal.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n.split(".")[0] in ("surrogates", "lab_adapters") for n in names), path


class _PairPotential(Potential):
    """An analytic stand-in: energy per atom = -(Na fraction), NaN for one-element cells."""

    def predict(self, structures):
        out = []
        for s in structures:
            comp = s.composition
            e = np.nan if len(comp.elements) == 1 else -comp.get_atomic_fraction("Na")
            out.append(PotentialResult(energy=e * len(s), n_atoms=len(s)))
        return out

    def relax(self, structures, *, fmax=0.05, steps=200, relax_cell=True):
        raise NotImplementedError

    def descriptors(self, structures):
        raise NotImplementedError


def test_potential_energy_term(tmp_path: Path) -> None:
    with pytest.raises(PluginNotFoundError, match="no_such_potential"):
        _gen(tmp_path, potential="no_such_potential", energy_weight=1.0)
    gen = _gen(tmp_path, energy_weight=2.0)
    trajs = _rollouts(gen, 8)
    plain = gen.log_reward_fn(lambda c: np.zeros(len(c)))([t.terminal for t in trajs])
    gen.potential = _PairPotential()
    with_e = gen.log_reward_fn(lambda c: np.zeros(len(c)))([t.terminal for t in trajs])
    for t, a, b in zip(trajs, plain, with_e, strict=True):
        comp = gen.env.decode(t.terminal).composition
        if len(comp.elements) == 2:
            expected = a + gen.config.beta * 2.0 * comp.get_atomic_fraction("Na")
            assert b == pytest.approx(max(expected, gen.config.log_reward_min))
