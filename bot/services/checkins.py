"""Safety check-ins after a summons, and re-announcing urgent cards nobody took.

A reporter who asked for it in the summons form is asked "are you back and safe?" at the
appointment plus CHECKIN_DELAY. "I need help", or no answer within CHECKIN_TIMEOUT, alerts the
moderators with an urgent message under the card, and the card itself turns urgent. Urgent cards
still "new" after 30 minutes are announced again (a few times).

Everything is decided by the database, so it survives restarts and runs on several replicas:
each pass locks the rows it moves (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on
SQLite), moves them to their next state and queues the messages in the same transaction. The
pass does no network I/O while it holds rows (the outbox worker sends, with its own leases), so
the transaction is the claim: a replica that dies mid-pass leaves nothing half done. Outbox
idempotency keys (`checkin:<id>:ask`, `reannounce:<report>:<n>`) make a second copy impossible.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outage import log_pass_failure
from bot.services import messages
from bot.services.actions import checkin_actions
from bot.services.cards import CardService
from bot.services.context import ServiceContext
from handlers.engine.engine import answer_as_datetime
from handlers.engine.text import N_, Msg
from storage.models import Checkin, CheckinState, OutboxPriority, Report, Reporter
from storage.repositories import ModerationEvents, OutboxRepository, Reporters, Reports
from storage.safety import Checkins, UrgentCards

log = logging.getLogger(__name__)

CHECK_INTERVAL = 15.0  # seconds between passes
BATCH = 50
# A summons without a time: assume the working day starts then.
DATE_ONLY_HOUR = 9
# How long the reporter's next message goes to the team after "I need help" (as after a question).
HELP_ANSWER_WINDOW = dt.timedelta(days=7)

S = CheckinState

ASK = N_("Are you back and safe?")
SAFE_THANKS = N_("Thank you. We are glad you are safe.")
HELP_SENT = N_(
    "The team has been alerted. If you can, write here what happened: your messages go to the team."
)
CLOSED = N_("This check-in is already closed.")
NOT_ASKED = N_(
    "⚠️ {code}: the safety check-in after the summons could not be asked: Facebook Messenger lets "
    "the bot write only within 24 hours of the reporter's last message. Check on them another way."
)


class CheckinService:
    def __init__(self, session: AsyncSession, context: ServiceContext) -> None:
        self.session = session
        self.context = context
        self.checkins = Checkins(session)
        self.reports = Reports(session, context.keyring)
        self.reporters = Reporters(session, context.keyring)
        self.outbox = OutboxRepository(session, context.keyring)
        self.events = ModerationEvents(session)
        self.cards = CardService(session, context)
        self.urgent = UrgentCards(session)

    # --- at submission -------------------------------------------------------------------------
    async def schedule_for(
        self, report: Report, answers: dict[str, Any], reporter: Reporter
    ) -> Checkin | None:
        """Schedule the check-in a summons report asked for; None when none applies.

        An appointment whose check-in time has already passed gets none: the reporter is
        writing after it, so they are back. Nor does one the bot could not ask then (Messenger's
        24-hour window: `write_back_after` says so in the receipt instead).
        """
        due = self._due(report, answers)
        if due is None or not self.context.may_write_unasked(
            reporter.channel, reporter.last_seen, due
        ):
            return None
        return await self.checkins.schedule(
            report_id=report.id, reporter_id=reporter.id, due_at=due, now=self.context.now()
        )

    def write_back_after(
        self, report: Report, answers: dict[str, Any], reporter: Reporter
    ) -> dt.datetime | None:
        """The check-in time of a check-in the bot may not ask (Messenger lets it write unasked
        only within 24 hours of the person's last message): the reporter is asked, at
        submission, to write back after the appointment, and no alarm waits for an answer."""
        due = self._due(report, answers)
        if due is None or self.context.may_write_unasked(reporter.channel, reporter.last_seen, due):
            return None
        return due

    def _due(self, report: Report, answers: dict[str, Any]) -> dt.datetime | None:
        if report.incident_type != "summons" or answers.get("checkin") != "yes":
            return None
        if answers.get("contact") != "chat" or not answers.get("appointment"):
            return None
        local, has_time = answer_as_datetime(str(answers["appointment"]), self.context.tz)
        if not has_time:
            local = local.replace(hour=DATE_ONLY_HOUR)
        due = local.astimezone(dt.UTC) + self.context.policy.checkin_delay
        return due if due > self.context.now() else None

    # --- background passes ---------------------------------------------------------------------
    async def ask_due(self, now: dt.datetime) -> int:
        rows = await self.checkins.claim(state=S.SCHEDULED, column="due_at", now=now, limit=BATCH)
        asked = 0
        for row in rows:
            reporter = await self.reporters.get(row.reporter_id) if row.reporter_id else None
            if reporter is None or reporter.external_enc is None:
                await self.checkins.move(row, S.CANCELLED, expected=[S.SCHEDULED])
                row.resolved_at = now
                continue
            if not self.context.may_write_unasked(reporter.channel, reporter.last_seen, now):
                # Messenger's window closed before it could be asked: not asked, so no
                # "no answer" alarm either; the moderators are told under the card.
                await self.checkins.move(row, S.CANCELLED, expected=[S.SCHEDULED])
                row.resolved_at = now
                await self._not_asked(row)
                continue
            report = await self.reports.get(row.report_id)
            t = self.context.translator(reporter.language or (report.language if report else "ru"))
            await self.outbox.enqueue(
                kind="checkin",
                target="reporter",
                payload=messages.payload(
                    [messages.text(messages.bold(t(ASK)), actions=[checkin_actions(row.id, t)])]
                ),
                idempotency_key=f"checkin:{row.id}:ask",
                report_id=row.report_id,
                reporter_id=reporter.id,
                priority=OutboxPriority.URGENT,
            )
            row.asked_at = now
            row.answer_by = now + self.context.policy.checkin_timeout
            await self.checkins.move(row, S.ASKED, expected=[S.SCHEDULED])
            asked += 1
        return asked

    async def alarm_unanswered(self, now: dt.datetime) -> int:
        rows = await self.checkins.claim(state=S.ASKED, column="answer_by", now=now, limit=BATCH)
        for row in rows:
            if await self.checkins.move(row, S.MISSED, expected=[S.ASKED]):
                row.resolved_at = now
                await self._alarm(row, "missed")
        return len(rows)

    async def reannounce(self, now: dt.datetime) -> int:
        policy = self.context.policy
        after = policy.reannounce_after
        stale = await self.urgent.unclaimed(
            created_before=now - after, created_after=now - after * (policy.reannounce_times + 1)
        )
        t = self.context.moderators_t
        for report, card_id in stale:
            waited = now - report.created_at
            round_ = int(waited / after)
            minutes = int(waited.total_seconds() // 60)
            text = t.plural(
                "🚨 {code}: urgent report not taken for {n} minute.",
                "🚨 {code}: urgent report not taken for {n} minutes.",
                minutes,
                code=report.public_code,
            )
            # Keyed by the round: each 30-minute mark is announced once, whoever gets there.
            await self.outbox.enqueue(
                kind="reannounce",
                target="moderators",
                payload={
                    "messages": [
                        {"type": "text", "html": html.quote(text), "reply_to_message_id": card_id}
                    ]
                },
                idempotency_key=f"reannounce:{report.id}:{round_}",
                report_id=report.id,
                priority=OutboxPriority.URGENT,
            )
        return len(stale)

    # --- the reporter's answer -----------------------------------------------------------------
    async def answer(self, reporter: Reporter, checkin_id: int, answer: str) -> Msg:
        """The reporter pressed "I am safe" or "I need help"; returns what to tell them."""
        row = await self.checkins.get(checkin_id)
        if row is None or row.reporter_id != reporter.id or answer not in ("safe", "help"):
            return Msg(CLOSED)
        late = row.state == S.MISSED.value
        target = S.SAFE if answer == "safe" else S.HELP
        if not await self.checkins.move(row, target, expected=[S.ASKED, S.MISSED]):
            return Msg(CLOSED)
        now = self.context.now()
        row.resolved_at = now
        if target == S.HELP:
            await self._alarm(row, "help")
            # Their next messages reach the team, as answers to a question would.
            reporter.answering_report_id = row.report_id
            reporter.answering_until = now + HELP_ANSWER_WINDOW
            return Msg(HELP_SENT)
        await self._safe(row, late=late)
        return Msg(SAFE_THANKS)

    # --- moderators ----------------------------------------------------------------------------
    async def _alarm(self, row: Checkin, kind: str) -> None:
        report = await self.reports.get(row.report_id)
        if report is None:
            return
        t = self.context.moderators_t
        if kind == "help":
            text = t(
                N_(
                    "🆘 {code}: at the safety check-in after the summons the reporter pressed "
                    "“I need help”."
                ),
                code=report.public_code,
            )
        else:
            minutes = int(self.context.policy.checkin_timeout.total_seconds() // 60)
            text = t.plural(
                "🆘 {code}: no answer to the safety check-in after the summons within {n} minute.",
                "🆘 {code}: no answer to the safety check-in after the summons within {n} minutes.",
                minutes,
                code=report.public_code,
            )
        now = self.context.now()
        report.urgent = True
        report.updated_at = now
        await self.events.add(
            report_id=report.id, actor=None, actor_name=None, action=f"checkin_{kind}", at=now
        )
        await self.cards.refresh(report)
        await self._to_moderators(report, text, f"checkin:{row.id}:{kind}", OutboxPriority.URGENT)
        log.warning("check-in %s for report %s: %s", row.id, report.id, kind)

    async def _not_asked(self, row: Checkin) -> None:
        report = await self.reports.get(row.report_id)
        if report is None:
            return
        text = self.context.moderators_t(NOT_ASKED, code=report.public_code)
        await self._to_moderators(
            report, text, f"checkin:{row.id}:not_asked", OutboxPriority.URGENT
        )

    async def _safe(self, row: Checkin, *, late: bool) -> None:
        report = await self.reports.get(row.report_id)
        if report is None:
            return
        t = self.context.moderators_t
        text = (
            t(
                N_("✅ {code}: the reporter answered the safety check-in late: safe."),
                code=report.public_code,
            )
            if late
            else t(
                N_("✅ {code}: the reporter answered the safety check-in: safe."),
                code=report.public_code,
            )
        )
        now = self.context.now()
        await self.events.add(
            report_id=report.id, actor=None, actor_name=None, action="checkin_safe", at=now
        )
        await self.cards.refresh(report)
        await self._to_moderators(report, text, f"checkin:{row.id}:safe", OutboxPriority.NORMAL)

    async def _to_moderators(
        self, report: Report, text: str, key: str, priority: OutboxPriority
    ) -> None:
        alert = await self.outbox.alert_of(report.id)
        await self.outbox.enqueue(
            kind="checkin_alarm" if priority == OutboxPriority.URGENT else "checkin_safe",
            target="moderators",
            payload={
                "messages": [
                    {
                        "type": "text",
                        "html": html.quote(text),
                        "reply_to_message_id": alert.sent_message_id if alert else None,
                    }
                ]
            },
            idempotency_key=key,
            report_id=report.id,
            priority=priority,
        )


class CheckinScheduler:
    """The background passes: ask, alarm, re-announce. One transaction each."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
        on_enqueued: Callable[[], None] = lambda: None,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.context = context
        self.on_enqueued = on_enqueued
        self.interval = interval

    async def run_due(self) -> dict[str, int]:
        done: dict[str, int] = {}
        for name in ("ask_due", "alarm_unanswered", "reannounce"):
            async with self.sessionmaker() as session, session.begin():
                service = CheckinService(session, self.context)
                done[name] = await getattr(service, name)(self.context.now())
                enqueued = bool(session.info.get("outbox_enqueued"))
            if enqueued:
                self.on_enqueued()
        return done

    async def run(self, stop: asyncio.Event) -> None:
        log.info("check-in scheduler started")
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception as exc:
                # A database outage must not end the schedule; the next pass retries.
                log_pass_failure(log, "check-in pass failed", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        log.info("check-in scheduler stopped")
