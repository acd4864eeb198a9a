"""The reporter's conversation in Messenger: turn one event into session calls and form inputs.

The Messenger adapter of the reporter's session: every rule about what to ask lives in the
engine; the form is driven and said by the channel-neutral form driver (bot/services/form.py);
a payload is read back as a command (bot/services/commands.py) or a button's intent, pressed
through the one table of buttons (bot/services/buttons.py); consent, erasing the link, check-in
answers, answers to the team's questions, follow-ups and refused files in the channel-neutral
session Telegram uses too (bot/services/session.py); the outbox's transport renders what both
say (handlers/messenger/render.py); flood limits and pictures rebuilt without metadata in the
same services. The draft is the same encrypted draft as on Telegram, with the `ref` of the m.me
link the person came from as its source. Replies are collected in the event's `Replies`
(bot/services/replies.py), never sent from here: the inbound pipeline stores them in the outbox
(bot/services/pipeline.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from aiogram import html

from bot.services.buttons import Buttons
from bot.services.commands import Commands, ReporterCommand, command_named
from bot.services.followups import FollowUps
from bot.services.form import FormDriver, Pressed
from bot.services.intake import Intake
from bot.services.media import (
    DOWNLOAD_LIMIT,
    CannotClean,
    CleanImage,
    examine,
    is_image,
    upload_message,
)
from bot.services.messages import Intent
from bot.services.moderation import Moderation
from bot.services.privacy import Privacy
from bot.services.replies import Replies
from bot.services.session import ReporterSession
from handlers.engine import engine
from handlers.engine.render import Translator
from handlers.messenger import CHANNEL
from handlers.messenger.events import Attachment, MessageEvent, PostbackEvent, ReferralEvent
from handlers.messenger.graph import AttachmentUnavailable, GraphClient
from handlers.messenger.render import Action, Payload, button_action
from storage.models import Report, Reporter

log = logging.getLogger(__name__)

# The persistent menu's and the Get Started button's postbacks that are commands
# (bot/services/commands.py); "/forget" asks first, its buttons answer ("yes", "no").
PAYLOAD_COMMANDS: dict[str, ReporterCommand] = {
    Action.START: ReporterCommand.START,
    Action.LANGUAGES: ReporterCommand.LANGUAGE,
    Action.HELP: ReporterCommand.HELP,
    Action.WIPE: ReporterCommand.WIPE,
}
# Meta allows letters, digits and + / = - . : _ in a ref; the report's source column holds 64.
_REF_UNSAFE = re.compile(r"[^A-Za-z0-9+/=\-.:_]")
SOURCE_LENGTH = 64


def clean_ref(ref: str | None) -> str | None:
    """The m.me link's ref as a report source: Meta's characters only, at most 64 of them."""
    cleaned = _REF_UNSAFE.sub("", ref or "")[:SOURCE_LENGTH]
    return cleaned or None


def _file_name(item: Attachment) -> str | None:
    """Meta's file links end in the file's name (…/report.pdf?…); images' do not matter."""
    if item.name:
        return item.name
    name = unquote(urlsplit(item.url).path.rsplit("/", 1)[-1])
    return name if "." in name else None


# What became of an attachment, found out before the event's transaction (prefetch_pictures):
# a picture rebuilt from its pixels, the reason it was refused (a key of REFUSALS), or False
# for a file that is no picture (a PDF, a video), passed on by its link.
Picture = CleanImage | str | bool


async def prefetch_pictures(graph: GraphClient, event: MessageEvent) -> dict[str, Picture]:
    """Download and clean the pictures of a message, outside any database transaction.

    Network calls and image decoding never happen while the database is held (README, Reporter
    safety, "Pictures without metadata"); the conversation then only reads the results.
    """
    found: dict[str, Picture] = {}
    for item in event.attachments:
        found[item.url] = await _picture(graph, item)
    return found


