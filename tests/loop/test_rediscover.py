"""bench rediscover: worlds and what they hide, bad input at configuration time, arms that differ only in
method and receive the same information, the figures, and one tiny end-to-end run."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from loop.bench.rediscover.arms import ARMS, OURS, BenchPaths, BenchSettings, campaign_config
from loop.bench.rediscover.run import check_world, run_rediscover, summarize_arm
from loop.bench.rediscover.success import ceiling_summary
from loop.bench.rediscover.worlds import load_world
from loop.errors import ConfigError
from tests.conftest import REPO

WORLDS = REPO / "experiments" / "rediscover"


def _world_file(tmp_path: Path, hide, name: str = "w", references: str | None = None, elements=("Li", "Mn", "O")) -> Path:
    import yaml

    refs = references or str(WORLDS.parent.parent.parent / "shared" / "data" / "references" / "li-mn-ti-o-f")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "references": refs, "elements": list(elements), "hide": hide}))
    return path


def test_shipped_worlds_resolve_their_folder_and_hide_the_ternaries(data_dir):
    worlds = {p.stem: load_world(p) for p in sorted(WORLDS.glob("*.yaml"))}
    assert set(worlds) == {"li-mn-o", "li-ti-o", "mn-ti-o"}
    lmo = worlds["li-mn-o"]
    assert lmo.folder == (data_dir / "references" / "li-mn-ti-o-f").resolve()
    assert "LiMn2O4_227" in lmo.hidden and "Li2MnO3_12" in lmo.hidden
    assert all(len(lmo.phases[n].elements) == 3 for n in lmo.hidden)
    assert "MnO2_10" not in lmo.hidden


def test_bad_worlds_fail_at_configuration_time(tmp_path, data_dir):
    everything = [n for n, p in load_world(WORLDS / "li-mn-o.yaml").phases.items() if not p.is_elemental]
    with pytest.raises(ConfigError, match="hides every compound"):
        load_world(_world_file(tmp_path, everything))
    with pytest.raises(ConfigError, match="not phases of Li-Mn-O"):
        load_world(_world_file(tmp_path, ["Li2TiO3_15"]))
    with pytest.raises(ConfigError, match="no such files"):
        load_world(_world_file(tmp_path, ["Nope_1"]))
    with pytest.raises(ConfigError, match="folder not found"):
        load_world(_world_file(tmp_path, "ternaries", references=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match="hide"):
        load_world(_world_file(tmp_path, "everything"))


def test_hidden_phases_outside_the_search_space_or_too_large_are_errors(tmp_path, data_dir):
    paths, settings = BenchPaths(tmp_path / "bench"), BenchSettings()
    world = load_world(_world_file(tmp_path, ["LiMn2O4_227"]))
    with pytest.raises(ConfigError, match="max_atoms 8"):
        check_world(world, [OURS], paths, BenchSettings(max_atoms=8))
    world.spec = world.spec.model_copy(update={"elements": ["Li", "O"]})  # generators would search Li-O only
    with pytest.raises(ConfigError, match="outside the search space"):
        check_world(world, [OURS], paths, settings)


def test_unknown_arm_and_a_budget_below_one_round_fail_before_anything_runs(tmp_path, data_dir):
    with pytest.raises(ConfigError, match="valid: ours"):
        run_rediscover([WORLDS / "li-mn-o.yaml"], seeds=1, arms=["nope"], settings=BenchSettings(), root=tmp_path)
    with pytest.raises(ConfigError, match="below one round"):
        run_rediscover([WORLDS / "li-mn-o.yaml"], seeds=1, arms=[OURS], settings=BenchSettings(budget=3), root=tmp_path)
    assert not (tmp_path / "campaigns").exists()


def test_arms_differ_only_in_method_and_share_the_information(tmp_path, data_dir):
    """Issue 19: every arm gets the same screen, known phases, lab (noise per candidate), budget and seed."""
    world = load_world(WORLDS / "li-mn-o.yaml")
    paths, settings = BenchPaths(tmp_path), BenchSettings()
    dumps = {(arm, v): campaign_config(world, arm, v, 5, paths, settings).model_dump(mode="json")
             for arm, spec in ARMS.items() for v in spec.variants}
    ours = dumps[(OURS, "")]
    assert (ours["generator"]["kind"], ours["ranker"]["kind"]) == ("gflownet", "botorch")
    # the user's defaults otherwise; the known phases as the template branch's templates, as substitution gets them
    assert set(ours["generator"]["options"]) == {"elements", "max_atoms", "min_elements", "templates"}
    assert ours["ranker"]["options"] == {}
    for key, d in dumps.items():
        same = {k: v for k, v in d.items() if k not in ("generator", "ranker")}
        assert same == {k: v for k, v in ours.items() if k not in ("generator", "ranker")}, key
        opts = d["generator"]["options"]
        assert (opts["elements"], opts["max_atoms"], opts["min_elements"]) == (["Li", "Mn", "O"], 20, 2)
    known = Path(ours["screen"]["options"]["references"][0])
    stems = {p.stem for p in known.glob("*.cif")}
    assert not stems & set(world.hidden) and "MnO2_10" in stems and "LiTi2O4_227" in stems
    for key in [("substitution_greedy", "per_round"), ("substitution_bo", "")]:
        assert dumps[key]["generator"]["options"]["references"] == [str(known)]
    for key in [(OURS, ""), ("gflownet_random", "")]:
        assert dumps[key]["generator"]["options"]["templates"] == [str(known)]
    lab = ours["lab"]["options"]
    assert lab["references"] == [str(world.folder)]  # the world's truth holds the hidden phases
    assert lab["unknown_to_analyst"] == world.hidden  # ...which the XRD analyst does not know
    assert lab["noise_key"] == "candidate"
    assert (ours["budget"]["experiments"], ours["budget"]["batch_size"], ours["budget"]["stop_on_goal"]) == (24, 4, False)
    assert ours["proposals"] == 8 and ours["seed"] == 5
    assert ours["screen"]["options"]["novel_only"] is True  # no arm spends experiments on known phases


def test_figures_count_a_miss_as_budget_plus_one():
    runs = [{"seed": s, "first_rediscovery": f, "rediscovered": r, "new_hits": n, "relaxations": 10, "seconds": 2.0}
            for s, (f, r, n) in enumerate([(3, ["A"], []), (None, [], ["x"]), (7, ["A", "B"], [])])]
    out = summarize_arm(runs, budget=24)
    assert out["per_seed"] == [3, 25, 7] and out["median_first"] == 7
    assert (out["rediscovered"], out["new_hits"], out["relaxations"], out["seconds"]) == (3, 1, 30, 6.0)


def test_the_ceiling_is_the_median_a_perfect_arm_would_reach():
    per_seed = {0: {"A": 0.52, "B": 0.0}, 1: {"A": 0.1, "B": 0.7}, 2: {"A": 0.0, "B": 0.49}, 3: {"A": 0.2, "B": 0.0}}
    out = ceiling_summary(per_seed, budget=24)
    assert out["formable_seeds"] == [0, 1]  # 0.49 is not a hit
    assert out["median_first"] == 13.0  # median of 1, 1, 25, 25
    assert ceiling_summary({0: {"A": 0.3}, 1: {"A": 0.0}, 2: {"A": 0.9}}, budget=24)["median_first"] == 25.0


def _tiny_folder(tmp_path: Path) -> Path:
    """Mg-O: rock-salt MgO hidden, wurtzite MgO known, rock-salt CaO (another system) a substitution template."""
    folder = tmp_path / "refs"
    folder.mkdir()
    rs = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    wz = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.3, 5.2), ["Mg", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.38]])
    cao = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.81), ["Ca", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    for name, s in (("MgO_225", rs), ("MgO_186", wz), ("CaO_225", cao)):
        s.to(filename=str(folder / f"{name}.cif"))
    return folder


@pytest.mark.slow
def test_tiny_world_end_to_end_arms_see_the_same_screen_and_lab_results(tmp_path, monkeypatch):
    from loop.store import Ledger

    monkeypatch.setenv("CRYSTALOOP_CACHE", str(tmp_path / "cache"))
    world_file = _world_file(tmp_path, ["MgO_225"], name="mgo", references=str(_tiny_folder(tmp_path)), elements=("Mg", "O"))
    settings = BenchSettings(budget=2, batch=1, proposals=2, max_atoms=8)
    arms = ["substitution_greedy", "substitution_bo"]
    out = run_rediscover([world_file], seeds=1, arms=arms, settings=settings, root=tmp_path / "bench")
    world = out["worlds"]["mgo"]
    assert world["hidden"] == ["MgO_225"]
    assert world["reachability"]["MgO_225"]["primitive_sites"] == 2
    if not world["reachable"]:
        pytest.fail(f"rock-salt MgO should form from its default recipe: {world['reachability']}")
    seen: dict[str, dict[str, tuple]] = {}
    for arm, variant in [("substitution_greedy", "per_round"), ("substitution_greedy", "all_at_once"), ("substitution_bo", "")]:
        directory = BenchPaths(tmp_path / "bench").campaign(load_world(world_file), arm, variant, 0)
        ledger = Ledger.for_directory(directory, None)
        try:
            screens = {d.candidate_id: (d.kept, None if d.e_hull is None else round(d.e_hull, 9)) for d in ledger.screen_decisions()}
            labs = {o.candidate_id: o.measured()["yield"].value for o in ledger.observations() if "yield" in o.measured()}
        finally:
            ledger.close()
        seen[f"{arm}{variant}"] = {"screen": screens, "lab": labs}
    runs = list(seen.values())
    for a in runs:  # a candidate screened or measured in two arms got the same e_hull and the same yield
        for b in runs:
            for part in ("screen", "lab"):
                common = set(a[part]) & set(b[part])
                assert {k: a[part][k] for k in common} == {k: b[part][k] for k in common}
    assert len(set.intersection(*(set(r["lab"]) for r in runs))) >= 1  # the CaO -> MgO swap is measured by every arm
    for arm in arms:
        row = world["arms"][arm]
        assert row["median_first"] in (1.0, 2.0, 3.0) and row["relaxations"] >= 1
        assert row["rediscovered"] == (1 if row["median_first"] <= 2 else 0)
    assert world["ratio_vs_best"] is None  # ours did not run
    ceiling = world["ceiling"]  # MgO made once in seed 0's lab, as a campaign's experiment would be
    assert set(ceiling["yields"]) == {"0"} and 0.0 <= ceiling["yields"]["0"]["MgO_225"] <= 1.0
    assert ceiling["median_first"] == (1.0 if ceiling["formable_seeds"] == [0] else 3.0)
    assert ceiling["median_first"] <= min(row["median_first"] for row in world["arms"].values())
    again = run_rediscover([world_file], seeds=1, arms=arms, settings=settings, root=tmp_path / "bench")
    assert again["worlds"]["mgo"]["arms"] == world["arms"]  # read back from the per-run results: resumed, not rerun
    # the campaigns in one queue of two processes: the same figures (only the seconds differ)
    parallel = run_rediscover([world_file], seeds=1, arms=arms, settings=settings, root=tmp_path / "bench2", workers=2)

    def figures(rows):
        return {arm: {k: v for k, v in row.items() if k not in ("seconds", "variants")} for arm, row in rows.items()}

    assert figures(parallel["worlds"]["mgo"]["arms"]) == figures(world["arms"])
    with pytest.raises(ConfigError, match="worker"):
        run_rediscover([world_file], seeds=1, arms=arms, settings=settings, root=tmp_path / "bench", workers=0)
