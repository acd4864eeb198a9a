"""Database models (README, "What is stored, and how"): facets in the clear, content sealed
or encrypted.

No raw Telegram or Facebook id is stored anywhere: reporters are found by a keyed hash and reached
through an id encrypted with the server key.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReportStatus(enum.StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    NEEDS_INFO = "needs_info"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CLOSED = "closed"


class StaffRole(enum.StrEnum):
    MODERATOR = "moderator"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class Reporter(Base):
    __tablename__ = "reporters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Chat id encrypted with the server key, to reply; erased with the link.
    external_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the reporter accepted the consent notice (no content: a facet of the reporter).
    consented_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Flood control: a fixed one-minute window of updates from this reporter. The row is locked
    # while an update is handled, so replicas count together.
    rate_window_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rate_window_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A team question is open: the reporter's next message outside a draft answers it.
    answering_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", use_alter=True, name="fk_reporters_answering_report_id_reports")
    )
    answering_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_status_incident_date", "status", "incident_date"),
        Index("ix_reports_type_incident_date", "incident_type", "incident_date"),
        Index("ix_reports_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_code: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(64))
    incident_type: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(32))
    incident_date: Mapped[dt.date | None] = mapped_column(Date)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.NEW.value)
    language: Mapped[str] = mapped_column(String(8))
    consent: Mapped[str | None] = mapped_column(String(16))
    contact: Mapped[str | None] = mapped_column(String(16))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    assigned_to: Mapped[int | None] = mapped_column(BigInteger)
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reporters.id", ondelete="SET NULL"), index=True
    )
    subject_index: Mapped[str | None] = mapped_column(String(32), index=True)
    # Marks for moderators, comma-separated ("new_reporter", "wave"): how the report arrived,
    # never what it says.
    intake_flags: Mapped[str | None] = mapped_column(String(64))
    sealed_payload: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Draft(Base):
    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reporter_id: Mapped[int] = mapped_column(
        ForeignKey("reporters.id", ondelete="CASCADE"), unique=True
    )
    form: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(32))
    # The engine state (answers, path) encrypted with the server key.
    state_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # Message ids to clean up later, encrypted too: they reveal conversation length.
    message_ids_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class OutboxPriority(enum.IntEnum):
    URGENT = 0  # detention cards, check-in alarms
    NORMAL = 1
    BACKGROUND = 2  # full cards of reports already announced in a burst digest


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next_attempt", "state", "next_attempt_at"),
        Index("ix_outbox_target_sent_message_id", "target", "sent_message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # "moderators", "coordinators", or "reporter" (then reporter_id says whom).
    target: Mapped[str] = mapped_column(String(16))
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reporters.id", ondelete="SET NULL"), index=True
    )
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING.value)
    priority: Mapped[int] = mapped_column(Integer, default=OutboxPriority.NORMAL.value)
    # When a burst digest listed this alert; its full card then follows at the group's pace.
    announced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # How far a multi-message delivery (card, then its attachments) got; resumes there.
    progress: Mapped[int] = mapped_column(Integer, default=0)
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dead_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedUpdate(Base):
    __tablename__ = "processed_updates"
    __table_args__ = (UniqueConstraint("channel", "update_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[str] = mapped_column(String(64))
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class FloodMark(Base):
    """One submitted report, counted for its account's hourly limit (FLOOD_REPORTS_PER_HOUR).

    No content and no report id: only a keyed hash of the account (Keyring.flood_mark), which
    /forget does not erase, so an erasure cannot reset the count. Swept after the window
    (README, Storage)."""

    __tablename__ = "flood_marks"
    __table_args__ = (Index("ix_flood_marks_account_created_at", "account", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class AlertCard(Base):
    """A report's card in the moderator chat: how many times its buttons changed (each edit's
    idempotency key). No text of the card is kept: a status change edits the buttons alone
    (bot/services/cards.py; README, "What a seized server gives away")."""

    __tablename__ = "alert_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModerationEvent(Base):
    __tablename__ = "moderation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    actor: Mapped[int | None] = mapped_column(BigInteger)
    # The staff member's display name as Telegram gave it, to show on the card.
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Coordinators' figures (migration 0002) -----------------------------------------------------

# Covering indexes for the counting queries (storage/stats.py): status and the date that places
# a report in a period lead, so a week's query reads narrow ranges of index entries; the facets
# it groups by and filters on follow, so it never visits the table rows (index-only scans).
Index(
    "ix_reports_stats_incident",
    Report.status,
    Report.incident_date,
    Report.incident_type,
    Report.region,
    Report.source,
    Report.duplicate_of_id,
)
Index(
    "ix_reports_stats_submitted",
    Report.created_at,
    Report.status,
    Report.incident_type,
    Report.region,
    Report.source,
    Report.duplicate_of_id,
)


class ScheduledRun(Base):
    """One run of a periodic job (the weekly digest) per period, shared by all replicas.

    The unique (kind, period_key) row is the claim: whoever inserts it runs the job, with a lease
    (`claimed_until`) so another replica takes over after a crash; `done_at` marks it finished,
    across restarts. `outcome` says whether it was sent or only recorded as the starting point.
    """

    __tablename__ = "scheduled_runs"
    __table_args__ = (UniqueConstraint("kind", "period_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    period_key: Mapped[str] = mapped_column(String(32))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Reporter safety (migration 0004) ------------------------------------------------------------


class TrackedMessage(Base):
    """A message in a reporter's private chat that /wipe may delete: its id, nothing else.

    Telegram lets a bot delete private-chat messages for 48 hours; rows older than that are
    useless and are swept, and a wipe or an erasure forgets them at once.
    """

    __tablename__ = "tracked_messages"
    __table_args__ = (Index("ix_tracked_messages_reporter_id_at", "reporter_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("reporters.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Attachment(Base):
    """A reporter's image after its metadata was stripped, waiting for the report to be sent.

    Encrypted with the server key; moved into the alert's outbox payload at submission and
    deleted, or deleted with the draft it belongs to.
    """

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reporter_id: Mapped[int] = mapped_column(
        ForeignKey("reporters.id", ondelete="CASCADE"), index=True
    )
    data_enc: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class CheckinState(enum.StrEnum):
    SCHEDULED = "scheduled"  # waiting for the appointment plus CHECKIN_DELAY
    ASKED = "asked"  # "are you back and safe?" queued; waiting for an answer
    SAFE = "safe"
    HELP = "help"  # the reporter pressed "I need help"
    MISSED = "missed"  # no answer within CHECKIN_TIMEOUT: moderators were alerted
    CANCELLED = "cancelled"  # the reporter's link was erased


class Checkin(Base):
    """A safety check-in after a summons appointment (README, "What is stored, and how")."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_state_due_at", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reporters.id", ondelete="SET NULL"), index=True
    )
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default=CheckinState.SCHEDULED.value)
    asked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answer_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# --- Messenger inbox (migration 0005_messenger_inbox) -------------------------------------------


