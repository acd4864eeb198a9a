"""Alert cards: build the card for a report, and keep its buttons current as moderators act.

The card's text is written once, at submission, from the answers while they are in memory
(bot/services/card_model.py says what it holds, channel-neutral; the staff transport renders it);
the bot keeps no copy of it (README, "What a seized server gives away"). The card is sent through
the outbox. A change before it was sent puts new buttons on the queued card; a change after it was
sent queues an edit of the buttons alone (their first one names the status), and the worker drops
an edit that a later one supersedes.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import card_model, messages
from bot.services.card_model import CardEvent, CardView, DuplicateHint
from bot.services.context import ServiceContext
from handlers.engine.engine import Submitted
from handlers.engine.render import Translator
from storage.models import OutboxPriority, OutboxState, Report
from storage.repositories import AlertCards, ModerationEvents, OutboxRepository, Reports

# How far back a duplicate hint looks.
HINT_WINDOW = dt.timedelta(days=90)
# Actions that say who holds the report.
ASSIGNING = frozenset({"take"})


def digest_line(view: CardView, t: Translator) -> str:
    """One report in a burst digest, short enough for ninety to a message.

    Telegram HTML, unlike the card: the worker lists waiting alerts in digests it sends into the
    moderator chat itself (bot/outbox/worker.py, "summary"). No reporter content is in it, and
    each value is escaped all the same."""
    spans = card_model.digest_spans(view, t)
    mark, code, details = (escape(span.text, quote=False) for span in spans)
    return f"{mark}<b>{code}</b>{details}"


class CardService:
    def __init__(self, session: AsyncSession, context: ServiceContext) -> None:
        self.context = context
        self.reports = Reports(session, context.keyring)
        self.cards = AlertCards(session)
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
        events = await self.events.acted(report.id)
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

    async def queue_new_card(
        self, report: Report, submission: Submitted, extra: list[dict[str, Any]]
    ) -> None:
        """Write the card from the answers in memory and queue it; its payload is the only copy
        (sealed under the server key like every outbox payload), and the worker erases it once
        the card is sent."""
        t = self.context.moderators_t
        await self.cards.create(report.id)
        view = await self.view(report)
        card = card_model.card_messages(view, submission, t, now=self.context.now())
        await self.outbox.enqueue(
            kind="alert",
            target="moderators",
            payload=messages.payload([*card, *extra], summary=digest_line(view, t)),
            idempotency_key=f"alert:{report.id}",
            report_id=report.id,
            priority=OutboxPriority.URGENT if report.urgent else OutboxPriority.NORMAL,
        )

    async def refresh(self, report: Report, *, confirming: str | None = None) -> None:
        """Bring the card's buttons up to date with the report's state (`confirming`: a
        rejection to confirm, card_model.card_actions)."""
        card = await self.cards.get(report.id)
        alert = await self.outbox.alert_of(report.id)
        if card is None or alert is None:
            return
        card.version += 1
        t = self.context.moderators_t
        view = await self.view(report)
        now = self.context.now()
        in_flight = alert.claimed_until is not None and alert.claimed_until > now
        if alert.state == OutboxState.PENDING.value and alert.progress == 0 and not in_flight:
            # Not sent, and no worker is sending it: new buttons on the queued card itself. A
            # card queued before the upgrade (Telegram HTML) keeps its text; its Telegram
            # buttons give way to the neutral ones (card_model: a version 1 card with actions).
            payload = self.context.keyring.decrypt_json(alert.payload_enc or b"")
            first = payload["messages"][0]
            first.pop("reply_markup", None)
            first[card_model.ACTIONS] = card_model.actions_json(
                card_model.card_actions(view, t, confirming=confirming)
            )
            payload["summary"] = digest_line(view, t)
            await self.outbox.replace_payload(alert.id, payload)
            return
        # The worker finds the card's message id when it sends the edit: the card may still be
        # on its way now. The stub stands in for a card deleted from the chat (its facets only).
        await self.outbox.enqueue(
            kind="card_edit",
            target="moderators",
            payload=messages.payload([card_model.edit_buttons(view, t, confirming=confirming)]),
            idempotency_key=f"card_edit:{report.id}:{card.version}",
            report_id=report.id,
            priority=OutboxPriority.URGENT,
        )
