"""The stages a campaign builds from its configuration: generator, screen, ranker and labs.

Each is built on first use (its imports and weights count as that stage's time) in its own work
folder (``<campaign>/stages/<stage>``), with a :class:`~loop.interfaces.PluginContext` that carries
the campaign's seed, objectives, constraints, goal, device and clock. The generator gets its
latest saved state back from the ledger, so a resumed campaign continues its training; labs run
in-process or, with ``runtime.lab_actors``, as Ray actors.
:class:`~loop.campaign.engine.Campaign` mixes this in; it owns the attributes used here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop import registry
from loop.campaign.rounds import stage_clock
from loop.errors import ConfigError
from loop.interfaces import Generator, LabAdapter, PluginContext, Ranker, Screen
from loop.records import ExperimentRequest

if TYPE_CHECKING:
    from loop.campaign.rounds import RoundPlanner
    from loop.clock import SimulatedClock, WallClock
    from loop.config import CampaignConfig
    from loop.store import Ledger

__all__ = ["CampaignStages"]


class CampaignStages:
    """Lazily built stages of a campaign (see the module docs)."""

    directory: Path
    config: CampaignConfig
    ledger: Ledger
    clock: SimulatedClock | WallClock
    planner: RoundPlanner
    _generator: Generator | None
    _screen: Screen | None
    _ranker: Ranker | None
    _labs: dict[str, LabAdapter] | None
    _ray: Any

    def context(self, stage: str) -> PluginContext:
        work = self.directory / "stages" / stage
        work.mkdir(parents=True, exist_ok=True)
        return PluginContext(
            work_dir=work,
            seed=self.config.seed,
            objectives=list(self.config.objectives),
            constraints=list(self.config.constraints),
            goal=self.config.goal,
            device=self.config.runtime.device,
            clock=self.clock,
            name=stage,
            extras={"campaign": self.config.name, "campaign_dir": str(self.directory)},
        )

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            t0 = stage_clock()  # building a stage (its imports, weights) is that stage's time
            gen = registry.create("generators", self.config.generator, self.context("generator"), "generator")
            assert isinstance(gen, Generator), f"{type(gen)} is not a Generator"
            saved = self.ledger.latest_generator_state()
            if saved is not None:
                gen.load_state_dict(saved[1].get("state", {}))
            self._generator = gen
            self.planner.add_time("generator", t0)
        return self._generator

    @property
    def screen(self) -> Screen:
        if self._screen is None:
            t0 = stage_clock()
            self._screen = registry.create("screens", self.config.screen, self.context("screen"), "screen")  # type: ignore[assignment]
            self.planner.add_time("screen", t0)
        return self._screen  # type: ignore[return-value]

    @property
    def ranker(self) -> Ranker:
        if self._ranker is None:
            t0 = stage_clock()
            self._ranker = registry.create("rankers", self.config.ranker, self.context("ranker"), "ranker")  # type: ignore[assignment]
            self.planner.add_time("ranker", t0)
        return self._ranker  # type: ignore[return-value]

    @property
    def labs(self) -> dict[str, LabAdapter]:
        """Lab name -> adapter (one entry for a campaign with a single ``lab``)."""
        specs = self.config.lab_specs()
        if not specs:
            raise ConfigError("campaign", [("lab", "this campaign has no lab; use suggest() and observe()")])
        if self._labs is None:
            t0 = stage_clock()
            labs: dict[str, LabAdapter] = {}
            for name, spec in specs.items():
                stage = "lab" if self.config.lab is not None else f"lab-{name}"
                ctx = self.context(stage)
                ctx.name = name
                if self.config.runtime.lab_actors:
                    from loop.campaign.remote_lab import RemoteLab

                    self._start_ray()
                    labs[name] = RemoteLab(spec, ctx, stage, self.config.requests.poll_interval_s)  # type: ignore[assignment]
                else:
                    labs[name] = registry.create("labs", spec, ctx, stage)  # type: ignore[assignment]
            self._labs = labs
            self.planner.add_time("lab", t0)
        return self._labs

    @property
    def lab(self) -> LabAdapter:
        """The campaign's first (or only) lab."""
        return next(iter(self.labs.values()))

    def lab_for(self, request: ExperimentRequest) -> LabAdapter | None:
        return (self.labs if self.config.lab_specs() else {}).get(request.lab)

    def capable_labs(self) -> list[str]:
        """Labs that measure every objective and constraint."""
        needed = {o.name for o in self.config.objectives} | {c.name for c in self.config.constraints}
        out = []
        for name, lab in self.labs.items():
            caps = lab.capabilities()
            if needed <= set(caps.properties) | ({"yield"} if caps.xrd else set()):
                out.append(name)
        return out

    def check_lab_measures_objectives(self) -> None:
        """Every objective and constraint must be something (at least one) lab reports."""
        measured: set[str] = set()
        for lab in self.labs.values():
            caps = lab.capabilities()
            measured |= set(caps.properties) | ({"yield"} if caps.xrd else set())
        names = ", ".join(f"{n} ({s.kind})" for n, s in self.config.lab_specs().items())
        problems = [
            (f"{kind}.{i}.name", f"no lab measures {item.name!r} (labs: {names}; they report {sorted(measured)})")
            for kind, items in (("objectives", self.config.objectives), ("constraints", self.config.constraints))
            for i, item in enumerate(items)
            if item.name not in measured
        ]
        if not problems and not self.capable_labs():
            problems.append(("labs", "no single lab measures every objective and constraint"))
        if problems:
            raise ConfigError(self.config.name, problems)

    def _start_ray(self) -> None:
        if self._ray is None:
            from contextlib import ExitStack

            from loop.runtime import start_ray

            self._ray = ExitStack()
            self._ray.enter_context(start_ray(self.config.runtime.ray_address, self.config.runtime.num_cpus))
