"""The Messenger inbox: webhook events stored until they are processed (storage/models.py).

Rows are claimed with a lease, like the outbox's: on PostgreSQL `FOR UPDATE SKIP LOCKED` lets
several replicas claim at once without taking the same row, and a claim left by a crashed
process is taken over when its lease has run out. Only the oldest waiting event of each person
is ever claimable, so one person's events are applied in the order they arrived.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import MessengerInboxEvent
from storage.sealing import Keyring


@dataclass(frozen=True)
class ClaimedEvent:
    id: int
    event_key: str
    event: dict[str, Any]
    attempts: int


class MessengerInbox:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def store(
        self, *, event_key: str, sender: str, event: dict[str, Any], now: dt.datetime
    ) -> bool:
        """Keep an event; False when the same event is already waiting (a repeated delivery)."""
        dialect = self.session.get_bind().dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        stmt = (
            module.insert(MessengerInboxEvent)
            .values(
                event_key=event_key,
                sender=sender,
                event_enc=self.keyring.encrypt_json(event),
                key_id=self.keyring.server_key_id,
                attempts=0,
                next_attempt_at=now,
                received_at=now,
            )
            .on_conflict_do_nothing()
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta
    ) -> list[ClaimedEvent]:
        """Claim the oldest due event of up to `limit` people (never two of one person)."""
        row = MessengerInboxEvent
        earlier = aliased(MessengerInboxEvent)
        query = (
            select(row)
            .where(
                row.next_attempt_at <= now,
                or_(row.claimed_until.is_(None), row.claimed_until < now),
                ~exists().where(earlier.sender == row.sender, earlier.id < row.id),
            )
            .order_by(row.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=row)
        )
        rows = (await self.session.execute(query)).scalars().all()
        claimed = []
        for found in rows:
            found.claimed_until = now + lease
            claimed.append(
                ClaimedEvent(
                    found.id,
                    found.event_key,
                    self.keyring.decrypt_json(found.event_enc),
                    found.attempts,
                )
            )
        return claimed

    async def remove(self, row_id: int) -> None:
        """Processed (or given up): the person's words are no longer kept."""
        await self.session.execute(
            delete(MessengerInboxEvent).where(MessengerInboxEvent.id == row_id)
        )

    async def retry_later(self, row_id: int, *, at: dt.datetime, count_attempt: bool) -> None:
        values: dict[str, Any] = {"next_attempt_at": at, "claimed_until": None}
        if count_attempt:
            values["attempts"] = MessengerInboxEvent.attempts + 1
        await self.session.execute(
            update(MessengerInboxEvent).where(MessengerInboxEvent.id == row_id).values(**values)
        )

    async def due(self, now: dt.datetime) -> int:
        """How many events wait to be processed now (claimed ones included)."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(MessengerInboxEvent)
            .where(MessengerInboxEvent.next_attempt_at <= now)
        )
        return int(count or 0)
