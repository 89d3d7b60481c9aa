"""Study configuration: YAML -> :class:`StudyConfig` -> a list of :class:`TrialPlan`.

A study runs one base campaign under many *settings* (dotted overrides of campaign
fields) and many *seeds*. The settings are the cartesian product of ``grid`` and, when
``random`` is given, ``random.samples`` draws of its space per grid point::

    settings = [g | r  for g in product(grid)  for r in draws(random, samples)]
    trials   = [(s, seed)  for s in settings  for seed in seeds]

The draws come from ``numpy.random.default_rng(seed_of_search)``, so the trial list of a
study is the same on every call: an interrupted study finds its trials again on resume.

>>> study = load_study("experiments/studies/demo.yaml")
>>> [t.trial_id for t in study.trials()]            # doctest: +SKIP
['s000-seed0', 's000-seed1', 's001-seed0', 's001-seed1']
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loop import registry
from loop.config import CampaignConfig, apply_overrides, parse_config, read_yaml_mapping
from loop.errors import ConfigError

__all__ = [
    "Distribution", "RandomSearch", "StudyConfig", "StudyResources", "StudyTracking", "TrialPlan",
    "load_study",
    "parse_study",
    "setting_label",
]


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distribution(_Cfg):
    """One random-search dimension: exactly one of the four kinds.

    ``uniform: [lo, hi]`` (``U(lo, hi)``), ``loguniform: [lo, hi]`` (``exp U(ln lo, ln hi)``),
    ``randint: [lo, hi]`` (integers ``lo <= k <= hi``), ``choice: [a, b, ...]``.
    """

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None
    choice: list[Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        given = [k for k in ("uniform", "loguniform", "randint", "choice") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of uniform, loguniform, randint, choice (got {given or 'none'})")
        for kind in ("uniform", "loguniform", "randint"):
            bounds = getattr(self, kind)
            if bounds is not None and not bounds[0] <= bounds[1]:
                raise ValueError(f"{kind}: lower bound {bounds[0]} exceeds upper bound {bounds[1]}")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise ValueError("loguniform bounds must be > 0")
        if self.choice is not None and not self.choice:
            raise ValueError("choice needs at least one value")
        return self

    def draw(self, rng: np.random.Generator) -> Any:
        if self.uniform is not None:
            return float(rng.uniform(*self.uniform))
        if self.loguniform is not None:
            lo, hi = self.loguniform
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if self.randint is not None:
            return int(rng.integers(self.randint[0], self.randint[1] + 1))
        assert self.choice is not None
        return self.choice[int(rng.integers(len(self.choice)))]


class RandomSearch(_Cfg):
    """``samples`` draws of ``space`` (dotted campaign field -> distribution) per grid point."""

    samples: int = Field(ge=1, description="Random settings drawn per grid point.")
    space: dict[str, Distribution] = Field(min_length=1, description="Dotted campaign field -> distribution.")
    seed: int = Field(default=0, description="Seed of the draws (the trial list is reproducible).")


class StudyResources(_Cfg):
    """Ray resources reserved per trial (one campaign)."""

    cpu: float = Field(default=1.0, gt=0, description="CPUs per trial; also torch's thread count in the trial.")
    gpu: float = Field(default=0.0, ge=0, description="GPU (fraction) per trial; 0 on CPU-only machines.")


class StudyTracking(_Cfg):
    """MLflow for the study: one parent run, one child run per trial, in one experiment."""

    enabled: bool = Field(default=True, description="Log the study and its trials to MLflow.")
    uri: str | None = Field(default=None, description="Tracking URI (None: sqlite:///<study dir>/mlflow.db).")
    experiment: str | None = Field(default=None, description="MLflow experiment (default: the study name).")


class TrialPlan(_Cfg):
    """One trial: a full campaign of one setting and one seed, in its own folder."""

    trial_id: str
    setting_index: int
    setting: dict[str, Any]
    seed: int
    directory: str
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return setting_label(self.setting)


def setting_label(setting: Mapping[str, Any]) -> str:
    """``{"ranker.kind": "greedy"}`` -> ``"ranker.kind=greedy"`` (``"base"`` when empty)."""
    if not setting:
        return "base"
    return ",".join(f"{k}={_fmt(v)}" for k, v in setting.items())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return yaml.safe_dump(v, default_flow_style=True).strip()
    return str(v)


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError("study", [(key, f"{part!r} is not a section of the campaign config")])
        node = child
    node[parts[-1]] = copy.deepcopy(value)


class StudyConfig(_Cfg):
    """A study: one base campaign x settings (grid and/or random search) x seeds."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Study name (letters, digits, _ . -).")
    campaign: str | dict[str, Any] = Field(description="Base campaign: a YAML path (relative to the study file) or inline.")
    overrides: list[str] = Field(default_factory=list, description="key=value overrides applied to every trial's campaign.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted campaign field -> values (cartesian product).")
    random: RandomSearch | None = Field(default=None, description="Random search over dotted campaign fields.")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="Campaign seeds (an int n means 0..n-1).")
    max_concurrent: int = Field(default=2, ge=1, description="Trials running at once.")
    warm_up_workers: bool = Field(
        default=False,
        description="Ray: each worker first runs a 2-experiment campaign of the first trial (own MLflow store, not aggregated), so imports "
        "and first calls are paid before the trials and their wall_s compare settings fairly.",
    )
    resources: StudyResources = Field(default_factory=StudyResources, description="Ray resources per trial.")
    ray_address: str | None = Field(default=None, description="Ray cluster to join (None: RAY_ADDRESS or a local Ray).")
    num_cpus: int | None = Field(default=None, ge=1, description="CPUs of a local Ray (None: all of this machine's).")
    output: str | None = Field(default=None, description="Study folder (default: studies/<name> in the working directory).")
    tracking: StudyTracking = Field(default_factory=StudyTracking, description="MLflow parent and child runs.")
    ledger_url: str | None = Field(
        default=None,
        description="Per-trial ledger URL template with {study} and {trial} (e.g. postgresql://db/cl_{trial}); None: SQLite per trial.",
    )
    baseline: dict[str, Any] = Field(
        default_factory=lambda: {"ranker.kind": "random"}, description="Settings matching these fields are the baseline."
    )
    base_dir: str | None = Field(default=None, exclude=True, description="Folder relative paths are resolved against.")

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            if v < 1:
                raise ValueError("a seed count must be >= 1")
            return list(range(v))
        return v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be unique, got {v}")
        return v

    @field_validator("grid")
    @classmethod
    def _non_empty_grid(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [k for k, vals in v.items() if not vals]
        if empty:
            raise ValueError(f"grid fields need at least one value: {empty}")
        return v

    @model_validator(mode="after")
    def _disjoint(self) -> StudyConfig:
        both = set(self.grid) & set(self.random.space if self.random else {})
        if both:
            raise ValueError(f"fields both in grid and random.space: {sorted(both)}")
        reserved = {"seed", "name", "tracking", "ledger"} & {k.split(".")[0] for k in [*self.grid, *(self.random.space if self.random else {})]}
        if reserved:
            raise ValueError(f"the study sets {sorted(reserved)} itself; search other fields")
        return self

    # -- expansion ----------------------------------------------------------------------
    def settings(self) -> list[dict[str, Any]]:
        """Every setting, in a stable order (grid order, then random draws)."""
        keys = list(self.grid)
        points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(self.grid[k] for k in keys))]
        if self.random is None:
            return points
        rng = np.random.default_rng(self.random.seed)
        out = []
        for point in points:
            for _ in range(self.random.samples):
                out.append({**point, **{k: d.draw(rng) for k, d in self.random.space.items()}})
        return out

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name

    def tracking_uri(self, output: Path) -> str:
        return self.tracking.uri or f"sqlite:///{(output / 'mlflow.db').resolve()}"

    def output_dir(self) -> Path:
        return Path(self.output) if self.output else Path("studies") / self.name

    def base_campaign(self) -> tuple[dict[str, Any], Path | None, str]:
        """The raw base campaign config, the folder its relative paths are relative to, and its source."""
        if isinstance(self.campaign, dict):
            return dict(self.campaign), Path(self.base_dir) if self.base_dir else None, f"{self.name}: campaign"
        path = Path(self.campaign)
        if not path.is_absolute() and self.base_dir:
            path = Path(self.base_dir) / path
        if not path.is_file():
            raise ConfigError(f"study {self.name}", [("campaign", f"campaign file {path} not found")])
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        if not isinstance(data, dict):
            raise ConfigError(str(path), [("", "expected a campaign mapping at the top level")])
        return data, path.parent.resolve(), str(path)

    def is_baseline(self, setting: Mapping[str, Any], base: CampaignConfig | None = None) -> bool:
        """A setting is the baseline when every ``baseline`` field has the baseline value."""
        if not self.baseline:
            return False
        for key, value in self.baseline.items():
            if key in setting:
                if setting[key] != value:
                    return False
            elif base is None or _get_dotted(base.model_dump(mode="json"), key) != value:
                return False
        return True

    def trials(self, output: Path | None = None) -> list[TrialPlan]:
        """Every trial, validated: a bad setting raises :class:`ConfigError` naming it."""
        raw, base_dir, source = self.base_campaign()
        out_dir = (output or self.output_dir()).resolve()
        plans, problems = [], []
        for i, setting in enumerate(self.settings()):
            for seed in self.seeds:
                trial_id = f"s{i:03d}-seed{seed}"
                try:
                    data = apply_overrides(raw, self.overrides)
                    for key, value in setting.items():
                        _set_dotted(data, key, value)
                    data["seed"], data["name"] = seed, f"{self.name}-{trial_id}"
                    data["tracking"] = {"enabled": self.tracking.enabled, "uri": self.tracking_uri(out_dir), "experiment": self.experiment}
                    if self.ledger_url:
                        data["ledger"] = {"url": self.ledger_url.format(study=self.name, trial=trial_id.replace("-", "_"))}
                    cfg = parse_config(data, source=f"{source} [{setting_label(setting)}]", base_dir=base_dir)
                except ConfigError as exc:
                    problems.extend((f"setting {i} ({setting_label(setting)}): {loc}", msg) for loc, msg in exc.problems)
                    break
                plans.append(
                    TrialPlan(
                        trial_id=trial_id,
                        setting_index=i,
                        setting=setting,
                        seed=seed,
                        directory=str(out_dir / "trials" / trial_id),
                        config=cfg.model_dump(mode="json"),
                    )
                )
        if problems:
            raise ConfigError(f"study {self.name}", problems)
        return plans


def _get_dotted(data: Mapping[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def parse_study(data: Any, source: str = "<study>", base_dir: Path | None = None) -> StudyConfig:
    """Validate a raw study mapping; :class:`ConfigError` lists every problem."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        study = StudyConfig.model_validate({**data, "base_dir": str(base_dir) if base_dir else None})
    except ValidationError as exc:
        raise ConfigError(source, registry.validation_problems(exc, "")) from None
    return study


def load_study(path: str | Path, overrides: Sequence[str] = ()) -> StudyConfig:
    """Read a study YAML (``overrides``: ``key=value`` on the study itself, e.g. ``max_concurrent=1``)."""
    path = Path(path)
    data = apply_overrides(read_yaml_mapping(path), overrides)
    return parse_study(data, source=str(path), base_dir=path.parent.resolve())
