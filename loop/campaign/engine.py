"""The campaign state machine: propose -> screen -> rank -> submit -> observe -> learn.

A round is planned whenever fewer than ``budget.max_pending`` requests are pending (the
default, ``batch_size``, gives synchronous rounds; a larger value plans the next batch
while the lab is busy, and the ranker is told which candidates are pending). The
campaign stops on the experiment budget, the round budget, the goal, or an exhausted pool.

Every step is written to the ledger before the action it records, so ``resume`` after a
crash or ``kill -9`` at any point continues without submitting a request twice or losing
an observation:

- a round that had not planned its requests is replayed from its stored seed;
- ``planned`` requests are checked with the lab (``known``) and submitted only if new;
- the lab re-delivers finished results and the ledger keeps each once.

Simulated labs run on a :class:`~loop.clock.SimulatedClock` that the campaign advances to
the lab's next event and stores in the ledger, so a campaign replays identically from
its seed.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loop import registry
from loop.campaign.progress import CampaignSummary, goal_hits, summarize
from loop.campaign.rounds import RoundPlanner, stage_clock
from loop.campaign.stages import CampaignStages
from loop.clock import SimulatedClock, WallClock
from loop.config import CampaignConfig, parse_config
from loop.errors import ConfigError, InputDataError, LedgerError
from loop.faults import crash_point
from loop.interfaces import Generator, LabAdapter, Ranker, Screen
from loop.records import Candidate, ExperimentRequest, Observation, Origin, RequestStatus, Round
from loop.store import Ledger, WriterLock
from loop.tracking import Tracker

__all__ = ["Campaign", "CampaignEvent"]

log = logging.getLogger(__name__)

CampaignEvent = Callable[[str, Mapping[str, Any]], None]
"""Progress callback: ``(kind, data)`` with kind in round_started, round_planned, observed, waiting, finished."""


class Campaign(CampaignStages):
    """One campaign in one folder: its ledger, its stages and its MLflow run.

    >>> campaign = Campaign.create(load_config("experiments/p3ht.yaml"), "campaigns/p3ht")
    >>> campaign.run()                     # the whole closed loop against the configured lab
    >>> Campaign.open("campaigns/p3ht").run()   # resume after a crash
    >>> batch = campaign.suggest(4)        # ask/tell: plan a batch for a lab you drive yourself
    >>> campaign.observe(batch[0].request_id, {"conductivity": 812.0})
    """

    def __init__(self, directory: str | Path, config: CampaignConfig, ledger: Ledger, *, lock: bool = True) -> None:
        self.directory = Path(directory).resolve()
        self.config = config
        self.ledger = ledger
        self._lock = WriterLock(self.directory) if lock else None
        if self._lock is not None:
            self._lock.acquire()
        self.on_event: CampaignEvent | None = None
        self._generator: Generator | None = None
        self._screen: Screen | None = None
        self._ranker: Ranker | None = None
        self._labs: dict[str, LabAdapter] | None = None
        self._ray: Any = None
        kinds = {spec.kind for spec in config.lab_specs().values()}
        simulated_kinds = {k for k in kinds if getattr(registry.load("labs", k), "simulated", False)}
        if simulated_kinds and simulated_kinds != kinds:
            raise ConfigError(config.name, [("labs", f"simulated labs {sorted(simulated_kinds)} cannot run beside wall-clock labs {sorted(kinds - simulated_kinds)}")])
        simulated = bool(simulated_kinds)
        self.clock: SimulatedClock | WallClock = (
            SimulatedClock(float(ledger.get_meta("clock", 0.0))) if simulated else WallClock()
        )
        self.tracker = Tracker(
            self.directory, config.tracking.uri, config.tracking.experiment or config.name, config.tracking.enabled
        )
        self.planner = RoundPlanner(self)

    # -- creation -----------------------------------------------------------------------
    @classmethod
    def create(cls, config: CampaignConfig, directory: str | Path, *, lock: bool = True) -> Campaign:
        """Start a new campaign in ``directory`` (refuses a folder that already holds one)."""
        directory = Path(directory)
        if (directory / "ledger.db").exists() or (directory / "config.yaml").exists():
            raise LedgerError(f"{directory} already holds a campaign; use `crystaloop resume {directory}`")
        fresh = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        ledger = Ledger.for_directory(directory, config.ledger.url)
        if ledger.get_meta("config") is not None:
            raise LedgerError(f"the ledger at {ledger.url} already holds a campaign; use `crystaloop resume`")
        campaign = cls(directory, config, ledger, lock=lock)
        try:  # build every stage first: a bad data file must not leave a half-made campaign
            campaign.generator, campaign.screen, campaign.ranker  # noqa: B018
            if config.lab_specs():
                campaign.check_lab_measures_objectives()
        except BaseException:
            campaign.close()
            import shutil

            if fresh:
                shutil.rmtree(directory, ignore_errors=True)
            else:
                for leftover in [*directory.glob("ledger.db*"), directory / "stages", directory / ".writer.lock"]:
                    if leftover.is_dir():
                        shutil.rmtree(leftover, ignore_errors=True)
                    else:
                        leftover.unlink(missing_ok=True)
            raise
        ledger.set_meta("config", config.model_dump(mode="json"))
        ledger.set_meta("name", config.name)
        ledger.set_meta("clock", 0.0)
        ledger.set_meta("status", "created")
        (directory / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        return campaign

    @classmethod
    def open(cls, directory: str | Path, *, lock: bool = True, url: str | None = None) -> Campaign:
        """Open an existing campaign (for ``resume``, ``status``, ask/tell)."""
        directory = Path(directory)
        if url is None and not (directory / "ledger.db").exists():
            cfg_file = directory / "config.yaml"
            if not cfg_file.exists():
                raise LedgerError(f"{directory} holds no campaign (no ledger.db or config.yaml)")
            import yaml

            url = (yaml.safe_load(cfg_file.read_text()) or {}).get("ledger", {}).get("url")
            if url is None:
                raise LedgerError(f"{directory} holds no campaign ledger (ledger.db is missing)")
        ledger = Ledger.for_directory(directory, url)
        raw = ledger.get_meta("config")
        if raw is None:
            raise LedgerError(f"{directory}: the ledger holds no campaign configuration")
        try:
            config = parse_config(raw, source=f"{directory}/ledger (stored config)")
        except ConfigError as exc:
            raise LedgerError(f"cannot rebuild the campaign's configuration: {exc}") from None
        return cls(directory, config, ledger, lock=lock)

    def close(self) -> None:
        self.tracker.close()  # queued MLflow calls (and the rounds marked done behind them) first
        for lab in (self._labs or {}).values():
            lab.close()
        self._labs = None
        if self._ray is not None:  # no Ray state survives the campaign
            self._ray.close()
            self._ray = None
        if self._lock is not None:
            self._lock.release()
        self.ledger.close()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clock and events ---------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def advance_clock(self, t: float) -> None:
        """Move the simulated clock (stored first, so a crash never loses time)."""
        if isinstance(self.clock, SimulatedClock) and t > self.clock.now():
            self.ledger.set_meta("clock", t)
            self.clock.advance_to(t)

    def emit(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, data)

    # -- queries ------------------------------------------------------------------------
    def pending(self) -> list[ExperimentRequest]:
        return self.ledger.requests([RequestStatus.SUBMITTED, RequestStatus.RUNNING])

    def summary(self) -> CampaignSummary:
        return summarize(self.config.objectives, self.config.goal, self.ledger.observations())

    def goal_reached(self) -> bool:
        return self.config.goal is not None and bool(goal_hits(self.config.goal, self.ledger.observations()))

    def experiments_used(self) -> int:
        return sum(self.ledger.status_counts().values())

    def rounds_done(self) -> int:
        return sum(1 for state in self.ledger.round_states().values() if state in ("submitted", "done"))

    # -- observe ------------------------------------------------------------------------
    def collect(self) -> int:
        """Poll the lab, record new observations, apply timeouts; returns how many were new."""
        new = 0
        t0 = stage_clock()
        results = [obs for lab in self.labs.values() for obs in lab.poll()]
        self.planner.add_time("lab", t0)
        if results:
            crash_point("results_polled")
        for obs, recorded in zip(results, self.ledger.record_observations(results, self.now()), strict=True):
            if recorded:
                new += 1
                crash_point("observation_recorded")
                self.emit("observed", observation=obs)
        self._apply_timeouts()
        return new

    def _apply_timeouts(self) -> None:
        timeout = self.config.requests.timeout_s
        if timeout is None:
            return
        now = self.now()
        for req in self.pending():
            if req.submitted_at is not None and now - req.submitted_at >= timeout:
                reason = f"no result after {timeout:g} s"
                if self.ledger.transition(req.request_id, RequestStatus.ABANDONED, now, reason):
                    log.warning("request %s abandoned: %s", req.request_id, reason)
                    lab = self.lab_for(req)
                    if lab is not None:
                        lab.cancel(req.request_id)
                    self.planner.maybe_resubmit(req)

    # -- the loop -----------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        """Why no further round may be planned (None while one may)."""
        b = self.config.budget
        if b.stop_on_goal and self.goal_reached():
            return "goal reached"
        if b.experiments is not None and self.experiments_used() >= b.experiments:
            return "experiment budget spent"
        if b.rounds is not None and self.rounds_done() >= b.rounds:
            return "round budget spent"
        if self.planner.exhausted:
            return "no candidates left"
        return None

    def run(self, max_rounds: int | None = None) -> CampaignSummary:
        """Run to the end (or ``max_rounds`` more rounds); returns the campaign summary."""
        self._start_tracking()
        self.ledger.set_meta("status", "running")
        self.recover()
        planned = 0
        reason: str | None = None
        status = "finished"
        try:
            while True:
                control = self.apply_controls()
                if control is not None:
                    status, reason = control, f"{control} by user"
                    break
                self.collect()
                reason = self.stop_reason()
                pending = self.pending()
                if reason == "goal reached" and pending:
                    self._cancel_pending(pending, "campaign goal reached")
                    pending = []
                awaiting = self.awaiting_approval()
                if awaiting:
                    if reason == "goal reached":  # the batch is no longer needed
                        held = {rnd.index for rnd in awaiting}
                        for r in self.ledger.requests(RequestStatus.PLANNED):
                            if r.round in held:
                                self.ledger.transition(r.request_id, RequestStatus.ABANDONED, self.now(), reason)
                        for rnd in awaiting:
                            self.ledger.update_round(rnd, "done")
                        continue
                    self._wait(pending) if pending else self._wait_for_person()
                    continue
                if reason is None and len(pending) < self.config.budget.pending_limit:
                    if max_rounds is not None and planned >= max_rounds:
                        status, reason = "paused", "paused after max_rounds"
                        break
                    if self.planner.plan_and_submit() is not None:
                        planned += 1
                        if planned == 1:
                            # The stages are built and their imports done: keep the cyclic
                            # garbage collector from walking those objects again and again
                            # (a full collection over a torch + pymatgen heap takes ~0.3 s).
                            gc.freeze()
                    continue
                if not pending:
                    break
                self._wait(pending)
        except BaseException:
            self.ledger.set_meta("status", "interrupted")
            raise
        finally:
            gc.unfreeze()  # what this run froze is collectable again
        # every round's logging (and its "done" mark, queued behind it) lands before the
        # campaign is recorded as over: a crash until then resumes and replays it
        self.tracker.flush()
        self.ledger.set_meta("status", status)
        self.ledger.set_meta("stop_reason", reason)
        summary = self.summary()
        self.tracker.log_metrics(summary.metrics(), step=max(self.rounds_done(), 0))
        if status in ("finished", "cancelled"):
            self.tracker.finish("FINISHED" if status == "finished" else "KILLED")
        self.tracker.flush()
        log.info("campaign %s %s: %s", self.config.name, status, reason)
        self.emit("finished", reason=reason, summary=summary)
        return summary

    # -- people in the loop ---------------------------------------------------------------
    def awaiting_approval(self) -> list[Round]:
        return [rnd for rnd, state in self.ledger.rounds() if state == "awaiting_approval"]

    def _wait_for_person(self) -> None:
        self.emit("waiting", until=None, pending=0, approval=True)
        time.sleep(self.config.requests.poll_interval_s)

    def apply_controls(self) -> str | None:
        """Apply approve / pause / cancel commands queued by :func:`loop.campaign.control.send_control`.

        Returns ``"paused"`` or ``"cancelled"`` when the runner must stop.
        """
        last = int(self.ledger.get_meta("control_seq", 0))
        outcome: str | None = None
        for event in self.ledger.events("control"):
            if event["seq"] <= last:
                continue
            d = event["data"]
            if d["action"] == "approve":
                for rnd in self.awaiting_approval():
                    if d.get("round") is None or d["round"] == rnd.index:
                        self.planner.approve(rnd, drop=d.get("drop") or ())
            elif d["action"] == "pause":
                outcome = "paused"
            elif d["action"] == "cancel":
                targets = d.get("request_ids") or []
                if not targets:
                    outcome = "cancelled"
                    targets = [r.request_id for r in self.ledger.requests([RequestStatus.PLANNED, *self.pending_statuses])]
                for rid in targets:
                    req = self.ledger.request(rid)
                    lab = self.lab_for(req) if req.status.pending else None
                    if lab is not None:
                        lab.cancel(rid)
                    self.ledger.transition(rid, RequestStatus.ABANDONED, self.now(), "cancelled by user")
                if outcome == "cancelled":
                    for rnd in self.awaiting_approval():
                        self.ledger.update_round(rnd, "done")
            self.ledger.set_meta("control_seq", event["seq"])
        return outcome

    pending_statuses = (RequestStatus.SUBMITTED, RequestStatus.RUNNING)

    def _wait(self, pending: Sequence[ExperimentRequest]) -> None:
        if isinstance(self.clock, SimulatedClock):
            times = [t for t in (lab.next_event_time() for lab in self.labs.values()) if t is not None]
            t = min(times) if times else None
            deadlines = []
            if self.config.requests.timeout_s is not None:
                deadlines = [
                    (r.submitted_at or self.now()) + self.config.requests.timeout_s for r in pending
                ]
            candidates = [x for x in [t, *deadlines] if x is not None]
            if not candidates:
                now = self.now()
                for r in pending:
                    reason = "the lab reports nothing pending for it (lost)"
                    if self.ledger.transition(r.request_id, RequestStatus.ABANDONED, now, reason):
                        log.warning("request %s abandoned: %s", r.request_id, reason)
                        self.planner.maybe_resubmit(r)
                return
            target = max(min(candidates), self.now())
            self.emit("waiting", until=target, pending=len(pending))
            self.advance_clock(target)
        else:
            self.emit("waiting", until=None, pending=len(pending))
            time.sleep(self.config.requests.poll_interval_s)

    def _cancel_pending(self, pending: Sequence[ExperimentRequest], reason: str) -> None:
        for r in pending:
            lab = self.lab_for(r)
            if lab is not None:
                lab.cancel(r.request_id)
            self.ledger.transition(r.request_id, RequestStatus.ABANDONED, self.now(), reason)

    def recover(self) -> None:
        """Finish what a crash interrupted: replay an unplanned round, submit planned requests."""
        closed = self.ledger.close_observed_requests(self.now())
        if closed:
            log.warning("resuming: closed %d request(s) whose results were already recorded: %s", len(closed), closed)
        rounds = self.ledger.rounds()
        if rounds:
            rnd, state = rounds[-1]
            if state == "proposing":
                planned_here = [r for r in self.ledger.requests() if r.round == rnd.index]
                if planned_here:  # interrupted between planning the requests and marking the round
                    rnd.selected = [r.candidate.id for r in planned_here]
                    self.ledger.update_round(rnd, "awaiting_approval" if self.config.requests.approval else "planned")
                else:
                    log.info("round %d was interrupted before its requests were planned: replaying it", rnd.index)
                    self.ledger.discard_round(rnd.index)
        held = {rnd.index for rnd in self.awaiting_approval()}
        planned = [r for r in self.ledger.requests(RequestStatus.PLANNED) if r.round not in held]
        if planned and self.config.lab_specs():
            log.info("resuming: %d planned request(s) to reconcile with the lab", len(planned))
            self.planner.submit(planned)
        for rnd, state in self.ledger.rounds():
            if state == "awaiting_approval":
                continue
            if state == "planned":
                self.ledger.update_round(rnd, "submitted")
            if state in ("planned", "submitted"):
                self.planner.finish_round(rnd)

    def _start_tracking(self) -> None:
        """Open (or continue) the campaign's MLflow run (run() and the first ask/tell call)."""
        run_id = self.ledger.get_meta("mlflow_run_id")
        new_id = self.tracker.start(run_id, self.config.model_dump(mode="json"), self.config.name)
        if new_id is not None and run_id is None:
            self.ledger.set_meta("mlflow_run_id", new_id)
            self.tracker.log_text(self.config.to_yaml(), "config.yaml")
        if self.ledger.get_meta("provenance") is None:
            self.record_provenance()

    def record_provenance(self) -> dict[str, dict[str, Any]]:
        """Each stage's reference provenance, into the ledger and MLflow (:mod:`.provenance`)."""
        from loop.campaign.provenance import record_provenance

        return record_provenance(self)

    # -- ask / tell ---------------------------------------------------------------------
    def suggest(self, n: int | None = None) -> list[ExperimentRequest]:
        """Plan a batch of ``n`` (default: batch_size) for a lab you drive yourself.

        Like :meth:`run`, the first call starts the campaign's MLflow run (round metrics,
        selections and the ranking note are logged per round)."""
        if not self.tracker.active:
            self._start_tracking()
        rnd = self.planner.plan(q=n or self.config.budget.batch_size, lab_name="manual")
        if rnd is None:
            return []
        reqs = self.ledger.requests_by_ids([r for r in self.planner.last_request_ids])
        for r in reqs:
            self.ledger.transition(r.request_id, RequestStatus.SUBMITTED, self.now(), "handed to the user")
        self.ledger.update_round(rnd, "submitted")
        self.planner.finish_round(rnd)
        return self.ledger.requests_by_ids([r.request_id for r in reqs])

    def observe(
        self,
        request_id: str,
        values: Mapping[str, Any] | None = None,
        *,
        success: bool = True,
        failure_reason: str | None = None,
        **extra: Any,
    ) -> bool:
        """Record a result for a request; values are numbers or ``{value, uncertainty}``.

        A new result is tracked as in :meth:`run`: the campaign's summary metrics go to its MLflow run."""
        req = self.ledger.request(request_id)
        obs = Observation.from_raw(
            request_id,
            req.candidate.id,
            values or {},
            success=success,
            failure_reason=failure_reason,
            lab=req.lab,
            finished_at=self.now(),
            **extra,
        )
        recorded = self.ledger.record_observation(obs, self.now())
        if recorded and self.tracker.enabled:
            if not self.tracker.active:
                self._start_tracking()
            self.tracker.log_metrics(self.summary().metrics(), step=max(self.rounds_done(), 0))
        return recorded

    def import_observations(self, rows: Sequence[tuple[Candidate | Mapping[str, float], Mapping[str, Any]]]) -> int:
        """Bring earlier measurements into this campaign: ``[(candidate or params, values), ...]``.

        Each becomes a ``done`` request of round -1 from lab ``import``; returns how many.
        """
        now = self.now()
        count = 0
        for i, (cand, values) in enumerate(rows):
            if not isinstance(cand, Candidate):
                cand = Candidate.from_params(cand, Origin(generator="import"))
            self.ledger.add_candidates([cand], now)
            rid = f"import-{cand.id}"
            if self.ledger.requests_by_ids([rid]):
                continue
            try:
                obs = Observation.from_raw(rid, cand.id, values, lab="import", source=f"import row {i}")
            except InputDataError:
                raise
            req = ExperimentRequest(request_id=rid, candidate=cand, round=-1, lab="import", created_at=now)
            self.ledger.plan_requests([req])
            self.ledger.transition(rid, RequestStatus.SUBMITTED, now, "imported")
            self.ledger.record_observation(obs, now)
            count += 1
        return count

    def random_generator(self, round_index: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed & 0xFFFFFFFF, round_index])

