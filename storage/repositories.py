"""Repositories: the only place with SQL. They never commit; one transaction covers one update."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AlertCard,
    Draft,
    GroupChat,
    ModerationEvent,
    Outbox,
    OutboxPriority,
    OutboxState,
    ProcessedUpdate,
    Report,
    Reporter,
    Staff,
    StaffRole,
    utcnow,
)
from storage.sealing import Keyring

# Public codes avoid letters and digits that are easy to confuse when read aloud or typed
# (0/O, 1/I/L, 5/S, 2/Z, 8/B).
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 4
# How an outbox row's last_error begins while its group refuses the bot's messages.
CHAT_REFUSED = "chat refused"


def _insert_ignoring_conflicts(session: AsyncSession, table: Any, values: dict[str, Any]) -> Any:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).values(**values).on_conflict_do_nothing()


class ProcessedUpdates:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, channel: str, update_id: str | int) -> bool:
        """Remember an update; False when it was seen before (a redelivery)."""
        stmt = _insert_ignoring_conflicts(
            self.session,
            ProcessedUpdate,
            # The hour only: the row is kept to drop redeliveries, not to time anyone's messages.
            {"channel": channel, "update_id": str(update_id), "processed_at": _hour(utcnow())},
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def sweep(self, before: dt.datetime) -> int:
        """Forget updates recorded before `before`: nobody redelivers them any more."""
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class Reporters:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def find(self, channel: str, external_id: str | int) -> Reporter | None:
        digest = self.keyring.lookup_hash(channel, external_id)
        # Locking the reporter's row serialises two quick inputs from one person on PostgreSQL,
        # so neither overwrites the other's draft.
        result = await self.session.execute(
            select(Reporter).where(Reporter.external_hash == digest).with_for_update()
        )
        return result.scalar_one_or_none()

    async def get_or_create(
        self,
        channel: str,
        external_id: str | int,
        chat_id: str | int,
        *,
        now: dt.datetime | None = None,
    ) -> tuple[Reporter, bool]:
        """`now`: the services' clock; retention counts from last_seen."""
        reporter = await self.find(channel, external_id)
        now = now or utcnow()
        if reporter is not None:
            reporter.last_seen = now
            if reporter.external_enc is None:  # erased before; they came back
                reporter.external_enc = self.keyring.encrypt(str(chat_id).encode())
                reporter.key_id = self.keyring.server_key_id
                reporter.erased_at = None
            return reporter, False
        reporter = Reporter(
            channel=channel,
            external_hash=self.keyring.lookup_hash(channel, external_id),
            external_enc=self.keyring.encrypt(str(chat_id).encode()),
            key_id=self.keyring.server_key_id,
            first_seen=now,
            last_seen=now,
        )
        self.session.add(reporter)
        await self.session.flush()
        return reporter, True

    def chat_id(self, reporter: Reporter) -> str | None:
        if reporter.external_enc is None:
            return None
        return self.keyring.decrypt(reporter.external_enc).decode()

    async def get(self, reporter_id: int) -> Reporter | None:
        return await self.session.get(Reporter, reporter_id)


@dataclass
class StoredDraft:
    state: dict[str, Any]
    message_ids: list[int]


class Drafts:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def _row(self, reporter_id: int) -> Draft | None:
        result = await self.session.execute(select(Draft).where(Draft.reporter_id == reporter_id))
        return result.scalar_one_or_none()

    async def load(self, reporter_id: int, now: dt.datetime) -> StoredDraft | None:
        row = await self._row(reporter_id)
        if row is None or row.expires_at <= now:
            return None
        ids = self.keyring.decrypt_json(row.message_ids_enc) if row.message_ids_enc else []
        return StoredDraft(self.keyring.decrypt_json(row.state_enc), list(ids))

    async def save(
        self,
        reporter_id: int,
        *,
        form: str | None,
        step: str | None,
        state: dict[str, Any],
        message_ids: Sequence[int],
        expires_at: dt.datetime,
    ) -> None:
        row = await self._row(reporter_id)
        if row is None:
            row = Draft(reporter_id=reporter_id, state_enc=b"", key_id="")
            self.session.add(row)
        row.form = form
        row.step = step
        row.state_enc = self.keyring.encrypt_json(state)
        row.message_ids_enc = self.keyring.encrypt_json(list(message_ids))
        row.key_id = self.keyring.server_key_id
        row.expires_at = expires_at
        row.updated_at = utcnow()

    async def delete(self, reporter_id: int) -> None:
        await self.session.execute(delete(Draft).where(Draft.reporter_id == reporter_id))


