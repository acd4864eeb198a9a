"""Flood and infiltration resistance: per-reporter limits, a global intake cap, intake marks.

Every count comes from the database (the reporter's locked row, the reports table), so several
replicas enforce one limit together. The answers speak only of the reader's own pace or of the
service being busy: nothing a reporter sees depends on who else reported whom, so the bot cannot
be used to learn whether a person was already reported.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import ServiceContext
from handlers.engine.text import N_, NP_, Msg
from storage.models import Reporter
from storage.safety import FloodCounts

RATE_WINDOW = dt.timedelta(minutes=1)
REPORT_WINDOW = dt.timedelta(hours=1)

TOO_FAST = Msg(N_("You are sending messages too fast. Please wait a minute, then go on."))
BUSY = Msg(
    N_(
        "Very many reports are arriving right now. Your report is kept: please press Send again "
        "in a few minutes."
    )
)
OWN_LIMIT = NP_(
    "You can send at most {limit} report an hour. Your report is kept: please press Send "
    "again later.",
    "You can send at most {limit} reports an hour. Your report is kept: please press Send "
    "again later.",
)

# Marks on the card (handlers/telegram/cards.py renders them).
NEW_REPORTER = "new_reporter"
WAVE = "wave"


class Admission(enum.Enum):
    OK = "ok"
    REFUSE_AND_SAY = "say"  # the first update over the limit: tell the person once
    REFUSE = "refuse"  # later ones in the same minute: drop quietly, do not add to the flood


class SubmissionRefused(Exception):
    """The report was not stored; the draft is kept so the reporter can send it later."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


class FloodGuard:
    def __init__(self, session: AsyncSession, context: ServiceContext) -> None:
        self.context = context
        self.policy = context.policy
        self.counts = FloodCounts(session)

    async def admit_update(self, reporter: Reporter) -> Admission:
        count = await self.counts.count_update(reporter, self.context.now(), RATE_WINDOW)
        limit = self.policy.messages_per_minute
        if count <= limit:
            return Admission.OK
        return Admission.REFUSE_AND_SAY if count == limit + 1 else Admission.REFUSE

    async def check_submission(self, reporter: Reporter) -> None:
        """Raise SubmissionRefused when this reporter, or everyone together, sent too many."""
        since = self.context.now() - REPORT_WINDOW
        limit = self.policy.reports_per_hour
        if await self.counts.reports_by(reporter.id, since) >= limit:
            raise SubmissionRefused(Msg.counted(OWN_LIMIT, limit, limit=limit))
        if await self.counts.reports_since(since) >= self.policy.intake_cap_per_hour:
            raise SubmissionRefused(BUSY)

    async def intake_flags(self, reporter: Reporter) -> list[str]:
        """Marks for moderators: a reporter first seen minutes ago, or a sudden wave."""
        now = self.context.now()
        flags: list[str] = []
        if reporter.first_seen > now - self.policy.new_reporter_window:
            flags.append(NEW_REPORTER)
        recent = await self.counts.reports_since(now - self.policy.wave_window)
        # This report is not stored yet: it is the (recent + 1)th.
        if recent + 1 >= self.policy.wave_reports:
            flags.append(WAVE)
        return flags
