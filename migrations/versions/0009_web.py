"""The web form (issue 17): mailboxes for anonymous reporters and the messages sealed to them.

Revision ID: 0009_web
Revises: 0008_card_bodies
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_web"
down_revision: str | None = "0008_card_bodies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("answer_token", sa.String(length=64), nullable=True),
        sa.Column("answer_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_web_mailboxes_report_id_reports")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["reporters.id"],
            name=op.f("fk_web_mailboxes_reporter_id_reporters"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_mailboxes")),
        sa.UniqueConstraint("report_id", name=op.f("uq_web_mailboxes_report_id")),
    )
    op.create_index(
        op.f("ix_web_mailboxes_reporter_id"), "web_mailboxes", ["reporter_id"], unique=False
    )
    op.create_table(
        "web_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("delivery_key", sa.String(length=96), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["web_mailboxes.id"],
            name=op.f("fk_web_messages_mailbox_id_web_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_messages")),
        sa.UniqueConstraint("delivery_key", name=op.f("uq_web_messages_delivery_key")),
    )
    op.create_index(
        op.f("ix_web_messages_mailbox_id"), "web_messages", ["mailbox_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_web_messages_mailbox_id"), table_name="web_messages")
    op.drop_table("web_messages")
    op.drop_index(op.f("ix_web_mailboxes_reporter_id"), table_name="web_mailboxes")
    op.drop_table("web_mailboxes")