class Reports:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def unused_code(self, prefix: str) -> str:
        for _ in range(20):
            code = prefix + "-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            taken = await self.session.scalar(
                select(func.count()).select_from(Report).where(Report.public_code == code)
            )
            if not taken:
                return code
        raise RuntimeError("no free report code after 20 tries")

    async def create(
        self,
        *,
        code_prefix: str,
        channel: str,
        source: str | None,
        incident_type: str,
        region: str | None,
        incident_date: dt.date | None,
        urgent: bool,
        language: str,
        consent: str | None,
        contact: str | None,
        reporter_id: int | None,
        payload: dict[str, Any],
        subject_index: str | None = None,
        public_code: str | None = None,
        intake_flags: str | None = None,
        created_at: dt.datetime | None = None,
    ) -> Report:
        created_at = created_at or utcnow()
        report = Report(
            created_at=created_at,
            updated_at=created_at,
            public_code=public_code or await self.unused_code(code_prefix),
            intake_flags=intake_flags,
            channel=channel,
            source=source,
            incident_type=incident_type,
            region=region,
            incident_date=incident_date,
            urgent=urgent,
            language=language,
            consent=consent,
            contact=contact,
            reporter_id=reporter_id,
            subject_index=subject_index,
            sealed_payload=self.keyring.seal(payload),
            key_id=self.keyring.org_key_id,
        )
        self.session.add(report)
        await self.session.flush()
        return report

    async def get(self, report_id: int) -> Report | None:
        return await self.session.get(Report, report_id)

    async def codes(self, report_ids: Sequence[int]) -> dict[int, str]:
        if not report_ids:
            return {}
        result = await self.session.execute(
            select(Report.id, Report.public_code).where(Report.id.in_(report_ids))
        )
        return {row.id: row.public_code for row in result}

    async def similar(
        self, subject_index: str, *, exclude: int, since: dt.datetime, limit: int = 3
    ) -> list[Report]:
        """Recent reports about a person with the same subject hash (a hint, not a match)."""
        result = await self.session.execute(
            select(Report)
            .where(
                Report.subject_index == subject_index,
                Report.id != exclude,
                Report.created_at >= since,
            )
            .order_by(Report.created_at.desc())
            .limit(limit)
        )
        return list(result.scalars())

    async def by_code(self, code: str) -> Report | None:
        result = await self.session.execute(
            select(Report).where(Report.public_code == code.strip().upper())
        )
        return result.scalar_one_or_none()

    async def of_reporter(
        self, reporter_id: int, *, exclude_statuses: Sequence[str], limit: int = 3
    ) -> list[Report]:
        """A reporter's latest reports, newest first."""
        result = await self.session.execute(
            select(Report)
            .where(Report.reporter_id == reporter_id, Report.status.not_in(exclude_statuses))
            .order_by(Report.id.desc())
            .limit(limit)
        )
        return list(result.scalars())


