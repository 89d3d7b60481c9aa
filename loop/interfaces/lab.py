"""The lab-adapter contract that real and simulated labs implement.

Plug-in authors implement the protected methods (``_submit``, ``_poll``, ``_cancel``,
``_capabilities`` and optionally ``_known``, ``_next_event_time``, ``_close``); the
public methods wrap them with validation, idempotency on ``request_id``, retries of
transient failures, timing and logging. Labs are asynchronous by nature: results may
arrive late, out of order, twice, or never; the adapter reports what it knows and the
ledger decides.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Iterable, Sequence

from pydantic import ValidationError

from loop.errors import LabError
from loop.interfaces.plugin import Plugin
from loop.records import Candidate, ExperimentRequest, LabCapabilities, Observation, Receipt, Recipe, RequestStatus

__all__ = ["LabAdapter"]

log = logging.getLogger(__name__)


class LabAdapter(Plugin, abc.ABC):
    """A lab: simulated, robotic, or operated by people."""

    submit_retries: int = 3
    retry_backoff_s: float = 0.05

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._receipts: dict[str, Receipt] = {}
        self._capabilities_cache: LabCapabilities | None = None
        self._closed = False
        self.stats: dict[str, float] = {"submit_s": 0.0, "poll_s": 0.0, "submitted": 0, "polled": 0, "retries": 0}

    # -- plug-in side -------------------------------------------------------------------
    @abc.abstractmethod
    def _submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        """Start these (new, distinct) requests. Raise ``LabError(transient=True)`` to be retried."""

    @abc.abstractmethod
    def _poll(self) -> list[Observation]:
        """Results that arrived since the last poll (duplicates allowed)."""

    @abc.abstractmethod
    def _capabilities(self) -> LabCapabilities:
        """What this lab measures and how many experiments it runs at once."""

    def _cancel(self, request_id: str) -> bool:
        """Stop a request if still possible; True when cancelled."""
        return False

    def _known(self, request_ids: Sequence[str]) -> set[str]:
        """Which of these request ids the lab has already received (for resume)."""
        return set()

    def _next_event_time(self) -> float | None:
        """Simulated labs: the clock time of the next result, or None when nothing is pending."""
        return None

    def _recipe_for(self, candidate: Candidate) -> Recipe | None:
        """How this lab would make ``candidate`` (precursors, temperature, ...); None: no opinion."""
        return None

    def _close(self) -> None:  # noqa: B027
        """Release resources."""

    # -- public side --------------------------------------------------------------------
    def capabilities(self) -> LabCapabilities:
        if self._capabilities_cache is None:
            caps = self._capabilities()
            if not isinstance(caps, LabCapabilities):
                raise LabError(f"{type(self).__name__}._capabilities must return LabCapabilities, got {type(caps)}")
            self._capabilities_cache = caps
        return self._capabilities_cache

    def known(self, request_ids: Iterable[str]) -> set[str]:
        ids = list(request_ids)
        return {i for i in ids if i in self._receipts} | set(self._known(ids))

    def submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        """Submit requests; idempotent on ``request_id`` (a repeat returns the first receipt)."""
        self._check_open()
        ids = [r.request_id for r in requests]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise LabError(f"submit: request ids repeated within one call: {dup}")
        for r in requests:
            if not isinstance(r, ExperimentRequest):
                raise LabError(f"submit: expected ExperimentRequest, got {type(r).__name__}")
            if r.status.terminal:
                raise LabError(f"submit: request {r.request_id} is already {r.status.value}")
        already = self.known(ids)
        out: dict[str, Receipt] = {}
        for rid in ids:
            if rid in already:
                first = self._receipts.get(rid, Receipt(request_id=rid))
                out[rid] = first.model_copy(update={"duplicate": True})
        new = [r for r in requests if r.request_id not in already]
        if new:
            t0 = time.perf_counter()
            receipts = self._with_retries(new)
            self.stats["submit_s"] += time.perf_counter() - t0
            self.stats["submitted"] += len(new)
            by_id = {rc.request_id: rc for rc in receipts}
            missing = [r.request_id for r in new if r.request_id not in by_id]
            if missing:
                raise LabError(f"{type(self).__name__} returned no receipt for {missing}")
            for r in new:
                self._receipts[r.request_id] = by_id[r.request_id]
                out[r.request_id] = by_id[r.request_id]
            log.info("%s: submitted %d request(s) in %.3f s", self.context.name, len(new), time.perf_counter() - t0)
        return [out[i] for i in ids]

    def _with_retries(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        for attempt in range(self.submit_retries + 1):
            try:
                return list(self._submit(requests))
            except LabError as exc:
                if not exc.transient or attempt == self.submit_retries:
                    raise
                self.stats["retries"] += 1
                delay = self.retry_backoff_s * 2**attempt
                log.warning("%s: transient submit failure (%s); retry %d in %.2f s", self.context.name, exc, attempt + 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def poll(self) -> list[Observation]:
        """Results the lab has; each validated. Duplicates are passed on (the ledger dedupes)."""
        self._check_open()
        t0 = time.perf_counter()
        raw = self._poll()
        self.stats["poll_s"] += time.perf_counter() - t0
        out: list[Observation] = []
        for obs in raw:
            if isinstance(obs, Observation):
                out.append(obs)
                continue
            try:
                out.append(Observation.model_validate(obs))
            except ValidationError as exc:
                log.error("%s: dropped a malformed result: %s", self.context.name, exc)
        self.stats["polled"] += len(out)
        if out:
            log.debug("%s: polled %d result(s)", self.context.name, len(out))
        return out

    def cancel(self, request_id: str) -> bool:
        self._check_open()
        ok = bool(self._cancel(request_id))
        log.info("%s: cancel %s -> %s", self.context.name, request_id, ok)
        return ok

    def next_event_time(self) -> float | None:
        return self._next_event_time()

    def recipe_for(self, candidate: Candidate) -> Recipe | None:
        """The lab's recipe for a candidate, recorded in the ledger before the request is sent."""
        recipe = self._recipe_for(candidate)
        if recipe is not None and not isinstance(recipe, Recipe):
            raise LabError(f"{type(self).__name__}._recipe_for must return a Recipe, got {type(recipe).__name__}")
        return recipe

    def close(self) -> None:
        if not self._closed:
            self._close()
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise LabError(f"lab {self.context.name!r} is closed")

    @staticmethod
    def pending_statuses() -> tuple[RequestStatus, ...]:
        return (RequestStatus.SUBMITTED, RequestStatus.RUNNING)
