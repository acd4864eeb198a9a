"""Flood and infiltration resistance: per-account limits, a global intake alarm, intake marks.

Every count comes from the database (the reporter's locked row, flood_marks, the reports table),
so several replicas enforce one limit together. An account's reports an hour are counted by a
keyed hash of the account that /forget does not erase (storage.models.FloodMark), so erasing
and starting again does not reset the limit. The global cap (INTAKE_REPORTS_PER_HOUR) refuses
nobody: refusing there would let a few scripted accounts lock every real reporter out during a
crackdown. Past it, reports are still taken, marked as a wave, and the moderators are told once
an hour (README, Threats). The answers speak only of the reader's own pace or of the
service being busy: nothing a reporter sees depends on who else reported whom, so the bot cannot
be used to learn whether a person was already reported.
"""

from __future__ import annotations

import datetime as dt
import enum

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import ServiceContext
from handlers.engine.text import N_, NP_, Msg
from storage.models import OutboxPriority, Reporter
from storage.repositories import OutboxRepository
from storage.safety import FloodCounts

RATE_WINDOW = dt.timedelta(minutes=1)
REPORT_WINDOW = dt.timedelta(hours=1)

TOO_FAST = Msg(N_("You are sending messages too fast. Please wait a minute, then go on."))
OWN_LIMIT = NP_(
    "You can send at most {limit} report an hour. Your report is kept: please press Send "
    "again later.",
    "You can send at most {limit} reports an hour. Your report is kept: please press Send "
    "again later.",
)

CAP_REACHED = N_(
    "⚠️ Reports are arriving faster than the limit set for the bot ({limit} an hour). None are "
    "refused; the new ones are marked as a wave. Many at once may come from one coordinated "
    "source: check them with care."
)

# Marks on the card (bot/services/card_model.py says them).
NEW_REPORTER = "new_reporter"
WAVE = "wave"
# The web form's channel (handlers/web; services do not import the channels). Its reporters have
# no account: each report comes from a fresh draft token, first seen minutes before, always.
WEB = "web"


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
        """Raise SubmissionRefused when this account sent too many reports this hour, and
        count this one (the caller stores the report in the same transaction).

        The account's reporter row is locked for the update (Reporters.find), so two replicas
        count one after the other. Everyone together past INTAKE_REPORTS_PER_HOUR is not
        refused: the moderators are told (`cap_alarm`)."""
        now = self.context.now()
        since = now - REPORT_WINDOW
        limit = self.policy.reports_per_hour
        account = self.context.keyring.flood_mark(reporter.external_hash)
        sent = max(
            await self.counts.marks_since(account, since),
            await self.counts.reports_by(reporter.id, since),
        )
        if sent >= limit:
            raise SubmissionRefused(Msg.counted(OWN_LIMIT, limit, limit=limit))
        await self.counts.add_mark(account, now)

    async def over_cap(self) -> bool:
        since = self.context.now() - REPORT_WINDOW
        return await self.counts.reports_since(since) >= self.policy.intake_cap_per_hour

    async def cap_alarm(self) -> None:
        """Tell the moderators, once an hour, that intake is past its hourly cap."""
        now = self.context.now()
        text = self.context.moderators_t(CAP_REACHED, limit=self.policy.intake_cap_per_hour)
        await OutboxRepository(self.counts.session, self.context.keyring).enqueue(
            kind="intake_cap",
            target="moderators",
            payload={"messages": [{"type": "text", "html": html.quote(text)}]},
            idempotency_key=f"intake-cap:{now:%Y%m%d%H}",
            priority=OutboxPriority.URGENT,
        )

    async def intake_flags(self, reporter: Reporter) -> list[str]:
        """Marks for moderators: a reporter first seen minutes ago, or a sudden wave."""
        now = self.context.now()
        flags: list[str] = []
        # "First wrote minutes before" tells something of an account, which may have been
        # made for a flood; a web reporter is new every time, so it would say nothing and only
        # make every web report in a wave look like one from a throwaway account. Web reports
        # still count towards the wave and the cap like any other.
        new = reporter.first_seen > now - self.policy.new_reporter_window
        if new and reporter.channel != WEB:
            flags.append(NEW_REPORTER)
        recent = await self.counts.reports_since(now - self.policy.wave_window)
        # This report is not stored yet: it is the (recent + 1)th.
        if recent + 1 >= self.policy.wave_reports or await self.over_cap():
            flags.append(WAVE)
        if await self.over_cap():
            await self.cap_alarm()
        return flags
