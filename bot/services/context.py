"""What the services need besides a session: long-lived objects shared by every update."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from handlers.engine.render import Catalogs, Translator
from handlers.engine.text import Msg
from storage.sealing import Keyring

if TYPE_CHECKING:
    from bot.settings import Settings


@dataclass(frozen=True)
class Actor:
    """A staff member acting in the moderator chat, as Telegram identified them."""

    user_id: int
    name: str


@dataclass(frozen=True)
class Outcome:
    """What to tell the person who acted."""

    ok: bool
    message: Msg


@dataclass(frozen=True)
class SafetyPolicy:
    """Reporter-safety limits and delays (settings: README, "Reporter safety")."""

    retention: dt.timedelta = dt.timedelta(days=90)
    messages_per_minute: int = 60
    reports_per_hour: int = 3
    intake_cap_per_hour: int = 5000
    # A report from someone who first wrote to the bot this recently is marked on the card.
    new_reporter_window: dt.timedelta = dt.timedelta(minutes=30)
    # This many reports from everyone within wave_window mark the reports as arriving in a wave.
    wave_reports: int = 20
    wave_window: dt.timedelta = dt.timedelta(minutes=10)
    checkin_delay: dt.timedelta = dt.timedelta(hours=3)
    checkin_timeout: dt.timedelta = dt.timedelta(hours=1)
    # The rule: an urgent card still "new" after 30 minutes is announced again, a few
    # times, then left to the people on duty.
    reannounce_after: dt.timedelta = dt.timedelta(minutes=30)
    reannounce_times: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> SafetyPolicy:
        return cls(
            retention=dt.timedelta(days=settings.retention_days),
            messages_per_minute=settings.flood_messages_per_minute,
            reports_per_hour=settings.flood_reports_per_hour,
            intake_cap_per_hour=settings.intake_reports_per_hour,
            new_reporter_window=dt.timedelta(minutes=settings.new_reporter_minutes),
            wave_reports=settings.wave_reports,
            wave_window=dt.timedelta(minutes=settings.wave_minutes),
            checkin_delay=settings.checkin_delay,
            checkin_timeout=settings.checkin_timeout,
        )


def _always(channel: str, last_seen: dt.datetime, at: dt.datetime) -> bool:
    return True


@dataclass(frozen=True)
class ServiceContext:
    keyring: Keyring
    catalogs: Catalogs
    tz: dt.tzinfo
    moderator_language: str
    clock: Callable[[], dt.datetime]
    admin_ids: frozenset[int] = frozenset()
    # Messenger: moderators may answer with the HUMAN_AGENT tag for 7 days (FACEBOOK_HUMAN_AGENT).
    messenger_human_agent: bool = False
    # HELP_CONTACTS: a hotline or a lawyer on duty, in every receipt and in /help.
    help_contacts: str = ""
    # MESSENGER_SOURCES: the m.me refs kept as a report's source; any other is dropped.
    messenger_sources: frozenset[str] = frozenset()
    policy: SafetyPolicy = field(default_factory=SafetyPolicy)
    # Whether an automated message due at a time can reach a reporter of a channel who last
    # wrote at `last_seen` (Messenger's 24-hour window: bot/services/reach.py, wired by
    # bot/app.py): (channel, last_seen, at) -> bool.
    may_write_unasked: Callable[[str, dt.datetime, dt.datetime], bool] = _always

    def now(self) -> dt.datetime:
        return self.clock()

    def translator(self, language: str) -> Translator:
        return Translator(self.catalogs, language, self.tz)

    @property
    def moderators_t(self) -> Translator:
        return self.translator(self.moderator_language)
