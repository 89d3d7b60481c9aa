"""Campaign configuration: YAML -> :class:`CampaignConfig`.

Each stage is ``{kind, options}``; ``options`` is validated by the plug-in's own model,
so an error names the exact field (``generator.options.path``). Unknown fields are
errors everywhere. Relative paths in plug-in options (fields typed ``Path``) are
resolved against the config file's folder and stored absolute, so ``resume`` works from
anywhere. ``--set key=value`` overrides any field (value parsed as YAML).
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loop import registry
from loop.errors import ConfigError, PluginNotFoundError
from loop.objectives import Constraint, GoalSpec, Objective

__all__ = [
    "BudgetConfig",
    "CampaignConfig",
    "LedgerConfig",
    "NamedStageSpec",
    "RequestPolicy",
    "RuntimeConfig",
    "StageSpec",
    "TrackingConfig",
    "apply_overrides",
    "load_config",
    "parse_config",
    "read_yaml_mapping",
]


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageSpec(_Cfg):
    """A stage: which plug-in (``kind``) and its ``options``."""

    kind: str
    options: dict[str, Any] = Field(default_factory=dict)


class NamedStageSpec(StageSpec):
    """A lab among several: its ``name`` is what requests are routed to."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Name of this lab (unique).")


class BudgetConfig(_Cfg):
    """When to stop, and how many experiments per batch."""

    experiments: int | None = Field(default=None, ge=1, description="Stop after this many lab experiments.")
    rounds: int | None = Field(default=None, ge=1, description="Stop after this many rounds.")
    batch_size: int = Field(default=1, ge=1, description="Experiments selected per round.")
    max_pending: int | None = Field(
        default=None, ge=1, description="Plan a new round while fewer than this are pending (default: batch_size)."
    )
    stop_on_goal: bool = Field(default=True, description="Stop as soon as a measured candidate meets the goal.")

    @model_validator(mode="after")
    def _need_a_bound(self) -> BudgetConfig:
        if self.experiments is None and self.rounds is None:
            raise ValueError("budget needs experiments or rounds (or both)")
        return self

    @property
    def pending_limit(self) -> int:
        return self.max_pending or self.batch_size


class RequestPolicy(_Cfg):
    """What happens to requests a lab does not answer."""

    timeout_s: float | None = Field(default=None, gt=0, description="Abandon a request pending this long.")
    resubmit: int = Field(default=0, ge=0, description="Resubmissions of an abandoned or failed request.")
    poll_interval_s: float = Field(default=1.0, gt=0, description="Wall-clock labs: seconds between polls.")
    approval: bool = Field(default=False, description="Each planned batch waits for `crystaloop approve DIR`.")


class TrackingConfig(_Cfg):
    """MLflow: ``uri`` None means SQLite in the campaign folder."""

    enabled: bool = Field(default=True, description="Log to MLflow.")
    uri: str | None = Field(default=None, description="Tracking URI (None: sqlite:///<campaign dir>/mlflow.db).")
    experiment: str | None = Field(default=None, description="MLflow experiment name (default: the campaign name).")


class LedgerConfig(_Cfg):
    """The ledger database: ``url`` None means SQLite in the campaign folder."""

    url: str | None = Field(default=None, description="SQLAlchemy URL (None: SQLite ledger.db in the campaign folder).")


class RuntimeConfig(_Cfg):
    ray_address: str | None = Field(default=None, description="Ray cluster to join (None: RAY_ADDRESS or a local Ray).")
    device: str = Field(default="auto", description="torch device for models: auto (CUDA when present), cpu, cuda.")
    lab_actors: bool = Field(default=False, description="Run each lab adapter in its own Ray actor (polls on its own schedule).")
    num_cpus: int | None = Field(default=None, ge=1, description="CPUs of a local Ray (None: all).")


