"""Moderation: card bodies, outbox priority and announcements, open questions, actor names.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_alert_cards_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_cards")),
        sa.UniqueConstraint("report_id", name=op.f("uq_alert_cards_report_id")),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(
            "ix_outbox_target_sent_message_id", ["target", "sent_message_id"], unique=False
        )
    with op.batch_alter_table("moderation_events") as batch:
        batch.add_column(sa.Column("actor_name", sa.String(length=64), nullable=True))
    with op.batch_alter_table("reporters") as batch:
        batch.add_column(sa.Column("answering_report_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("answering_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch.create_foreign_key(
            "fk_reporters_answering_report_id_reports",
            "reports",
            ["answering_report_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("reporters") as batch:
        batch.drop_constraint("fk_reporters_answering_report_id_reports", type_="foreignkey")
        batch.drop_column("answering_until")
        batch.drop_column("answering_report_id")
    with op.batch_alter_table("moderation_events") as batch:
        batch.drop_column("actor_name")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_target_sent_message_id")
        batch.drop_column("announced_at")
        batch.drop_column("priority")
    op.drop_table("alert_cards")