class GroupChats:
    """The configured groups' current ids and refusal episodes (storage/models.py GroupChat)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[GroupChat]:
        return list((await self.session.execute(select(GroupChat))).scalars())

    async def migrate(self, configured_id: int, new_id: int, *, now: dt.datetime) -> bool:
        """Record the group's new id; False when it was already recorded (another replica)."""
        inserted = await self.session.execute(
            _insert_ignoring_conflicts(
                self.session,
                GroupChat,
                {"configured_id": configured_id, "chat_id": new_id, "migrated_at": now},
            )
        )
        if inserted.rowcount:  # type: ignore[attr-defined]
            return True
        updated = await self.session.execute(
            update(GroupChat)
            .where(GroupChat.configured_id == configured_id, GroupChat.chat_id != new_id)
            .values(chat_id=new_id, migrated_at=now)
        )
        return bool(updated.rowcount)  # type: ignore[attr-defined]

    async def refused(
        self, configured_id: int, chat_id: int, refusal: str, *, now: dt.datetime
    ) -> bool:
        """The chat refuses the bot's messages; True when this starts a new episode."""
        inserted = await self.session.execute(
            _insert_ignoring_conflicts(
                self.session,
                GroupChat,
                {
                    "configured_id": configured_id,
                    "chat_id": chat_id,
                    "refused_since": now,
                    "refusal": refusal[:80],
                },
            )
        )
        if inserted.rowcount:  # type: ignore[attr-defined]
            return True
        updated = await self.session.execute(
            update(GroupChat)
            .where(GroupChat.configured_id == configured_id, GroupChat.refused_since.is_(None))
            .values(refused_since=now, refusal=refusal[:80])
        )
        return bool(updated.rowcount)  # type: ignore[attr-defined]

    async def accepted(self, configured_id: int, *, now: dt.datetime) -> bool:
        """The chat took a message again; True when this ends an episode. The rows that waited
        for it (in backoff, up to minutes) are due at once."""
        updated = await self.session.execute(
            update(GroupChat)
            .where(GroupChat.configured_id == configured_id, GroupChat.refused_since.is_not(None))
            .values(refused_since=None, refusal=None)
        )
        await self.session.execute(
            update(Outbox)
            .where(
                Outbox.state == OutboxState.PENDING.value,
                Outbox.last_error.startswith(CHAT_REFUSED),
                Outbox.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
        )
        return bool(updated.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class QueuedRow:
    """A row queued in the current transaction (listed in session.info["outbox_rows"])."""

    id: int
    kind: str
    target: str
    reporter_id: int | None


@dataclass(frozen=True)
class ClaimedRow:
    id: int
    kind: str
    target: str
    reporter_id: int | None
    payload: dict[str, Any]
    attempts: int
    progress: int
    sent_message_id: int | None
    report_id: int | None = None
    priority: int = 1
    # The claim's expiry as written; it doubles as the claim's token (see renew_claim).
    claimed_until: dt.datetime | None = None


@dataclass(frozen=True)
class OutboxBacklog:
    pending: dict[str, int]  # by target
    oldest_pending_at: dt.datetime | None
    dead: int
    # Rows to a group that refuses the bot's messages for now
    # (bot/outbox/worker.py, _group_refused).
    waiting_for_chat: int = 0


def _aggregate_time(value: Any) -> dt.datetime | None:
    """A MIN()/MAX() of a UTC column: aggregates bypass the column type on SQLite."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value if isinstance(value, dt.datetime) else None


class OutboxRepository:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def notice_under_card(self, report_id: int, html_text: str, *, key: str) -> None:
        """An urgent message to the moderators, as a reply to the report's card when it is known:
        what could not reach the reporter, said where the team looks. `html_text` is escaped."""
        alert = await self.alert_of(report_id)
        await self.enqueue(
            kind="undelivered",
            target="moderators",
            payload={
                "messages": [
                    {
                        "type": "text",
                        "html": html_text,
                        "reply_to_message_id": alert.sent_message_id if alert else None,
                    }
                ]
            },
            idempotency_key=key,
            report_id=report_id,
            priority=OutboxPriority.URGENT,
        )

    async def enqueue(
        self,
        *,
        kind: str,
        target: str,
        payload: dict[str, Any],
        idempotency_key: str,
        report_id: int | None = None,
        reporter_id: int | None = None,
        priority: int = OutboxPriority.NORMAL,
    ) -> int | None:
        """Queue a row; its id, or None when a row with the same idempotency key exists.

        The rows queued in this session are listed in `session.info["outbox_rows"]`, so that the
        update middleware can have its own chat's sent right after its commit
        (bot/services/replies.py).
        """
        stmt = _insert_ignoring_conflicts(
            self.session,
            Outbox,
            {
                "kind": kind,
                "target": target,
                "payload_enc": self.keyring.encrypt_json(payload),
                "key_id": self.keyring.server_key_id,
                "idempotency_key": idempotency_key,
                "report_id": report_id,
                "reporter_id": reporter_id,
                "state": OutboxState.PENDING.value,
                "priority": int(priority),
                "attempts": 0,
                "progress": 0,
                "next_attempt_at": utcnow(),
                "created_at": utcnow(),
            },
        )
        row_id = await self.session.scalar(stmt.returning(Outbox.id))
        self.session.info["outbox_enqueued"] = True
        if row_id is None:
            return None
        queued = QueuedRow(int(row_id), kind, target, reporter_id)
        self.session.info.setdefault("outbox_rows", []).append(queued)
        return queued.id

    async def claim_due(
        self,
        *,
        now: dt.datetime,
        limit: int,
        lease: dt.timedelta,
        skip_targets: Sequence[str] = (),
    ) -> list[ClaimedRow]:
        """Claim due rows for this worker. On PostgreSQL rows another replica holds are skipped
        (FOR UPDATE SKIP LOCKED); an expired claim (a crashed worker) is taken over."""
        query = (
            select(Outbox)
            .where(
                Outbox.state == OutboxState.PENDING.value,
                Outbox.next_attempt_at <= now,
                or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now),
                Outbox.target.not_in(skip_targets),
            )
            .order_by(Outbox.priority, Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(query)).scalars().all()
        return self._claim(rows, now + lease)

    async def claim_rows(
        self, row_ids: Sequence[int], *, now: dt.datetime, lease: dt.timedelta
    ) -> list[ClaimedRow]:
        """Claim these rows, in id order, if they are due and nobody holds them."""
        if not row_ids:
            return []
        query = (
            select(Outbox)
            .where(
                Outbox.id.in_(row_ids),
                Outbox.state == OutboxState.PENDING.value,
                Outbox.next_attempt_at <= now,
                or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now),
            )
            .order_by(Outbox.id)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(query)).scalars().all()
        return self._claim(rows, now + lease)

    async def earlier_pending(self, row: ClaimedRow) -> bool:
        """Whether a row queued before this one for the same reporter is still unsent: messages
        into one chat go out in the order they were queued."""
        if row.target != "reporter" or row.reporter_id is None:
            return False
        earlier = await self.session.scalar(
            select(Outbox.id)
            .where(
                Outbox.reporter_id == row.reporter_id,
                Outbox.target == "reporter",
                Outbox.state == OutboxState.PENDING.value,
                Outbox.id < row.id,
            )
            .limit(1)
        )
        return earlier is not None

    async def last_prompt(self, reporter_id: int, *, before: int, kind: str) -> int | None:
        """The message id of the last question sent into a reporter's chat before row `before`
        (rows of `kind` record their question's id as they send it)."""
        found = await self.session.scalar(
            select(Outbox.sent_message_id)
            .where(
                Outbox.reporter_id == reporter_id,
                Outbox.target == "reporter",
                Outbox.kind == kind,
                Outbox.sent_message_id.is_not(None),
                Outbox.id < before,
            )
            .order_by(Outbox.id.desc())
            .limit(1)
        )
        return int(found) if found is not None else None

    def _claim(self, rows: Sequence[Outbox], until: dt.datetime) -> list[ClaimedRow]:
        claimed = []
        for row in rows:
            row.claimed_until = until
            payload = self.keyring.decrypt_json(row.payload_enc) if row.payload_enc else {}
            claimed.append(
                ClaimedRow(
                    id=row.id,
                    kind=row.kind,
                    target=row.target,
                    reporter_id=row.reporter_id,
                    payload=payload,
                    attempts=row.attempts,
                    progress=row.progress,
                    sent_message_id=row.sent_message_id,
                    report_id=row.report_id,
                    priority=row.priority,
                    claimed_until=until,
                )
            )
        return claimed

    def _unannounced(self, now: dt.datetime) -> Any:
        # Whatever its schedule: an alert held back by the group's pace must still be announced.
        return (
            Outbox.kind == "alert",
            Outbox.state == OutboxState.PENDING.value,
            Outbox.announced_at.is_(None),
            Outbox.progress == 0,
            or_(Outbox.claimed_until.is_(None), Outbox.claimed_until < now),
        )

    async def unannounced_alerts(self, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        """How many alerts moderators have not seen in any form yet, and since when."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(Outbox.created_at)).where(*self._unannounced(now))
            )
        ).one()
        oldest = row[1]
        if isinstance(oldest, dt.datetime) and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)  # aggregates bypass the column type on SQLite
        elif isinstance(oldest, str):
            oldest = dt.datetime.fromisoformat(oldest).replace(tzinfo=dt.UTC)
        return int(row[0] or 0), oldest

    async def claim_unannounced(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta
    ) -> list[ClaimedRow]:
        query = (
            select(Outbox)
            .where(*self._unannounced(now))
            .order_by(Outbox.priority, Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(query)).scalars().all()
        return self._claim(rows, now + lease)

    async def mark_announced(self, row_ids: Sequence[int], *, now: dt.datetime) -> None:
        """Listed in a digest: the full card follows when the chat has room for it."""
        await self.session.execute(
            update(Outbox)
            .where(Outbox.id.in_(row_ids))
            .values(
                announced_at=now,
                priority=OutboxPriority.BACKGROUND.value,
                claimed_until=None,
            )
        )

    async def renew_claim(
        self, row_id: int, *, held_until: dt.datetime, until: dt.datetime
    ) -> bool:
        """Extend our claim; False when it is no longer ours (it ran out and another took it).

        The expiry we wrote is the token: another replica's claim would have written its own.
        """
        result = await self.session.execute(
            update(Outbox)
            .where(
                Outbox.id == row_id,
                Outbox.claimed_until == held_until,
                Outbox.state == OutboxState.PENDING.value,
            )
            .values(claimed_until=until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def backlog(self) -> OutboxBacklog:
        """What waits in the outbox, for /healthz and /metrics."""
        return await self.backlog_of(self.session)

    @staticmethod
    async def backlog_of(session: AsyncSession) -> OutboxBacklog:
        pending: dict[str, int] = {}
        oldest: dt.datetime | None = None
        rows = await session.execute(
            select(Outbox.target, func.count(), func.min(Outbox.created_at))
            .where(Outbox.state == OutboxState.PENDING.value)
            .group_by(Outbox.target)
        )
        for target, count, first in rows:
            pending[str(target)] = int(count)
            first_at = _aggregate_time(first)
            if first_at is not None and (oldest is None or first_at < oldest):
                oldest = first_at
        dead = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.state == OutboxState.DEAD.value)
        )
        waiting = await session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(
                Outbox.state == OutboxState.PENDING.value,
                Outbox.last_error.startswith(CHAT_REFUSED),
            )
        )
        return OutboxBacklog(pending, oldest, int(dead or 0), int(waiting or 0))

    async def release(self, row_id: int, *, at: dt.datetime) -> None:
        """Give a claimed row back untried (no slot to send it now)."""
        await self.session.execute(
            update(Outbox).where(Outbox.id == row_id).values(claimed_until=None, next_attempt_at=at)
        )

    async def alert_of(self, report_id: int) -> Outbox | None:
        return await self.session.scalar(
            select(Outbox).where(Outbox.kind == "alert", Outbox.report_id == report_id)
        )

    async def move_card(self, report_id: int, message_id: int) -> None:
        """The report's card was posted again as `message_id` (the old one was gone)."""
        await self.session.execute(
            update(Outbox)
            .where(Outbox.kind == "alert", Outbox.report_id == report_id)
            .values(sent_message_id=message_id)
        )

    async def report_for_message(
        self, target: str, message_id: int, *, reporter_id: int | None = None
    ) -> tuple[int, str] | None:
        """Which report a sent message belongs to (a card, a question, an answer).

        Message ids are counted per chat, so a reporter's chat is told apart by reporter_id.
        """
        conditions = [Outbox.target == target, Outbox.sent_message_id == message_id]
        if reporter_id is not None:
            conditions.append(Outbox.reporter_id == reporter_id)
        row = (
            await self.session.execute(
                select(Outbox.report_id, Outbox.kind)
                .where(*conditions)
                .order_by(Outbox.id.desc())
                .limit(1)
            )
        ).first()
        if row is None or row.report_id is None:
            return None
        return int(row.report_id), str(row.kind)

    async def replace_payload(self, row_id: int, payload: dict[str, Any]) -> None:
        await self.session.execute(
            update(Outbox)
            .where(Outbox.id == row_id)
            .values(payload_enc=self.keyring.encrypt_json(payload))
        )

    async def superseded(self, row: ClaimedRow) -> bool:
        """A later edit of the same card is queued: this one need not be sent."""
        newer = await self.session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(
                Outbox.kind == row.kind,
                Outbox.report_id == row.report_id,
                Outbox.id > row.id,
                Outbox.state != OutboxState.DEAD.value,
            )
        )
        return bool(newer)

    async def dead_letters(self, limit: int = 20) -> list[Outbox]:
        result = await self.session.execute(
            select(Outbox)
            .where(Outbox.state == OutboxState.DEAD.value)
            .order_by(Outbox.dead_at.desc())
            .limit(limit)
        )
        return list(result.scalars())

    async def resend_dead(self, row_ids: Sequence[int] | None, *, now: dt.datetime) -> list[int]:
        return await self.resend_dead_rows(self.session, row_ids, now=now)

    @staticmethod
    async def resend_dead_rows(
        session: AsyncSession, row_ids: Sequence[int] | None, *, now: dt.datetime
    ) -> list[int]:
        """Queue dead letters again (all when `row_ids` is None), as new; their ids.

        Only rows whose content is still kept can go again (retention may have erased it).
        """
        conditions = [Outbox.state == OutboxState.DEAD.value, Outbox.payload_enc.is_not(None)]
        if row_ids is not None:
            conditions.append(Outbox.id.in_(row_ids))
        ids = list((await session.execute(select(Outbox.id).where(*conditions))).scalars())
        if ids:
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids))
                .values(
                    state=OutboxState.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    claimed_until=None,
                    dead_at=None,
                )
            )
        return sorted(int(row_id) for row_id in ids)

    async def record_progress(self, row_id: int, progress: int, message_id: int | None) -> None:
        values: dict[str, Any] = {"progress": progress}
        if message_id is not None:
            values["sent_message_id"] = message_id
        await self.session.execute(update(Outbox).where(Outbox.id == row_id).values(**values))

    async def mark_sent(self, row_id: int, *, now: dt.datetime) -> None:
        """Sent: what it said is erased with the same write, alerts included (a card is never
        written again; README, "What a seized server gives away")."""
        await self.session.execute(
            update(Outbox)
            .where(Outbox.id == row_id)
            .values(
                state=OutboxState.SENT.value,
                sent_at=now,
                claimed_until=None,
                last_error=None,
                payload_enc=None,
            )
        )

    async def retry_later(
        self, row_id: int, *, at: dt.datetime, error: str, count_attempt: bool = True
    ) -> None:
        values: dict[str, Any] = {
            "next_attempt_at": at,
            "claimed_until": None,
            "last_error": error[:200],
        }
        if count_attempt:
            values["attempts"] = Outbox.attempts + 1
        await self.session.execute(update(Outbox).where(Outbox.id == row_id).values(**values))

    async def mark_dead(self, row_id: int, *, now: dt.datetime, error: str) -> None:
        await self.session.execute(
            update(Outbox)
            .where(Outbox.id == row_id)
            .values(
                state=OutboxState.DEAD.value,
                dead_at=now,
                claimed_until=None,
                last_error=error[:200],
                attempts=Outbox.attempts + 1,
            )
        )

    async def next_due(self) -> dt.datetime | None:
        """When the next pending row falls due (or its claim runs out), if any is pending."""
        # A row can be claimed once it is due and nobody's claim on it holds: the later of both.
        ready = case(
            (Outbox.claimed_until > Outbox.next_attempt_at, Outbox.claimed_until),
            else_=Outbox.next_attempt_at,
        )
        value = await self.session.scalar(
            select(func.min(ready)).where(Outbox.state == OutboxState.PENDING.value)
        )
        return _aggregate_time(value)

    async def pending_count(self) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.state == OutboxState.PENDING.value)
        )
        return int(count or 0)


