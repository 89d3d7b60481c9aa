"""The wire format of the lab HTTP API (version 1), shared by the server and the client.

All routes but ``/v1/health`` require ``Authorization: Bearer <token>``.

======  ====================  ===========================  ==============================
method  path                  body                         answer
======  ====================  ===========================  ==============================
GET     /v1/health            -                            ``{"status": "ok"}``
GET     /v1/capabilities      -                            :class:`LabCapabilities`
POST    /v1/submit            :class:`SubmitBody`          :class:`SubmitAnswer`
GET     /v1/results?after=N   -                            :class:`ResultsAnswer`
POST    /v1/known             :class:`KnownBody`           :class:`KnownAnswer`
POST    /v1/cancel            :class:`CancelBody`          :class:`CancelAnswer`
======  ====================  ===========================  ==============================

Results form an append-only log numbered from 1; ``after`` is the last number a client
has safely stored, so a client that crashed re-reads from where it was.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loop.records import ExperimentRequest, Observation, Receipt

__all__ = [
    "API_PREFIX",
    "CancelAnswer",
    "CancelBody",
    "KnownAnswer",
    "KnownBody",
    "ResultsAnswer",
    "SubmitAnswer",
    "SubmitBody",
]

API_PREFIX = "/v1"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class SubmitBody(_Body):
    requests: list[ExperimentRequest] = Field(max_length=10_000)


class SubmitAnswer(_Body):
    receipts: list[Receipt]


class ResultsAnswer(_Body):
    results: list[Observation]
    cursor: int = Field(description="Number of the last result in this answer (pass it as `after` next time).")
    more: bool = Field(default=False, description="More results are waiting beyond `limit`.")
    epoch: str = Field(description="Identifies the server's result log; a new value means the log was started afresh.")


class KnownBody(_Body):
    request_ids: list[str] = Field(max_length=100_000)


class KnownAnswer(_Body):
    known: list[str]


class CancelBody(_Body):
    request_id: str


class CancelAnswer(_Body):
    cancelled: bool
