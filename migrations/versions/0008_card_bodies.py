"""Cards keep no text (issue 14, finding 1): the answers kept to re-render a card go.

A card's text is written once at submission and never again; a status change edits its buttons
(bot/services/cards.py). The encrypted bodies are erased before the column is dropped (on SQLite,
secure_delete zeroes the freed pages: storage/db.py), and so are the payloads of alerts already
sent, which the worker used to keep until the sweeper's next pass.

Revision ID: 0008_card_bodies
Revises: 0007_security
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_card_bodies"
down_revision: str | None = "0007_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete=ON")
    op.execute("UPDATE alert_cards SET body_enc = NULL")
    op.execute("UPDATE outbox SET payload_enc = NULL WHERE state = 'sent'")
    with op.batch_alter_table("alert_cards") as batch:
        batch.drop_column("body_enc")
        batch.drop_column("key_id")


def downgrade() -> None:
    # The bodies are gone for good: a downgraded bot shows the erased-answers note instead.
    with op.batch_alter_table("alert_cards") as batch:
        batch.add_column(sa.Column("body_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(
            sa.Column("key_id", sa.String(length=16), nullable=False, server_default="")
        )
