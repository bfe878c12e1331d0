"""web: sessions, API tokens, language preference, callback handling, retention marks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_api_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"], unique=False)
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="")
        )
    with op.batch_alter_table("callback_requests") as batch:
        batch.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("handled_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("handled_outcome", sa.String(length=16), nullable=True))
        batch.create_foreign_key(
            op.f("fk_callback_requests_handled_by_id_users"), "users", ["handled_by_id"], ["id"]
        )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    # The inbox index also carries the village and the id, so the inbox's sort, district
    # scope included, reads no table rows.
    op.drop_index("ix_cases_inbox", table_name="cases")
    op.create_index(
        "ix_cases_inbox", "cases", ["status", "urgency_rank", "created_at", "village_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_cases_inbox", table_name="cases")
    op.create_index("ix_cases_inbox", "cases", ["status", "urgency_rank", "created_at"])
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("purged_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("purged_at")
    with op.batch_alter_table("callback_requests") as batch:
        batch.drop_constraint(op.f("fk_callback_requests_handled_by_id_users"), type_="foreignkey")
        batch.drop_column("handled_outcome")
        batch.drop_column("handled_by_id")
        batch.drop_column("handled_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
