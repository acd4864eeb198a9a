"""Alert cards: build the card for a report, and keep it current as moderators act.

The card is sent through the outbox. A change before it was sent rewrites the queued card; a change
after it was sent queues an edit, and the worker drops an edit that a later one supersedes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import ServiceContext
from handlers.telegram.cards import (
    CardEvent,
    CardView,
    DuplicateHint,
    card_keyboard,
    digest_line,
    render_card,
)
from storage.models import OutboxPriority, OutboxState, Report
from storage.repositories import AlertCards, ModerationEvents, OutboxRepository, Reports

# How far back a duplicate hint looks.
HINT_WINDOW = dt.timedelta(days=90)
# Actions that say who holds the report.
ASSIGNING = frozenset({"take"})


class CardService:
    def __init__(self, session: AsyncSession, context: ServiceContext) -> None:
        self.context = context
        self.reports = Reports(session, context.keyring)
        self.cards = AlertCards(session, context.keyring)
        self.events = ModerationEvents(session)
        self.outbox = OutboxRepository(session, context.keyring)

    async def view(self, report: Report) -> CardView:
        now = self.context.now()
        hints: list[DuplicateHint] = []
        if report.subject_index:
            similar = await self.reports.similar(
                report.subject_index, exclude=report.id, since=now - HINT_WINDOW
            )
            hints = [DuplicateHint(r.id, r.public_code, r.created_at) for r in similar]
        events = [
            event
            for event in await self.events.of_report(report.id)
            if not event.action.startswith("refused")
        ]
        assignee = next((e.actor_name for e in reversed(events) if e.action in ASSIGNING), None)
        duplicate_of = None
        if report.duplicate_of_id is not None:
            duplicate_of = (await self.reports.codes([report.duplicate_of_id])).get(
                report.duplicate_of_id
            )
        return CardView(
            report_id=report.id,
            code=report.public_code,
            incident_type=report.incident_type,
            region=report.region,
            incident_date=report.incident_date,
            urgent=report.urgent,
            status=report.status,
            channel=report.channel,
            language=report.language,
            received_at=report.created_at,
            assignee=assignee if report.assigned_to is not None else None,
            duplicate_of=duplicate_of,
            hints=hints,
            events=tuple(CardEvent(e.action, e.actor_name, e.at) for e in events),
            flags=tuple(flag for flag in (report.intake_flags or "").split(",") if flag),
        )

    async def card_message(
        self, report: Report, body: str, *, confirming: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """The card message, and its one-line summary for burst digests."""
        t = self.context.moderators_t
        view = await self.view(report)
        keyboard = card_keyboard(view, t, confirming=confirming)
        message = {
            "type": "text",
            "html": render_card(view, body, t, now=self.context.now()),
            "reply_markup": keyboard.model_dump(exclude_none=True),
        }
        return message, digest_line(view, t)

    async def queue_new_card(
        self, report: Report, body_chunks: list[str], extra: list[dict[str, Any]]
    ) -> None:
        await self.cards.create(report.id, body_chunks[0])
        card, summary = await self.card_message(report, body_chunks[0])
        continuation = [{"type": "text", "html": chunk} for chunk in body_chunks[1:]]
        await self.outbox.enqueue(
            kind="alert",
            target="moderators",
            payload={"messages": [card, *continuation, *extra], "summary": summary},
            idempotency_key=f"alert:{report.id}",
            report_id=report.id,
            priority=OutboxPriority.URGENT if report.urgent else OutboxPriority.NORMAL,
        )

    def _erased_body(self) -> str:
        """What a card shows once retention erased the answers the bot kept for it."""
        t = self.context.moderators_t
        days = self.context.policy.retention.days
        return html.italic(
            html.quote(
                t.plural(
                    "The answers were removed from the bot after {n} day without changes; "
                    "they remain in the sealed archive.",
                    "The answers were removed from the bot after {n} days without changes; "
                    "they remain in the sealed archive.",
                    days,
                )
            )
        )

    async def refresh(self, report: Report, *, confirming: str | None = None) -> None:
        """Bring the moderators' card up to date with the report's state (`confirming`: a
        rejection to confirm, handlers.telegram.cards.card_keyboard)."""
        card = await self.cards.get(report.id)
        alert = await self.outbox.alert_of(report.id)
        if card is None or alert is None:
            return
        card.version += 1
        body = self.cards.body(card) if card.body_enc is not None else self._erased_body()
        message, summary = await self.card_message(report, body, confirming=confirming)
        now = self.context.now()
        in_flight = alert.claimed_until is not None and alert.claimed_until > now
        if alert.state == OutboxState.PENDING.value and alert.progress == 0 and not in_flight:
            # Not sent, and no worker is sending it: bring the queued card itself up to date.
            keyring = self.context.keyring
            payload = keyring.decrypt_json(alert.payload_enc) if alert.payload_enc else {}
            messages = payload.get("messages") or [{}]
            messages[0] = message
            await self.outbox.replace_payload(alert.id, {"messages": messages, "summary": summary})
            return
        # The worker finds the card's message id when it sends the edit: the card may still be
        # on its way now.
        edit = {**message, "type": "edit"}
        await self.outbox.enqueue(
            kind="card_edit",
            target="moderators",
            payload={"messages": [edit]},
            idempotency_key=f"card_edit:{report.id}:{card.version}",
            report_id=report.id,
            priority=OutboxPriority.URGENT,
        )
