"""Planning one round: learn, propose, screen, rank, plan requests, submit, log.

Kept apart from :mod:`loop.campaign.engine` (which decides *when* a round happens) so
that each step's ledger write sits right before the action it records.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from loop.errors import LabError
from loop.faults import crash_point
from loop.identity import derive_seed
from loop.interfaces import LabAdapter
from loop.records import Candidate, ExperimentRequest, Origin, Recipe, RequestStatus, Round, ScreenDecision, Selection

if TYPE_CHECKING:
    from loop.campaign.engine import Campaign

__all__ = ["RoundPlanner", "computed_metadata"]

log = logging.getLogger(__name__)

_EMPTY_ROUNDS_BEFORE_EXHAUSTED = 3


def computed_metadata(decision: ScreenDecision, screen: str) -> dict[str, object]:
    """The screen's computed properties for the candidate's metadata, labelled as computed.

    ``e_hull`` (eV/atom) and, when the screen gives one, ``e_hull_std`` reach the ranker this
    way (its synthesizability prior reads ``metadata["e_hull"]``); ``e_hull_source`` says they
    were computed by ``screen``, never measured.
    """
    out: dict[str, object] = {}
    if decision.e_hull is not None:
        out["e_hull"] = float(decision.e_hull)
        out["e_hull_source"] = f"computed:{screen}"
        std = decision.metrics.get("e_hull_std")
        if std is not None:
            out["e_hull_std"] = float(std)
    return out


def stage_clock() -> tuple[float, float]:
    """(wall, this thread's CPU) seconds, for timing stage calls."""
    return time.perf_counter(), time.thread_time()


class RoundPlanner:
    """Plans and submits rounds for a :class:`~loop.campaign.engine.Campaign`."""

    def __init__(self, campaign: Campaign) -> None:
        self.c = campaign
        self.exhausted = False
        self.last_request_ids: list[str] = []
        self.timings: dict[str, float] = {}  # wall seconds in each stage's calls
        self.cpu_timings: dict[str, float] = {}  # CPU seconds of the campaign's thread in them
        self._empty_rounds = 0

    # -- helpers ------------------------------------------------------------------------
    def next_index(self) -> int:
        states = self.c.ledger.round_states()
        return max(states) + 1 if states else 0

    def add_time(self, stage: str, t0: tuple[float, float]) -> None:
        """Add the wall and this thread's CPU seconds since ``t0`` (from :func:`stage_clock`) to ``stage``."""
        wall, cpu = stage_clock()
        self.timings[stage] = self.timings.get(stage, 0.0) + wall - t0[0]
        self.cpu_timings[stage] = self.cpu_timings.get(stage, 0.0) + cpu - t0[1]

    def route(self, n: int) -> list[str]:
        """A lab for each of ``n`` new requests: a capable lab with the most free capacity."""
        c = self.c
        if not c.config.lab_specs():
            return ["manual"] * n
        capable = c.capable_labs()
        busy = {name: 0 for name in capable}
        for r in c.pending():
            if r.lab in busy:
                busy[r.lab] += 1
        free = {name: c.labs[name].capabilities().capacity - busy[name] for name in capable}
        out = []
        for _ in range(n):
            name = max(capable, key=lambda k: (free[k], -capable.index(k)))
            free[name] -= 1
            out.append(name)
        return out

    def _budget_left(self) -> int:
        b = self.c.config.budget
        left = b.batch_size
        if b.experiments is not None:
            left = min(left, b.experiments - self.c.experiments_used())
        return max(left, 0)

    def generator_score(self, ranker: Any, pending: list[Candidate]) -> Callable[[Sequence[Candidate]], np.ndarray]:
        """The generator's reward: the ranker's acquisition, where a candidate the screen has seen in
        an earlier round counts as the screened candidate (its computed ``e_hull``, relaxed structure),
        as the ranker sees it when it selects; a proposal not screened yet carries the screen's cheap
        estimate when the screen offers one (``Screen.estimate_e_hull``: the ``mlip`` screen's
        ``reward_estimates``, a single point), labelled as computed, and otherwise nothing."""
        ledger, screen, kind = self.c.ledger, self.c.screen, self.c.config.screen.kind
        as_screened: dict[str, Candidate] | None = None  # read on the first call: a generator that ignores the score reads nothing

        def score(cands: Sequence[Candidate]) -> np.ndarray:
            nonlocal as_screened
            if as_screened is None:
                screened = ledger.screened_ids()
                as_screened = {x.id: x for x in ledger.candidates(list(screened))} if screened else {}
            fresh = [x for x in cands if x.id not in as_screened and x.structure is not None]
            estimates = screen.estimate_e_hull(fresh) if fresh else {}
            seen = [
                as_screened[x.id] if x.id in as_screened
                else x.model_copy(update={"metadata": {**x.metadata, "e_hull": estimates[x.id],
                                                       "e_hull_source": f"computed:{kind} single point, unrelaxed"}})
                if x.id in estimates else x
                for x in cands
            ]
            return ranker.acquisition(seen, pending)

        return score

    # -- planning -----------------------------------------------------------------------
    def plan(self, q: int, lab_name: str | None = None) -> Round | None:
        """Learn, propose, screen and rank; record ``planned`` requests. None when nothing is left."""
        import torch

        c, ledger = self.c, self.c.ledger
        index = self.next_index()
        rng_seed = derive_seed(c.config.seed, "round", index)
        pending = c.pending()
        now = c.now()
        rnd = Round(index=index, started_at=now, rng_seed=rng_seed, pending_at_start=[r.request_id for r in pending])
        ledger.start_round(rnd)
        crash_point("round_started")
        c.emit("round_started", index=index, pending=len(pending))
        # Build the stages before seeding: building one draws random numbers (weight
        # initialisation), and a resumed process builds them where the first one did not.
        c.generator, c.ranker, c.screen  # noqa: B018
        torch.manual_seed(rng_seed)
        np.random.seed(rng_seed)  # for libraries that draw from numpy's global stream
        rng = np.random.default_rng(rng_seed)
        pending_cands = [r.candidate for r in pending]

        # learn
        t0 = stage_clock()
        observations = ledger.observations()
        observed = ledger.candidates(dict.fromkeys(o.candidate_id for o in observations))
        ranker = c.ranker
        ranker.fit(observed, observations)
        self.add_time("ranker", t0)
        t0 = stage_clock()
        gen = c.generator
        saved = ledger.latest_generator_state()
        seen = int(saved[1].get("observations_seen", 0)) if saved else 0
        if len(observations) > seen or saved is None:
            gen.update(observations[seen:], score=self.generator_score(ranker, pending_cands))
            crash_point("generator_updated")
        self.add_time("generator", t0)

        # propose; the checkpoint is taken after sampling (samplers keep state: buffers, seen ids)
        t0 = stage_clock()
        proposals = gen.sample(None if gen.finite else c.config.proposals, c.config.condition, rng)
        ledger.save_generator_state(index, {"state": gen.state_dict(), "observations_seen": len(observations)})
        self.add_time("generator", t0)
        by_id = self._store(proposals, index, now)

        # screen (each candidate once per campaign)
        screened = ledger.screened_ids()
        new = [p for p in by_id.values() if p.id not in screened]
        n_kept_new = 0
        if new:
            t0 = stage_clock()
            known = [] if gen.finite else ledger.candidates([cid for cid, kept in screened.items() if kept])
            decisions = c.screen.screen(new, known)
            self.add_time("screen", t0)
            if len(decisions) != len(new) or {d.candidate_id for d in decisions} != {p.id for p in new}:
                raise RuntimeError(f"screen {c.config.screen.kind!r} must return one decision per candidate")
            ledger.record_screen(index, decisions)
            for d in decisions:
                n_kept_new += d.kept
                if d.relaxed_structure is not None or d.duplicate_of is not None or d.e_hull is not None:
                    cand = by_id[d.candidate_id]
                    cand = cand.model_copy(update={
                        "relaxed_structure": d.relaxed_structure, "duplicate_of": d.duplicate_of,
                        "metadata": {**cand.metadata, **computed_metadata(d, c.config.screen.kind)},
                    })
                    ledger.update_candidate(cand)
                    by_id[cand.id] = cand
            screened = ledger.screened_ids()
            crash_point("screened")

        # rank
        requested = ledger.requested_candidate_ids()
        selectable = [cid for cid, kept in screened.items() if kept and cid not in requested]
        q = min(q, self._budget_left())
        rnd.n_proposed, rnd.n_kept = len(proposals), n_kept_new
        if not selectable or q <= 0:
            self._empty_rounds += 1
            if gen.finite or self._empty_rounds >= _EMPTY_ROUNDS_BEFORE_EXHAUSTED:
                self.exhausted = True
                ledger.discard_round(index)
                log.info("no candidates left to select")
                return None
            rnd.finished_at = now
            ledger.update_round(rnd, "done")
            return None
        self._empty_rounds = 0
        by_id.update((x.id, x) for x in ledger.candidates([cid for cid in selectable if cid not in by_id]))
        cands = [by_id[cid] for cid in selectable]
        t0 = stage_clock()
        selections = ranker.select(cands, q, pending_cands)
        self.add_time("ranker", t0)
        rnd.ranking = ranker.ranking_note()
        log.info("round %d ranked by %s", index, rnd.ranking.text())
        selections = self._validate_selections(selections, {c_.id for c_ in cands}, q)
        ledger.record_selections(index, selections)

        # plan requests (written before anything reaches a lab)
        labs = [lab_name] * len(selections) if lab_name is not None else self.route(len(selections))
        reqs = [
            ExperimentRequest(
                request_id=f"{c.config.name}-r{index:04d}-{s.rank:03d}",
                candidate=by_id[s.candidate_id],
                round=index,
                lab=lab,
                recipe=self._recipe(lab, by_id[s.candidate_id]),
                created_at=now,
            )
            for s, lab in zip(selections, labs, strict=True)
        ]
        ledger.plan_requests(reqs)
        crash_point("requests_planned")
        rnd.selected = [s.candidate_id for s in selections]
        rnd.model_versions = {"ranker": ranker.model_version(), "generator": f"{gen.name}-{gen.version}"}
        ledger.update_round(rnd, "planned")
        self.last_request_ids = [r.request_id for r in reqs]
        return rnd

    def _store(self, proposals: Sequence[Candidate], index: int, now: float) -> dict[str, Candidate]:
        """Record proposals not yet in the ledger (labelled with this round); id -> the ledger's version.

        A finite pool re-proposes every candidate each round: only the new ones are
        re-labelled and written, the rest come from the ledger's decoded cache.
        """
        ids = list(dict.fromkeys(p.id for p in proposals))
        stored = {x.id: x for x in self.c.ledger.candidates(ids)}
        fresh: dict[str, Candidate] = {}
        for p in proposals:
            if p.id not in stored and p.id not in fresh:
                origin = Origin(generator=p.origin.generator, round=index)
                fresh[p.id] = p if p.origin.round is not None else p.model_copy(update={"origin": origin})
        if fresh:
            self.c.ledger.add_candidates(fresh.values(), now)
            stored.update(fresh)
        return {i: stored[i] for i in ids}

    def _recipe(self, lab_name: str, cand: Candidate) -> Recipe:
        """The lab's recipe when it plans one (synthesis labs), else the candidate's parameters."""
        lab = self.c.labs.get(lab_name) if self.c.config.lab_specs() else None
        t0 = stage_clock()
        planned = lab.recipe_for(cand) if lab is not None else None
        self.add_time("lab", t0)
        if planned is None:
            return Recipe(params=dict(cand.params))
        return planned.model_copy(update={"params": {**cand.params, **planned.params}})

    @staticmethod
    def _validate_selections(sels: Sequence[Selection], allowed: set[str], q: int) -> list[Selection]:
        out, seen = [], set()
        for s in sels:
            if s.candidate_id not in allowed:
                raise RuntimeError(f"ranker selected {s.candidate_id}, which is not selectable (pending or tested)")
            if s.candidate_id in seen:
                continue
            seen.add(s.candidate_id)
            out.append(s.model_copy(update={"rank": len(out)}))
        return out[:q]

    def plan_and_submit(self) -> Round | None:
        rnd = self.plan(q=self.c.config.budget.batch_size)
        if rnd is None:
            return None
        if self.c.config.requests.approval:
            self.c.ledger.update_round(rnd, "awaiting_approval")
            log.info("round %d: %d request(s) await approval (crystaloop approve %s)", rnd.index, len(rnd.selected), self.c.directory)
            self.c.emit("awaiting_approval", index=rnd.index, selected=len(rnd.selected))
            return rnd
        self.submit(self.c.ledger.requests_by_ids(self.last_request_ids))
        self.c.ledger.update_round(rnd, "submitted")
        self.finish_round(rnd)
        return rnd

    def approve(self, rnd: Round, drop: Sequence[str] = ()) -> None:
        """Submit an approved round's requests, except the ones the reviewer dropped."""
        ledger, now = self.c.ledger, self.c.now()
        reqs = [r for r in ledger.requests(RequestStatus.PLANNED) if r.round == rnd.index]
        for r in reqs:
            if r.request_id in drop:
                ledger.transition(r.request_id, RequestStatus.ABANDONED, now, "rejected at approval")
        self.submit([r for r in reqs if r.request_id not in drop])
        ledger.update_round(rnd, "submitted")
        self.finish_round(rnd)
        log.info("round %d approved (%d dropped)", rnd.index, len(set(drop) & {r.request_id for r in reqs}))

    # -- submitting ---------------------------------------------------------------------
    def submit(self, reqs: Sequence[ExperimentRequest]) -> None:
        """Send planned requests to their labs; ones a lab already has are only marked submitted."""
        by_lab: dict[str, list[ExperimentRequest]] = {}
        for r in reqs:
            by_lab.setdefault(r.lab, []).append(r)
        for name, group in by_lab.items():
            lab = self.c.lab_for(group[0])
            if lab is None:
                for r in group:
                    self.c.ledger.transition(r.request_id, RequestStatus.FAILED, self.c.now(), f"no lab named {name!r} in this campaign")
                continue
            self._submit_to(lab, group)

    def _submit_to(self, lab: LabAdapter, reqs: Sequence[ExperimentRequest]) -> None:
        c, ledger = self.c, self.c.ledger
        now = c.now()
        known = lab.known([r.request_id for r in reqs])
        ledger.transitions([(r.request_id, RequestStatus.SUBMITTED, "already received by the lab") for r in reqs if r.request_id in known], now)
        new = [r for r in reqs if r.request_id not in known]
        if not new:
            return
        t0 = stage_clock()
        try:
            receipts = lab.submit(new)
        except LabError as exc:
            ledger.transitions([(r.request_id, RequestStatus.FAILED, f"lab refused the submission: {exc}") for r in new], now)
            log.error("submission of %d request(s) failed: %s", len(new), exc)
            return
        finally:
            self.add_time("lab", t0)
        crash_point("lab_submitted")
        ledger.transitions(
            [
                (rc.request_id, RequestStatus.SUBMITTED, rc.message)
                if rc.accepted
                else (rc.request_id, RequestStatus.FAILED, rc.message or "rejected by the lab")
                for rc in receipts
            ],
            now,
        )

    def maybe_resubmit(self, req: ExperimentRequest) -> None:
        """Resubmit an abandoned request as a new, linked one while the policy allows."""
        policy = self.c.config.requests
        original = req.resubmission_of or req.request_id
        tries = sum(1 for r in self.c.ledger.requests() if r.resubmission_of == original)
        if tries >= policy.resubmit:
            return
        b = self.c.config.budget
        if b.experiments is not None and self.c.experiments_used() >= b.experiments:
            log.info("not resubmitting %s: experiment budget spent", req.request_id)
            return
        new = req.model_copy(
            update={
                "request_id": f"{original}-re{tries + 1}",
                "status": RequestStatus.PLANNED,
                "status_reason": None,
                "resubmission_of": original,
                "created_at": self.c.now(),
                "submitted_at": None,
                "updated_at": None,
            }
        )
        self.c.ledger.plan_requests([new])
        log.info("resubmitting %s as %s", req.request_id, new.request_id)
        self.submit([new])

    # -- closing a round ----------------------------------------------------------------
    def finish_round(self, rnd: Round) -> None:
        """Log the round to MLflow (metrics, selections CSV, CIFs), then mark it done.

        The logging runs on the tracker's background thread and the round is marked done
        behind it, so the loop goes on planning while MLflow writes.
        """
        c = self.c
        summary = c.summary()
        metrics = summary.metrics()
        metrics["round"] = float(rnd.index)
        counts = c.ledger.status_counts()
        metrics["pending"] = float(sum(counts.get(st.value, 0) for st in c.pending_statuses))
        for stage, secs in self.timings.items():
            metrics[f"time_{stage}_s"] = secs
        c.tracker.log_metrics(metrics, step=rnd.index)
        crash_point("mlflow_logging")
        if c.tracker.active:
            if rnd.ranking is not None:
                c.tracker.set_tags({"crystaloop.acquisition": rnd.ranking.acquisition,
                                    "crystaloop.ranking": rnd.ranking.text()})
                c.tracker.log_text(rnd.ranking.model_dump_json(indent=1), f"rounds/{rnd.index:04d}/ranking.json")
            c.tracker.then(lambda: self._log_round_artifacts(rnd.index))
        rnd.finished_at = c.now()

        def mark_done() -> None:
            crash_point("round_logged")
            c.ledger.update_round(rnd, "done")

        c.tracker.then(mark_done)
        c.emit("round_planned", index=rnd.index, selected=len(rnd.selected), summary=summary)

    def _log_round_artifacts(self, index: int) -> None:
        """The round's generator checkpoint, selections CSV and selected structures (tracker thread)."""
        c = self.c
        saved = c.ledger.latest_generator_state()
        if saved is not None and saved[0] == index and saved[1].get("state"):
            c.tracker.log_text(json.dumps(saved[1]), f"rounds/{index:04d}/generator_checkpoint.json")
        sels = c.ledger.selections(index)
        if sels:
            c.tracker.log_text(self._selections_csv(index), f"rounds/{index:04d}/selections.csv")
            for cand in c.ledger.candidates([s.candidate_id for _, s in sels]):
                if cand.structure is not None:
                    c.tracker.log_text(cand.structure.to(fmt="cif"), f"rounds/{index:04d}/{cand.id}.cif")

    def _selections_csv(self, index: int) -> str:
        sels = [s for _, s in self.c.ledger.selections(index)]
        cands = {x.id: x for x in self.c.ledger.candidates([s.candidate_id for s in sels])}
        params = sorted({k for x in cands.values() for k in x.params})
        preds = sorted({k for s in sels for k in s.predicted})
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["rank", "candidate_id", "formula", "score", *params, *[f"pred_{p}" for p in preds], *[f"std_{p}" for p in preds]])
        for s in sels:
            cand: Candidate = cands[s.candidate_id]
            w.writerow(
                [
                    s.rank,
                    s.candidate_id,
                    cand.formula or "",
                    s.score,
                    *[cand.params.get(p, "") for p in params],
                    *[s.predicted.get(p, ("", ""))[0] for p in preds],
                    *[s.predicted.get(p, ("", ""))[1] for p in preds],
                ]
            )
        return buf.getvalue()