async def dead_letter_lines(session: AsyncSession, *, limit: int = 50) -> list[str]:
    """`reportbot outbox`: the backlog, then one line per dead letter (no content, no ids of
    people): number, kind, target, report code, when it died, attempts, the error's kind."""
    backlog = await OutboxRepository.backlog_of(session)
    lines = [
        f"pending: {sum(backlog.pending.values())} "
        f"(waiting for a refusing chat: {backlog.waiting_for_chat}); dead: {backlog.dead}"
    ]
    rows = (
        await session.execute(
            select(Outbox, Report.public_code)
            .outerjoin(Report, Report.id == Outbox.report_id)
            .where(Outbox.state == OutboxState.DEAD.value)
            .order_by(Outbox.dead_at.desc())
            .limit(limit)
        )
    ).all()
    for row, code in rows:
        when = row.dead_at.isoformat(timespec="seconds") if row.dead_at else "-"
        kept = "" if row.payload_enc is not None else " (content erased: cannot be resent)"
        lines.append(
            f"#{row.id}\t{row.kind}\t{row.target}\t{code or '-'}\t{when}\t"
            f"{row.attempts}\t{row.last_error or ''}{kept}"
        )
    return lines


async def resend_dead_letters(session: AsyncSession, row_ids: Sequence[int] | None) -> list[int]:
    """Queue dead letters again (None: all that can still be sent)."""
    return await OutboxRepository.resend_dead_rows(session, row_ids, now=utcnow())


