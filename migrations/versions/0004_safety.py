"""Reporter safety: consent, flood window, intake flags, tracked messages, attachments, check-ins.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reporters") as batch:
        batch.add_column(sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("rate_window_start", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("rate_window_count", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("intake_flags", sa.String(length=64), nullable=True))
    op.create_table(
        "tracked_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["reporters.id"],
            name=op.f("fk_tracked_messages_reporter_id_reporters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_messages")),
    )
    op.create_index(op.f("ix_tracked_messages_at"), "tracked_messages", ["at"], unique=False)
    op.create_index(
        "ix_tracked_messages_reporter_id_at",
        "tracked_messages",
        ["reporter_id", "at"],
        unique=False,
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("data_enc", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["reporters.id"],
            name=op.f("fk_attachments_reporter_id_reporters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(op.f("ix_attachments_created_at"), "attachments", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_attachments_reporter_id"), "attachments", ["reporter_id"], unique=False
    )
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_checkins_report_id_reports")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["reporters.id"],
            name=op.f("fk_checkins_reporter_id_reporters"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
    )
    op.create_index(op.f("ix_checkins_report_id"), "checkins", ["report_id"], unique=False)
    op.create_index(op.f("ix_checkins_reporter_id"), "checkins", ["reporter_id"], unique=False)
    op.create_index("ix_checkins_state_due_at", "checkins", ["state", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_checkins_state_due_at", table_name="checkins")
    op.drop_index(op.f("ix_checkins_reporter_id"), table_name="checkins")
    op.drop_index(op.f("ix_checkins_report_id"), table_name="checkins")
    op.drop_table("checkins")
    op.drop_index(op.f("ix_attachments_reporter_id"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_created_at"), table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_tracked_messages_reporter_id_at", table_name="tracked_messages")
    op.drop_index(op.f("ix_tracked_messages_at"), table_name="tracked_messages")
    op.drop_table("tracked_messages")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("intake_flags")
    with op.batch_alter_table("reporters") as batch:
        batch.drop_column("rate_window_count")
        batch.drop_column("rate_window_start")
        batch.drop_column("consented_at")
