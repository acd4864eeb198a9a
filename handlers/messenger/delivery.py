"""The outbox's Messenger side: messages to Messenger reporters, and their files for moderators.

The delivery worker (bot/outbox/worker.py) hands rows whose reporter is on Messenger to `send`; rows
to the moderator chat that carry a Messenger attachment go through `for_telegram` first. Failures
are `GraphError`s the worker sorts like Telegram's: a rate limit or an outage is retried, a closed
window or an unreachable person is a dead letter, and the moderators are told so plainly."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, html
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.context import ServiceContext
from bot.services.media import CannotClean, examine, is_image
from bot.services.messages import html_to_text
from bot.services.reach import HUMAN_AGENT_TAG, may_send, reply_tag
from handlers.engine.text import N_
from handlers.messenger.graph import (
    AttachmentUnavailable,
    ErrorKind,
    GraphClient,
    GraphError,
)
from handlers.messenger.render import Action, Payload, quick_reply, text_messages, title
from handlers.telegram.keyboards import CheckinCB
from storage.models import Outbox
from storage.repositories import OutboxRepository, Reports

log = logging.getLogger(__name__)

# An outbox message that is already a Send API message: {"type": MESSENGER_MESSAGE, "message":
# {...}}, sent as it is. Only rows queued before the form became channel-neutral hold these (the
# conversation then stored its rendered replies); today's replies are neutral messages that the
# transport renders (handlers/messenger/render.py, `from_neutral`).
MESSENGER_MESSAGE = "messenger"

# Telegram takes photos up to 10 MB; a larger image goes to the moderators as a document.
TELEGRAM_PHOTO_LIMIT = 10 * 1024 * 1024

UNDELIVERED: dict[ErrorKind, str] = {
    ErrorKind.WINDOW_CLOSED: N_(
        "A message to the reporter of {code} was not delivered: Facebook Messenger lets the "
        "team write only within 24 hours of the reporter's last message, and that time has "
        "passed. It becomes possible again when the reporter writes to the Page."
    ),
    ErrorKind.UNAVAILABLE: N_(
        "A message to the reporter of {code} was not delivered: Facebook Messenger says this "
        "person cannot be reached (they may have blocked the Page or deleted their account)."
    ),
    ErrorKind.MAYBE_BLOCKED: N_(
        "A message to the reporter of {code} was not delivered: Facebook Messenger refused it "
        "several times with an error that can mean the person blocked the Page. /outbox can "
        "send it again."
    ),
    ErrorKind.TAG_REFUSED: N_(
        "A message to the reporter of {code} was not delivered: Facebook refused the Human "
        "Agent tag (the Page may not have Meta's permission for it; see FACEBOOK_HUMAN_AGENT). "
        "It becomes possible again when the reporter writes to the Page."
    ),
    ErrorKind.AUTH: N_(
        "Messages to Messenger reporters cannot be sent: Facebook refused the Page token. An "
        "administrator must renew FACEBOOK_PAGE_TOKEN. The message for {code} was not delivered."
    ),
}

# Said once per message while the Page inbox holds the reporter's conversation (ErrorKind.
# THREAD_HELD): the message is not lost, it waits, and the team knows where the reporter is
# being answered.
HELD_BY_INBOX = N_(
    "A message to the reporter of {code} is waiting: the conversation is open in the Facebook "
    "Page inbox, where someone from the team answers, and Messenger lets only the inbox write "
    "meanwhile. It is sent once the conversation there is marked Done, if the reporter can "
    "still be reached then."
)


def is_attachment_link(file_id: str) -> bool:
    """Messenger attachments are stored as Meta's CDN links; Telegram file ids never are."""
    return file_id.startswith(("https://", "http://"))


def quick_replies(markup: Any) -> list[dict[str, str]]:
    """Telegram buttons a Messenger reporter can answer too, as quick replies.

    Only the safety check-in's buttons ("I am safe", "I need help") have a Messenger twin; the
    others (clearing the chat) do nothing in Messenger and are left out.
    """
    replies: list[dict[str, str]] = []
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows or []:
        for button in row:
            data = str(button.get("callback_data") or "")
            if not data.startswith(CheckinCB.__prefix__ + ":"):
                continue
            checkin = CheckinCB.unpack(data)
            payload = Payload(Action.CHECKIN, str(checkin.checkin), checkin.answer)
            replies.append(quick_reply(title(str(button.get("text") or "")), payload))
    if rows and not replies:
        log.info("outbox message to a Messenger reporter: its buttons are left out")
    return replies


