"""What a reporter controls about their own traces: consent, clearing the chat, erasing the link.

- Consent: shown before the first report; the time it was accepted is stored on the reporter
  (no content). Nothing of a report is collected before it.
- Wipe (/wipe, or the buttons under the receipt): the bot deletes every message of the private
  chat it still may (its own and the reporter's, within Telegram's 48 hours), forgets their ids,
  drops an unfinished report and leaves one neutral line, with the report codes if the reporter
  chose to keep them.
- Forget (/forget, confirmed; on the web form, "erase my mailbox"): erases the link between the
  reporter and their reports (see storage.safety.Erasure). The sealed reports stay for the
  record, and so do the moderators' card bodies: they belong to the report, not to the
  reporter, and the team still triages it. The same erasure runs automatically RETENTION_DAYS
  after the reporter's last activity (bot/jobs/sweeper.py).

Channel-neutral: the adapter passes a function that deletes messages in its own chat.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import ServiceContext
from handlers.engine.render import Translator
from handlers.engine.text import N_
from storage.models import Report, Reporter
from storage.repositories import Drafts
from storage.safety import DELETABLE_FOR, Attachments, Erasure, TrackedMessages

log = logging.getLogger(__name__)

CONSENT = N_(
    "Before you report, please read this.\n\n"
    "• What is collected: your answers and the files you send. Hidden data in pictures, such "
    "as the place where they were taken, is removed.\n"
    "• Who sees it: the human-rights defenders of the coalition who check reports. Reports "
    "are stored encrypted; only the coalition can open them.\n"
    "• How long: the link between your account and your reports is erased {period} after your "
    "last message, or at once with /forget. The reports stay, without your account.\n"
    "• {platform} can see this conversation and may hand over your account data if the "
    "authorities demand it.\n"
    "• To stay safer: write from a second account, do not give your own name, and clear this "
    "chat with /wipe when you are done."
)
CONSENT_QUESTION = N_("Do you agree?")
NEUTRAL_LINE = N_("The chat was cleared.")

Deleter = Callable[[Sequence[int]], Awaitable[None]]


class Privacy:
    def __init__(self, session: AsyncSession, context: ServiceContext) -> None:
        self.session = session
        self.context = context
        self.tracked = TrackedMessages(session)
        self.drafts = Drafts(session, context.keyring)
        self.attachments = Attachments(session, context.keyring)
        self.erasure = Erasure(session)

    # --- consent -------------------------------------------------------------------------------
    @staticmethod
    def needs_consent(reporter: Reporter) -> bool:
        return reporter.consented_at is None

    def accept_consent(self, reporter: Reporter) -> None:
        reporter.consented_at = self.context.now()

    def consent_text(self, t: Translator, *, platform: str = "Telegram") -> str:
        days = self.context.policy.retention.days
        period = t.plural("{n} day", "{n} days", days)
        return t(CONSENT, period=period, platform=platform) + "\n\n" + t(CONSENT_QUESTION)

    # --- wipe ----------------------------------------------------------------------------------
    async def recent_codes(self, reporter: Reporter) -> list[str]:
        """Codes of the reporter's reports whose receipts a wipe would delete."""
        since = self.context.now() - DELETABLE_FOR
        result = await self.session.execute(
            select(Report.public_code)
            .where(Report.reporter_id == reporter.id, Report.created_at > since)
            .order_by(Report.id)
        )
        return list(result.scalars())

    async def wipe(
        self,
        reporter: Reporter,
        delete: Deleter,
        *,
        keep_codes: bool,
        also: Sequence[int] = (),
    ) -> list[str]:
        """Delete the chat's tracked messages and forget them; returns the codes to leave.

        `also`: ids the adapter knows are in the chat (the message whose button was pressed: a
        receipt can be pressed before the worker has recorded sending it). The adapter then
        sends the neutral line (with those codes, if any).
        """
        codes = await self.recent_codes(reporter) if keep_codes else []
        tracked = await self.tracked.deletable(reporter.id, self.context.now())
        message_ids = sorted({*tracked, *also})
        await delete(message_ids)
        await self.tracked.forget(reporter.id)
        # The unfinished report's questions are gone from the screen; so is the report.
        await self.drafts.delete(reporter.id)
        await self.attachments.forget(reporter.id)
        log.info("chat cleared for reporter %s (%d messages)", reporter.id, len(message_ids))
        return codes

    def neutral_line(self, t: Translator) -> str:
        return t(NEUTRAL_LINE)

    # --- forget --------------------------------------------------------------------------------
    async def forget(self, reporter: Reporter) -> bool:
        """Erase the reporter's link now (they asked); False if it was already erased."""
        await self.session.flush()  # the erasure's UPDATE must see this update's own changes
        erased = await self.erasure.erase(reporter.id, reason="forget", now=self.context.now())
        await self.session.refresh(reporter)
        log.info("reporter %s erased on request (%d reports unlinked)", reporter.id, len(erased))
        return reporter.erased_at is not None
