"""Messenger inbox: webhook events stored before they are answered, until processed.

Revision ID: 0005_messenger_inbox
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_messenger_inbox"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "messenger_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("event_enc", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_inbox")),
        sa.UniqueConstraint("event_key", name=op.f("uq_messenger_inbox_event_key")),
    )
    op.create_index(
        op.f("ix_messenger_inbox_next_attempt_at"),
        "messenger_inbox",
        ["next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_messenger_inbox_sender_id", "messenger_inbox", ["sender", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_messenger_inbox_sender_id", table_name="messenger_inbox")
    op.drop_index(op.f("ix_messenger_inbox_next_attempt_at"), table_name="messenger_inbox")
    op.drop_table("messenger_inbox")
