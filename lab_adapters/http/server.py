"""A FastAPI server that exposes any registered lab adapter over HTTP (API in :mod:`.api`).

    >>> lab = build_lab({"kind": "table", "options": {...}}, Path("lab-server"))   # doctest: +SKIP
    >>> serve(create_app(LabService(lab, Path("lab-server")), token="..."), port=8765)  # doctest: +SKIP

Security: every route but ``/v1/health`` needs ``Authorization: Bearer <token>``, compared
in constant time (:func:`hmac.compare_digest`); the server binds to 127.0.0.1 unless told
otherwise; request bodies over ``max_body_bytes`` are refused with 413 before they are
parsed; the token is never logged. The OpenAPI document is served at ``/openapi.json``.

A simulated lab behind the server runs on a :class:`~loop.clock.SimulatedClock` that the
server advances from wall time: ``t = t0 + time_scale * (wall - wall0)``, so a lab with a
latency of one hour and ``time_scale=3600`` answers after one wall second. ``t0`` is kept
in the server folder, so a restarted server does not move its lab's clock back.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lab_adapters.http.api import (
    API_PREFIX,
    CancelAnswer,
    CancelBody,
    KnownAnswer,
    KnownBody,
    ResultsAnswer,
    SubmitAnswer,
    SubmitBody,
)
from lab_adapters.journal import LabJournal
from loop import registry
from loop.clock import SimulatedClock, WallClock
from loop.errors import CrystaloopError, LabError
from loop.files import atomic_write
from loop.interfaces import LabAdapter, PluginContext
from loop.records import LabCapabilities, Observation

__all__ = ["DEFAULT_MAX_BODY_BYTES", "LabService", "ServerThread", "build_lab", "create_app", "serve"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PAGE = 5000


def build_lab(spec: Mapping[str, Any], work_dir: Path, *, seed: int = 0, name: str = "lab") -> LabAdapter:
    """Create the adapter a ``{kind, options}`` spec names, with its state in ``work_dir/lab``."""
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if not isinstance(kind, str):
        raise CrystaloopError(f"lab spec needs a 'kind' (one of {registry.available('labs')}), got {spec!r:.80}")
    simulated = bool(getattr(registry.load("labs", kind), "simulated", False))
    context = PluginContext(
        work_dir=Path(work_dir) / "lab", seed=seed, clock=SimulatedClock() if simulated else WallClock(), name=name
    )
    context.work_dir.mkdir(parents=True, exist_ok=True)
    return registry.create("labs", spec, context, "lab")  # type: ignore[return-value]


class LabService:
    """One adapter made safe for concurrent HTTP calls: a lock, a persisted result log, a clock.

    ``results`` is an append-only log of every observation the adapter returned, numbered
    from 1 and kept in ``work_dir/results.jsonl``, so clients read it with a cursor.
    """

    def __init__(self, lab: LabAdapter, work_dir: Path, *, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.lab = lab
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.time_scale = float(time_scale)
        self._lock = threading.RLock()
        self._log = LabJournal(self.work_dir / "results.jsonl")
        self.results: list[Observation] = [Observation.model_validate(e["observation"]) for e in self._log]
        epoch_file = self.work_dir / "epoch"
        if not epoch_file.exists():
            atomic_write(epoch_file, uuid.uuid4().hex)
        self.epoch = epoch_file.read_text().strip()
        clock = lab.context.clock
        self.clock: SimulatedClock | None = clock if isinstance(clock, SimulatedClock) else None
        self._clock_file = self.work_dir / "clock.json"
        if self.clock is not None and self._clock_file.exists():
            self.clock.advance_to(max(self.clock.now(), float(json.loads(self._clock_file.read_text())["t"])))
        self._t0 = self.clock.now() if self.clock is not None else 0.0
        self._wall0 = time.monotonic()

    def tick(self) -> None:
        """Advance a simulated lab's clock to ``t0 + time_scale * wall seconds since start``."""
        if self.clock is None:
            return
        t = self._t0 + self.time_scale * (time.monotonic() - self._wall0)
        if t > self.clock.now():
            self.clock.advance_to(t)
            atomic_write(self._clock_file, json.dumps({"t": t}))

    def capabilities(self) -> LabCapabilities:
        with self._lock:
            return self.lab.capabilities()

    def submit(self, body: SubmitBody) -> SubmitAnswer:
        with self._lock:
            self.tick()
            return SubmitAnswer(receipts=self.lab.submit(body.requests))

    def read(self, after: int, limit: int) -> ResultsAnswer:
        with self._lock:
            self.tick()
            new = self.lab.poll()
            if new:
                self._log.append(*({"n": len(self.results) + i + 1, "observation": o.model_dump(mode="json")} for i, o in enumerate(new)))
                self.results.extend(new)
            after = min(max(after, 0), len(self.results))
            page = self.results[after : after + limit]
            return ResultsAnswer(
                results=page, cursor=after + len(page), more=after + len(page) < len(self.results), epoch=self.epoch
            )

    def known(self, body: KnownBody) -> KnownAnswer:
        with self._lock:
            return KnownAnswer(known=sorted(self.lab.known(body.request_ids)))

    def cancel(self, body: CancelBody) -> CancelAnswer:
        with self._lock:
            self.tick()
            return CancelAnswer(cancelled=self.lab.cancel(body.request_id))

    def close(self) -> None:
        with self._lock:
            self.lab.close()


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413 before the app reads them."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:  # read the whole body (chunked uploads have no length) up to the limit
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        payload = json.dumps({"detail": f"request body over the limit of {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


_BEARER = HTTPBearer(auto_error=False, description="The lab token: `Authorization: Bearer <token>`.")


class TokenCheck:
    """A FastAPI dependency: 401 unless the bearer token equals ``token`` (constant-time comparison)."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode("utf-8")

    def __repr__(self) -> str:
        return "TokenCheck(<hidden>)"

    def __call__(self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        given = credentials.credentials.encode("utf-8") if credentials is not None else b""
        if not hmac.compare_digest(given, self._expected):
            raise HTTPException(status_code=401, detail="missing or wrong token", headers={"WWW-Authenticate": "Bearer"})


def create_app(service: LabService, token: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app serving ``service``; ``token`` is required on every route but health."""
    if not token or len(token) < 8:
        raise CrystaloopError("the lab server needs a token of at least 8 characters")
    authorized = TokenCheck(token)

    app = FastAPI(
        title="crystaloop lab API",
        version="1",
        description=f"A `{service.lab.name}` lab exposed to crystaloop campaigns. See lab_adapters/http/api.py.",
    )
    app.state.service = service
    guard = [Depends(authorized)]

    @app.exception_handler(LabError)
    async def _lab_error(request: Request, exc: LabError) -> JSONResponse:
        status = 503 if exc.transient else 409
        return JSONResponse({"detail": str(exc), "transient": exc.transient}, status_code=status)

    @app.exception_handler(CrystaloopError)
    async def _input_error(request: Request, exc: CrystaloopError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid_payload(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the field and the problem; never echo the input (it may hold NaN/Infinity or secrets).
        problems = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "invalid"))} for err in exc.errors()
        ]
        return JSONResponse({"detail": problems or "invalid payload"}, status_code=422)

    @app.get(f"{API_PREFIX}/health", tags=["lab"])
    def health() -> dict[str, str]:
        """Liveness probe (no token needed, tells nothing about the lab)."""
        return {"status": "ok"}

    @app.get(f"{API_PREFIX}/capabilities", dependencies=guard, tags=["lab"])
    def capabilities() -> LabCapabilities:
        """What the lab measures and how many experiments it runs at once."""
        return service.capabilities()

    @app.post(f"{API_PREFIX}/submit", dependencies=guard, tags=["lab"])
    def submit(body: SubmitBody) -> SubmitAnswer:
        """Start experiments; idempotent on `request_id` (a repeat is answered `duplicate: true`)."""
        return service.submit(body)

    @app.get(f"{API_PREFIX}/results", dependencies=guard, tags=["lab"])
    def results(
        after: Annotated[int, Query(ge=0, description="The last result number the client has stored.")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 500,
    ) -> ResultsAnswer:
        """Results numbered after `after` (an append-only log: re-reading is always safe)."""
        return service.read(after, limit)

    @app.post(f"{API_PREFIX}/known", dependencies=guard, tags=["lab"])
    def known(body: KnownBody) -> KnownAnswer:
        """Which of these request ids the lab has already received."""
        return service.known(body)

    @app.post(f"{API_PREFIX}/cancel", dependencies=guard, tags=["lab"])
    def cancel(body: CancelBody) -> CancelAnswer:
        """Stop a request if still possible."""
        return service.cancel(body)

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config(app: FastAPI, host: str, port: int, log_level: str) -> Any:
    import uvicorn

    if not is_loopback(host):
        log.warning("lab server listening on %s, beyond this machine: use TLS (a reverse proxy) and a strong token", host)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="off")


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8765, log_level: str = "info") -> None:
    """Run the server in this thread until interrupted."""
    import uvicorn

    uvicorn.Server(_config(app, host, port, log_level)).run()


class ServerThread:
    """The server on a background thread (tests, notebooks): ``with ServerThread(app) as url: ...``."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        import socket

        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(_config(app, host, port, log_level))
        self.thread = threading.Thread(target=self.server.run, name=f"lab-server-{port}", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise LabError(f"the lab server did not start on {self.url}")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
