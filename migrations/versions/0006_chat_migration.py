"""Group chats as Telegram knows them now: a group upgraded to a supergroup gets a new id.

Revision ID: 0006_chat_migration
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_chat_migration"
down_revision: str | None = "0005_messenger_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "group_chats",
        sa.Column("configured_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refusal", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("configured_id", name=op.f("pk_group_chats")),
    )


def downgrade() -> None:
    op.drop_table("group_chats")
