"""Lab adapters as Ray actors (``runtime.lab_actors: true``).

Each lab lives in its own actor process, built there from its ``{kind, options}`` spec
through the registry, and polls on its own schedule: a wall-clock lab is polled by a
thread in the actor every ``poll_interval_s`` and its results are buffered until the
campaign collects them; a simulated lab is told the campaign's clock with every call, so
results do not depend on where the lab runs. The campaign talks to a
:class:`RemoteLab`, which has the public surface of a
:class:`~loop.interfaces.lab.LabAdapter`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from loop.records import ExperimentRequest, LabCapabilities, Observation, Receipt

__all__ = ["RemoteLab"]

log = logging.getLogger(__name__)


class _LabActor:
    """Runs inside the Ray actor: owns the real adapter."""

    def __init__(self, spec: dict[str, Any], context: Any, stage: str, poll_interval_s: float) -> None:
        from loop import registry
        from loop.clock import SimulatedClock

        self.simulated = bool(getattr(registry.load("labs", spec["kind"]), "simulated", False))
        if self.simulated and not isinstance(context.clock, SimulatedClock):
            context.clock = SimulatedClock()
        self.lab = registry.create("labs", spec, context, stage)
        self.clock = context.clock
        self._buffer: list[Observation] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: str | None = None
        if not self.simulated:
            threading.Thread(target=self._poll_loop, args=(poll_interval_s,), daemon=True).start()

    def _poll_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                got = self.lab.poll()
            except Exception as exc:  # keep polling; report the last error to the campaign
                self._error = f"{type(exc).__name__}: {exc}"
                continue
            with self._lock:
                self._buffer.extend(got)

    def _at(self, now: float | None) -> None:
        if self.simulated and now is not None and now > self.clock.now():
            self.clock.advance_to(now)

    def capabilities(self) -> LabCapabilities:
        return self.lab.capabilities()

    def known(self, ids: list[str]) -> set[str]:
        return self.lab.known(ids)

    def submit(self, requests: list[ExperimentRequest], now: float | None) -> list[Receipt]:
        self._at(now)
        return self.lab.submit(requests)

    def poll(self, now: float | None) -> list[Observation]:
        self._at(now)
        if self.simulated:
            return self.lab.poll()
        with self._lock:
            out, self._buffer = self._buffer, []
        return out

    def cancel(self, request_id: str, now: float | None) -> bool:
        self._at(now)
        return self.lab.cancel(request_id)

    def next_event_time(self, now: float | None) -> float | None:
        self._at(now)
        return self.lab.next_event_time()

    def recipe_for(self, candidate: Any) -> Any:
        return self.lab.recipe_for(candidate)

    def close(self) -> None:
        self._stop.set()
        self.lab.close()


class RemoteLab:
    """The campaign's handle on a lab running in a Ray actor."""

    def __init__(self, spec: Any, context: Any, stage: str, poll_interval_s: float = 1.0) -> None:
        import ray

        self._clock = context.clock
        spec_dict = {"kind": spec.kind, "options": dict(spec.options)}
        actor_cls = ray.remote(num_cpus=0, max_restarts=0)(_LabActor)
        self._actor = actor_cls.remote(spec_dict, context, stage, poll_interval_s)
        self._ray = ray
        self._caps: LabCapabilities | None = None
        self.name = spec.kind

    def _now(self) -> float | None:
        return self._clock.now() if getattr(self._clock, "simulated", False) else None

    def _get(self, ref: Any) -> Any:
        return self._ray.get(ref)

    def capabilities(self) -> LabCapabilities:
        if self._caps is None:
            self._caps = self._get(self._actor.capabilities.remote())
        return self._caps

    def known(self, request_ids: Iterable[str]) -> set[str]:
        return self._get(self._actor.known.remote(list(request_ids)))

    def submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        return self._get(self._actor.submit.remote(list(requests), self._now()))

    def poll(self) -> list[Observation]:
        return self._get(self._actor.poll.remote(self._now()))

    def cancel(self, request_id: str) -> bool:
        return self._get(self._actor.cancel.remote(request_id, self._now()))

    def next_event_time(self) -> float | None:
        return self._get(self._actor.next_event_time.remote(self._now()))

    def recipe_for(self, candidate: Any) -> Any:
        return self._get(self._actor.recipe_for.remote(candidate))

    def close(self) -> None:
        try:
            self._get(self._actor.close.remote())
        finally:
            self._ray.kill(self._actor)
