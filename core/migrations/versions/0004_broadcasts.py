"""broadcasts: content review and radio masters, programme settings, segment progress, airplays

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("radio_audio_path", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("loudness_lufs", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("true_peak_db", sa.Float(), nullable=True))

    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("intro_text", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("outro_text", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("jingle_path", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("topics", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(
            sa.Column("repeat_window_days", sa.Integer(), server_default="7", nullable=False)
        )
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )

    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("planned_content_ids", sa.JSON(), server_default="[]", nullable=False)
        )
        batch_op.add_column(sa.Column("progress", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("file_info", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("assembled_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "airplays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("aired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segments.id"], name=op.f("fk_airplays_segment_id_segments")
        ),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name=op.f("fk_airplays_station_id_stations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_airplays")),
        sa.UniqueConstraint("segment_id", "station_id", "aired_at", name="uq_airplays_report"),
    )
    op.create_index("ix_airplays_segment_id", "airplays", ["segment_id"], unique=False)
    op.create_index("ix_airplays_station", "airplays", ["station_id", "aired_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_airplays_station", table_name="airplays")
    op.drop_index("ix_airplays_segment_id", table_name="airplays")
    op.drop_table("airplays")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_column("assembled_at")
        batch_op.drop_column("file_info")
        batch_op.drop_column("progress")
        batch_op.drop_column("planned_content_ids")
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.drop_column("is_active")
        batch_op.drop_column("repeat_window_days")
        batch_op.drop_column("topics")
        batch_op.drop_column("jingle_path")
        batch_op.drop_column("outro_text")
        batch_op.drop_column("intro_text")
        batch_op.drop_column("description")
    with op.batch_alter_table("content_items", schema=None) as batch_op:
        batch_op.drop_column("true_peak_db")
        batch_op.drop_column("loudness_lufs")
        batch_op.drop_column("duration_s")
        batch_op.drop_column("radio_audio_path")
        batch_op.drop_column("review_comment")
        batch_op.drop_column("submitted_at")
