from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from generators.gflownet.env import CrystalEnv, EnvConfig
from generators.gflownet.validity import structure_problem
from loop.errors import ConfigError

SMALL = {"elements": ["Na", "Cl"], "space_groups": [2, 14, 62, 166, 194, 221, 225], "max_atoms": 8}


@pytest.fixture(scope="module")
def env() -> CrystalEnv:
    return CrystalEnv(EnvConfig(**SMALL))


def _walk(env: CrystalEnv, rng: np.random.Generator):
    s = env.initial_state()
    path = [s]
    while not env.is_terminal(s):
        mask = env.forward_mask(s)
        assert mask.any()
        a = int(rng.choice(np.flatnonzero(mask)))
        child = env.step(s, a)
        assert env.depth(child) == env.depth(s) + 1
        assert env.backward_mask(child)[env.backward_index(a)], (s, a)
        s = child
        path.append(s)
    return path


def test_random_walks_end_in_valid_charge_neutral_structures(env: CrystalEnv) -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        s = _walk(env, rng)[-1]
        structure = env.decode(s)
        counts = dict(zip(env.elements, s.counts, strict=True))
        assert structure.composition.get_el_amt_dict() == {k: v for k, v in counts.items() if v > 0}
        assert len(structure) <= 8
        assert structure_problem(structure) is None
        assert env.describe(s)["space_group"] in SMALL["space_groups"]
        # Na+ Cl- is the only neutral binary ratio (Na+ Cl+ fails Pauling); single elements are SMACT-valid
        assert counts["Na"] == counts["Cl"] or 0 in counts.values()


def test_every_backward_action_leads_to_a_parent(env: CrystalEnv) -> None:
    rng = np.random.default_rng(1)
    for _ in range(15):
        for child in _walk(env, rng)[1:]:
            for b in np.flatnonzero(env.backward_mask(child)):
                # find the parent the backward action names and check it steps to the child
                found = False
                for parent in _candidate_parents(env, child):
                    for a in np.flatnonzero(env.forward_mask(parent)):
                        if env.backward_index(a) == b and env.step(parent, a) == child:
                            found = True
                assert found, (child, b)


def _candidate_parents(env: CrystalEnv, s):
    if s.coords:
        yield s._replace(coords=s.coords[:-1])
    elif s.lattice:
        yield s._replace(lattice=s.lattice[:-1])
    elif s.sites:
        for i in range(len(s.sites)):
            yield s._replace(sites=s.sites[:i] + s.sites[i + 1 :])
    elif max(s.counts) >= 0:
        for e in range(env.E):
            if s.counts[e] >= 0:
                yield s._replace(counts=s.counts[:e] + (-1,) + s.counts[e + 1 :])
    else:
        yield env.initial_state()


def test_features_fixed_length(env: CrystalEnv) -> None:
    path = _walk(env, np.random.default_rng(2))
    feats = [env.features(s) for s in path]
    assert {f.shape for f in feats} == {(env.feature_dim,)}
    assert len({f.tobytes() for f in feats}) == len(feats)


def test_no_charge_neutral_composition_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="admit no charge-neutral"):
        CrystalEnv(EnvConfig(elements=["Ba", "F"], max_atoms=2, min_elements=2))


def test_space_groups_incompatible_with_atom_limit() -> None:
    with pytest.raises(ConfigError, match="space group 225"):
        CrystalEnv(EnvConfig(elements=["Na", "Cl"], space_groups=[221, 225], max_atoms=3))


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="min_atoms"):
        EnvConfig(elements=["Na"], min_atoms=5, max_atoms=4)
    with pytest.raises(ValidationError, match="1-230"):
        EnvConfig(elements=["Na"], space_groups=[0])
    cfg = EnvConfig(**SMALL)
    assert EnvConfig.model_validate_json(cfg.model_dump_json()) == cfg
