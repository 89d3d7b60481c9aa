"""The ``filedrop`` lab: requests and results exchanged as files in shared folders.

For labs driven by people or by a robot's own software: crystaloop writes each request
into an *outbox* and reads results from an *inbox*; nothing else is needed on the lab's
side than reading and writing JSON files.

Folders (under ``root``, each may be set on its own)::

    outbox/      <name>.json (+ <name>.cif)      one per request, written atomically
    inbox/       <anything>.json (+ XRD file)    results, written by the lab
    archive/     requests/<name>.json            every request ever written (resume)
                 results/<file>                  processed results and their XRD files
    quarantine/  <file> + <file>.reason.txt      malformed results, with the reason

``<name>`` is :func:`~lab_adapters.filedrop_files.safe_name` of the request id: only
``[A-Za-z0-9_.-]``, plus a hash when the id had to change, so no id can name a file
outside its folder. A result file (schema in :func:`~lab_adapters.filedrop_files.parse_result`)::

    {"request_id": "r-0007", "values": {"conductivity": 812.0, "e_hull": {"value": 0.02, "uncertainty": 0.01}},
     "xrd_file": "r-0007.xy", "finished_at": 1767225600.0}

A malformed result (truncated JSON, wrong types, NaN or a negative value where none is
allowed, an unknown request id, an XRD file with NaN/negative counts or the wrong column
count, a path that leaves the inbox, a symbolic link) is moved to ``quarantine/`` beside
a ``<file>.reason.txt`` naming the problem, and the campaign goes on.

Crash safety. A request is written to the outbox and then copied into
``archive/requests``; ``known`` reads both, so a resumed campaign never writes a request
twice. A processed result is moved to ``archive/results`` after its observation was
saved there and a ``delivered`` line was written to the adapter's journal; the next poll
acknowledges it (the campaign polls again only after recording what it got), and a
restarted adapter re-delivers the one batch that was never acknowledged. So a result is
neither lost nor read twice from the inbox (the ledger ignores a re-delivered copy).

    lab:
      kind: filedrop
      options: {root: /data/robot-exchange, properties: [conductivity], xrd: false}
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from lab_adapters.filedrop_files import inside, move_unique, parse_result, safe_name, unique_path
from lab_adapters.journal import LabJournal
from loop.errors import InputDataError, LabError
from loop.files import atomic_write
from loop.interfaces import LabAdapter, PluginConfig
from loop.records import ExperimentRequest, LabCapabilities, Measurement, Observation, Receipt

__all__ = ["FileDropLab", "FileDropLabConfig"]

log = logging.getLogger(__name__)

REQUEST_SCHEMA = "crystaloop.filedrop.request/1"
XRD_SUFFIXES = (".xy", ".csv", ".xrdml", ".txt", ".dat")


class FileDropLabConfig(PluginConfig):
    root: Path | None = Field(default=None, description="Folder holding outbox/inbox/archive/quarantine (default: the stage folder).")
    outbox: Path | None = Field(default=None, description="Where requests are written (default root/outbox).")
    inbox: Path | None = Field(default=None, description="Where the lab puts results (default root/inbox).")
    archive: Path | None = Field(default=None, description="Processed requests and results (default root/archive).")
    quarantine: Path | None = Field(default=None, description="Malformed results with their reason (default root/quarantine).")
    properties: list[str] = Field(min_length=1, description="Properties the lab reports.")
    xrd: bool = Field(default=False, description="The lab returns XRD patterns (and so the synthesis yield).")
    capacity: int = Field(default=1, ge=1, description="Experiments the lab runs at once.")
    recipe_kind: Literal["tabular", "synthesis"] = "tabular"
    allow_negative: list[str] = Field(default_factory=list, description="Properties that may be negative (others must be >= 0).")
    strict_properties: bool = Field(default=True, description="Quarantine results that report a property not in `properties`.")
    write_cif: bool = Field(default=True, description="Write <name>.cif beside a request whose candidate has a structure.")
    min_age_s: float = Field(default=0.5, ge=0, description="Leave result files younger than this (a writer may not be done).")
    missing_xrd_grace_s: float = Field(default=60.0, ge=0, description="Wait this long for a referenced XRD file, then quarantine.")
    known_phases: list[str] | None = Field(
        default=None,
        description="Phase names/formulas a result's phase_analysis may report (besides the candidate's formula); None: any.",
    )
    max_file_bytes: int = Field(default=50_000_000, ge=1, description="Larger result or XRD files are quarantined.")


class FileDropLab(LabAdapter):
    """A lab reached through folders (people, or a robot's own scheduler)."""

    Config = FileDropLabConfig
    name = "filedrop"

    def __init__(self, config: FileDropLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.cfg: FileDropLabConfig = self.config  # type: ignore[assignment]
        root = Path(self.cfg.root) if self.cfg.root is not None else self.context.work_dir / "filedrop"
        self.outbox = Path(self.cfg.outbox or root / "outbox")
        self.inbox = Path(self.cfg.inbox or root / "inbox")
        self.archive = Path(self.cfg.archive or root / "archive")
        self.quarantine_dir = Path(self.cfg.quarantine or root / "quarantine")
        self.requests_archive = self.archive / "requests"
        self.results_archive = self.archive / "results"
        for d in (self.outbox, self.inbox, self.requests_archive, self.results_archive, self.quarantine_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LabError(f"filedrop: cannot create folder {d}: {exc}") from exc
        self.journal = LabJournal(self.context.work_dir / "filedrop-journal.jsonl")
        self.quarantined: list[tuple[Path, str]] = []
        self._batch = 0
        self._unacked: int | None = None
        self._redeliver: list[str] = []
        self._stale_batches: list[int] = []
        self._restore()

    # -- state --------------------------------------------------------------------------
    def _restore(self) -> None:
        delivered: dict[int, list[str]] = {}
        acked: set[int] = set()
        for e in self.journal:
            if e.get("event") == "delivered":
                delivered[int(e["batch"])] = list(e["files"])
            elif e.get("event") == "acked":
                acked.add(int(e["batch"]))
        self._batch = max(delivered, default=0)
        self._stale_batches = sorted(set(delivered) - acked)
        for b in self._stale_batches:
            self._redeliver.extend(delivered[b])
        if self._redeliver:
            log.info("%s: %d result(s) delivered before a restart were not acknowledged; re-delivering", self.name, len(self._redeliver))

    # -- contract -----------------------------------------------------------------------
    def _capabilities(self) -> LabCapabilities:
        return LabCapabilities(
            properties=list(self.cfg.properties),
            xrd=self.cfg.xrd,
            capacity=self.cfg.capacity,
            clock="wall",
            recipe_kind=self.cfg.recipe_kind,
        )

    def _known(self, request_ids: Sequence[str]) -> set[str]:
        out = set()
        for rid in request_ids:
            name = safe_name(rid) + ".json"
            if (self.outbox / name).exists() or (self.requests_archive / name).exists():
                out.add(rid)
        return out

    def request_document(self, r: ExperimentRequest, cif_name: str | None) -> dict[str, Any]:
        """What the lab reads: the main fields at the top, the whole request under ``request``."""
        c = r.candidate
        return {
            "schema": REQUEST_SCHEMA,
            "request_id": r.request_id,
            "candidate_id": c.id,
            "formula": c.formula,
            "params": c.params,
            "recipe": r.recipe.model_dump(mode="json"),
            "round": r.round,
            "structure_file": cif_name,
            "result_file": safe_name(r.request_id) + ".json",
            "properties": list(self.cfg.properties),
            "xrd": self.cfg.xrd,
            "request": r.model_dump(mode="json"),
        }

    def _submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        receipts = []
        for r in requests:
            name = safe_name(r.request_id)
            path = self.outbox / f"{name}.json"
            try:
                cif_name = None
                if self.cfg.write_cif and r.candidate.structure is not None:
                    from pymatgen.io.cif import CifWriter

                    cif_name = f"{name}.cif"
                    atomic_write(self.outbox / cif_name, str(CifWriter(r.candidate.structure)))
                text = json.dumps(self.request_document(r, cif_name), indent=2, sort_keys=True)
                atomic_write(path, text)  # the lab sees the request only once it is whole
                atomic_write(self.requests_archive / f"{name}.json", text)
            except OSError as exc:
                raise LabError(f"filedrop: cannot write request {r.request_id} to {path}: {exc}", transient=True) from exc
            self.journal.append({"event": "submit", "request_id": r.request_id, "file": path.name, "at": time.time()})
            receipts.append(Receipt(request_id=r.request_id, message=f"written to {path}"))
        return receipts

    def _cancel(self, request_id: str) -> bool:
        """Withdraw a request the lab has not taken yet (still in the outbox); else leave a cancel note."""
        name = safe_name(request_id)
        path = self.outbox / f"{name}.json"
        if path.exists():
            cancelled = self.archive / "cancelled"
            try:
                move_unique(path, cancelled)
            except FileNotFoundError:
                pass  # taken by the lab a moment ago: leave a note below
            else:
                cif = self.outbox / f"{name}.cif"
                if cif.exists():
                    move_unique(cif, cancelled)
                self.journal.append({"event": "cancel", "request_id": request_id, "at": time.time()})
                return True
        if (self.requests_archive / f"{name}.json").exists():
            atomic_write(self.outbox / f"{name}.cancel", json.dumps({"request_id": request_id, "cancel": True}))
        return False

    def _poll(self) -> list[Observation]:
        if self._unacked is not None:  # the campaign recorded the last batch before polling again
            self.journal.append({"event": "acked", "batch": self._unacked})
            self._unacked = None
        out: list[tuple[str, Observation]] = []
        if self._redeliver:
            for fname in self._redeliver:
                saved = self.results_archive / f"{fname}.observation.json"
                if saved.exists() and not (self.inbox / fname).exists():
                    out.append((fname, Observation.model_validate_json(saved.read_text(encoding="utf-8"))))
            self._redeliver = []
            # the batch delivered again below supersedes the unacknowledged ones
            self.journal.append(*({"event": "acked", "batch": b} for b in self._stale_batches))
            self._stale_batches = []
        now = time.time()
        fresh: list[tuple[Path, Path, list[tuple[Path, Path]], Observation]] = []
        taken: set[Path] = set()
        for path in sorted(self.inbox.glob("*.json"), key=lambda p: (self._mtime(p), p.name)):
            if path.name.startswith("."):
                continue  # a writer's temporary file
            if now - self._mtime(path) < self.cfg.min_age_s:
                continue
            try:
                obs, xrd = self._read_result(path, now)
            except _NotYet:
                continue
            except InputDataError as exc:
                self._quarantine(path, str(exc), exc.xrd_path if isinstance(exc, _XRDProblem) else None)
                continue
            except OSError as exc:  # unreadable right now (permissions, a vanished file): try again later
                log.warning("%s: cannot read %s: %s", self.name, path, exc)
                continue
            fresh.append(self._plan_archive(path, xrd, obs, taken))
        # save each observation, journal the batch, and only then take the files out of the inbox
        for path, _, _, obs in fresh:
            atomic_write(self.results_archive / f"{path.name}.observation.json", obs.model_dump_json())
            out.append((path.name, obs))
        if out:
            self._batch += 1
            self.journal.append({"event": "delivered", "batch": self._batch, "files": [f for f, _ in out], "at": now})
            self._unacked = self._batch
        for path, dest, moves, obs in fresh:
            try:
                for src, dst in moves:
                    if src.exists():
                        os.replace(src, dst)
                os.replace(path, dest)
            except OSError as exc:  # the observation is saved and journaled; only the move is left undone
                log.error("%s: cannot archive %s: %s", self.name, path, exc)
            log.info("%s: result for %s read from %s", self.name, obs.request_id, path.name)
        return [o for _, o in out]

    def _close(self) -> None:
        pass

    # -- results ------------------------------------------------------------------------
    @staticmethod
    def _mtime(path: Path) -> float:
        try:
            return path.lstat().st_mtime
        except OSError:
            return 0.0

    def _request(self, request_id: str) -> dict[str, Any] | None:
        name = safe_name(request_id) + ".json"
        for folder in (self.requests_archive, self.outbox):
            p = folder / name
            if p.exists():
                try:
                    doc = json.loads(p.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    continue
                if isinstance(doc, dict) and doc.get("request_id") == request_id:
                    return doc
        return None

    def _read_result(self, path: Path, now: float) -> tuple[Observation, Path | None]:
        if path.is_symlink():
            raise InputDataError("is a symbolic link; write result files themselves into the inbox")
        size = path.stat().st_size
        if size > self.cfg.max_file_bytes:
            raise InputDataError(f"{size} bytes is over the limit of {self.cfg.max_file_bytes}")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputDataError(f"not UTF-8 text (byte {exc.start})") from None
        res = parse_result(
            text,
            properties=list(self.cfg.properties),
            allow_negative=set(self.cfg.allow_negative),
            strict_properties=self.cfg.strict_properties,
        )
        doc = self._request(res.request_id)
        if doc is None:
            raise InputDataError(f"unknown request id {res.request_id!r}: no such request was written to {self.outbox}")
        if res.candidate_id is not None and res.candidate_id != doc["candidate_id"]:
            raise InputDataError(
                f"candidate_id {res.candidate_id!r} does not match request {res.request_id}'s candidate {doc['candidate_id']!r}"
            )
        if res.phase_analysis is not None and self.cfg.known_phases is not None:
            allowed = {*self.cfg.known_phases, doc.get("formula")}
            for ph in res.phase_analysis.phases:
                if ph.name not in allowed and ph.formula not in allowed:
                    raise InputDataError(f"phase_analysis names an unknown phase {ph.name!r}; known: {sorted(a for a in allowed if a)}")
        xrd: Path | None = None
        if res.xrd_file is not None:
            xrd = self._check_xrd(res.xrd_file, path, now)
        values = dict(res.values)
        pa = res.phase_analysis
        if "yield" not in values and pa is not None and pa.target_fraction is not None:
            values["yield"] = Measurement(value=pa.target_fraction)
        obs = Observation(
            request_id=res.request_id,
            candidate_id=doc["candidate_id"],
            success=res.success,
            failure_reason=res.failure_reason if res.failure_reason or res.success else "the lab reported a failure",
            values=values,
            phase_analysis=pa,
            lab=self.context.name,
            started_at=res.started_at,
            finished_at=res.finished_at if res.finished_at is not None else self._mtime(path),
        )
        return obs, xrd

    def _check_xrd(self, relative: str, result: Path, now: float) -> Path:
        try:
            xrd = inside(self.inbox, relative)
        except InputDataError as exc:
            raise InputDataError(f"xrd_file: {exc}") from None
        if not xrd.exists():
            if now - self._mtime(result) < self.cfg.missing_xrd_grace_s:
                raise _NotYet
            raise _XRDProblem(f"xrd_file {relative!r} does not exist in {self.inbox}", None)
        if xrd.suffix.lower() not in XRD_SUFFIXES:
            raise _XRDProblem(f"xrd_file {relative!r}: unsupported type; use one of {list(XRD_SUFFIXES)}", xrd)
        if not xrd.is_file() or xrd.stat().st_size > self.cfg.max_file_bytes:
            raise _XRDProblem(f"xrd_file {relative!r} is not a regular file under {self.cfg.max_file_bytes} bytes", xrd)
        from lab_adapters.xrd.readers import read_pattern

        try:
            read_pattern(xrd)
        except InputDataError as exc:
            raise _XRDProblem(f"xrd_file {relative!r}: {exc}", xrd) from None
        return xrd

    def _plan_archive(
        self, path: Path, xrd: Path | None, obs: Observation, taken: set[Path]
    ) -> tuple[Path, Path, list[tuple[Path, Path]], Observation]:
        """Where a result (and its XRD file) will go in the archive; the observation names those paths."""

        def free(name: str) -> Path:
            stem, suffix = os.path.splitext(name)
            dest, n = self.results_archive / name, 0
            while dest.exists() or dest in taken:
                n += 1
                dest = self.results_archive / f"{stem}.{n}{suffix}"
            taken.add(dest)
            return dest

        moves: list[tuple[Path, Path]] = []
        update: dict[str, Any] = {}
        if xrd is not None:
            new_xrd = free(xrd.name)
            moves.append((xrd, new_xrd))
            update["xrd_pattern"] = str(new_xrd)
        dest = free(path.name)
        update["raw_files"] = [str(dest), *(str(d) for _, d in moves)]
        return path, dest, moves, obs.model_copy(update=update)

    def _quarantine(self, path: Path, reason: str, xrd: Path | None) -> None:
        dest = unique_path(self.quarantine_dir, path.name)
        try:  # the reason first: a crash never leaves a quarantined file without one
            atomic_write(self.quarantine_dir / f"{dest.name}.reason.txt", f"{path.name}: {reason}\n")
            move_unique(path, self.quarantine_dir, dest)
            if xrd is not None and xrd.exists() and xrd.resolve().is_relative_to(self.inbox.resolve()):
                move_unique(xrd, self.quarantine_dir)
        except OSError as exc:
            log.error("%s: cannot quarantine %s (%s): %s", self.name, path, reason, exc)
            return
        self.journal.append({"event": "quarantined", "file": dest.name, "reason": reason, "at": time.time()})
        self.quarantined.append((dest, reason))
        log.warning("%s: quarantined %s: %s", self.name, path.name, reason)


class _NotYet(Exception):
    """A referenced file has not arrived yet: look again at the next poll."""


class _XRDProblem(InputDataError):
    def __init__(self, message: str, xrd_path: Path | None) -> None:
        super().__init__(message)
        self.xrd_path = xrd_path
