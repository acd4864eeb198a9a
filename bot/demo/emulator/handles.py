"""Handles tests use to act as people (users) and to manage groups."""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any, Protocol

from bot.demo.emulator.files import make_png
from bot.demo.emulator.html import utf16_len
from bot.demo.emulator.models import (
    MEMBER_STATUSES,
    CallbackQueryRecord,
    EmuChat,
    EmuMessage,
    EmuUser,
)

if TYPE_CHECKING:
    from bot.demo.emulator.telegram import ChatLike, TelegramEmulator

# Telegram stops showing the bot a message in callback queries once it is "inaccessible"
# (core.telegram.org/bots/api#inaccessiblemessage, which names no figure); bots observe about two
# days, the same 48 h after which a bot may no longer delete it
# (core.telegram.org/bots/api#deletemessage).
INACCESSIBLE_AFTER = 48 * 3600.0


class _MessageRef(Protocol):
    """Anything with ``message_id`` and ``chat.id`` (e.g. an aiogram Message)."""

    @property
    def message_id(self) -> int: ...

    @property
    def chat(self) -> Any: ...


MessageLike = EmuMessage | int | _MessageRef


def _user_id(user: UserHandle | EmuUser | int) -> int:
    return user if isinstance(user, int) else user.id


class GroupHandle:
    """A group/supergroup/channel made by ``emu.create_group()``.

    ``group.id`` is the chat id; pass the handle wherever a chat is expected
    (``alice.send_text(..., chat=group)``, ``emu.bot_messages(group)``).
    """

    def __init__(self, emu: TelegramEmulator, chat: EmuChat) -> None:
        self.emu = emu
        self.chat = chat

    def __repr__(self) -> str:
        return f"GroupHandle(id={self.id}, title={self.title!r}, type={self.chat.type!r})"

    @property
    def id(self) -> int:
        return self.chat.id

    @property
    def title(self) -> str:
        return self.chat.title or ""

    @property
    def topics(self) -> dict[int, dict[str, Any]]:
        """message_thread_id -> ForumTopic created by the bot."""
        return self.chat.topics

    def add_member(self, user: UserHandle | EmuUser | int, status: str = "member") -> None:
        """Set a user's membership: "member", "administrator", "creator", "restricted",
        "left" or "kicked" (getChatMember reports it; non-members are "left")."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown status {status!r}; use one of {MEMBER_STATUSES}")
        user_id = _user_id(user)
        if user_id not in self.emu.users:
            raise KeyError(f"register user {user_id} with emu.user() first")
        self.chat.members[user_id] = status

    def remove_member(self, user: UserHandle | EmuUser | int, *, kicked: bool = False) -> None:
        """Mark a user as "left" (or "kicked")."""
        self.chat.members[_user_id(user)] = "kicked" if kicked else "left"

    def member_status(self, user: UserHandle | EmuUser | int) -> str:
        return self.chat.members.get(_user_id(user), "left")

    def set_bot_status(self, status: str) -> None:
        """The bot's own membership ("administrator", "member", "left", "kicked"...)."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.chat.bot_status = status

    def messages(self) -> list[EmuMessage]:
        return self.emu.chat_messages(self.chat)

    def bot_messages(self) -> list[EmuMessage]:
        return self.emu.bot_messages(self.chat)