class StaffRepository:
    """Who may act in the moderator chat, by Telegram user id (staff are not reporters)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def role_of(self, user_id: int) -> StaffRole | None:
        row = await self.session.scalar(
            select(Staff).where(Staff.user_id == user_id, Staff.active.is_(True))
        )
        return StaffRole(row.role) if row is not None else None

    async def set_role(self, user_id: int, role: StaffRole) -> None:
        row = await self.session.scalar(select(Staff).where(Staff.user_id == user_id))
        if row is None:
            self.session.add(
                Staff(user_id=user_id, role=role.value, active=True, created_at=utcnow())
            )
        else:
            row.role = role.value
            row.active = True

    async def deactivate(self, user_id: int) -> bool:
        row = await self.session.scalar(select(Staff).where(Staff.user_id == user_id))
        if row is None or not row.active:
            return False
        row.active = False
        return True

    async def active(self) -> list[Staff]:
        result = await self.session.execute(
            select(Staff).where(Staff.active.is_(True)).order_by(Staff.role, Staff.user_id)
        )
        return list(result.scalars())


class ModerationEvents:
    """The audit trail: who did what to which report, and when. Never report content."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        report_id: int | None,
        actor: int | None,
        actor_name: str | None,
        action: str,
        note: str | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        self.session.add(
            ModerationEvent(
                report_id=report_id,
                actor=actor,
                actor_name=(actor_name or "")[:64] or None,
                action=action,
                note=note,
                at=at or utcnow(),
            )
        )
        await self.session.flush()

    async def of_report(self, report_id: int) -> list[ModerationEvent]:
        result = await self.session.execute(
            select(ModerationEvent)
            .where(ModerationEvent.report_id == report_id)
            .order_by(ModerationEvent.at, ModerationEvent.id)
        )
        return list(result.scalars())

    async def acted(self, report_id: int) -> list[ModerationEvent]:
        """What the team did to a report, oldest first: refused attempts (a forged or stale
        button, an action not allowed) are audited beside them but changed nothing."""
        return [e for e in await self.of_report(report_id) if not e.action.startswith("refused")]


class AlertCards:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, report_id: int) -> None:
        self.session.add(AlertCard(report_id=report_id, version=0, created_at=utcnow()))

    async def get(self, report_id: int) -> AlertCard | None:
        return await self.session.scalar(select(AlertCard).where(AlertCard.report_id == report_id))
