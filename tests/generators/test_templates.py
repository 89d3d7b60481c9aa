"""The GFlowNet's template branch: known phases decorated orbit by orbit (issue 17)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from generators.gflownet import GFlowNetGenerator
from generators.gflownet.chemistry import ChargeRules
from generators.gflownet.env import CrystalEnv, EnvConfig
from generators.gflownet.templates import decorate, make_templates
from loop.errors import ConfigError
from loop.exact_target import cooled_temperature, perplexity
from loop.interfaces import PluginContext
from loop.valence import balanced

ELEMENTS = ["Mn", "Ti", "O"]
LIMITS = {"elements": ELEMENTS, "space_groups": [221, 225], "max_atoms": 14, "min_elements": 2}


def _spinel() -> Structure:
    """Mn3O4 as a cubic spinel: Mn2+ on the tetrahedral 8a orbit, Mn3+ on the octahedral 16d one."""
    return Structure.from_spacegroup(
        "Fd-3m", Lattice.cubic(8.4), ["Mn", "Mn", "O"], [[0, 0, 0], [0.625, 0.625, 0.625], [0.385, 0.385, 0.385]]
    )


def _rocksalt() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def templates():
    return make_templates([("Mn3O4_spinel", _spinel()), ("MgO_rocksalt", _rocksalt())], ELEMENTS,
                          ChargeRules(ELEMENTS), max_atoms=14, min_elements=2)


def _formulas(template, elements) -> set[str]:
    """Reduced formulas of every complete decoration of ``template``."""
    return {decorate(template, p, elements).composition.reduced_formula
            for p in template.prefixes if len(p) == template.n_orbits}


def test_orbits_of_one_element_are_decorated_apart(templates) -> None:
    spinel = next(t for t in templates if t.name == "Mn3O4_spinel")
    assert spinel.n_orbits == 3 and len(spinel.structure) == 14 and spinel.space_group == 227
    assert sorted(len(o) for o in spinel.orbits) == [2, 4, 8]
    formulas = _formulas(spinel, ELEMENTS)
    # tetrahedral Mn kept, octahedral Mn -> Ti: the spinel MnTi2O4, which element-wise substitution cannot make
    assert {"Ti2MnO4", "TiMn2O4"} <= formulas
    assert "Mn3O4" not in formulas  # the template itself is never offered
    # the anion orbit only ever takes the campaign's anion
    o_orbit = spinel.orbit_elements.index("O")
    for p in spinel.prefixes:
        if len(p) > o_orbit:
            assert ELEMENTS[p[o_orbit]] == "O"


def test_decorations_are_charge_neutral_and_rescaled(templates) -> None:
    rocksalt = next(t for t in templates if t.name == "MgO_rocksalt")
    assert _formulas(rocksalt, ELEMENTS) == {"MnO", "TiO"}  # Mg2+ -> Mn2+ / Ti2+
    for t in templates:
        for p in t.prefixes:
            if len(p) == t.n_orbits:
                s = decorate(t, p, ELEMENTS)
                assert balanced(s.composition.get_el_amt_dict())[0]
                assert len(s) == len(t.structure)
    mno = decorate(rocksalt, (ELEMENTS.index("Mn"), ELEMENTS.index("O")), ELEMENTS)
    ratio = (1.40**3 + 0.60**3) / (1.50**3 + 0.60**3)  # pymatgen's atomic radii: Mn 1.40, Mg 1.50, O 0.60 A
    assert mno.volume == pytest.approx(rocksalt.structure.volume * ratio)


def test_min_elements_and_size_limits_drop_templates() -> None:
    assert make_templates([("MgO", _rocksalt())], ["Mn", "O"], ChargeRules(["Mn", "O"]), max_atoms=14,
                          min_elements=3) == []
    assert make_templates([("Mn3O4", _spinel())], ELEMENTS, ChargeRules(ELEMENTS), max_atoms=12) == []


def _walk(env: CrystalEnv, rng: np.random.Generator, first: int | None = None):
    s = env.initial_state()
    path = [s]
    while not env.is_terminal(s):
        mask = env.forward_mask(s)
        a = first if (first is not None and len(path) == 1) else int(rng.choice(np.flatnonzero(mask)))
        assert mask[a]
        child = env.step(s, a)
        assert env.depth(child) == env.depth(s) + 1
        assert env.backward_mask(child)[env.backward_index(a)]
        assert env.features(child).shape == (env.feature_dim,)
        s = child
        path.append(s)
    return path


def test_env_offers_both_branches_and_every_template_walk_ends_in_a_decoration(templates) -> None:
    plain = CrystalEnv(EnvConfig(**LIMITS))
    env = CrystalEnv(EnvConfig(**LIMITS), templates=templates)
    assert plain.n_actions == plain.off_coord + plain.C**3  # no templates: the layout of the five-stage space
    assert env.n_actions == plain.n_actions + len(templates) + len(ELEMENTS)
    root = env.forward_mask(env.initial_state())
    assert root[: env.n_sg].all() and root[env.off_tmpl : env.off_orbit].all()
    rng = np.random.default_rng(0)
    seen = set()
    for k in range(30):
        t = k % len(templates)
        path = _walk(env, rng, first=env.off_tmpl + t)
        s = path[-1]
        assert len(path) == 2 + templates[t].n_orbits
        structure = env.decode(s)
        described = env.describe(s)
        assert described["template"] == templates[t].name
        assert structure.composition.get_el_amt_dict() == {k: float(v) for k, v in described["counts"].items()}
        assert env.backward_mask(path[1]).tolist() == [True] + [False] * (env.n_bwd_actions - 1)
        seen.add(structure.composition.reduced_formula)
    assert {"Ti2MnO4", "MnO", "TiO"} <= seen
    # the from-scratch branch still works beside it
    s = _walk(env, rng, first=0)[-1]
    assert "template" not in env.describe(s) and not s.template
    only = CrystalEnv(EnvConfig(**LIMITS), templates=templates, from_scratch=False)
    root = only.forward_mask(only.initial_state())
    assert not root[: only.n_sg].any() and root[only.off_tmpl : only.off_orbit].all()
    with pytest.raises(ConfigError, match="from scratch"):
        CrystalEnv(EnvConfig(**LIMITS), from_scratch=False)


def _write_cifs(folder: Path) -> Path:
    folder.mkdir()
    _spinel().to(filename=str(folder / "Mn3O4_227.cif"))
    _rocksalt().to(filename=str(folder / "MgO_225.cif"))
    return folder


@pytest.mark.slow
def test_generator_learns_to_decorate_the_template_its_score_rewards(tmp_path: Path) -> None:
    folder = _write_cifs(tmp_path / "known")
    options = {**LIMITS, "templates": [str(folder)], "hidden": 64, "train": {"batch_size": 16}}
    derived = GFlowNetGenerator(GFlowNetGenerator.Config(**options), PluginContext(work_dir=tmp_path, seed=0))
    # by default the small phases' derivative structures join them (rock salt's Mn-Ti orderings)
    assert derived.env.T > 2 and any("*" in t.name for t in derived.env.templates)
    options["template_derivatives"] = 0
    only = GFlowNetGenerator(GFlowNetGenerator.Config(**options), PluginContext(work_dir=tmp_path, seed=0))
    assert only.env.T == 2 and not only.env.from_scratch  # templates given: the template action space by default
    assert all("template" in c.metadata for c in only.sample(50, None, np.random.default_rng(0)))
    gen = GFlowNetGenerator(GFlowNetGenerator.Config(**options, from_scratch=True), PluginContext(work_dir=tmp_path, seed=0))

    def spinel_score(cands):  # log R = 4 * 5 = 20 for the spinel: far above the sum over the other terminals
        return np.array([5.0 if c.formula == "Ti2MnO4" else 0.0 for c in cands])

    before = np.mean([c.formula == "Ti2MnO4" for c in gen.sample(200, None, np.random.default_rng(1))])
    gen.train(spinel_score, steps=60)
    after = gen.sample(200, None, np.random.default_rng(1))
    share = np.mean([c.formula == "Ti2MnO4" for c in after])
    assert share > 2 * before, (before, share)  # 0.135 -> 0.38 after 60 steps (seeded)
    hit = next(c for c in after if c.formula == "Ti2MnO4")
    assert hit.metadata["template"] == "Mn3O4_227" and hit.metadata["space_group"] == 227


def test_templates_that_fit_nothing_are_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "known"
    folder.mkdir()
    _rocksalt().to(filename=str(folder / "MgO_225.cif"))
    options = {**LIMITS, "elements": ["Mn", "O"], "min_elements": 3, "templates": [str(folder)]}
    with pytest.raises(ConfigError, match="templates"):
        GFlowNetGenerator(GFlowNetGenerator.Config(**options), PluginContext(work_dir=tmp_path))


def test_small_template_spaces_sample_the_target_exactly_without_repeats(tmp_path: Path) -> None:
    folder = _write_cifs(tmp_path / "known")
    options = {**LIMITS, "templates": [str(folder)], "hidden": 32, "template_derivatives": 0}
    gen = GFlowNetGenerator(GFlowNetGenerator.Config(**options), PluginContext(work_dir=tmp_path, seed=0))
    assert gen.exact_states is not None and len(gen.exact_states) == sum(t.n_decorations for t in gen.env.templates)
    trained = GFlowNetGenerator(GFlowNetGenerator.Config(**options, exact_max_terminals=0), PluginContext(work_dir=tmp_path, seed=0))
    assert trained.exact_states is None and not trained.exact and trained.exact_target() is None
    assert gen.exact and gen.exact_target().log_r is None  # not scored before the first update

    def spinel_score(cands):  # log R = 4 * 5 for the spinels, 0 for the rest
        return np.array([5.0 if c.formula == "Ti2MnO4" else 0.0 for c in cands])

    gen.update([], score=spinel_score)
    target = gen.exact_target()
    assert len(target.structures) == len(target.names) == len(target.parents) == len(gen.exact_states)
    is_spinel = [s.composition.reduced_formula == "Ti2MnO4" for s in target.structures]
    assert np.array_equal(target.log_r > 0, np.array(is_spinel)) and any(is_spinel)
    spinels = sum(decorate(t, s.template[1:], ELEMENTS).composition.reduced_formula == "Ti2MnO4"
                  for s in gen.exact_states for t in [gen.env.templates[s.template[0]]])
    rng = np.random.default_rng(0)
    first = gen.sample(spinels, None, rng)
    assert [c.formula for c in first] == ["Ti2MnO4"] * spinels  # e^20 against e^0: the spinels come first
    assert all(c.metadata["template"] for c in first)
    rest = gen.sample(len(gen.exact_states), None, rng)
    ids = [c.id for c in first + rest]
    assert len(rest) == len(gen.exact_states) - spinels and len(set(ids)) == len(ids)  # nothing proposed twice
    assert gen.sample(4, None, rng) == []  # the space is spent
    again = GFlowNetGenerator(GFlowNetGenerator.Config(**options), PluginContext(work_dir=tmp_path, seed=0))
    again.load_state_dict(gen.state_dict())
    assert again.proposed == gen.proposed and np.array_equal(again.exact_log_r, gen.exact_log_r)


def test_cooled_temperature_meets_the_perplexity_and_never_heats() -> None:
    log_r = np.linspace(0.0, -1.0, 400)  # nearly flat: perplexity close to 400
    assert perplexity(log_r) > 350
    t = cooled_temperature(log_r, 1.0, 24.0)
    assert t < 1.0 and perplexity(log_r / t) == pytest.approx(24.0, rel=0.02)
    sharp = np.r_[0.0, np.full(99, -50.0)]  # already concentrated: unchanged
    assert cooled_temperature(sharp, 1.0, 24.0) == 1.0
    assert cooled_temperature(np.zeros(100), 0.5, 24.0) == 0.5  # flat: nothing to cool
    with_spent = np.r_[log_r, np.full(50, -np.inf)]  # proposed terminals (-inf) carry no mass
    assert cooled_temperature(with_spent, 1.0, 24.0) == pytest.approx(t)


def test_the_exact_target_is_cooled_to_a_few_rounds_of_proposals(tmp_path: Path) -> None:
    folder = _write_cifs(tmp_path / "known")
    options = {**LIMITS, "templates": [str(folder)], "hidden": 32}
    cooled = GFlowNetGenerator(GFlowNetGenerator.Config(**options, exact_spread=1.0), PluginContext(work_dir=tmp_path, seed=0))
    flat = GFlowNetGenerator(GFlowNetGenerator.Config(**options, exact_spread=None), PluginContext(work_dir=tmp_path, seed=0))
    assert cooled.exact_states is not None and len(cooled.exact_states) > 40
    slope = -0.01 * np.arange(len(cooled.exact_states))  # a gentle slope: terminal 0 best
    cooled.exact_log_r, flat.exact_log_r = slope, slope.copy()  # as _score_exact leaves them
    picks: dict[str, list[int]] = {"cooled": [], "flat": []}
    for seed in range(20):
        for name, gen in (("cooled", cooled), ("flat", flat)):
            gen.proposed = set()
            gen.sample(4, None, np.random.default_rng(seed))
            picks[name].extend(gen.proposed)
    assert max(picks["cooled"]) < 40  # perplexity at most 4: the draws stay among the best terminals
    assert max(picks["flat"]) > 40  # the flat target draws from all of them


def test_a_cap_per_parent_spreads_a_round_over_parent_structures(tmp_path: Path) -> None:
    folder = _write_cifs(tmp_path / "known")
    options = {**LIMITS, "templates": [str(folder)], "hidden": 32, "exact_spread": None}
    capped = GFlowNetGenerator(GFlowNetGenerator.Config(**options, exact_per_parent=1), PluginContext(work_dir=tmp_path, seed=0))
    assert capped.exact_states is not None and capped.exact_parents is not None
    parents = capped.exact_parents
    assert len(set(parents)) >= 2 and all("*" not in p for p in parents)  # derivatives count under their parent
    first = parents[0]
    capped.exact_log_r = np.array([10.0 if p == first else 0.0 for p in parents])  # one parent holds all the reward
    capped.sample(len(set(parents)), None, np.random.default_rng(0))
    assert sorted(parents[i] for i in capped.proposed) == sorted(set(parents))  # one from each parent
    more = capped.sample(3, None, np.random.default_rng(1))  # a round that asks for more than the parents left fills up
    assert len(more) == 3


def test_a_reward_far_below_the_floor_keeps_its_order_in_the_exact_target(tmp_path: Path) -> None:
    """A goal probability of e^-20 everywhere (a GP fitted on yields that are all but zero) still ranks the terminals."""
    folder = _write_cifs(tmp_path / "known")
    options = {**LIMITS, "templates": [str(folder)], "hidden": 32, "template_derivatives": 0}
    relative = GFlowNetGenerator(GFlowNetGenerator.Config(**options), PluginContext(work_dir=tmp_path, seed=0))
    absolute = GFlowNetGenerator(GFlowNetGenerator.Config(**options, exact_floor="absolute"), PluginContext(work_dir=tmp_path, seed=0))

    def faint(cands):  # log P(goal) about -20, spinels 2 nats more likely than the rest
        return np.array([-18.0 if c.formula == "Ti2MnO4" else -20.0 for c in cands])

    for gen in (relative, absolute):
        gen.update([], score=faint)
    assert np.ptp(absolute.exact_log_r) == 0.0  # all at log_reward_min: a uniform target
    spinel = np.array([s.composition.reduced_formula == "Ti2MnO4" for s in relative.exact_target().structures])
    assert relative.exact_log_r[spinel].min() > relative.exact_log_r[~spinel].max()  # the order survives
    assert relative.exact_log_r.max() - relative.exact_log_r.min() <= 30.0 + 1e-9  # floored 30 nats below the best
    first = relative.sample(int(spinel.sum()), None, np.random.default_rng(0))
    assert {c.formula for c in first} == {"Ti2MnO4"}
