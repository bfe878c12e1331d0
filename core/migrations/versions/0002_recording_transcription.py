"""recordings: language and transcription status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), server_default="id", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "transcription", sa.String(length=32), server_default="pending", nullable=False
            )
        )
        batch_op.add_column(sa.Column("transcription_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("transcription_error")
        batch_op.drop_column("transcription")
        batch_op.drop_column("language")
