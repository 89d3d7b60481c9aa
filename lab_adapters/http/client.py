"""The ``http`` lab: a campaign talks to a lab server (``crystaloop lab serve``) over HTTP.

    lab:
      kind: http
      options: {url: "http://127.0.0.1:8765", token_env: CRYSTALOOP_LAB_TOKEN, timeout_s: 10}

The token is read from the environment variable ``token_env`` (never from the config,
never logged). Every call is retried on connection errors, timeouts and 429/5xx answers,
with exponential backoff ``backoff_s * 2**attempt`` (capped at ``max_backoff_s``, or the
server's ``Retry-After``); when the retries are spent a timeout raises
:class:`~loop.errors.LabTimeoutError` and the rest ``LabError(transient=True)``. A wrong
token (401/403), an oversize payload (413) or a rejected request (409/422) raise a
non-transient :class:`~loop.errors.LabError` at once.

Results are read from the server's numbered log with a cursor. The cursor a poll starts
from is stored in the stage folder when the *next* poll begins (the campaign polls again
only after recording what it got), so a client that crashed re-reads the last batch
rather than losing it; the ledger ignores the copies.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
from pydantic import Field, ValidationError

from lab_adapters.http.api import API_PREFIX, CancelAnswer, KnownAnswer, ResultsAnswer, SubmitAnswer
from loop.errors import LabError, LabTimeoutError
from loop.files import atomic_write
from loop.interfaces import LabAdapter, PluginConfig
from loop.records import ExperimentRequest, LabCapabilities, Observation, Receipt

__all__ = ["HttpLab", "HttpLabConfig"]

log = logging.getLogger(__name__)

_RETRY_STATUS = {429, 500, 502, 503, 504}


class HttpLabConfig(PluginConfig):
    url: str = Field(pattern=r"^https?://[^\s/]+", description="Base URL of the lab server, e.g. http://127.0.0.1:8765.")
    token_env: str = Field(default="CRYSTALOOP_LAB_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Environment variable holding the token.")
    timeout_s: float = Field(default=10.0, gt=0, description="Seconds to wait for an answer.")
    connect_timeout_s: float = Field(default=5.0, gt=0, description="Seconds to wait for a connection.")
    retries: int = Field(default=4, ge=0, description="Retries of a failed call.")
    backoff_s: float = Field(default=0.5, ge=0, description="First retry delay; doubles each retry.")
    max_backoff_s: float = Field(default=30.0, ge=0)
    page_size: int = Field(default=500, ge=1, le=5000, description="Results fetched per call.")
    verify_tls: bool = True


class HttpLab(LabAdapter):
    """A lab reached through the crystaloop lab HTTP API."""

    Config = HttpLabConfig
    name = "http"
    simulated: ClassVar[bool] = False
    submit_retries = 0  # this adapter retries every call itself

    def __init__(self, config: HttpLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.cfg: HttpLabConfig = self.config  # type: ignore[assignment]
        token = os.environ.get(self.cfg.token_env, "")
        if not token:
            raise LabError(f"http lab: environment variable {self.cfg.token_env} (lab.options.token_env) holding the token is not set")
        self._client = httpx.Client(
            base_url=self.cfg.url.rstrip("/") + API_PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(self.cfg.timeout_s, connect=self.cfg.connect_timeout_s),
            verify=self.cfg.verify_tls,
        )
        self._cursor_file = self.context.work_dir / "http-cursor.json"
        saved = json.loads(self._cursor_file.read_text()) if self._cursor_file.exists() else {}
        self._epoch: str | None = saved.get("epoch")
        self._cursor: int = int(saved.get("after", 0))
        self._unacked: tuple[str | None, int] | None = None

    def __repr__(self) -> str:
        return f"HttpLab(url={self.cfg.url!r}, token_env={self.cfg.token_env!r})"

    # -- transport ----------------------------------------------------------------------
    def _call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One API call with retries; the JSON answer, or a :class:`LabError` saying what failed."""
        where = f"{method} {self.cfg.url.rstrip('/')}{API_PREFIX}{path}"
        last: str = ""
        timed_out = False
        for attempt in range(self.cfg.retries + 1):
            delay = min(self.cfg.backoff_s * 2**attempt, self.cfg.max_backoff_s)
            try:
                resp = self._client.request(method, path, json=body, params=params)
            except httpx.TimeoutException as exc:
                timed_out, last = True, f"no answer within {self.cfg.timeout_s:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                timed_out, last = False, f"cannot reach the lab server ({type(exc).__name__}: {exc})"
            else:
                if resp.status_code < 400:
                    try:
                        return resp.json()
                    except ValueError:
                        raise LabError(f"{where}: the server's answer is not JSON") from None
                detail = _detail(resp)
                if resp.status_code in (401, 403):
                    raise LabError(f"{where}: token refused ({resp.status_code}); check ${self.cfg.token_env}")
                if resp.status_code == 413:
                    raise LabError(f"{where}: payload too large for the server ({detail})")
                if resp.status_code not in _RETRY_STATUS:
                    raise LabError(f"{where}: {resp.status_code} {detail}")
                timed_out, last = False, f"server answered {resp.status_code} {detail}"
                retry_after = resp.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = min(float(retry_after), self.cfg.max_backoff_s)
            if attempt < self.cfg.retries:
                self.stats["retries"] += 1
                log.warning("%s: %s; retry %d/%d in %.2f s", where, last, attempt + 1, self.cfg.retries, delay)
                time.sleep(delay)
        message = f"{where}: {last} (after {self.cfg.retries + 1} attempt(s))"
        if timed_out:
            raise LabTimeoutError(message)
        raise LabError(message, transient=True)

    def _parse(self, model: type, data: Any, what: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise LabError(f"{self.cfg.url}: malformed {what} answer: {exc.errors()[0]['msg']}") from None

    # -- contract -----------------------------------------------------------------------
    def _capabilities(self) -> LabCapabilities:
        caps = self._parse(LabCapabilities, self._call("GET", "/capabilities"), "capabilities")
        return caps.model_copy(update={"clock": "wall"})  # seen from here, the lab runs on wall time

    def _submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        body = {"requests": [r.model_dump(mode="json") for r in requests]}
        return self._parse(SubmitAnswer, self._call("POST", "/submit", body=body), "submit").receipts

    def _known(self, request_ids: Sequence[str]) -> set[str]:
        if not request_ids:
            return set()
        ans = self._parse(KnownAnswer, self._call("POST", "/known", body={"request_ids": list(request_ids)}), "known")
        return set(ans.known) & set(request_ids)

    def _cancel(self, request_id: str) -> bool:
        return self._parse(CancelAnswer, self._call("POST", "/cancel", body={"request_id": request_id}), "cancel").cancelled

    def _poll(self) -> list[Observation]:
        if self._unacked is not None:  # the campaign recorded the previous batch before polling again
            self._store(*self._unacked)
            self._unacked = None
        out: list[Observation] = []
        cursor = self._cursor
        for _ in range(10_000):
            ans = self._parse(ResultsAnswer, self._call("GET", "/results", params={"after": cursor, "limit": self.cfg.page_size}), "results")
            if self._epoch is not None and ans.epoch != self._epoch and cursor:
                log.warning("%s: the server's result log was started afresh; reading it from the start", self.cfg.url)
                self._epoch, cursor, out = ans.epoch, 0, []
                continue
            self._epoch = ans.epoch
            out.extend(ans.results)
            cursor = ans.cursor
            if not ans.more:
                break
        if cursor != self._cursor:
            self._cursor = cursor
            self._unacked = (self._epoch, cursor)
        return out

    def _store(self, epoch: str | None, after: int) -> None:
        atomic_write(self._cursor_file, json.dumps({"epoch": epoch, "after": after}))

    def _close(self) -> None:
        self._client.close()


def _detail(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(data, dict) and "detail" in data:
        d = data["detail"]
        if isinstance(d, list) and d and isinstance(d[0], dict):  # FastAPI validation errors
            return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in d[:5])
        return str(d)
    return str(data)[:200]
