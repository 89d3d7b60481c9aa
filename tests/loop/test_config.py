from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loop.config import CampaignConfig, apply_overrides, load_config, parse_config
from loop.errors import ConfigError
from tests.conftest import p3ht_config


def write(tmp_path: Path, data, name="c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def test_valid_config_roundtrips(tmp_path, p3ht_csv):
    cfg = load_config(write(tmp_path, p3ht_config(p3ht_csv)))
    again = CampaignConfig.model_validate(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    assert cfg.screen.kind == "passthrough" and cfg.ranker.kind == "random"


def test_all_errors_reported_at_once_with_exact_fields(tmp_path, p3ht_csv):
    data = p3ht_config(p3ht_csv)
    data["budget"]["batch_size"] = 0
    data["lab"]["options"]["latency_s"] = "soon"
    data["generator"]["options"]["colour"] = "red"
    data["surprise"] = 1
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, data))
    locs = {loc for loc, _ in err.value.problems}
    assert {"budget.batch_size", "lab.options.latency_s", "generator.options.colour", "surprise"} <= locs


def test_unknown_plugin_lists_valid_names(tmp_path, p3ht_csv):
    data = p3ht_config(p3ht_csv)
    data["ranker"] = {"kind": "magic"}
    with pytest.raises(ConfigError, match="valid names: .*random"):
        load_config(write(tmp_path, data))


def test_malformed_yaml_names_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml: line \d+"):
        load_config(write(tmp_path, "name: [unclosed\nseed: 1\n"))
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="empty"):
        load_config(write(tmp_path, ""))


def test_overrides_parse_yaml_values(tmp_path, p3ht_csv):
    cfg = load_config(write(tmp_path, p3ht_config(p3ht_csv)), ["budget.experiments=20", "seed=7", "lab.options.noise={conductivity: 1.5}"])
    assert cfg.budget.experiments == 20 and cfg.seed == 7
    assert cfg.lab.options["noise"] == {"conductivity": 1.5}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["budget.experiments"])


def test_relative_paths_resolve_against_config_folder(tmp_path, p3ht_csv):
    (tmp_path / "data").mkdir()
    local = tmp_path / "data" / "pool.csv"
    local.write_bytes(p3ht_csv.read_bytes())
    data = p3ht_config(Path("data/pool.csv"))
    cfg = load_config(write(tmp_path, data))
    assert Path(cfg.generator.options["path"]) == local.resolve()


def test_budget_needs_a_bound_and_target_window():
    base = {"name": "x", "objectives": [{"name": "y"}], "generator": {"kind": "pool", "options": {"path": "p.csv"}}}
    with pytest.raises(ConfigError, match="experiments or rounds"):
        parse_config({**base, "budget": {"batch_size": 2}})
    with pytest.raises(ConfigError, match="window"):
        parse_config({**base, "budget": {"rounds": 2}, "objectives": [{"name": "gap", "goal": "target"}]})


def test_every_shipped_experiment_config_validates(data_dir):
    from tests.conftest import REPO

    configs = sorted((REPO / "experiments").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)


def test_committed_configuration_reference_is_current():
    from loop.config_reference import config_reference
    from tests.conftest import REPO

    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == config_reference(), "run: crystaloop config-reference > docs/configuration.md"


def test_fuzzed_configs_never_crash_and_name_the_field(tmp_path, p3ht_csv):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base = p3ht_config(p3ht_csv)
    junk = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
        max_leaves=6,
    )
    paths = st.sampled_from(
        ["name", "seed", "objectives", "budget", "budget.batch_size", "generator", "generator.options.path",
         "lab.options.latency_s", "lab.options.outputs", "goal", "requests.timeout_s", "ranker.kind", "extra"]
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(path=paths, value=junk)
    def check(path, value):
        import copy

        data = copy.deepcopy(base)
        node = data
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
        try:
            parse_config(data, source="fuzz.yaml")
        except ConfigError as exc:
            assert exc.problems and all(loc or msg for loc, msg in exc.problems)
            assert str(exc).startswith("fuzz.yaml")

    check()


def test_default_screen_is_mlip_behind_generators_and_passthrough_behind_pools(p3ht_csv):
    base = p3ht_config(p3ht_csv)
    assert parse_config(base).screen.kind == "passthrough"
    gen = {**base, "generator": {"kind": "random_crystal", "options": {"elements": ["Na", "Cl"]}}}
    assert parse_config(gen).screen.kind == "mlip"
