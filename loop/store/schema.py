"""Ledger tables (SQLAlchemy Core). The alembic migrations in ``migrations/`` create them.

Every record is stored whole as JSON (``data``) beside the columns that queries need, so
the ledger can always hand back exactly the record that was written.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint

__all__ = [
    "SCHEMA_REVISION",
    "candidates",
    "events",
    "generator_states",
    "meta",
    "metadata",
    "observations",
    "request_events",
    "requests",
    "rounds",
    "screen_decisions",
    "selections",
]

SCHEMA_REVISION = "0001"

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

candidates = Table(
    "candidates",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("formula", String(128)),
    Column("origin_generator", String(64)),
    Column("origin_round", Integer),
    Column("duplicate_of", String(64)),
    Column("data", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

rounds = Table(
    "rounds",
    metadata,
    Column("index", Integer, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("data", Text, nullable=False),
)

screen_decisions = Table(
    "screen_decisions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("round", Integer, nullable=False, index=True),
    Column("candidate_id", String(64), nullable=False, index=True),
    Column("kept", Boolean, nullable=False),
    Column("reason", Text),
    Column("data", Text, nullable=False),
    UniqueConstraint("round", "candidate_id", name="uq_screen_round_candidate"),
)

selections = Table(
    "selections",
    metadata,
    Column("round", Integer, primary_key=True),
    Column("candidate_id", String(64), primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("score", Float),
    Column("data", Text, nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("candidate_id", String(64), nullable=False, index=True),
    Column("round", Integer, nullable=False),
    Column("lab", String(64), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("status_reason", Text),
    Column("resubmission_of", String(128)),
    Column("recipe", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("submitted_at", Float),
    Column("updated_at", Float),
)

request_events = Table(
    "request_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(128), ForeignKey("requests.request_id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("at", Float, nullable=False),
)

observations = Table(
    "observations",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(128), ForeignKey("requests.request_id"), nullable=False, unique=True),
    Column("candidate_id", String(64), nullable=False, index=True),
    Column("success", Boolean, nullable=False),
    Column("data", Text, nullable=False),
    Column("received_at", Float, nullable=False),
)

generator_states = Table(
    "generator_states",
    metadata,
    Column("round", Integer, primary_key=True, autoincrement=False),
    Column("data", Text, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False, index=True),
    Column("data", Text, nullable=False),
)
