"""Records the emulator keeps: users, chats, messages, files, API calls.

Tests read these directly (``emu.chat_messages(chat_id)`` returns :class:`EmuMessage`
objects); ``to_api()`` renders the Bot API JSON shape aiogram validates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.demo.emulator.html import utf16_slice

#: Chat member statuses as the Bot API names them.
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")


@dataclass(eq=False)
class EmuUser:
    """A Telegram user (or the bot itself)."""

    id: int
    first_name: str
    is_bot: bool = False
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    #: The user has written to the bot, so the bot may message them privately.
    started: bool = False
    #: The user blocked the bot: private sends answer 403.
    blocked: bool = False

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass(eq=False)
class EmuChat:
    """A private chat, group, supergroup or channel, with its message log."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    #: The bot's own membership status in a group ("administrator", "member", "left"...).
    bot_status: str = "member"
    #: user id -> member status (groups only).
    members: dict[int, str] = field(default_factory=dict)
    messages: dict[int, EmuMessage] = field(default_factory=dict, repr=False)
    next_message_id: int = 1
    #: message_thread_id -> ForumTopic dict (forum supergroups).
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: the supergroup this group became (TelegramEmulator.upgrade_to_supergroup).
    migrated_to: int | None = None
    #: forum topics closed by an admin (sending into them: 400 TOPIC_CLOSED).
    closed_topics: set[int] = field(default_factory=set)

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.is_private:
            data["first_name"] = self.first_name or ""
            if self.last_name:
                data["last_name"] = self.last_name
        else:
            data["title"] = self.title or ""
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class MessageVersion:
    """A previous state of an edited message (kept in :attr:`EmuMessage.history`)."""

    text: str | None
    entities: list[dict[str, Any]]
    caption: str | None
    caption_entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    date: int


