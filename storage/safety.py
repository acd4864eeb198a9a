"""Repositories for reporter safety: tracked message ids, cleaned attachments, check-ins, flood
counts, and the erasure of a reporter's link. Like every repository, they never commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attachment,
    Checkin,
    CheckinState,
    Draft,
    FloodMark,
    ModerationEvent,
    Outbox,
    OutboxState,
    Report,
    Reporter,
    ReportStatus,
    TrackedMessage,
    WebMailbox,
    WebMessage,
)
from storage.sealing import Keyring

# Telegram lets a bot delete a message in a private chat for 48 hours after it was sent
# (core.telegram.org/bots/api#deletemessage); after that an id is of no use to /wipe.
DELETABLE_FOR = dt.timedelta(hours=48)
OPEN_CHECKINS = (CheckinState.SCHEDULED.value, CheckinState.ASKED.value)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class TrackedMessages:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, reporter_id: int, message_ids: Sequence[int], at: dt.datetime) -> None:
        for message_id in dict.fromkeys(message_ids):  # once each, in order
            self.session.add(TrackedMessage(reporter_id=reporter_id, message_id=message_id, at=at))

    async def deletable(self, reporter_id: int, now: dt.datetime) -> list[int]:
        result = await self.session.execute(
            select(TrackedMessage.message_id)
            .where(
                TrackedMessage.reporter_id == reporter_id,
                TrackedMessage.at > now - DELETABLE_FOR,
            )
            .order_by(TrackedMessage.message_id)
        )
        return list(dict.fromkeys(int(message_id) for message_id in result.scalars()))

    async def forget(self, reporter_id: int) -> None:
        await self.session.execute(
            delete(TrackedMessage).where(TrackedMessage.reporter_id == reporter_id)
        )

    async def sweep(self, now: dt.datetime) -> int:
        result = await self.session.execute(
            delete(TrackedMessage).where(TrackedMessage.at <= now - DELETABLE_FOR)
        )
        return _rowcount(result)


@dataclass(frozen=True)
class StoredAttachment:
    id: int
    data: bytes


class Attachments:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def add(self, reporter_id: int, data: bytes, now: dt.datetime) -> int:
        row = Attachment(
            reporter_id=reporter_id,
            data_enc=self.keyring.encrypt(data),
            key_id=self.keyring.server_key_id,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def take(self, reporter_id: int, attachment_ids: Sequence[int]) -> dict[int, bytes]:
        """Read and delete the reporter's attachments (at submission); others' ids are ignored."""
        if not attachment_ids:
            return {}
        rows = (
            await self.session.execute(
                select(Attachment).where(
                    Attachment.id.in_(attachment_ids), Attachment.reporter_id == reporter_id
                )
            )
        ).scalars()
        found = {row.id: self.keyring.decrypt(row.data_enc) for row in rows}
        await self.session.execute(delete(Attachment).where(Attachment.id.in_(list(found))))
        return found

    async def forget(self, reporter_id: int) -> None:
        await self.session.execute(delete(Attachment).where(Attachment.reporter_id == reporter_id))

    async def sweep(self, *, now: dt.datetime, grace: dt.timedelta) -> int:
        """Delete attachments whose report will not be sent: no live draft holds them.

        `grace` spares a file that arrived while its draft was being saved.
        """
        live_draft = exists().where(
            Draft.reporter_id == Attachment.reporter_id, Draft.expires_at > now
        )
        result = await self.session.execute(
            delete(Attachment).where(Attachment.created_at <= now - grace, ~live_draft)
        )
        return _rowcount(result)


class FloodCounts:
    """Counts that must agree across replicas, so they are read from the database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def reports_by(self, reporter_id: int, since: dt.datetime) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.reporter_id == reporter_id, Report.created_at >= since)
        )
        return int(count or 0)

    async def reports_since(self, since: dt.datetime) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(Report).where(Report.created_at >= since)
        )
        return int(count or 0)

    async def marks_since(self, account: str, since: dt.datetime) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(FloodMark)
            .where(FloodMark.account == account, FloodMark.created_at >= since)
        )
        return int(count or 0)

    async def add_mark(self, account: str, now: dt.datetime) -> None:
        self.session.add(FloodMark(account=account, created_at=now))
        await self.session.flush()

    async def sweep_marks(self, before: dt.datetime) -> int:
        result = await self.session.execute(delete(FloodMark).where(FloodMark.created_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    async def count_update(self, reporter: Reporter, now: dt.datetime, window: dt.timedelta) -> int:
        """Count one update in the reporter's current window; returns the count so far.

        The reporter's row is locked for the whole update (Reporters.find), so two replicas
        handling the same person's updates count one after the other.
        """
        start = reporter.rate_window_start
        if start is None or start <= now - window or start > now:
            reporter.rate_window_start = now
            reporter.rate_window_count = 1
        else:
            reporter.rate_window_count = (reporter.rate_window_count or 0) + 1
        return reporter.rate_window_count


class Checkins:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def schedule(
        self, *, report_id: int, reporter_id: int, due_at: dt.datetime, now: dt.datetime
    ) -> Checkin:
        row = Checkin(
            report_id=report_id,
            reporter_id=reporter_id,
            due_at=due_at,
            state=CheckinState.SCHEDULED.value,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, checkin_id: int) -> Checkin | None:
        return await self.session.get(Checkin, checkin_id, with_for_update=True)

    async def claim(
        self, *, state: CheckinState, column: str, now: dt.datetime, limit: int
    ) -> list[Checkin]:
        """Rows in `state` whose `column` time has come, locked for this transaction.

        On PostgreSQL another replica skips the rows this one holds (SKIP LOCKED); on SQLite the
        transaction holds the database's write lock. The caller moves each row to its next state
        in the same transaction, so no row is handled twice.
        """
        when = getattr(Checkin, column)
        result = await self.session.execute(
            select(Checkin)
            .where(Checkin.state == state.value, when <= now)
            .order_by(when, Checkin.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(result.scalars())

    async def move(
        self, row: Checkin, to: CheckinState, *, expected: Sequence[CheckinState]
    ) -> bool:
        """Change the state only if it is still one of `expected`: a second replica or a late
        press then changes nothing."""
        result = await self.session.execute(
            update(Checkin)
            .where(Checkin.id == row.id, Checkin.state.in_([state.value for state in expected]))
            .values(state=to.value)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result):
            row.state = to.value
            return True
        return False


class Erasure:
    """Erase the link between a reporter and their reports; the sealed reports stay."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def retention_candidates(self, *, idle_since: dt.datetime, limit: int) -> list[int]:
        """Reporters idle since before `idle_since`, not erased, with no check-in pending.

        A pending check-in keeps the link: the appointment can be months ahead, and the bot must
        still be able to ask.
        """
        pending = exists().where(
            Checkin.reporter_id == Reporter.id, Checkin.state.in_(OPEN_CHECKINS)
        )
        result = await self.session.execute(
            select(Reporter.id)
            .where(Reporter.erased_at.is_(None), Reporter.last_seen < idle_since, ~pending)
            .order_by(Reporter.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(result.scalars())

    async def erased_since(self, since: dt.datetime) -> bool:
        """Whether any reporter was erased at or after `since` (their rows are then scrubbed
        from SQLite's write-ahead log)."""
        found = await self.session.scalar(
            select(Reporter.id).where(Reporter.erased_at >= since).limit(1)
        )
        return found is not None

    async def erase(self, reporter_id: int, *, reason: str, now: dt.datetime) -> list[int]:
        """Erase one reporter's link; returns the ids of the reports it was linked to.

        The conditional UPDATE makes it happen once: a second replica, or a second press, finds
        the row already erased and writes nothing, so the audit trail has one entry per erasure.
        Returns an empty list both when there was nothing linked and when it was already erased;
        `erased` tells them apart.
        """
        claimed = await self.session.execute(
            update(Reporter)
            .where(Reporter.id == reporter_id, Reporter.erased_at.is_(None))
            .values(
                external_enc=None,
                # A fresh random value: the person's Telegram id no longer finds this row, so a
                # seized database cannot even confirm that they once used the bot.
                external_hash="erased:" + secrets.token_hex(16),
                erased_at=now,
                consented_at=None,
                answering_report_id=None,
                answering_until=None,
                rate_window_start=None,
                rate_window_count=0,
            )
            .execution_options(synchronize_session=False)
        )
        if not _rowcount(claimed):
            return []
        report_ids = list(
            (
                await self.session.execute(
                    select(Report.id).where(Report.reporter_id == reporter_id).order_by(Report.id)
                )
            ).scalars()
        )
        await self._forget_web_mailboxes(reporter_id, report_ids)
        await self.session.execute(
            update(Report)
            .where(Report.reporter_id == reporter_id)
            .values(reporter_id=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(delete(Draft).where(Draft.reporter_id == reporter_id))
        await self.session.execute(delete(Attachment).where(Attachment.reporter_id == reporter_id))
        await self.session.execute(
            delete(TrackedMessage).where(TrackedMessage.reporter_id == reporter_id)
        )
        # Only messages to the reporter name them (Outbox.reporter_id). Those still waiting are
        # dropped; those sent or dead keep no payload and no longer say to whom they went.
        await self.session.execute(
            delete(Outbox).where(
                Outbox.reporter_id == reporter_id,
                Outbox.target == "reporter",
                Outbox.state == OutboxState.PENDING.value,
            )
        )
        await self.session.execute(
            update(Outbox)
            .where(Outbox.reporter_id == reporter_id)
            .values(reporter_id=None, payload_enc=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Checkin)
            .where(Checkin.reporter_id == reporter_id, Checkin.state.in_(OPEN_CHECKINS))
            .values(state=CheckinState.CANCELLED.value, resolved_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Checkin)
            .where(Checkin.reporter_id == reporter_id)
            .values(reporter_id=None)
            .execution_options(synchronize_session=False)
        )
        linked: list[int | None] = [*report_ids] or [None]
        # The day only: rows with one exact time would show which reports one person filed
        # (README, Threats). The rows' ids still follow one another; that is written there too.
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for report_id in linked:
            self.session.add(
                ModerationEvent(report_id=report_id, action="erased", note=reason, at=day)
            )
        await self.session.flush()
        return report_ids

    async def _forget_web_mailboxes(self, reporter_id: int, report_ids: Sequence[int]) -> None:
        """A web reporter's mailboxes and the messages sealed in them (README, "The web form"):
        with the link gone nobody could answer them, and a seized copy must not show that this
        report was answered from the web, nor when. Deleted rather than unlinked; SQLite's
        secure_delete and the sweeper's scrub of the write-ahead log take them off the disk."""
        found = await self.session.execute(
            select(WebMailbox.id).where(
                or_(WebMailbox.reporter_id == reporter_id, WebMailbox.report_id.in_(report_ids))
            )
        )
        mailbox_ids = list(found.scalars())
        if not mailbox_ids:
            return
        await self.session.execute(
            delete(WebMessage)
            .where(WebMessage.mailbox_id.in_(mailbox_ids))
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            delete(WebMailbox)
            .where(WebMailbox.id.in_(mailbox_ids))
            .execution_options(synchronize_session=False)
        )


class Sweeps:
    """The retention sweeper's idempotent statements: safe to run on several replicas at once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def expired_drafts(self, now: dt.datetime) -> int:
        result = await self.session.execute(delete(Draft).where(Draft.expires_at <= now))
        return _rowcount(result)

    async def sent_payloads(self, *, now: dt.datetime, dead_kept_for: dt.timedelta) -> int:
        """Erase what delivered messages said.

        The worker erases a row's payload as it records the row sent, alerts included (a card's
        text is never written again: bot/services/cards.py); this pass is the backstop. Dead rows
        keep theirs for `dead_kept_for`, so an operator can look into the failure and send it
        again.
        """
        result = await self.session.execute(
            update(Outbox)
            .where(
                Outbox.payload_enc.is_not(None),
                or_(
                    Outbox.state == OutboxState.SENT.value,
                    and_(
                        Outbox.state == OutboxState.DEAD.value,
                        Outbox.dead_at <= now - dead_kept_for,
                    ),
                ),
            )
            .values(payload_enc=None)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result)


class UrgentCards:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def unclaimed(
        self, *, created_before: dt.datetime, created_after: dt.datetime
    ) -> list[tuple[Report, int]]:
        """Urgent reports still "new" whose card was sent, with the card's message id."""
        result = await self.session.execute(
            select(Report, Outbox.sent_message_id)
            .join(Outbox, and_(Outbox.report_id == Report.id, Outbox.kind == "alert"))
            .where(
                Report.urgent.is_(True),
                Report.status == ReportStatus.NEW.value,
                Report.created_at <= created_before,
                Report.created_at > created_after,
                Outbox.sent_message_id.is_not(None),
            )
            .order_by(Report.id)
        )
        return [
            (report, int(message_id))
            for report, message_id in result.all()
            if message_id is not None
        ]