class MessengerInboxEvent(Base):
    """A Messenger webhook event, stored before Meta is answered and kept until it is processed.

    Meta retries a delivery not answered 200 in time, so the webhook stores, answers, and leaves
    the work to a background task (handlers/messenger/inbox.py). The event is what the person wrote:
    it is encrypted with the server key and deleted by the transaction that processes it. The
    sender is a keyed hash of the person's page-scoped id, enough to keep one person's events in
    order and nothing more; `event_key` (unique) makes a repeated delivery one row.
    """

    __tablename__ = "messenger_inbox"
    __table_args__ = (Index("ix_messenger_inbox_sender_id", "sender", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(64))
    event_enc: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GroupChat(Base):
    """A configured group (MODERATOR_CHAT_ID, COORDINATOR_CHAT_ID) as Telegram knows it now.

    Telegram gives a group a new id when it becomes a supergroup ("migrate_to_chat_id",
    core.telegram.org/bots/api#responseparameters); every replica reads the id it must use from
    here. `refused_since` marks an episode in which the chat refuses the bot's messages (no right
    to post, the bot removed): alerts wait for it, and the admins are told once per episode.
    """

    __tablename__ = "group_chats"

    configured_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    migrated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refused_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refusal: Mapped[str | None] = mapped_column(String(80))


class WebMailbox(Base):
    """The web form's way back to an anonymous reporter (README, "The web form").

    One per report sent from the web. The passphrase shown once after sending is never stored:
    `salt` and argon2id turn it into a key pair, and only the public half is kept. Messages to the
    reporter are sealed to it, so neither the host nor a copy of the database can read them; the
    same derivation checks a passphrase (the public key must match).
    """

    __tablename__ = "web_mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), unique=True)
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reporters.id", ondelete="SET NULL"), index=True
    )
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # A keyed hash of the one-time token that lets the reporter answer after opening the box.
    answer_token: Mapped[str | None] = mapped_column(String(64))
    answer_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebMessage(Base):
    """A message for a web reporter (a team question, a status notice), sealed to the mailbox."""

    __tablename__ = "web_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("web_mailboxes.id", ondelete="CASCADE"), index=True
    )
    # Outbox row and message index: a redelivered row is stored once.
    delivery_key: Mapped[str] = mapped_column(String(96), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