@dataclass(eq=False)
class EmuMessage:
    """One message in a chat, sent by the bot (``from_bot``) or by a user.

    ``text``/``caption`` are plain text (HTML already parsed away); ``entities`` carry the
    formatting with UTF-16 offsets. ``reply_markup`` is the raw markup dict; ``keyboard`` is
    the inline keyboard as rows of ``{"text", "callback_data" | "url" ...}``.
    """

    chat: EmuChat = field(repr=False)
    message_id: int
    sender: EmuUser = field(repr=False)
    from_bot: bool
    date: int
    #: emulator clock reading when stored (for the 48 h deletion rule).
    created_at: float = field(repr=False)
    #: global creation order across chats (used by wait_for_bot_message).
    seq: int = field(repr=False)
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list, repr=False)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: list of PhotoSize dicts (smallest first) for photo messages.
    photo: list[dict[str, Any]] | None = field(default=None, repr=False)
    #: Document dict for document messages.
    document: dict[str, Any] | None = field(default=None, repr=False)
    reply_markup: dict[str, Any] | None = field(default=None, repr=False)
    reply_to_message_id: int | None = None
    message_thread_id: int | None = None
    is_topic_message: bool = False
    media_group_id: str | None = None
    forward_origin: dict[str, Any] | None = field(default=None, repr=False)
    #: service payload, e.g. {"forum_topic_created": {...}}; such messages have no text.
    service: dict[str, Any] | None = field(default=None, repr=False)
    #: extra raw Message fields (e.g. {"sticker": {...}}) for messages built by send_raw.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    deleted: bool = False
    edit_date: int | None = None
    history: list[MessageVersion] = field(default_factory=list, repr=False)
    #: seq numbers of the edits (parallel to history).
    edit_seqs: list[int] = field(default_factory=list, repr=False)
    #: update_id of the update that announced a user's message.
    update_id: int | None = field(default=None, repr=False)

    # ---- convenience for assertions -------------------------------------------------
    @property
    def chat_id(self) -> int:
        return self.chat.id

    @property
    def content(self) -> str:
        """The text, or the caption for media messages ("" if neither)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def kind(self) -> str:
        """One of text, photo, document, service or the first key of ``extra``."""
        if self.service:
            return "service"
        if self.photo:
            return "photo"
        if self.document:
            return "document"
        if self.text is not None:
            return "text"
        return next(iter(self.extra), "unknown")

    @property
    def keyboard(self) -> list[list[dict[str, Any]]]:
        """Inline keyboard rows (empty list when the message has none)."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard")
        return [list(row) for row in rows] if isinstance(rows, list) else []

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """All inline buttons, row by row."""
        return [button for row in self.keyboard for button in row]

    @property
    def button_labels(self) -> list[str]:
        return [str(button.get("text", "")) for button in self.buttons]

    @property
    def file_id(self) -> str | None:
        """file_id of the largest photo size or of the document."""
        if self.photo:
            return str(self.photo[-1]["file_id"])
        if self.document:
            return str(self.document["file_id"])
        return None

    @property
    def edited(self) -> bool:
        return bool(self.history)

    def entity_texts(self, entity_type: str) -> list[str]:
        """Texts covered by entities of ``entity_type`` (in text, else caption)."""
        source = self.text if self.text is not None else (self.caption or "")
        entities = self.entities if self.text is not None else self.caption_entities
        return [
            utf16_slice(source, e["offset"], e["length"])
            for e in entities
            if e["type"] == entity_type
        ]

    def snapshot(self) -> MessageVersion:
        return MessageVersion(
            self.text,
            list(self.entities),
            self.caption,
            list(self.caption_entities),
            self.reply_markup,
            self.edit_date or self.date,
        )

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        """The Bot API ``Message`` object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender.to_api(),
            "chat": self.chat.to_api(),
            "date": self.date,
        }
        if self.message_thread_id is not None:
            data["message_thread_id"] = self.message_thread_id
            if self.is_topic_message:
                data["is_topic_message"] = True
        if self.forward_origin is not None:
            data["forward_origin"] = self.forward_origin
        if with_reply and self.reply_to_message_id is not None:
            replied = self.chat.messages.get(self.reply_to_message_id)
            if replied is not None and not replied.deleted:
                data["reply_to_message"] = replied.to_api(with_reply=False)
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.media_group_id is not None:
            data["media_group_id"] = self.media_group_id
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.photo:
            data["photo"] = self.photo
        if self.document:
            data["document"] = self.document
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            data["reply_markup"] = self.reply_markup
        if self.service:
            data.update(self.service)
        data.update(self.extra)
        return data


@dataclass
class StoredFile:
    """Bytes behind a file_id (uploaded by a user or by the bot)."""

    file_id: str
    file_unique_id: str
    data: bytes = field(repr=False)
    #: "photo" or "document" (Telegram refuses to send one kind as the other).
    kind: str
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def photo_sizes(self) -> list[dict[str, Any]]:
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "width": self.width or 0,
                "height": self.height or 0,
                "file_size": self.size,
            }
        ]

    def document_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.file_name:
            data["file_name"] = self.file_name
        if self.mime_type:
            data["mime_type"] = self.mime_type
        return data

    def file_dict(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


@dataclass
class ApiCall:
    """One Bot API request the emulator answered (see ``emu.calls``)."""

    method: str
    params: dict[str, Any]
    ok: bool
    status: int
    error_code: int | None = None
    description: str | None = None
    result: Any = field(default=None, repr=False)
    #: the action was performed but a 500 was sent back (fault "lose answer").
    answer_lost: bool = False
    #: the answer came from an injected fault (emu.faults), not from the method.
    injected: bool = False
    #: "http" or "webhook_reply" (a method returned in a webhook response body).
    via: str = "http"
    #: seconds an injected slow-down (fault "slow") held the answer back.
    delayed: float = 0.0


@dataclass
class CallbackAnswer:
    """What the bot answered to a callback query (``emu.callback_answers[query_id]``)."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    #: the emulator's clock() when the answer arrived.
    created_at: float


@dataclass
class CallbackQueryRecord:
    """A button press the bot has to answer (``emu.callback_queries[query_id]``)."""

    query_id: str
    user_id: int
    message: EmuMessage = field(repr=False)
    data: str
    created_at: float


@dataclass
class Stats:
    """Counters tests can assert on (e.g. ``emu.stats.rate_limited == 0``)."""

    requests: int = 0
    #: 429 answers produced by the emulated rate limits (injected 429s are not counted).
    rate_limited: int = 0
    faults_injected: int = 0
    updates_enqueued: int = 0
    updates_filtered: int = 0
    #: updates handed out by getUpdates (a redelivered update counts again).
    updates_delivered: int = 0
    webhook_deliveries: int = 0
    webhook_failures: int = 0
