"""callback_requests: missed-call and menu callbacks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.Integer(), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("preferred_time", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("answered_call_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["callers.id"], name=op.f("fk_callback_requests_caller_id_callers")
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_callback_requests_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["answered_call_id"],
            ["calls.id"],
            name=op.f("fk_callback_requests_answered_call_id_calls"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_requests")),
    )
    op.create_index(
        "ix_callback_requests_caller_id", "callback_requests", ["caller_id"], unique=False
    )
    op.create_index(
        "ix_callback_requests_due", "callback_requests", ["state", "due_at"], unique=False
    )
    op.create_index(
        "ix_callback_requests_phone",
        "callback_requests",
        ["phone_hash", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_callback_requests_phone", table_name="callback_requests")
    op.drop_index("ix_callback_requests_due", table_name="callback_requests")
    op.drop_index("ix_callback_requests_caller_id", table_name="callback_requests")
    op.drop_table("callback_requests")
