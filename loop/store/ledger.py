"""The campaign ledger: the system of record for candidates, requests, observations and rounds.

SQLAlchemy over SQLite (WAL) in the campaign folder by default, or any SQLAlchemy URL
(PostgreSQL for a shared lab). The schema is versioned by alembic and migrated on open.
Writes happen before the action they record (a request is ``planned`` before it is
submitted), each in its own transaction. An observation is stored at most once per
request, however often a lab reports it.

>>> ledger = Ledger.for_directory("campaigns/p3ht")
>>> ledger.requests(status=RequestStatus.SUBMITTED)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from loop.errors import LedgerError
from loop.records import (
    ALLOWED_TRANSITIONS,
    Candidate,
    ExperimentRequest,
    Observation,
    Recipe,
    RequestStatus,
    Round,
    ScreenDecision,
    Selection,
)
from loop.store import schema as t

__all__ = ["Ledger"]

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.db"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a committed transaction survives any crash of the process (kill -9);
    # only an OS crash or power cut may lose the last ones, which resume reconciles with
    # the lab (a planned request the lab already has is marked, not resent).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Ledger:
    """A campaign's database."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            self.engine: Engine = sa.create_engine(url, future=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise LedgerError(f"cannot open ledger {url!r}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        # Decoded records, so that a campaign re-reading its ledger every round decodes each
        # JSON document once: candidates by id (this process's updates applied; they change
        # only when screened) and the observations, which are append-only (read by ``seq``).
        self._candidates: dict[str, Candidate] = {}
        self._observations: list[Observation] = []
        self._observations_seq = 0
        if migrate:
            self.migrate()

    @classmethod
    def for_directory(cls, directory: str | Path, url: str | None = None, *, migrate: bool = True) -> Ledger:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(url or f"sqlite:///{(directory / LEDGER_FILE).resolve()}", migrate=migrate)

    # -- schema -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision (alembic ``upgrade head``)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise LedgerError(f"cannot open or migrate ledger {self.url}: {exc.orig}") from None

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            try:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            except OperationalError:
                return None

    def close(self) -> None:
        self.engine.dispose()

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        return default if row is None else json.loads(row)

    def set_meta(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self.engine.begin() as conn:
            n = conn.execute(t.meta.update().where(t.meta.c.key == key).values(value=text)).rowcount
            if n == 0:
                conn.execute(t.meta.insert().values(key=key, value=text))

    # -- candidates ---------------------------------------------------------------------
    def add_candidates(self, cands: Iterable[Candidate], at: float) -> int:
        """Insert candidates not yet known (by id); returns how many were new."""
        cands = list(cands)
        if not cands:
            return 0
        with self.engine.begin() as conn:
            known = set(
                conn.execute(sa.select(t.candidates.c.id).where(t.candidates.c.id.in_([c.id for c in cands]))).scalars()
            )
            rows, seen = [], set()
            for c in cands:
                if c.id in known or c.id in seen:
                    continue
                seen.add(c.id)
                rows.append(
                    {
                        "id": c.id,
                        "formula": c.formula,
                        "origin_generator": c.origin.generator,
                        "origin_round": c.origin.round,
                        "duplicate_of": c.duplicate_of,
                        "data": c.model_dump_json(),
                        "created_at": at,
                    }
                )
            if rows:
                conn.execute(t.candidates.insert(), rows)
        for c in cands:
            if c.id in seen:
                self._candidates[c.id] = c
        return len(rows)

    def update_candidate(self, cand: Candidate) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.candidates.update()
                .where(t.candidates.c.id == cand.id)
                .values(data=cand.model_dump_json(), duplicate_of=cand.duplicate_of)
            )
        self._candidates[cand.id] = cand

    def candidates(self, ids: Iterable[str] | None = None) -> list[Candidate]:
        q = sa.select(t.candidates.c.data).order_by(t.candidates.c.seq)
        if ids is not None:
            ids = list(ids)
            out = {i: self._candidates[i] for i in ids if i in self._candidates}
            todo = [i for i in dict.fromkeys(ids) if i not in out]
            if not todo:
                return [out[i] for i in ids]
            with self.engine.connect() as conn:
                for i in range(0, len(todo), 500):
                    chunk = todo[i : i + 500]
                    for (data,) in conn.execute(q.where(t.candidates.c.id.in_(chunk))):
                        c = Candidate.model_validate_json(data)
                        out[c.id] = self._candidates[c.id] = c
            return [out[i] for i in ids if i in out]
        with self.engine.connect() as conn:
            return [Candidate.model_validate_json(d) for (d,) in conn.execute(q)]

    def candidate(self, cid: str) -> Candidate:
        found = self.candidates([cid])
        if not found:
            raise LedgerError(f"no candidate {cid!r} in the ledger")
        return found[0]

    def candidate_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.candidates)).scalar() or 0)

    # -- rounds -------------------------------------------------------------------------
    def start_round(self, rnd: Round) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.rounds.delete().where(t.rounds.c.index == rnd.index))
            conn.execute(
                t.rounds.insert().values(
                    index=rnd.index, state="proposing", started_at=rnd.started_at, data=rnd.model_dump_json()
                )
            )

    def update_round(self, rnd: Round, state: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.rounds.update()
                .where(t.rounds.c.index == rnd.index)
                .values(state=state, finished_at=rnd.finished_at, data=rnd.model_dump_json())
            )

    def rounds(self) -> list[tuple[Round, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.rounds.c.data, t.rounds.c.state).order_by(t.rounds.c.index)).all()
        return [(Round.model_validate_json(d), s) for d, s in rows]

    def round_states(self) -> dict[int, str]:
        """Round index -> state, without decoding the rounds."""
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(t.rounds.c.index, t.rounds.c.state).order_by(t.rounds.c.index)).all())

    def discard_round(self, index: int) -> None:
        """Forget an unfinished round's screening and selections (it will be replayed)."""
        with self.engine.begin() as conn:
            conn.execute(t.screen_decisions.delete().where(t.screen_decisions.c.round == index))
            conn.execute(t.selections.delete().where(t.selections.c.round == index))
            conn.execute(t.generator_states.delete().where(t.generator_states.c.round == index))
            conn.execute(t.rounds.delete().where(t.rounds.c.index == index))

    # -- screening and selection --------------------------------------------------------
    def record_screen(self, round_index: int, decisions: Sequence[ScreenDecision]) -> None:
        rows = [
            {
                "round": round_index,
                "candidate_id": d.candidate_id,
                "kept": d.kept,
                "reason": d.reason,
                "data": d.model_dump_json(),
            }
            for d in decisions
        ]
        with self.engine.begin() as conn:
            conn.execute(t.screen_decisions.delete().where(t.screen_decisions.c.round == round_index))
            if rows:
                conn.execute(t.screen_decisions.insert(), rows)

    def screened_ids(self) -> dict[str, bool]:
        """Each screened candidate id -> kept (by its latest decision)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.screen_decisions.c.candidate_id, t.screen_decisions.c.kept).order_by(t.screen_decisions.c.seq)
            ).all()
        return {cid: bool(kept) for cid, kept in rows}

    def requested_candidate_ids(self) -> set[str]:
        """Ids of the candidates any request (in any state) was made for."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(t.requests.c.candidate_id).distinct()).scalars())

    def screen_decisions(self, round_index: int | None = None) -> list[ScreenDecision]:
        q = sa.select(t.screen_decisions.c.data).order_by(t.screen_decisions.c.seq)
        if round_index is not None:
            q = q.where(t.screen_decisions.c.round == round_index)
        with self.engine.connect() as conn:
            return [ScreenDecision.model_validate_json(d) for (d,) in conn.execute(q)]

    def record_selections(self, round_index: int, sels: Sequence[Selection]) -> None:
        rows = [
            {"round": round_index, "candidate_id": s.candidate_id, "rank": s.rank, "score": s.score, "data": s.model_dump_json()}
            for s in sels
        ]
        with self.engine.begin() as conn:
            conn.execute(t.selections.delete().where(t.selections.c.round == round_index))
            if rows:
                conn.execute(t.selections.insert(), rows)

    def selections(self, round_index: int | None = None) -> list[tuple[int, Selection]]:
        q = sa.select(t.selections.c.round, t.selections.c.data).order_by(t.selections.c.round, t.selections.c.rank)
        if round_index is not None:
            q = q.where(t.selections.c.round == round_index)
        with self.engine.connect() as conn:
            return [(r, Selection.model_validate_json(d)) for r, d in conn.execute(q)]

    # -- requests -----------------------------------------------------------------------
    def plan_requests(self, reqs: Sequence[ExperimentRequest]) -> None:
        """Record requests as ``planned`` (before anything is sent to a lab)."""
        for r in reqs:
            if r.status is not RequestStatus.PLANNED:
                raise LedgerError(f"request {r.request_id}: new requests must be planned, not {r.status.value}")
        if not reqs:
            return
        rows = [
            {
                "request_id": r.request_id,
                "candidate_id": r.candidate.id,
                "round": r.round,
                "lab": r.lab,
                "status": r.status.value,
                "status_reason": r.status_reason,
                "resubmission_of": r.resubmission_of,
                "recipe": r.recipe.model_dump_json(),
                "created_at": r.created_at,
                "updated_at": r.created_at,
            }
            for r in reqs
        ]
        events = [{"request_id": r.request_id, "status": "planned", "reason": None, "at": r.created_at} for r in reqs]
        with self.engine.begin() as conn:
            conn.execute(t.requests.insert(), rows)
            conn.execute(t.request_events.insert(), events)

    def transition(self, request_id: str, status: RequestStatus, at: float, reason: str | None = None) -> bool:
        """Move a request to ``status``; False (and nothing written) when it is not allowed."""
        return self.transitions([(request_id, status, reason)], at)[0]

    def transitions(self, moves: Sequence[tuple[str, RequestStatus, str | None]], at: float) -> list[bool]:
        """:meth:`transition` for several ``(request_id, status, reason)``, in one transaction."""
        if not moves:
            return []
        with self.engine.begin() as conn:
            current = self._statuses(conn, [m[0] for m in moves])
            changes: list[dict[str, Any]] = []
            done = []
            for rid, status, reason in moves:
                if rid not in current:
                    raise LedgerError(f"no request {rid!r} in the ledger")
                cur = current[rid]
                ok = status != cur and status in ALLOWED_TRANSITIONS[cur]
                if status != cur and not ok:
                    log.debug("ignored transition of %s from %s to %s", rid, cur.value, status.value)
                if ok:
                    current[rid] = status
                    changes.append({"rid": rid, "status": status.value, "reason": reason})
                done.append(ok)
            self._write_changes(conn, changes, at)
        return done

    @staticmethod
    def _statuses(conn: sa.Connection, ids: Sequence[str]) -> dict[str, RequestStatus]:
        rows = conn.execute(sa.select(t.requests.c.request_id, t.requests.c.status).where(t.requests.c.request_id.in_(set(ids))))
        return {rid: RequestStatus(st) for rid, st in rows}

    @staticmethod
    def _write_changes(conn: sa.Connection, changes: Sequence[dict[str, Any]], at: float) -> None:
        """Apply ``{"rid", "status", "reason"}`` status changes, in order, with their events."""
        for c in changes:
            values: dict[str, Any] = {"status": c["status"], "status_reason": c["reason"], "updated_at": at}
            if c["status"] == RequestStatus.SUBMITTED.value:
                values["submitted_at"] = at
            conn.execute(t.requests.update().where(t.requests.c.request_id == c["rid"]).values(**values))
        if changes:
            conn.execute(
                t.request_events.insert(),
                [{"request_id": c["rid"], "status": c["status"], "reason": c["reason"], "at": at} for c in changes],
            )

    def _request_rows(self, where: Any = None) -> list[Any]:
        q = sa.select(t.requests).order_by(t.requests.c.seq)
        if where is not None:
            q = q.where(where)
        with self.engine.connect() as conn:
            return list(conn.execute(q).mappings())

    def requests(self, status: RequestStatus | Iterable[RequestStatus] | None = None) -> list[ExperimentRequest]:
        where = None
        if status is not None:
            statuses = [status] if isinstance(status, RequestStatus) else list(status)
            where = t.requests.c.status.in_([s.value for s in statuses])
        return self._build_requests(self._request_rows(where))

    def _build_requests(self, rows: list[Any]) -> list[ExperimentRequest]:
        cands = {c.id: c for c in self.candidates(dict.fromkeys(r["candidate_id"] for r in rows))}
        return [
            ExperimentRequest(
                request_id=r["request_id"],
                candidate=cands[r["candidate_id"]],
                round=r["round"],
                lab=r["lab"],
                recipe=Recipe.model_validate_json(r["recipe"]),
                status=RequestStatus(r["status"]),
                status_reason=r["status_reason"],
                resubmission_of=r["resubmission_of"],
                created_at=r["created_at"],
                submitted_at=r["submitted_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]

    def request(self, request_id: str) -> ExperimentRequest:
        found = self.requests_by_ids([request_id])
        if not found:
            raise LedgerError(f"no request {request_id!r} in the ledger")
        return found[0]

    def requests_by_ids(self, ids: Sequence[str]) -> list[ExperimentRequest]:
        return self._build_requests(self._request_rows(t.requests.c.request_id.in_(list(ids))))

    def status_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.requests.c.status, sa.func.count()).group_by(t.requests.c.status)).all()
        return {s: int(n) for s, n in rows}

    def request_events(self, request_id: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(t.request_events).order_by(t.request_events.c.seq)
        if request_id is not None:
            q = q.where(t.request_events.c.request_id == request_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- observations -------------------------------------------------------------------
    def record_observation(self, obs: Observation, at: float) -> bool:
        """Store an observation once per request and close the request; False for a repeat.

        A result for an unknown request is refused (logged as an event); a result that
        arrives after its request was abandoned is kept, and the request stays abandoned.
        """
        return self.record_observations([obs], at)[0]

    def record_observations(self, observations: Sequence[Observation], at: float) -> list[bool]:
        """:meth:`record_observation` for a batch, in one transaction; one flag per observation."""
        if not observations:
            return []
        ids = {o.request_id for o in observations}
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t.requests.c.request_id, t.requests.c.status, t.requests.c.candidate_id).where(t.requests.c.request_id.in_(ids))
            )
            requests = {r.request_id: (RequestStatus(r.status), r.candidate_id) for r in rows}
            have = set(conn.execute(sa.select(t.observations.c.request_id).where(t.observations.c.request_id.in_(ids))).scalars())
            flags, inserts, changes = [], [], []
            for obs in observations:
                flags.append(self._accept(conn, obs, at, requests, have, inserts, changes))
            if inserts:
                conn.execute(t.observations.insert(), inserts)
            # a result for a request the ledger still has as planned: the lab ran it before
            # the ledger heard it was sent (a crash in between), so it is marked sent first
            self._write_changes(conn, changes, at)
        return flags

    def _accept(
        self,
        conn: sa.Connection,
        obs: Observation,
        at: float,
        requests: dict[str, tuple[RequestStatus, str]],
        have: set[str],
        inserts: list[dict[str, Any]],
        changes: list[dict[str, Any]],
    ) -> bool:
        """Decide on one result of a batch; queue its row and status changes."""
        if obs.request_id not in requests:
            self._event(conn, at, "unknown_result", {"request_id": obs.request_id})
            log.warning("result for unknown request %s ignored", obs.request_id)
            return False
        current, candidate_id = requests[obs.request_id]
        if candidate_id != obs.candidate_id:
            self._event(conn, at, "mismatched_result", {"request_id": obs.request_id, "candidate_id": obs.candidate_id})
            log.warning("result for %s names candidate %s, not %s: ignored", obs.request_id, obs.candidate_id, candidate_id)
            return False
        if obs.request_id in have:
            self._event(conn, at, "duplicate_result", {"request_id": obs.request_id})
            return False
        have.add(obs.request_id)
        obs = obs.model_copy(update={"received_at": obs.received_at if obs.received_at is not None else at})
        inserts.append(
            {"request_id": obs.request_id, "candidate_id": obs.candidate_id, "success": obs.success, "data": obs.model_dump_json(), "received_at": at}
        )
        new = RequestStatus.DONE if obs.success else RequestStatus.FAILED
        if current is RequestStatus.PLANNED:
            changes.append({"rid": obs.request_id, "status": "submitted", "reason": "a result arrived before the submission was recorded"})
            current = RequestStatus.SUBMITTED
        if current is RequestStatus.ABANDONED:
            self._event(conn, at, "late_result", {"request_id": obs.request_id})
        elif new in ALLOWED_TRANSITIONS[current]:
            changes.append({"rid": obs.request_id, "status": new.value, "reason": obs.failure_reason})
        return True

    def close_observed_requests(self, at: float) -> list[str]:
        """Close requests that have an observation but are still open (a crash between the two
        writes of an older version, or a result recorded before its submission was); their ids."""
        open_ = [s.value for s in (RequestStatus.PLANNED, RequestStatus.SUBMITTED, RequestStatus.RUNNING)]
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t.requests.c.request_id, t.requests.c.status, t.observations.c.success)
                .join(t.observations, t.observations.c.request_id == t.requests.c.request_id)
                .where(t.requests.c.status.in_(open_))
            ).all()
            changes = []
            for rid, status, success in rows:
                if status == RequestStatus.PLANNED.value:
                    changes.append({"rid": rid, "status": "submitted", "reason": "a result arrived before the submission was recorded"})
                done = RequestStatus.DONE if success else RequestStatus.FAILED
                changes.append({"rid": rid, "status": done.value, "reason": "closed on resume: its result is in the ledger"})
            self._write_changes(conn, changes, at)
        return [r[0] for r in rows]

    def observations(self) -> list[Observation]:
        """Every observation in the order received (only ones new since the last call are read)."""
        q = sa.select(t.observations.c.seq, t.observations.c.data).where(t.observations.c.seq > self._observations_seq)
        with self.engine.connect() as conn:
            for seq, data in conn.execute(q.order_by(t.observations.c.seq)):
                self._observations.append(Observation.model_validate_json(data))
                self._observations_seq = seq
        return list(self._observations)

    def observation_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.observations)).scalar() or 0)

    # -- generator checkpoints ----------------------------------------------------------
    def save_generator_state(self, round_index: int, state: dict[str, Any]) -> None:
        text = json.dumps(state)
        with self.engine.begin() as conn:
            conn.execute(t.generator_states.delete().where(t.generator_states.c.round == round_index))
            conn.execute(t.generator_states.insert().values(round=round_index, data=text))

    def latest_generator_state(self) -> tuple[int, dict[str, Any]] | None:
        q = sa.select(t.generator_states.c.round, t.generator_states.c.data).order_by(t.generator_states.c.round.desc())
        with self.engine.connect() as conn:
            row = conn.execute(q.limit(1)).first()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    # -- events -------------------------------------------------------------------------
    @staticmethod
    def _event(conn: Any, at: float, kind: str, data: dict[str, Any]) -> None:
        conn.execute(t.events.insert().values(at=at, kind=kind, data=json.dumps(data)))

    def event(self, kind: str, at: float, **data: Any) -> None:
        with self.engine.begin() as conn:
            self._event(conn, at, kind, data)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(t.events).order_by(t.events.c.seq)
        if kind is not None:
            q = q.where(t.events.c.kind == kind)
        with self.engine.connect() as conn:
            return [{**dict(r), "data": json.loads(r["data"])} for r in conn.execute(q).mappings()]

    # -- export -------------------------------------------------------------------------
    def table_names(self) -> list[str]:
        return list(t.metadata.tables)

    def dump_table(self, name: str) -> list[dict[str, Any]]:
        table = t.metadata.tables[name]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]
