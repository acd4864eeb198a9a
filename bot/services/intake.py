"""Report intake: drafts in, sealed reports and their outbox rows out, in one transaction."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import messages
from bot.services.actions import wipe_actions
from bot.services.card_model import attachments_of
from bot.services.cards import CardService
from bot.services.checkins import CheckinService
from bot.services.context import ServiceContext
from bot.services.flood import FloodGuard
from bot.services.media import CleanImage
from bot.services.receipts import receipt_text
from handlers.engine.engine import Draft, Submitted
from handlers.engine.forms import StepKind
from handlers.engine.render import Translator
from storage.models import Report, Reporter
from storage.repositories import Drafts, OutboxRepository, Reporters, Reports
from storage.safety import Attachments

# An unfinished report is kept this long after its last answer, then deleted.
DRAFT_TTL = dt.timedelta(hours=24)
# How a cleaned attachment is named in a draft's answers until the report is sent.
ATTACHMENT_REF = "att:"


class Intake:
    def __init__(self, session: AsyncSession, context: ServiceContext) -> None:
        self.context = context
        self.reporters = Reporters(session, context.keyring)
        self.drafts = Drafts(session, context.keyring)
        self.reports = Reports(session, context.keyring)
        self.outbox = OutboxRepository(session, context.keyring)
        self.cards = CardService(session, context)
        self.attachments = Attachments(session, context.keyring)
        self.flood = FloodGuard(session, context)
        self.checkins = CheckinService(session, context)

    def now(self) -> dt.datetime:
        return self.context.now()

    def translator(self, language: str) -> Translator:
        return self.context.translator(language)

    async def load_draft(self, reporter: Reporter) -> tuple[Draft | None, list[int]]:
        stored = await self.drafts.load(reporter.id, self.now())
        # A row without a form holds only messages waiting to be added to a sent report
        # (bot.services.followups): there is no report being written.
        if stored is None or not stored.state.get("form"):
            return None, []
        return Draft.from_json(stored.state), stored.message_ids

    async def save_draft(
        self, reporter: Reporter, draft: Draft | None, message_ids: list[int]
    ) -> None:
        if draft is None:
            await self.drafts.delete(reporter.id)
            await self.attachments.forget(reporter.id)
            return
        await self.drafts.save(
            reporter.id,
            form=draft.form,
            step=draft.step,
            state=draft.to_json(),
            message_ids=message_ids,
            expires_at=self.now() + DRAFT_TTL,
        )

    async def store_attachment(self, reporter: Reporter, image: CleanImage) -> str:
        """Keep a cleaned image (encrypted) until the report is sent; returns its reference."""
        attachment_id = await self.attachments.add(reporter.id, image.data, self.now())
        return f"{ATTACHMENT_REF}{attachment_id}"

    async def _take_attachments(
        self, reporter: Reporter, submission: Submitted, code: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answers as sealed (cleaned files by their hash, never an original's file_id) and
        the card's attachment messages (cleaned files uploaded as new files)."""
        items = attachments_of(submission)
        wanted = [
            int(item["file_id"].removeprefix(ATTACHMENT_REF))
            for item in items
            if str(item.get("file_id", "")).startswith(ATTACHMENT_REF)
        ]
        stored = await self.attachments.take(reporter.id, wanted)
        sealed: dict[int, dict[str, Any]] = {}
        messages: list[dict[str, Any]] = []
        for index, item in enumerate(items, start=1):
            ref = str(item.get("file_id", ""))
            if not ref.startswith(ATTACHMENT_REF):
                # Not an image (a PDF and the like): passed on as Telegram has it.
                messages.append({"type": item["kind"], "file_id": ref})
                continue
            data = stored.get(int(ref.removeprefix(ATTACHMENT_REF)))
            if data is None:
                continue  # swept with an expired draft; the card says how many files arrived
            extension = {"image/png": "png", "application/pdf": "pdf"}.get(
                str(item.get("mime")), "jpg"
            )
            messages.append(
                {
                    "type": f"{item['kind']}_upload",
                    "data": base64.b64encode(data).decode(),
                    "filename": f"{code}-{index}.{extension}",
                }
            )
            sealed[id(item)] = {
                "kind": item["kind"],
                "mime": item.get("mime"),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "metadata_removed": True,
            }
        answers = dict(submission.answers)
        for step in submission.form.steps:
            if step.kind == StepKind.MEDIA and step.key in answers:
                answers[step.key] = [
                    sealed.get(id(item), item)
                    for item in answers[step.key]
                    if not str(item.get("file_id", "")).startswith(ATTACHMENT_REF)
                    or id(item) in sealed
                ]
        return answers, messages

    async def submit(
        self,
        reporter: Reporter,
        submission: Submitted,
        *,
        channel: str,
        language: str,
        source: str | None = None,
    ) -> Report:
        """Store the sealed report and queue the moderator alert and the reporter's receipt.

        Raises SubmissionRefused (bot.services.flood) when this reporter, or everyone together,
        sent too many reports lately; nothing is stored then and the draft stays.
        """
        await self.flood.check_submission(reporter)
        flags = await self.flood.intake_flags(reporter)
        form = submission.form
        code = await self.reports.unused_code(form.code_prefix)
        answers, attachments = await self._take_attachments(reporter, submission, code)
        payload: dict[str, Any] = {
            "version": 1,
            "form": form.key,
            "answers": answers,
            "language": language,
            "channel": channel,
            "submitted_at": self.now().isoformat(),
        }
        report = await self.reports.create(
            code_prefix=form.code_prefix,
            public_code=code,
            intake_flags=",".join(flags) or None,
            created_at=self.now(),
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
        await self.cards.queue_new_card(report, submission, attachments)
        checkin = await self.checkins.schedule_for(report, submission.answers, reporter)
        write_back = (
            self.checkins.write_back_after(report, submission.answers, reporter)
            if checkin is None
            else None
        )
        t = self.translator(language)
        receipt = receipt_text(
            t,
            code=report.public_code,
            form=form.key,
            urgent=report.urgent,
            contact=report.contact,
            checkin_at=checkin.due_at if checkin is not None else None,
            write_back_after=write_back,
            help_contacts=self.context.help_contacts,
        )
        await self.outbox.enqueue(
            kind="receipt",
            target="reporter",
            payload=messages.payload(
                [
                    messages.text(
                        messages.plain(receipt),
                        # Leaving no trace is offered right away, when it matters most.
                        actions=wipe_actions(t, codes=True, cancel=False),
                    )
                ]
            ),
            idempotency_key=f"receipt:{report.id}",
            report_id=report.id,
            reporter_id=reporter.id,
        )
        await self.drafts.delete(reporter.id)
        return report