@dataclass(frozen=True)
class MessengerRecipient:
    """An outbox row's reporter is on Messenger: reach them by page-scoped id. `last_seen`, when
    known, is their last message (the messaging window, bot/services/reach.py)."""

    psid: str
    last_seen: dt.datetime | None = None


class MessengerDelivery:
    def __init__(
        self,
        *,
        graph: GraphClient,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
    ) -> None:
        self.graph = graph
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.context = context

    def tag_for(
        self, recipient: MessengerRecipient, tag: str | None, *, human_reply: bool
    ) -> str | None:
        """The tag to send with, decided now rather than when the message was queued.

        A team member's answer (`human_reply`, or queued with HUMAN_AGENT) goes untagged within
        24 hours of the reporter's last message and with HUMAN_AGENT after, within 7 days, where
        FACEBOOK_HUMAN_AGENT says Meta granted it: a question queued just inside the 24 hours and
        sent just after still goes. An automated message never gets a tag."""
        if not (human_reply or tag == HUMAN_AGENT_TAG) or recipient.last_seen is None:
            return tag
        return reply_tag(
            recipient.last_seen, self.context.now(), human_agent=self.context.messenger_human_agent
        )

    async def send(
        self,
        recipient: MessengerRecipient,
        message: dict[str, Any],
        *,
        tag: str | None,
        human_reply: bool = False,
    ) -> None:
        """One outbox message (see bot/outbox/worker.py for the format) to a Messenger reporter."""
        tag = self._cleared_tag(recipient, tag, human_reply=human_reply)
        kind = message.get("type")
        caption = message.get("caption_html")
        if kind == MESSENGER_MESSAGE:
            # An answer to what the person just did (messaging_type RESPONSE, as Meta asks).
            await self.graph.send_message(
                recipient.psid, message["message"], messaging_type="RESPONSE", tag=tag
            )
            return
        if kind == "text":
            # Cut to Meta's 2,000 characters between paragraphs or sentences, never dropped
            # (handlers/messenger/render.py, `text_messages`).
            text = html_to_text(str(message["html"]))
            parts = text_messages(text, quick_replies(message.get("reply_markup")))
            await self._post(recipient, parts, tag)
            return
        if kind in ("photo", "document") and is_attachment_link(str(message["file_id"])):
            attachment = {
                "type": "image" if kind == "photo" else "file",
                "payload": {"url": message["file_id"], "is_reusable": False},
            }
            await self.graph.send_message(
                recipient.psid, {"attachment": attachment}, messaging_type="UPDATE", tag=tag
            )
        elif kind in ("photo", "document", "photo_upload", "document_upload"):
            data, filename = await self._file_bytes(message)
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            await self.graph.send_upload(
                recipient.psid,
                kind="image" if kind.startswith("photo") else "file",
                data=data,
                filename=filename,
                content_type=content_type,
                tag=tag,
            )
        else:
            # Card edits and the like never go to a reporter; nothing to send.
            log.warning("outbox message of type %r is not sent to Messenger", kind)
            return
        if caption:
            await self._post(recipient, text_messages(html_to_text(str(caption))), tag)

    async def send_parts(
        self,
        recipient: MessengerRecipient,
        parts: Sequence[dict[str, Any]],
        *,
        tag: str | None,
        human_reply: bool = False,
    ) -> None:
        """Send API messages already rendered (handlers/messenger/render.py), in order."""
        await self._post(
            recipient, parts, self._cleared_tag(recipient, tag, human_reply=human_reply)
        )

    def _cleared_tag(
        self, recipient: MessengerRecipient, tag: str | None, *, human_reply: bool
    ) -> str | None:
        """The tag decided now (`tag_for`), and the messaging window checked for it: once a
        message, whatever number of Send API calls it then takes."""
        tag = self.tag_for(recipient, tag, human_reply=human_reply)
        self._check_window(recipient, tag)
        return tag

    async def _post(
        self, recipient: MessengerRecipient, parts: Sequence[dict[str, Any]], tag: str | None
    ) -> None:
        for part in parts:
            await self.graph.send_message(recipient.psid, part, messaging_type="UPDATE", tag=tag)

    def _check_window(self, recipient: MessengerRecipient, tag: str | None) -> None:
        """Outside the messaging window nothing is sent: Meta forbids it
        (developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window)
        and would refuse it with (#10) 2018278, which is raised here without asking Meta."""
        if recipient.last_seen is not None and not may_send(
            recipient.last_seen, self.context.now(), tag=tag
        ):
            raise GraphError(400, 10, 2018278, note="outside the messaging window; not sent")

    async def _file_bytes(self, message: dict[str, Any]) -> tuple[bytes, str]:
        if str(message.get("type", "")).endswith("_upload"):
            return base64.b64decode(message["data"]), str(message.get("filename") or "file")
        try:
            file = await self.bot.get_file(message["file_id"])
            buffer = await self.bot.download(file)
        except TelegramAPIError as exc:
            raise GraphError(0, note=f"Telegram file: {type(exc).__name__}") from None
        assert buffer is not None  # download() without a destination returns a buffer
        name = (file.file_path or "file").rsplit("/", 1)[-1]
        return buffer.read(), name

    async def for_telegram(self, message: dict[str, Any]) -> dict[str, Any]:
        """A Messenger attachment, downloaded, as an upload for the moderator chat.

        Meta's links expire, and Telegram fetches by URL only small photos and a few document
        types, so the worker downloads the file itself and uploads it.
        """
        kept = {k: v for k, v in message.items() if k not in ("type", "file_id")}
        note = self.context.moderators_t(
            N_(
                "An attachment sent through Messenger could not be passed on: the link to it "
                "has expired, the file is too large, or it is a picture that could not be "
                "checked for hidden data."
            )
        )
        try:
            fetched = await self.graph.fetch(str(message["file_id"]))
        except AttachmentUnavailable as exc:
            log.warning("a Messenger attachment could not be fetched: %s", exc)
            return {**kept, "type": "text", "html": html.quote(note)}
        data, filename = fetched.data, fetched.filename
        kind = str(message.get("type"))
        claims_picture = is_image(kind, fetched.content_type, filename)
        # Pictures are normally cleaned when they arrive (handlers/messenger/conversation.py);
        # one that was not (too large to look at then) is rebuilt here, never passed as is. What
        # is decoded is chosen by the file's bytes (bot/services/media.py).
        try:
            examined = await asyncio.to_thread(examine, data, claims_picture=claims_picture)
        except CannotClean:
            return {**kept, "type": "text", "html": html.quote(note)}
        if examined.clean is not None:
            clean = examined.clean
            data, filename = clean.data, f"attachment.{clean.extension}"
        as_photo = kind == "photo" and len(data) <= TELEGRAM_PHOTO_LIMIT
        return {
            **kept,
            "type": "photo_upload" if as_photo else "document_upload",
            "data": base64.b64encode(data).decode(),
            "filename": filename,
        }

    async def tell_moderators(self, row_id: int, report_id: int | None, error: GraphError) -> None:
        """Say plainly in the moderator chat that a message to a reporter did not arrive."""
        text = UNDELIVERED.get(error.kind)
        if text is None or report_id is None:
            return
        now = self.context.now()
        # One notice per failed row; a token problem is said once a day, not per row.
        key = (
            f"messenger_auth:{now.date().isoformat()}"
            if error.kind == ErrorKind.AUTH
            else f"undelivered:{row_id}"
        )
        async with self.sessionmaker() as session, session.begin():
            await self._notice(session, report_id, text, key)

    async def tell_held(self, row_id: int) -> None:
        """Say once under the card that a message to the reporter waits for the Page inbox to
        release the conversation (the row is retried meanwhile: bot/outbox/worker.py)."""
        async with self.sessionmaker() as session, session.begin():
            row = await session.get(Outbox, row_id)
            if row is not None and row.report_id is not None:
                await self._notice(session, row.report_id, HELD_BY_INBOX, f"held:{row_id}")

    async def _notice(self, session: AsyncSession, report_id: int, text: str, key: str) -> None:
        report = await Reports(session, self.context.keyring).get(report_id)
        notice = self.context.moderators_t(text, code=report.public_code if report else "—")
        await OutboxRepository(session, self.context.keyring).notice_under_card(
            report_id, "⚠️ " + html.quote(notice), key=key
        )