class CampaignConfig(_Cfg):
    """A whole campaign."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Campaign name (letters, digits, _ . -).")
    seed: int = Field(default=0, description="Seeds every random draw: the same seed replays the same campaign.")
    objectives: list[Objective] = Field(min_length=1, description="{name, goal: maximize|minimize|target, window}.")
    constraints: list[Constraint] = Field(default_factory=list, description="Outcome bounds {name, op, value}.")
    goal: GoalSpec | None = Field(default=None, description="When a candidate is a hit: {name, op, value}, {name, between}, all/any trees.")
    budget: BudgetConfig = Field(description="When to stop and how many experiments per batch.")
    generator: StageSpec = Field(description="Where candidates come from (kinds below).")
    screen: StageSpec = Field(
        default_factory=lambda: StageSpec(kind="passthrough"),
        description="Which proposals are worth ranking (default: mlip behind a generative model, passthrough behind a pool).",
    )
    ranker: StageSpec = Field(default_factory=lambda: StageSpec(kind="random"), description="Which candidates the lab tests next.")
    lab: StageSpec | None = Field(default=None, description="The lab; None for ask/tell campaigns (suggest/observe).")
    labs: list[NamedStageSpec] = Field(
        default_factory=list, description="Several labs (instead of `lab`): each request goes to a lab that can do it."
    )
    condition: dict[str, float] | None = Field(
        default=None, description="Target property values a conditional generator is asked for (e.g. {band_gap: 2.0})."
    )
    proposals: int = Field(default=200, ge=1, description="Candidates asked of a generator per round (a finite pool: all).")
    requests: RequestPolicy = Field(default_factory=RequestPolicy, description="Timeouts, resubmission, approval.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="MLflow.")
    ledger: LedgerConfig = Field(default_factory=LedgerConfig, description="The ledger database.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Ray and device.")

    @model_validator(mode="after")
    def _unique_objectives(self) -> CampaignConfig:
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objective names must be unique, got {names}")
        if self.lab is not None and self.labs:
            raise ValueError("give either lab or labs, not both")
        lab_names = [spec.name for spec in self.labs]
        if len(set(lab_names)) != len(lab_names):
            raise ValueError(f"lab names must be unique, got {lab_names}")
        return self

    def lab_specs(self) -> dict[str, StageSpec]:
        """Lab name -> spec (a single ``lab`` is named by its kind)."""
        if self.lab is not None:
            return {self.lab.kind: self.lab}
        return {spec.name: spec for spec in self.labs}

    def stages(self) -> dict[str, tuple[str, StageSpec]]:
        """``{field: (registry group, spec)}`` for every configured stage."""
        out = {
            "generator": ("generators", self.generator),
            "screen": ("screens", self.screen),
            "ranker": ("rankers", self.ranker),
        }
        if self.lab is not None:
            out["lab"] = ("labs", self.lab)
        for i, spec in enumerate(self.labs):
            out[f"labs.{i}"] = ("labs", spec)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=False), sort_keys=False)


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (value parsed as YAML) to a raw config dict."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError("--set", [(item, "expected key=value, e.g. budget.experiments=20")])
        key, _, raw = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError("--set", [(item, "empty key")])
        node = data
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError("--set", [(key, f"{p!r} is not a section")])
            node = child
        node[parts[-1]] = _parse_value(raw)
    return data


def _path_fields(model: type[BaseModel]) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        args = typing.get_args(ann)
        if ann is Path or Path in args:
            out.append(name)
    return out


def _resolve(value: Any, base: Path | None) -> str:
    p = Path(str(value)).expanduser()
    if p.is_absolute() or base is None:
        return str(p)
    candidate = (base / p).resolve()
    if candidate.exists() or not p.exists():
        return str(candidate)
    return str(p.resolve())


def _default_screen(generator: Any) -> str:
    """``mlip`` (relaxation, hull, duplicates) behind a generative model; ``passthrough`` behind a finite pool."""
    if isinstance(generator, Mapping) and isinstance(generator.get("kind"), str):
        try:
            cls = registry.load("generators", generator["kind"])
        except Exception:  # an unknown generator is reported with its own error
            return "passthrough"
        if not getattr(cls, "finite", False) and "mlip" in registry.available("screens"):
            return "mlip"
    return "passthrough"


def parse_config(data: Any, source: str = "<config>", base_dir: Path | None = None) -> CampaignConfig:
    """Validate a raw config; raise :class:`ConfigError` listing *every* problem."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    problems: list[tuple[str, str]] = []
    cfg: CampaignConfig | None = None
    data = dict(data)
    if "screen" not in data:
        data["screen"] = {"kind": _default_screen(data.get("generator"))}
    try:
        cfg = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(registry.validation_problems(exc, ""))
    # Validate each stage's options even when other parts failed, so all errors show at once.
    groups = {"generator": "generators", "screen": "screens", "ranker": "rankers", "lab": "labs"}
    defaults = {"ranker": {"kind": "random"}}
    stages: list[tuple[str, str, Any]] = [(f, g, data.get(f, defaults.get(f))) for f, g in groups.items()]
    if isinstance(data.get("labs"), list):
        stages += [(f"labs.{i}", "labs", spec) for i, spec in enumerate(data["labs"])]
    resolved: dict[str, dict[str, Any]] = {}
    for field, group, spec in stages:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("kind"), str):
            continue
        options = spec.get("options") or {}
        if not isinstance(options, Mapping):
            continue
        try:
            model_obj = registry.validate_options(group, spec["kind"], options, field)
        except PluginNotFoundError as exc:
            problems.append((f"{field}.kind", str(exc)))
            continue
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        opts = dict(options)
        for name in _path_fields(type(model_obj)):
            if opts.get(name) is not None:
                opts[name] = _resolve(opts[name], base_dir)
        resolved[field] = opts
    if problems:
        raise ConfigError(source, problems)
    assert cfg is not None
    for field, opts in resolved.items():
        if field.startswith("labs."):
            cfg.labs[int(field.split(".")[1])].options = opts
        else:
            getattr(cfg, field).options = opts
    return cfg


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping; :class:`ConfigError` names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), [("", "file not found")])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(str(path), [(where, f"malformed YAML: {getattr(exc, 'problem', exc)}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [("", f"not UTF-8 text: {exc}")]) from None
    if data is None:
        raise ConfigError(str(path), [("", "the file is empty")])
    if not isinstance(data, dict):
        raise ConfigError(str(path), [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    return data


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> CampaignConfig:
    """Read, override and validate a campaign YAML file."""
    path = Path(path)
    data = apply_overrides(read_yaml_mapping(path), overrides)
    return parse_config(data, source=str(path), base_dir=path.parent.resolve())
