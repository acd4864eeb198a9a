"""Report intake: drafts in, sealed reports and their outbox rows out, in one transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cards import CardService
from bot.context import ServiceContext
from handlers.cards import attachments_of, render_card_body
from handlers.engine.engine import Draft, Submitted
from handlers.engine.text import N_
from handlers.render import Translator
from storage.models import Report, Reporter
from storage.repositories import Drafts, OutboxRepository, Reporters, Reports

# An unfinished report is kept this long after its last answer, then deleted.
DRAFT_TTL = dt.timedelta(hours=24)


class Intake:
    def __init__(self, session: AsyncSession, context: ServiceContext) -> None:
        self.context = context
        self.reporters = Reporters(session, context.keyring)
        self.drafts = Drafts(session, context.keyring)
        self.reports = Reports(session, context.keyring)
        self.outbox = OutboxRepository(session, context.keyring)
        self.cards = CardService(session, context)

    def now(self) -> dt.datetime:
        return self.context.now()

    def translator(self, language: str) -> Translator:
        return self.context.translator(language)

    async def load_draft(self, reporter: Reporter) -> tuple[Draft | None, list[int]]:
        stored = await self.drafts.load(reporter.id, self.now())
        if stored is None:
            return None, []
        return Draft.from_json(stored.state), stored.message_ids

    async def save_draft(
        self, reporter: Reporter, draft: Draft | None, message_ids: list[int]
    ) -> None:
        if draft is None:
            await self.drafts.delete(reporter.id)
            return
        await self.drafts.save(
            reporter.id,
            form=draft.form,
            step=draft.step,
            state=draft.to_json(),
            message_ids=message_ids,
            expires_at=self.now() + DRAFT_TTL,
        )

    async def submit(
        self,
        reporter: Reporter,
        submission: Submitted,
        *,
        channel: str,
        language: str,
        source: str | None = None,
    ) -> Report:
        """Store the sealed report and queue the moderator alert and the reporter's receipt."""
        form = submission.form
        payload: dict[str, Any] = {
            "version": 1,
            "form": form.key,
            "answers": submission.answers,
            "language": language,
            "channel": channel,
            "submitted_at": self.now().isoformat(),
        }
        report = await self.reports.create(
            code_prefix=form.code_prefix,
            channel=channel,
            source=source,
            incident_type=form.key,
            region=submission.region,
            incident_date=submission.incident_date,
            urgent=form.urgent,
            language=language,
            consent=submission.answers.get("consent"),
            contact=submission.answers.get("contact"),
            reporter_id=reporter.id,
            payload=payload,
            subject_index=(
                self.context.keyring.subject_index(submission.subject)
                if submission.subject
                else None
            ),
        )
        body = render_card_body(submission, self.context.moderators_t)
        attachments = [
            {"type": item["kind"], "file_id": item["file_id"]}
            for item in attachments_of(submission)
        ]
        await self.cards.queue_new_card(report, body, attachments)
        t = self.translator(language)
        receipt = t(
            N_(
                "Your report has been received. Its code is {code}. Keep the code if you "
                "want to ask about it later; the team will contact you only the way you chose."
            ),
            code=report.public_code,
        )
        await self.outbox.enqueue(
            kind="receipt",
            target="reporter",
            payload={"messages": [{"type": "text", "html": html.quote(receipt)}]},
            idempotency_key=f"receipt:{report.id}",
            report_id=report.id,
            reporter_id=reporter.id,
        )
        await self.drafts.delete(reporter.id)
        return report
