"""Security review (issue 14): flood marks that outlive an erasure.

Revision ID: 0007_security
Revises: 0005_messenger_inbox
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_security"
down_revision: str | None = "0006_chat_migration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flood_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flood_marks")),
    )
    op.create_index(
        "ix_flood_marks_account_created_at", "flood_marks", ["account", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_flood_marks_created_at"), "flood_marks", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_flood_marks_created_at"), table_name="flood_marks")
    op.drop_index("ix_flood_marks_account_created_at", table_name="flood_marks")
    op.drop_table("flood_marks")