class UserHandle:
    """A person acting in the emulator (``emu.user(...)``).

    Every action stores the user's message, enqueues the matching Update with a fresh
    update_id (for polling or webhook delivery) and counts as "the last action" for
    ``emu.wait_for_bot_message``. In groups where the bot is not an administrator, privacy
    mode applies (see ``TelegramEmulator(privacy_mode=...)``): the message is stored but
    only commands, replies to the bot and @mentions produce an update. Without ``chat=``
    actions go to the user's private chat with the bot; ``chat=group`` posts in a group
    (the user is added as "member" if not listed; "left"/"kicked" users can't post).
    """

    def __init__(self, emu: TelegramEmulator, user: EmuUser) -> None:
        self.emu = emu
        self.user = user

    def __repr__(self) -> str:
        return f"UserHandle(id={self.id}, first_name={self.user.first_name!r})"

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def first_name(self) -> str:
        return self.user.first_name

    @property
    def username(self) -> str | None:
        return self.user.username

    @property
    def chat_id(self) -> int:
        """The private chat with the bot (same as the user id)."""
        return self.user.id

    @property
    def private_chat(self) -> EmuChat:
        return self.emu.chats[self.user.id]

    def messages(self) -> list[EmuMessage]:
        """All messages in this user's private chat with the bot."""
        return self.emu.chat_messages(self.user.id)

    def bot_messages(self) -> list[EmuMessage]:
        """The bot's visible messages in this user's private chat."""
        return self.emu.bot_messages(self.user.id)

    # ------------------------------------------------------------------ helpers
    def _chat(self, chat: ChatLike | None) -> EmuChat:
        if chat is None:
            self.user.started = True
            self.user.blocked = False
            return self.private_chat
        record = self.emu.chat(chat)
        if record.is_private:
            if record.id != self.user.id:
                raise AssertionError("a user can only write in their own private chat with the bot")
            self.user.started = True
            self.user.blocked = False
            return record
        if record.type == "channel":
            raise AssertionError("users can't post in a channel")
        status = record.members.get(self.user.id)
        if status in ("left", "kicked"):
            raise AssertionError(f"{self!r} is {status} in chat {record.id} and can't post there")
        if status is None:
            record.members[self.user.id] = "member"
        return record

    def _message(self, message: MessageLike, chat: EmuChat | None = None) -> EmuMessage:
        if isinstance(message, EmuMessage):
            return message
        if isinstance(message, int):
            target = chat or self.private_chat
            found = target.messages.get(message)
        else:
            found = self.emu.chats[int(message.chat.id)].messages.get(message.message_id)
        if found is None:
            raise AssertionError(f"message {message!r} not found")
        return found

    def _reply_fields(self, reply_to: MessageLike | None, chat: EmuChat) -> dict[str, Any]:
        if reply_to is None:
            return {}
        target = self._message(reply_to, chat)
        if target.chat is not chat:
            raise AssertionError("reply_to must be a message of the same chat")
        fields: dict[str, Any] = {"reply_to_message_id": target.message_id}
        if target.message_thread_id is not None:
            fields["message_thread_id"] = target.message_thread_id
            fields["is_topic_message"] = target.is_topic_message
        return fields

    def _thread_fields(self, chat: EmuChat, thread_id: int | None) -> dict[str, Any]:
        if thread_id is None:
            return {}
        if chat.is_forum and thread_id not in chat.topics:
            raise AssertionError(f"no topic {thread_id} in chat {chat.id}")
        return {"message_thread_id": thread_id, "is_topic_message": chat.is_forum}

    def _post(self, chat: EmuChat, **fields: Any) -> EmuMessage:
        message = self.emu.store_message(chat, self.user, from_bot=False, **fields)
        if self.emu.bot_sees(message):
            update = self.emu.push_update({"message": message.to_api()})
            message.update_id = update["update_id"]
        self.emu.mark_action()
        return message

    # ------------------------------------------------------------------ actions
    async def send_text(
        self,
        text: str,
        *,
        chat: ChatLike | None = None,
        reply_to: MessageLike | None = None,
        entities: list[dict[str, Any]] | None = None,
        thread_id: int | None = None,
    ) -> EmuMessage:
        """Send a text message. A leading "/command" gets a bot_command entity unless
        ``entities`` are given."""
        if not text.strip():
            raise AssertionError("Telegram clients can't send an empty message")
        if len(text) > 4096:
            raise AssertionError("Telegram clients split texts longer than 4096 characters")
        target = self._chat(chat)
        if entities is None:
            entities = []
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        fields = {**self._thread_fields(target, thread_id), **self._reply_fields(reply_to, target)}
        return self._post(target, text=text, entities=entities, **fields)

    async def send_command(
        self, command: str, args: str | None = None, *, chat: ChatLike | None = None
    ) -> EmuMessage:
        """Send "/command [args]" with a bot_command entity ("/start", "start" or
        "/start payload" all work)."""
        command = command if command.startswith("/") else "/" + command
        text = f"{command} {args}" if args else command
        return await self.send_text(text, chat=chat)

    async def send_photo(
        self,
        data: bytes | None = None,
        *,
        caption: str | None = None,
        caption_entities: list[dict[str, Any]] | None = None,
        chat: ChatLike | None = None,
        reply_to: MessageLike | None = None,
        media_group_id: str | None = None,
    ) -> EmuMessage:
        """Send a photo (default: a generated 64x48 PNG). The bytes are stored and get a
        file_id the bot can getFile/download or re-send."""
        target = self._chat(chat)
        stored = self.emu.files.add(data if data is not None else make_png(64, 48), "photo")
        fields = self._reply_fields(reply_to, target)
        if caption is not None:
            fields["caption"] = caption
            fields["caption_entities"] = caption_entities or []
        if media_group_id is not None:
            fields["media_group_id"] = media_group_id
        return self._post(target, photo=stored.photo_sizes(), **fields)

    async def send_album(
        self,
        photos: list[bytes],
        *,
        caption: str | None = None,
        chat: ChatLike | None = None,
    ) -> list[EmuMessage]:
        """Send 2-10 photos as one media group (one update per photo, shared
        media_group_id, caption on the first)."""
        if not 2 <= len(photos) <= 10:
            raise AssertionError("an album has 2-10 items")
        group_id = self.emu.new_media_group_id()
        return [
            await self.send_photo(
                data, caption=caption if i == 0 else None, chat=chat, media_group_id=group_id
            )
            for i, data in enumerate(photos)
        ]

    async def send_document(
        self,
        data: bytes,
        filename: str = "document.pdf",
        mime_type: str | None = None,
        *,
        caption: str | None = None,
        chat: ChatLike | None = None,
        reply_to: MessageLike | None = None,
    ) -> EmuMessage:
        """Send a file as a document (mime type guessed from the name if not given)."""
        target = self._chat(chat)
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self.emu.files.add(data, "document", file_name=filename, mime_type=mime)
        fields = self._reply_fields(reply_to, target)
        if caption is not None:
            fields["caption"] = caption
        return self._post(target, document=stored.document_dict(), **fields)

    async def send_raw(
        self,
        fields: dict[str, Any],
        *,
        chat: ChatLike | None = None,
        reply_to: MessageLike | None = None,
    ) -> EmuMessage:
        """Send a message with arbitrary extra Message fields, e.g. a sticker::

        await alice.send_raw({"sticker": {...}})   # message_id, from, chat, date added
        """
        target = self._chat(chat)
        return self._post(target, extra=dict(fields), **self._reply_fields(reply_to, target))

    async def edit_text(self, message: MessageLike, text: str) -> EmuMessage:
        """Edit one of this user's text messages (enqueues an edited_message update)."""
        record = self._message(message)
        if record.sender is not self.user or record.text is None:
            raise AssertionError("a user can only edit their own text messages")
        self.emu.record_edit(record)
        record.text = text
        record.entities = []
        if self.emu.bot_sees(record):
            self.emu.push_update({"edited_message": record.to_api()})
        self.emu.mark_action()
        return record

    async def press(self, message: MessageLike, callback_data: str, *, force: bool = False) -> str:
        """Press the inline button carrying ``callback_data`` on a bot message.

        Returns the callback query id (look the answer up in ``emu.callback_answers`` or
        await ``emu.wait_for_callback_answer(query_id)``). The button must be on the
        message's current keyboard unless ``force=True`` (to simulate stale or forged
        data).
        """
        record = self._message(message)
        if record.deleted:
            raise AssertionError(f"message {record.message_id} was deleted; nothing to press")
        if not force and callback_data not in [b.get("callback_data") for b in record.buttons]:
            raise AssertionError(
                f"no button with callback_data {callback_data!r} on message "
                f"{record.message_id}; buttons: {self._describe_buttons(record)}"
            )
        chat = record.chat
        if chat.is_private and chat.id != self.user.id:
            raise AssertionError("a user can only press buttons in their own private chat")
        if not chat.is_private:
            self._chat(chat)  # joins as "member" if unlisted; refuses left/kicked users
        query_id = self.emu.new_callback_query_id()
        self.emu.callback_queries[query_id] = CallbackQueryRecord(
            query_id, self.user.id, record, callback_data, self.emu.clock()
        )
        pressed = record.to_api()
        if self.emu.clock() - record.created_at >= INACCESSIBLE_AFTER:
            # A message the bot can no longer see comes as an InaccessibleMessage: its chat,
            # its id and date 0 (core.telegram.org/bots/api#inaccessiblemessage).
            pressed = {"chat": record.chat.to_api(), "message_id": record.message_id, "date": 0}
        self.emu.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user.to_api(),
                    "message": pressed,
                    "chat_instance": str(abs(chat.id) * 7919 % 10**15),
                    "data": callback_data,
                }
            }
        )
        self.emu.mark_action()
        return query_id

    async def press_button(self, message: MessageLike, text_contains: str) -> str:
        """Press the inline button whose label contains ``text_contains``.

        An exact label match wins; otherwise the substring (then case-insensitive
        substring) must identify exactly one button. Raises AssertionError listing the
        labels when nothing or several buttons match, or for URL buttons.
        """
        record = self._message(message)
        buttons = record.buttons
        matches = [b for b in buttons if b.get("text") == text_contains]
        if not matches:
            matches = [b for b in buttons if text_contains in str(b.get("text", ""))]
        if not matches:
            needle = text_contains.casefold()
            matches = [b for b in buttons if needle in str(b.get("text", "")).casefold()]
        if not matches:
            raise AssertionError(
                f"no inline button containing {text_contains!r} on message "
                f"{record.message_id}; labels: {record.button_labels}"
            )
        if len(matches) > 1:
            raise AssertionError(
                f"{len(matches)} buttons contain {text_contains!r} on message "
                f"{record.message_id}: {[b.get('text') for b in matches]}"
            )
        button = matches[0]
        data = button.get("callback_data")
        if not isinstance(data, str):
            raise AssertionError(
                f"button {button.get('text')!r} has no callback_data (it is {button})"
            )
        return await self.press(record, data)

    async def block_bot(self) -> None:
        """Block the bot: private sends now answer 403; a my_chat_member update is sent."""
        self.user.blocked = True
        self._member_update("member", "kicked")

    async def unblock_bot(self) -> None:
        """Unblock (restart) the bot; a my_chat_member update is sent."""
        self.user.blocked = False
        self.user.started = True
        self._member_update("kicked", "member")

    def _member_update(self, old: str, new: str) -> None:
        bot = self.emu.bot_user.to_api()
        old_member: dict[str, Any] = {"status": old, "user": bot}
        new_member: dict[str, Any] = {"status": new, "user": bot}
        for member in (old_member, new_member):
            if member["status"] == "kicked":
                member["until_date"] = 0
        self.emu.push_update(
            {
                "my_chat_member": {
                    "chat": self.private_chat.to_api(),
                    "from": self.user.to_api(),
                    "date": self.emu.now(),
                    "old_chat_member": old_member,
                    "new_chat_member": new_member,
                }
            }
        )
        self.emu.mark_action()

    @staticmethod
    def _describe_buttons(record: EmuMessage) -> list[str]:
        return [
            f"{b.get('text')!r} -> {b.get('callback_data', b.get('url'))!r}" for b in record.buttons
        ]
