"""Initial ledger schema.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text, nullable=False))
    op.create_table(
        "candidates",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("formula", sa.String(128)),
        sa.Column("origin_generator", sa.String(64)),
        sa.Column("origin_round", sa.Integer),
        sa.Column("duplicate_of", sa.String(64)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "rounds",
        sa.Column("index", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "screen_decisions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round", sa.Integer, nullable=False, index=True),
        sa.Column("candidate_id", sa.String(64), nullable=False, index=True),
        sa.Column("kept", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("data", sa.Text, nullable=False),
        sa.UniqueConstraint("round", "candidate_id", name="uq_screen_round_candidate"),
    )
    op.create_table(
        "selections",
        sa.Column("round", sa.Integer, primary_key=True),
        sa.Column("candidate_id", sa.String(64), primary_key=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "requests",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False, unique=True),
        sa.Column("candidate_id", sa.String(64), nullable=False, index=True),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("lab", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("status_reason", sa.Text),
        sa.Column("resubmission_of", sa.String(128)),
        sa.Column("recipe", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("submitted_at", sa.Float),
        sa.Column("updated_at", sa.Float),
    )
    op.create_table(
        "request_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), sa.ForeignKey("requests.request_id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), sa.ForeignKey("requests.request_id"), nullable=False, unique=True),
        sa.Column("candidate_id", sa.String(64), nullable=False, index=True),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_table(
        "generator_states",
        sa.Column("round", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("data", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "events",
        "generator_states",
        "observations",
        "request_events",
        "requests",
        "selections",
        "screen_decisions",
        "rounds",
        "candidates",
        "meta",
    ):
        op.drop_table(name)