async def _picture(graph: GraphClient, item: Attachment) -> Picture:
    if item.kind not in ("image", "file"):
        return False
    name = _file_name(item)
    claims_picture = item.kind == "image" or is_image("document", None, name)
    try:
        fetched = await graph.fetch(item.url, limit=DOWNLOAD_LIMIT)
    except AttachmentUnavailable as exc:
        if not claims_picture:
            return False  # too large to look at here; the outbox cleans it if it is one
        return "too_big" if str(exc) == "too large" else "unreadable"
    # What is decoded is chosen by the file's bytes, whatever Meta or the name call it.
    claims_picture = claims_picture or is_image(
        "document", fetched.content_type, name or fetched.filename
    )
    try:
        examined = await asyncio.to_thread(examine, fetched.data, claims_picture=claims_picture)
    except CannotClean as refused:
        return refused.reason
    return examined.clean if examined.clean is not None else False


@dataclass
class MessengerConversation:
    intake: Intake
    moderation: Moderation
    privacy: Privacy
    reporter: Reporter
    t: Translator
    replies: Replies
    pictures: dict[str, Picture] = field(default_factory=dict)
    session: ReporterSession = field(init=False)
    form: FormDriver = field(init=False)

    def __post_init__(self) -> None:
        self.session = ReporterSession(
            intake=self.intake,
            moderation=self.moderation,
            privacy=self.privacy,
            reporter=self.reporter,
            t=self.t,
        )
        self.form = FormDriver(self.session, CHANNEL)

    async def _said(self) -> None:
        """What the session and the form said (bot/services/session.py, bot/services/form.py),
        stored channel-neutral and rendered by the outbox's transport
        (handlers/messenger/transport.py); Messenger has no notice for a pressed button, so its
        acknowledgement is a message of its own."""
        said, ack = self.session.take()
        if ack is not None:
            self.replies.say_plain(ack)
        for message in said:
            self.replies.say(message)

    # --- events --------------------------------------------------------------------------------
    async def on_postback(self, event: PostbackEvent) -> None:
        if event.ref is not None:
            await self._remember_source(event.ref)
        payload = Payload.decode(event.payload) or Payload(Action.SHOW)
        await self.on_payload(payload, pressed=True)

    async def on_referral(self, event: ReferralEvent) -> None:
        await self._remember_source(event.ref)
        await self.on_payload(Payload(Action.SHOW))

    async def on_message(self, event: MessageEvent) -> None:
        payload = Payload.decode(event.quick_reply)
        if payload is not None:
            await self.on_payload(payload, pressed=True)
            return
        text = (event.text or "").strip()
        command = command_named(text) if text.startswith("/") else None
        if command is not None:
            await self.on_command(command)
            return
        if self.reporter.language is None:
            await self._ask_language()
            return
        if not event.attachments and not text:
            self.session.cannot_read()
            await self._said()
            return
        draft, _ = await self.form.load()
        report = await self.moderation.answered_report(
            self.reporter, replied_message_id=None, has_draft=draft is not None
        )
        if report is not None:
            await self._answer_team(report, event.attachments, text)
            return
        if self.privacy.needs_consent(self.reporter):
            await self._ask_consent()
            return
        if draft is None and await self._offer_to_report(event.attachments, text):
            return
        inputs: list[engine.Input] = []
        for item in event.attachments:
            media = await self._media(item)
            if media is None:
                return  # refused and explained: the rest of this message is not applied
            inputs.append(media)
        if text:
            inputs.append(engine.Text(text))
        await self.form.advance(inputs)
        await self._said()

    async def on_command(self, command: ReporterCommand) -> None:
        """A command typed or chosen from the menu: the one table's (bot/services/commands.py),
        once the language is known (Messenger may not say it)."""
        if self.reporter.language is None:
            await self._ask_language()
            return
        await Commands(self.session, self.form).run(command)
        await self._said()

    async def on_payload(self, payload: Payload, *, pressed: bool = False) -> None:
        """A quick reply or postback (`pressed`), or a menu's postback: a command, or a button
        read back as its intent, whose one table is bot/services/buttons.py."""
        command = PAYLOAD_COMMANDS.get(payload.action)
        if payload.action == Action.FORGET and payload.value == "":
            command = ReporterCommand.FORGET
        if command is not None:
            await self.on_command(command)
            return
        # A payload of no known action says again what is being asked, as a message of its own.
        known = button_action(payload)
        intent, args = known or (Intent.SHOW, ())
        # Messenger gives no id of the message whose quick reply was tapped, and a Page can
        # delete no message (so no `delete`).
        press = Pressed() if pressed and known is not None else None
        await Buttons(self.session, self.form).press(intent, args, pressed=press)
        self.t = self.session.t  # the language may have been chosen
        await self._said()

    # --- files ---------------------------------------------------------------------------------
    async def _picture(self, item: Attachment) -> CleanImage | None | bool:
        """The prefetched picture, None once its refusal is said, or False for a file that is
        no picture, passed on by its link (the outbox cleans it if it turns out to be one)."""
        found = self.pictures.get(item.url, False)
        if isinstance(found, str):
            self.session.file_refused(found)
        elif found is False:
            self.session.file_notice("as_is")
        elif isinstance(found, CleanImage) and found.mime == "application/pdf":
            self.session.file_notice("pdf")
        await self._said()
        return None if isinstance(found, str) else found

    async def _media(self, item: Attachment) -> engine.Media | None:
        kind = "photo" if item.kind == "image" else "document"
        clean = await self._picture(item)
        if clean is False:
            # Meta's link is the reference; the outbox fetches the file for the team.
            return engine.Media(kind, item.url, _file_name(item))
        if not isinstance(clean, CleanImage):
            return None
        ref = await self.intake.store_attachment(self.reporter, clean)
        # No name: camera file names carry the date and time.
        return engine.Media(kind, ref, None, clean.mime)

    async def _contents(
        self, attachments: Sequence[Attachment], text: str, name: str
    ) -> list[dict[str, Any]]:
        """A message as what goes under the card: cleaned pictures, other files by their link,
        then the text."""
        contents: list[dict[str, Any]] = []
        for item in attachments:
            kind = "photo" if item.kind == "image" else "document"
            clean = await self._picture(item)
            if clean is None:
                continue
            if isinstance(clean, CleanImage):
                contents.append(upload_message(clean, kind, name))
            else:
                contents.append({"type": kind, "file_id": item.url})
        if text:
            contents.append({"type": "text", "html": html.quote(text)})
        return contents

    async def _offer_to_report(self, attachments: Sequence[Attachment], text: str) -> bool:
        """Outside a report being written, hold the message for one of the reporter's reports
        and ask which (bot.services.followups); False when they have none open."""
        if not await FollowUps(self.intake, self.moderation).open_reports(self.reporter):
            return False
        # None for a refused picture alone: its refusal was said.
        await self.session.offer(await self._contents(attachments, text, "report-addition"))
        await self._said()
        return True

    async def _answer_team(
        self, report: Report, attachments: Sequence[Attachment], text: str
    ) -> None:
        """The message answers the team's question: pass it on, as a reply to the card."""
        contents = await self._contents(attachments, text, f"{report.public_code}-answer")
        await self.session.answer_team(report, contents)
        await self._said()

    # --- the source, and what must come first ---------------------------------------------------
    async def _remember_source(self, ref: str | None) -> None:
        source = clean_ref(ref)
        # Only a ref on the MESSENGER_SOURCES allow-list: a personal m.me link's tag would tie
        # the report to the one person it was handed to (README, Threats).
        if source is None or source not in self.intake.context.messenger_sources:
            return
        await self.form.remember_source(source)

    async def _ask_language(self) -> None:
        self.session.ask_language()
        await self._said()

    async def _ask_consent(self) -> None:
        self.session.ask_consent()
        await self._said()
