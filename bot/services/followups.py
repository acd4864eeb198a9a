"""What a reporter writes after sending: an addition to one of their reports, never lost.

The rule (README, "Follow-ups"): outside an unfinished report, anything a reporter writes (text,
a photo, a document), with or without the report's code, is held and offered as an addition to
their latest open report, or to the one they choose when they have several; one tap passes it on
as a reply under that report's card. The report-type menu comes back only when the reporter asks
for a new report. A message answering a team question (a reply to it, or within its window) goes
straight on instead (bot.services.moderation, `answered_report`).

The held messages live in the reporter's encrypted draft row, under "followup", so they expire
and are erased with it (/new, /cancel, /forget, /wipe, the 24-hour draft sweep).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.services.intake import DRAFT_TTL, Intake
from bot.services.moderation import Moderation
from handlers.engine.text import N_, Msg
from storage.models import Report, Reporter, ReportStatus

# Held messages per reporter: an album, or a few lines written one after another.
MAX_HELD = 10
# How many reports are offered to choose from (the newest ones).
MAX_CHOICES = 3
FOLLOWUP_KEY = "followup"


@dataclass(frozen=True)
class Choice:
    report_id: int
    code: str


@dataclass(frozen=True)
class Offer:
    """Ask which report the held messages add to: one choice per report, newest first."""

    message: Msg
    choices: tuple[Choice, ...]


class FollowUps:
    def __init__(self, intake: Intake, moderation: Moderation) -> None:
        self.intake = intake
        self.moderation = moderation

    async def open_reports(self, reporter: Reporter) -> list[Report]:
        # A closed report's reporter can no longer be written to (Moderation.ask_reporter).
        return await self.intake.reports.of_reporter(
            reporter.id, exclude_statuses=[ReportStatus.CLOSED], limit=MAX_CHOICES
        )

    async def _state(self, reporter: Reporter) -> dict[str, Any] | None:
        stored = await self.intake.drafts.load(reporter.id, self.intake.now())
        return dict(stored.state) if stored is not None else None

    async def _save(self, reporter: Reporter, state: dict[str, Any]) -> None:
        await self.intake.drafts.save(
            reporter.id,
            form=None,
            step=FOLLOWUP_KEY if state.get(FOLLOWUP_KEY) else None,
            state=state,
            message_ids=[],
            expires_at=self.intake.now() + DRAFT_TTL,
        )

    async def hold(self, reporter: Reporter, content: dict[str, Any]) -> Offer | None:
        """Keep a message for the team and say where it can go; None when the reporter has no
        open report (or is writing one: then the message answers its question)."""
        state = await self._state(reporter) or {}
        if state.get("form"):
            return None
        reports = await self.open_reports(reporter)
        if not reports:
            return None
        held = list(state.get(FOLLOWUP_KEY) or [])[-(MAX_HELD - 1) :]
        held.append(content)
        state[FOLLOWUP_KEY] = held
        await self._save(reporter, state)
        choices = tuple(Choice(report.id, report.public_code) for report in reports)
        if len(choices) == 1:
            message = Msg(
                N_(
                    "Add this to your report {code}? The team will see it under the report. "
                    "To report something new instead, press New report."
                ),
                {"code": choices[0].code},
            )
        else:
            message = Msg(
                N_(
                    "Which of your reports is this about? The team will see it under that "
                    "report. To report something new instead, press New report."
                )
            )
        return Offer(message, choices)

    async def attach(self, reporter: Reporter, report_id: int) -> Msg:
        """Pass the held messages on, under the chosen report's card."""
        state = await self._state(reporter) or {}
        held = list(state.pop(FOLLOWUP_KEY, None) or [])
        reports = {report.id: report for report in await self.open_reports(reporter)}
        report = reports.get(report_id)
        if report is None:
            # A button for someone else's report, or for one closed since: nothing is passed on.
            return Msg(N_("This report can no longer receive additions. /new starts a new one."))
        if not held:
            return Msg(N_("That was already passed to the team."))
        for content in held:
            await self.moderation.forward_answer(reporter, report, content, addition=True)
        await self._save(reporter, state)
        return Msg(
            N_(
                "Added to your report {code}. The team will see it. You can write more at any "
                "time; /new starts a new report."
            ),
            {"code": report.public_code},
        )
