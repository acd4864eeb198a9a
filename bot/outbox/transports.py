"""How the outbox reaches a chat: one transport per channel, chosen from a registry.

The delivery worker (bot/outbox/worker.py) claims, orders, paces and records rows; a transport
sends one stored message into one chat and says what the platform answered. The registry is
made by the composition root (bot/app.py): the team's chats (moderators, coordinators, an
admin's private chat) use `staff`, a reporter's chat the transport registered for the
reporter's channel. The worker names no channel, so a new channel is one `Transport` class and
one entry in `Transports.reporters` (README, "Architecture").

A transport renders version 2 messages (bot/services/messages.py) for its platform and still
sends the version 1 messages of rows queued before the upgrade (Telegram HTML and buttons). The
staff transport also renders alert cards (bot/services/card_model.py) with the renderer it is
given.

Failures: `TransportError` is a platform's answer sorted for the worker (retry after a pause,
retry counted, or give up; a group that refuses the bot for now, a person who blocked it, a chat
that moved), so the worker needs none of the platform's error types: the Bot API's exceptions
are sorted here (`TelegramFailure`), Meta's in handlers/messenger/transport.py (`GraphFailure`).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html as html_module
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import Bot, html
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    ForceReply,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)

from bot.services import card_model, messages
from bot.services.messages import Span, Style

if TYPE_CHECKING:
    from storage.repositories import ClaimedRow

log = logging.getLogger(__name__)

# A neutral message that says nothing on Telegram (TelegramTransport.render).
NOTHING = "nothing"
# deleteMessages takes at most 100 ids a call (core.telegram.org/bots/api#deletemessages).
DELETE_BATCH = 100

Chat = int | str
StoredMessage = dict[str, Any]


class TransportError(Exception):
    """A platform's refusal, sorted: `retryable` (with `retry_after`, whether the try counts
    towards giving up, and `attempts`: at most this many tries in all for such an answer, when
    the platform's documentation says to give up sooner than usual) or not. `label` is a short
    metric label; `str()` never holds content or an id.

    What the worker does besides retrying or giving up: `chat_refused`, the kind of refusal when
    the chat refuses the bot's messages rather than this message (a team's group waits for it
    to allow them again); `recipient_gone`, the person blocked the bot or deleted their account
    (the team is told under the card); `moved_to`, the chat's new id (a group that became a
    supergroup is followed there)."""

    def __init__(
        self,
        description: str,
        *,
        label: str,
        retryable: bool,
        retry_after: float | None = None,
        counted: bool = True,
        attempts: int | None = None,
        chat_refused: str | None = None,
        recipient_gone: bool = False,
        moved_to: int | None = None,
    ) -> None:
        super().__init__(description)
        self.attempts = attempts
        self.label = label
        self.retryable = retryable
        self.retry_after = retry_after
        self.counted = counted
        self.chat_refused = chat_refused
        self.recipient_gone = recipient_gone
        self.moved_to = moved_to

    def retry_after_tries(self, tries: int) -> bool:
        """Whether to try again after `tries` failed tries (this one included)."""
        return self.retryable and (self.attempts is None or tries < self.attempts)


@dataclass(frozen=True)
class Sending:
    """What a transport may need besides the message: the row it belongs to and its place in it
    (a transport that stores messages, the web form's mailbox, keys them by these, so a retried
    row stores each one once), the row's payload (`envelope`: options such as a tag), the message
    it answers, and when the reporter last wrote, if known (a platform that allows messages only
    within a window after the person's last message checks it)."""

    row_id: int
    index: int
    kind: str
    reporter_id: int | None
    envelope: Mapping[str, Any]
    reply_to: int | None = None
    seen: dt.datetime | None = None


class Transport(Protocol):
    # Whether the worker holds this platform's chats to Telegram's per-chat and global pace.
    paced: bool
    # The payload field a version 1 row used for a chat named in the row itself (a reporter
    # erased by the update that queued it).
    address_key: str

    def address(self, stored: Chat) -> Chat:
        """A chat as stored (the reporter's encrypted id, decrypted) as the platform wants it."""
        ...

    async def send(
        self,
        chat: Chat,
        message: StoredMessage,
        sending: Sending,
    ) -> int | None:
        """Send one stored message; the platform's id of the message, if it gives one that the
        bot can later edit or delete."""
        ...

    async def undeliverable(self, row: ClaimedRow, error: TransportError) -> None:
        """A row to a reporter was given up: tell the team, if the platform needs it said."""
        ...


@dataclass
class Transports:
    staff: Transport
    reporters: dict[str, Transport] = field(default_factory=dict)

    def for_channel(self, channel: str) -> Transport | None:
        return self.reporters.get(channel)

    def named_in(self, payload: Mapping[str, Any]) -> tuple[Transport, Chat] | None:
        """A row that names its chat itself: the transport and the chat.

        Version 2 says the channel ("channel" and "chat_id"); version 1 rows used one field
        per channel (each transport's `address_key`).
        """
        channel = payload.get("channel")
        if isinstance(channel, str) and "chat_id" in payload:
            transport = self.reporters.get(channel)
            return (transport, payload["chat_id"]) if transport is not None else None
        for transport in (self.staff, *self.reporters.values()):
            chat = payload.get(transport.address_key)
            if isinstance(chat, int | str) and not isinstance(chat, bool):
                return transport, chat
        return None


class FileSource(Protocol):
    """Files another platform holds (a Messenger attachment link on a card): fetched and
    uploaded, since the link is not a Telegram file."""

    def holds(self, file_id: str) -> bool: ...

    async def as_upload(self, message: StoredMessage) -> StoredMessage: ...


# A neutral message's actions as inline buttons (None: no button for any of them).
Keyboard = Callable[[StoredMessage], InlineKeyboardMarkup | None]
# A neutral alert card message (bot/services/card_model.py) as a version 1 message.
CardRenderer = Callable[[StoredMessage], StoredMessage]


def telegram_html(paragraphs: Sequence[Sequence[Span]]) -> str:
    """Spans as Telegram HTML, every value escaped here (core.telegram.org/bots/api#html-style)."""
    rendered: list[str] = []
    for paragraph in paragraphs:
        parts: list[str] = []
        for span in paragraph:
            value = html.quote(span.text)
            if span.style is Style.BOLD:
                value = html.bold(value)
            elif span.style is Style.ITALIC:
                value = html.italic(value)
            elif span.style is Style.CODE:
                value = html.code(value)
            elif span.style is Style.LINK and span.href:
                value = f'<a href="{html_module.escape(span.href, quote=True)}">{value}</a>'
            parts.append(value)
        rendered.append("".join(parts))
    return "\n\n".join(rendered)


class TelegramTransport:
    """The Bot API: HTML text, inline buttons, edits, deletions, photos and documents."""

    paced = True
    address_key = "chat_id"

    def __init__(
        self,
        bot: Bot,
        *,
        keyboard: Keyboard,
        cards: CardRenderer,
        files: FileSource | None = None,
    ) -> None:
        self.bot = bot
        # Neutral actions as inline buttons (handlers/telegram/keyboards.py: the callback data
        # the reporter's handlers read back).
        self.keyboard = keyboard
        # Alert cards and their new buttons as HTML and inline buttons (handlers/telegram/
        # cards.py: the callback data the moderation handlers read back).
        self.cards = cards
        self.files = files

    def address(self, stored: Chat) -> Chat:
        return int(stored)

    def render(self, message: StoredMessage) -> StoredMessage:
        """A version 2 text as the version 1 message the Bot API calls below send: an "edit" of
        the pressed message when it replaces one (editMessageText), else a new message or, for
        one that only records in place what the chat shows, nothing (bot/services/messages.py)."""
        dropped = ("paragraphs", "actions", "type", "form", "edit")
        rendered = {k: v for k, v in message.items() if k not in dropped}
        rendered["type"] = "text"
        rendered["html"] = telegram_html(messages.spans(message))
        markup = self.keyboard(message)
        if markup is not None:
            rendered["reply_markup"] = markup.model_dump(exclude_none=True)
        edit = messages.edit_of(message)
        if edit is not None:
            message_id, otherwise_send = edit
            if message_id is not None:
                rendered["type"] = "edit"
                rendered["message_id"] = message_id
            elif not otherwise_send:
                return {"type": NOTHING}
        return rendered

    async def undeliverable(self, row: ClaimedRow, error: TransportError) -> None:
        return None  # the worker tells the team of Telegram's refusals itself

    async def send(
        self,
        chat: Chat,
        message: StoredMessage,
        sending: Sending,
    ) -> int | None:
        if messages.is_neutral(message):
            message = self.render(message)
        elif card_model.is_card(message):
            message = self.cards(message)
        try:
            sent = await self._send(chat, message, reply_to=sending.reply_to)
        except TelegramAPIError as exc:
            failure = TelegramFailure.of(exc)
            if failure is None:
                raise  # not one Telegram documents: the worker's unexpected failures
            raise failure from None
        return sent.message_id if sent is not None else None

    async def _send(
        self, chat_id: Chat, message: StoredMessage, *, reply_to: int | None
    ) -> Message | None:
        kind = message.get("type")
        extra: dict[str, Any] = {}
        reply_to = message.get("reply_to_message_id", reply_to)
        if reply_to is not None:
            extra["reply_parameters"] = ReplyParameters(
                message_id=reply_to, allow_sending_without_reply=True
            )
        markup = message.get("reply_markup")
        if kind == "clear_buttons":
            await self._clear_buttons(chat_id, message.get("message_id"))
            return None
        if kind == NOTHING:
            return None
        if kind == "delete":
            await self._delete(chat_id, list(message.get("message_ids") or []))
            return None
        if kind == "edit_markup":
            return await self._edit_markup(chat_id, message)
        if kind == "edit":
            try:
                result = await self.bot.edit_message_text(
                    text=message["html"],
                    chat_id=chat_id,
                    message_id=message["message_id"],
                    reply_markup=InlineKeyboardMarkup.model_validate(markup) if markup else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except TelegramBadRequest as exc:
                if "not modified" in exc.message:
                    return None
                if not (message.get("prompt") or message.get("card")) or not _gone(exc.message):
                    raise
                # The question the person pressed was deleted meanwhile: ask it anew. A card
                # that is gone (deleted, or left behind in a group that became a supergroup) is
                # posted anew, so the report can still be acted on from its buttons.
                return await self.bot.send_message(
                    chat_id,
                    message["html"],
                    reply_markup=InlineKeyboardMarkup.model_validate(markup) if markup else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            return result if isinstance(result, Message) else None
        if markup:
            extra["reply_markup"] = InlineKeyboardMarkup.model_validate(markup)
        elif message.get("force_reply"):
            extra["reply_markup"] = ForceReply(force_reply=True, selective=True)
        if (
            kind in ("photo", "document")
            and self.files is not None
            and self.files.holds(str(message["file_id"]))
        ):
            message = await self.files.as_upload(message)
            kind = message["type"]
        caption = message.get("caption_html")
        if kind == "text":
            return await self.bot.send_message(
                chat_id,
                message["html"],
                parse_mode="HTML",
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **extra,
            )
        if kind == "photo":
            return await self.bot.send_photo(chat_id, message["file_id"], caption=caption, **extra)
        if kind == "document":
            return await self.bot.send_document(
                chat_id, message["file_id"], caption=caption, **extra
            )
        if kind in ("photo_upload", "document_upload"):
            data = base64.b64decode(message["data"])
            if kind == "photo_upload":
                try:
                    return await self.bot.send_photo(
                        chat_id,
                        BufferedInputFile(data, message["filename"]),
                        caption=caption,
                        **extra,
                    )
                except TelegramBadRequest as exc:
                    if not _photo_refused(exc.message):
                        raise
                    # A long screenshot or a very large picture is not a "photo" to Telegram
                    # (width + height at most 10000, ratio at most 20, 10 MB:
                    # core.telegram.org/bots/api#sendphoto): the same cleaned bytes go as a file.
                    log.info(
                        "picture refused as a photo (%s); sent as a file", error_kind(exc.message)
                    )
            upload = BufferedInputFile(data, message["filename"])
            return await self.bot.send_document(chat_id, upload, caption=caption, **extra)
        raise UnknownMessage(f"unknown message type {kind!r}")

    async def _edit_markup(self, chat_id: Chat, message: StoredMessage) -> Message | None:
        """New buttons on a card (core.telegram.org/bots/api#editmessagereplymarkup); a card that
        is gone is posted anew as its stub, so the report can still be acted on."""
        markup = InlineKeyboardMarkup.model_validate(message["reply_markup"])
        try:
            result = await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message["message_id"], reply_markup=markup
            )
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return None
            if not _gone(exc.message):
                raise
            return await self.bot.send_message(
                chat_id,
                message["html"],
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        return result if isinstance(result, Message) else None

    async def _clear_buttons(self, chat_id: Chat, message_id: int | None) -> None:
        if message_id is None:
            return
        # Already without buttons, too old, or deleted by the person: nothing to tidy.
        with contextlib.suppress(TelegramBadRequest):
            await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None
            )

    async def _delete(self, chat_id: Chat, message_ids: list[int]) -> None:
        for start in range(0, len(message_ids), DELETE_BATCH):
            # Messages the person already deleted, or older than 48 hours, are skipped by
            # Telegram; a batch with none left to delete is refused. Neither is a failure here.
            with contextlib.suppress(TelegramBadRequest):
                await self.bot.delete_messages(chat_id, message_ids[start : start + DELETE_BATCH])


# Seconds between tries while Telegram refuses the bot token (401: revoked or replaced).
UNAUTHORIZED_WAIT = 60.0

# What a group answers when it refuses the bot's messages rather than this message: Bot API
# texts (tdlib/telegram-bot-api) and the MTProto error names it passes on
# (core.telegram.org/api/errors: CHAT_WRITE_FORBIDDEN, CHAT_RESTRICTED, TOPIC_CLOSED...).
_REFUSALS = (
    "not enough rights",
    "have no rights",
    "need administrator rights",
    "not a member",
    "chat not found",
    "message thread not found",
    "group chat was deactivated",
    "chat_write_forbidden",
    "chat_restricted",
    "chat_admin_required",
    "chat_send_",
    "topic_closed",
    "topic_deleted",
    "channel_private",
    "user_banned_in_channel",
)


class TelegramFailure(TransportError):
    """A Bot API call refused, sorted for the worker. A failed request answers "ok": false with
    an `error_code` and a human-readable `description`, and some carry `parameters`
    (core.telegram.org/bots/api#making-requests); the `ResponseParameters` tell "whether the
    request can be repeated": `retry_after` ("the number of seconds left to wait before the
    request can be repeated") and `migrate_to_chat_id` ("the group has been migrated to a
    supergroup with the specified identifier", core.telegram.org/bots/api#responseparameters).
    aiogram turns each error_code into an exception class; this sorts them once:

    - 429 (TelegramRetryAfter): try again after `retry_after`; Telegram asking for a pause is
      not a failed attempt.
    - 400 with migrate_to_chat_id (TelegramMigrateToChat): the chat moved; the worker follows a
      team's group there and sends again at once; anything else cannot be sent.
    - 5xx (TelegramServerError) and no answer at all (TelegramNetworkError): try again later,
      counted towards giving up.
    - 401 (TelegramUnauthorizedError): the token was revoked; every message waits for a new one
      (UNAUTHORIZED_WAIT between tries, not counted), none is given up.
    - 403 (TelegramForbiddenError: "bot was blocked by the user", "user is deactivated", "bot
      was kicked from the group"...) and 404: give up; the person is gone, or the group refuses
      the bot for now (the worker keeps a team's rows waiting).
    - 400 (TelegramBadRequest): give up (the message itself is wrong: too long, a bad picture),
      unless its description says the group refuses the bot ("not enough rights...": waits
      like a 403). The 400s that are not failures (an edit that changes nothing, a card or a
      question that is gone, a picture refused as a photo) are handled where they are sent.

    Any other Bot API error reaches the worker as it is (an unexpected failure). `str()` is the
    exception class, or for a 400 the stable part of the description (it can quote the text)."""

    @classmethod
    def of(cls, exc: TelegramAPIError) -> TelegramFailure | None:
        label = type(exc).__name__
        if isinstance(exc, TelegramRetryAfter):
            return cls(
                "retry_after",
                label=label,
                retryable=True,
                retry_after=exc.retry_after,
                counted=False,
            )
        if isinstance(exc, TelegramMigrateToChat):
            return cls(label, label=label, retryable=False, moved_to=exc.migrate_to_chat_id)
        if isinstance(exc, TelegramServerError | TelegramNetworkError):
            return cls(label, label=label, retryable=True)
        if isinstance(exc, TelegramUnauthorizedError):
            log.error("Telegram refused BOT_TOKEN (revoked?); outgoing messages wait for a new one")
            return cls(
                "unauthorized",
                label=label,
                retryable=True,
                retry_after=UNAUTHORIZED_WAIT,
                counted=False,
            )
        refusal = error_kind(exc.message.removeprefix("Forbidden: "))
        if isinstance(exc, TelegramForbiddenError):
            return cls(
                label, label=label, retryable=False, chat_refused=refusal, recipient_gone=True
            )
        if isinstance(exc, TelegramNotFound):
            return cls(label, label=label, retryable=False, chat_refused=refusal)
        if isinstance(exc, TelegramBadRequest):
            return cls(
                f"{label}: {error_kind(exc.message)}",
                label=label,
                retryable=False,
                chat_refused=refusal if _refusal(exc.message) else None,
            )
        return None


def _refusal(description: str) -> bool:
    lowered = description.lower()
    return any(pattern in lowered for pattern in _REFUSALS)


class UnknownMessage(Exception):
    """A stored message no transport knows how to send (a bug, or a row from a newer version)."""


def _photo_refused(description: str) -> bool:
    """Telegram's answers for a picture it will not take as a photo (its size or shape)."""
    lowered = description.lower()
    return any(
        kind in lowered
        for kind in (
            "photo_invalid_dimensions",
            "photo_save_file_invalid",
            "photo_too_large",
            "image_process_failed",
            "file is too big",
        )
    )


def _gone(description: str) -> bool:
    """Telegram's answer for a message that can no longer be edited (deleted, or too old)."""
    lowered = description.lower()
    return "not found" in lowered or "can't be edited" in lowered


def error_kind(description: str) -> str:
    """The stable part of a Telegram error description, before any quoted detail."""
    kind = description.removeprefix("Bad Request: ").split(":")[0]
    return kind[:80]
