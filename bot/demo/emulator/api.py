"""The Bot API methods the emulator serves, with Telegram's validation and errors."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.demo.emulator.files import DOCUMENT_UPLOAD_LIMIT, DOWNLOAD_LIMIT, PHOTO_UPLOAD_LIMIT
from bot.demo.emulator.html import EntityParseError, parse_html, trim_text, validate_entities
from bot.demo.emulator.models import CallbackAnswer, EmuChat, EmuMessage, EmuUser, StoredFile
from bot.demo.emulator.params import (
    ApiError,
    Params,
    Upload,
    bad_request,
    normalize_params,
    too_many_requests,
)

if TYPE_CHECKING:
    from bot.demo.emulator.telegram import TelegramEmulator

Handler = Callable[[Params], Awaitable[Any]]

#: Methods served (names as in the Bot API; lookup is case-insensitive).
API_METHODS = (
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "answerCallbackQuery",
    "sendPhoto",
    "sendDocument",
    "sendMediaGroup",
    "copyMessage",
    "forwardMessage",
    "deleteMessage",
    "deleteMessages",
    "getChatMember",
    "getChat",
    "getFile",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "setChatMenuButton",
    "getChatMenuButton",
    "createForumTopic",
    "sendChatAction",
)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
CALLBACK_ANSWER_LIMIT = 200
DELETE_WINDOW = 48 * 3600.0
CALLBACK_ANSWER_WINDOW = 15.0
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_INLINE_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
    "web_app",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_TOPIC_COLORS = frozenset({7322096, 16766590, 13338331, 9367192, 16749490, 16478047})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_URL_RE = re.compile(r"(https?|tg)://\S+")
_ADMIN = ("administrator", "creator")


def member_dict(status: str, user: EmuUser) -> dict[str, Any]:
    """A ChatMember object of the given status."""
    data: dict[str, Any] = {"status": status, "user": user.to_api()}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            can_pin_messages=True,
            can_manage_topics=True,
            can_send_welcome_messages=False,
        )
    elif status == "restricted":
        flags = (
            "can_send_messages can_send_audios can_send_documents can_send_photos "
            "can_send_videos can_send_video_notes can_send_voice_notes can_send_polls "
            "can_send_other_messages can_add_web_page_previews can_react_to_messages "
            "can_edit_tag can_change_info can_invite_users can_pin_messages can_manage_topics"
        )
        data.update(dict.fromkeys(flags.split(), False))
        data.update(is_member=True, until_date=0)
    elif status == "kicked":
        data["until_date"] = 0
    return data


class BotApi:
    """Method implementations; ``methods`` maps lower-case name -> (name, handler)."""

    def __init__(self, emu: TelegramEmulator) -> None:
        self.emu = emu
        self.methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, getattr(self, name)) for name in API_METHODS
        }

    # ------------------------------------------------------------------ helpers
    def _formatted(
        self,
        p: Params,
        text_key: str,
        entities_key: str,
        *,
        limit: int,
        required: bool,
        empty: str = "message text is empty",
        too_long: str = "message is too long",
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """Text + entities after parse_mode/entities handling, trimming and limits."""
        source = p.text(text_key)
        if source is None:
            if required:
                raise bad_request(empty)
            return None, []
        parse_mode = (p.text("parse_mode") or "").strip()
        mode = parse_mode.lower()
        try:
            if mode and mode != "none":
                if mode == "html":
                    text, entities = parse_html(
                        source,
                        strict_ampersand=self.emu.strict_html_ampersand,
                        mention_lookup=self.emu.mention_lookup,
                    )
                elif mode in ("markdown", "markdownv2"):
                    raise bad_request(
                        f"can't parse entities: parse_mode {parse_mode} is unsupported by "
                        "the emulator (use HTML or entities)"
                    )
                else:
                    raise bad_request("unsupported parse_mode")
            else:
                text, entities = source, validate_entities(source, p.raw(entities_key))
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        text, entities = trim_text(text, entities)
        if not text:
            if required:
                raise bad_request(empty)
            return None, []
        if len(text) > limit:
            raise bad_request(too_long)
        return text, entities

    def _caption(self, p: Params) -> tuple[str | None, list[dict[str, Any]]]:
        return self._formatted(
            p,
            "caption",
            "caption_entities",
            limit=CAPTION_LIMIT,
            required=False,
            too_long="message caption is too long",
        )

    def _markup(self, p: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
        raw = p.raw("reply_markup")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in raw:
            return self._inline_keyboard(raw["inline_keyboard"])
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in raw:
            rows = raw["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request('field "keyboard" must be an Array of Arrays')
            return raw
        if raw.get("remove_keyboard") is True or raw.get("force_reply") is True:
            return raw
        raise bad_request("can't parse reply keyboard markup JSON object")

    @staticmethod
    def _inline_keyboard(rows: Any) -> dict[str, Any] | None:
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request('field "inline_keyboard" must be an Array of Arrays')
        cleaned: list[list[dict[str, Any]]] = []
        for row in rows:
            new_row: list[dict[str, Any]] = []
            for raw_button in row:
                if not isinstance(raw_button, dict):
                    raise bad_request("can't parse inline keyboard button: object expected")
                button = {k: v for k, v in raw_button.items() if v is not None}
                text = button.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise bad_request("can't parse inline keyboard button: Text must be non-empty")
                if not any(action in button for action in _INLINE_ACTIONS):
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if (
                        not isinstance(data, str)
                        or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT
                    ):
                        raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button:
                    url = button["url"]
                    if not isinstance(url, str) or not _BUTTON_URL_RE.fullmatch(url):
                        raise bad_request(
                            f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                        )
                new_row.append(button)
            if new_row:
                cleaned.append(new_row)
        if not cleaned:
            return None
        return {"inline_keyboard": cleaned}

    def _reply_to(self, p: Params, chat: EmuChat) -> EmuMessage | None:
        params = p.raw("reply_parameters")
        allow = p.boolean("allow_sending_without_reply")
        message_id: Any = None
        if isinstance(params, dict):
            other_chat = params.get("chat_id")
            if other_chat not in (None, chat.id):
                return None  # replies to other chats are shown as quotes; not tracked
            message_id = params.get("message_id")
            allow = bool(params.get("allow_sending_without_reply", allow))
        elif params is not None:
            raise bad_request("can't parse reply parameters JSON object")
        else:
            message_id = p.integer("reply_to_message_id")
        if message_id is None:
            return None
        target = chat.messages.get(message_id) if isinstance(message_id, int) else None
        if target is None or target.deleted:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return target

    def _thread(
        self, p: Params, chat: EmuChat, reply: EmuMessage | None
    ) -> tuple[int | None, bool]:
        """(message_thread_id, is_topic_message) for a new message."""
        thread = p.integer("message_thread_id")
        if thread is None:
            if reply is not None and reply.message_thread_id is not None:
                return reply.message_thread_id, reply.is_topic_message
            return None, False
        if chat.is_private:
            return None, False
        if chat.is_forum:
            if thread in chat.closed_topics and chat.bot_status not in _ADMIN:
                # Only admins may post in a closed topic (core.telegram.org/api/errors lists
                # TOPIC_CLOSED; core.telegram.org/bots/api#closeforumtopic).
                raise bad_request("TOPIC_CLOSED")
            if thread in chat.topics:
                return thread, True
            if thread == 1:
                return None, False  # the General topic
            raise bad_request("message thread not found")
        if thread in chat.messages:
            return thread, False
        raise bad_request("message thread not found")

    def _rate(self, chat: EmuChat, cost: int = 1, *, edit: bool = False) -> None:
        wait = self.emu.limiter.acquire(chat.id, private=chat.is_private, cost=cost, edit=edit)
        if wait:
            raise too_many_requests(wait)

    def _input_file(self, p: Params, value: Any, kind: str) -> StoredFile:
        """Resolve an InputFile parameter value: upload, attach://name or file_id."""
        if isinstance(value, str) and value.startswith("attach://"):
            name = value[len("attach://") :]
            attached = p.upload(name)
            if attached is None:
                raise bad_request(f'can\'t find attached file "{name}"')
            value = attached
        if isinstance(value, Upload):
            return self._store_upload(value, kind)
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            raise bad_request(
                "failed to get HTTP URL content (the emulator has no network access; "
                "upload the bytes or use a file_id)"
            )
        stored = self.emu.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(
                f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}"
            )
        return stored

    def _store_upload(self, upload: Upload, kind: str) -> StoredFile:
        if not upload.data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            if len(upload.data) > PHOTO_UPLOAD_LIMIT:
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            stored = self.emu.files.add(upload.data, "photo")
            # "The photo's width and height must not exceed 10000 in total. Width and height
            # ratio must be at most 20." (core.telegram.org/bots/api#sendphoto)
            width, height = stored.width or 0, stored.height or 0
            if width + height > 10000 or max(width, height) > 20 * max(min(width, height), 1):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            return stored
        if len(upload.data) > DOCUMENT_UPLOAD_LIMIT:
            raise ApiError(413, "Request Entity Too Large")
        content_type = upload.content_type
        if content_type in (None, "application/octet-stream"):
            content_type = None  # guessed from the file name by the store
        return self.emu.files.add(
            upload.data, kind, file_name=upload.filename, mime_type=content_type
        )

    def _editable(self, p: Params) -> EmuMessage:
        if p.has("inline_message_id"):
            raise bad_request("inline messages are not supported by the emulator")
        chat = self.emu.resolve_chat(p.chat_ref())
        message_id = p.integer("message_id", required=True)
        message = chat.messages.get(message_id or 0)
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot or message.service is not None:
            raise bad_request("message can't be edited")
        return message

    def _source_message(self, p: Params, what: str) -> EmuMessage:
        source_chat = self.emu.resolve_chat(p.chat_ref("from_chat_id"))
        message_id = p.integer("message_id", required=True)
        message = source_chat.messages.get(message_id or 0)
        if message is None or message.deleted:
            raise bad_request(f"message to {what} not found")
        if message.service is not None:
            raise bad_request(
                f"message can't be {what}ed" if what == "forward" else "message can't be copied"
            )
        return message

    def _can_delete(self, chat: EmuChat, message: EmuMessage) -> bool:
        if message.service is not None and "forum_topic_created" in message.service:
            return False
        if self.emu.clock() - message.created_at >= DELETE_WINDOW:
            return False
        if chat.is_private or message.from_bot:
            return True
        return chat.bot_status in _ADMIN

    def _forward_origin(self, message: EmuMessage) -> dict[str, Any]:
        if message.forward_origin is not None:
            return message.forward_origin
        if message.chat.type == "channel":
            return {
                "type": "channel",
                "chat": message.chat.to_api(),
                "message_id": message.message_id,
                "date": message.date,
            }
        return {"type": "user", "date": message.date, "sender_user": message.sender.to_api()}

    def _bot_send(self, chat: EmuChat, **fields: Any) -> EmuMessage:
        return self.emu.store_message(chat, self.emu.bot_user, from_bot=True, **fields)

    # ------------------------------------------------------------------ bot & updates
    async def getMe(self, p: Params) -> Any:
        data = self.emu.bot_user.to_api()
        data.update(
            can_join_groups=True,
            can_read_all_group_messages=not self.emu.privacy_mode,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return data

    async def getUpdates(self, p: Params) -> Any:
        """offset confirms updates below it (negative: keep the last -offset); limit 1..100;
        timeout long-polls; allowed_updates (when given) filters future updates."""
        limit = p.integer("limit") or 100
        limit = min(max(limit, 1), 100)
        timeout = p.integer("timeout") or 0
        allowed = p.json_value("allowed_updates")
        if allowed is not None and not (
            isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)
        ):
            raise bad_request("can't parse allowed updates")
        return await self.emu.poll(p.integer("offset"), limit, timeout, allowed)

    async def setWebhook(self, p: Params) -> Any:
        allowed = p.json_value("allowed_updates")
        await self.emu.set_webhook(
            p.text("url") or "",
            p.text("secret_token"),
            allowed if isinstance(allowed, list) else None,
            p.boolean("drop_pending_updates"),
            p.integer("max_connections"),
        )
        return True

    async def deleteWebhook(self, p: Params) -> Any:
        await self.emu.delete_webhook(p.boolean("drop_pending_updates"))
        return True

    async def getWebhookInfo(self, p: Params) -> Any:
        return self.emu.webhook_info()

    # ------------------------------------------------------------------ sending
    async def sendMessage(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        text, entities = self._formatted(p, "text", "entities", limit=TEXT_LIMIT, required=True)
        markup = self._markup(p)
        reply = self._reply_to(p, chat)
        thread, topic = self._thread(p, chat, reply)
        self._rate(chat)
        message = self._bot_send(
            chat,
            text=text,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply.message_id if reply else None,
            message_thread_id=thread,
            is_topic_message=topic,
        )
        return message.to_api()

    async def sendPhoto(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        stored = self._input_file(p, p.raw("photo"), "photo")
        caption, caption_entities = self._caption(p)
        markup = self._markup(p)
        reply = self._reply_to(p, chat)
        thread, topic = self._thread(p, chat, reply)
        self._rate(chat)
        message = self._bot_send(
            chat,
            photo=stored.photo_sizes(),
            caption=caption,
            caption_entities=caption_entities,
            reply_markup=markup,
            reply_to_message_id=reply.message_id if reply else None,
            message_thread_id=thread,
            is_topic_message=topic,
        )
        return message.to_api()

    async def sendDocument(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        stored = self._input_file(p, p.raw("document"), "document")
        caption, caption_entities = self._caption(p)
        markup = self._markup(p)
        reply = self._reply_to(p, chat)
        thread, topic = self._thread(p, chat, reply)
        self._rate(chat)
        message = self._bot_send(
            chat,
            document=stored.document_dict(),
            caption=caption,
            caption_entities=caption_entities,
            reply_markup=markup,
            reply_to_message_id=reply.message_id if reply else None,
            message_thread_id=thread,
            is_topic_message=topic,
        )
        return message.to_api()

    async def sendMediaGroup(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        media = p.json_value("media")
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise bad_request("can't parse media JSON object")
        if len(media) > 10:
            raise bad_request("too much messages to send as an album")
        if len(media) < 2:
            raise bad_request("media group must contain 2-10 items")
        kinds = [item.get("type") for item in media]
        for kind in kinds:
            if kind not in ("photo", "document"):
                raise bad_request(
                    f"media type {kind!r} is not supported by the emulator (photo, document)"
                )
        if "document" in kinds and len(set(kinds)) > 1:
            raise bad_request("document can't be mixed with other media types")
        prepared: list[tuple[StoredFile, str | None, list[dict[str, Any]]]] = []
        for item in media:
            kind = str(item["type"])
            stored = self._input_file(p, item.get("media"), kind)
            item_params = Params(normalize_params({k: v for k, v in item.items() if k != "media"}))
            caption, entities = self._caption(item_params)
            prepared.append((stored, caption, entities))
        reply = self._reply_to(p, chat)
        thread, topic = self._thread(p, chat, reply)
        self._rate(chat, cost=len(prepared))
        group_id = self.emu.new_media_group_id()
        results = []
        for stored, caption, entities in prepared:
            fields: dict[str, Any] = {}
            if stored.kind == "photo":
                fields["photo"] = stored.photo_sizes()
            else:
                fields["document"] = stored.document_dict()
            message = self._bot_send(
                chat,
                caption=caption,
                caption_entities=entities,
                media_group_id=group_id,
                reply_to_message_id=reply.message_id if reply else None,
                message_thread_id=thread,
                is_topic_message=topic,
                **fields,
            )
            results.append(message.to_api())
        return results

    async def copyMessage(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        source = self._source_message(p, "copy")
        fields: dict[str, Any] = {
            "text": source.text,
            "entities": list(source.entities),
            "photo": source.photo,
            "document": source.document,
            "caption": source.caption,
            "caption_entities": list(source.caption_entities),
            "extra": dict(source.extra),
        }
        if source.text is None:
            if p.has("caption"):
                fields["caption"], fields["caption_entities"] = self._caption(p)
            elif p.boolean("remove_caption"):
                fields["caption"], fields["caption_entities"] = None, []
        markup = self._markup(p)
        reply = self._reply_to(p, chat)
        thread, topic = self._thread(p, chat, reply)
        self._rate(chat)
        message = self._bot_send(
            chat,
            reply_markup=markup,
            reply_to_message_id=reply.message_id if reply else None,
            message_thread_id=thread,
            is_topic_message=topic,
            **fields,
        )
        return {"message_id": message.message_id}

    async def forwardMessage(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        source = self._source_message(p, "forward")
        thread, topic = self._thread(p, chat, None)
        self._rate(chat)
        message = self._bot_send(
            chat,
            text=source.text,
            entities=list(source.entities),
            photo=source.photo,
            document=source.document,
            caption=source.caption,
            caption_entities=list(source.caption_entities),
            extra=dict(source.extra),
            forward_origin=self._forward_origin(source),
            message_thread_id=thread,
            is_topic_message=topic,
        )
        return message.to_api()

    async def sendChatAction(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        action = p.text("action", required=True)
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.emu.chat_actions.append((chat.id, action))
        return True

    # ------------------------------------------------------------------ editing & deleting
    async def editMessageText(self, p: Params) -> Any:
        message = self._editable(p)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(p, "text", "entities", limit=TEXT_LIMIT, required=True)
        markup = self._markup(p, inline_only=True)
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._rate(message.chat, edit=True)
        self.emu.record_edit(message)
        message.text, message.entities, message.reply_markup = text, entities, markup
        self.emu.notify()
        return message.to_api()

    async def editMessageCaption(self, p: Params) -> Any:
        message = self._editable(p)
        if not message.photo and not message.document:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._caption(p)
        markup = self._markup(p, inline_only=True)
        if (
            caption == message.caption
            and entities == message.caption_entities
            and markup == message.reply_markup
        ):
            raise bad_request(NOT_MODIFIED)
        self._rate(message.chat, edit=True)
        self.emu.record_edit(message)
        message.caption, message.caption_entities, message.reply_markup = caption, entities, markup
        self.emu.notify()
        return message.to_api()

    async def editMessageReplyMarkup(self, p: Params) -> Any:
        message = self._editable(p)
        markup = self._markup(p, inline_only=True)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._rate(message.chat, edit=True)
        self.emu.record_edit(message)
        message.reply_markup = markup
        self.emu.notify()
        return message.to_api()

    async def deleteMessage(self, p: Params) -> Any:
        chat = self.emu.resolve_chat(p.chat_ref())
        message_id = p.integer("message_id", required=True)
        message = chat.messages.get(message_id or 0)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        if not self._can_delete(chat, message):
            raise bad_request("message can't be deleted")
        message.deleted = True
        self.emu.notify()
        return True

    async def deleteMessages(self, p: Params) -> Any:
        chat = self.emu.resolve_chat(p.chat_ref())
        ids = p.json_value("message_ids")
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= 100
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise bad_request("message_ids must be a list of 1-100 message identifiers")
        deleted = 0
        for message_id in ids:
            message = chat.messages.get(message_id)
            if message is not None and not message.deleted and self._can_delete(chat, message):
                message.deleted = True
                deleted += 1
        if not deleted:
            raise bad_request("message to delete not found")
        self.emu.notify()
        return True

    # ------------------------------------------------------------------ callbacks
    async def answerCallbackQuery(self, p: Params) -> Any:
        query_id = p.text("callback_query_id", required=True) or ""
        query = self.emu.callback_queries.get(query_id)
        # A press must be answered soon: clients show a progress bar until the bot answers
        # (core.telegram.org/bots/api#answercallbackquery), and an answer after about 15 s is
        # refused as QUERY_ID_INVALID (core.telegram.org/api/errors), which the Bot API server
        # words as below. The 15 s is what bots observe; the pages give no figure.
        too_old = query is not None and self.emu.clock() - query.created_at > CALLBACK_ANSWER_WINDOW
        if query is None or query_id in self.emu.callback_answers or too_old:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = p.text("text")
        if text is not None and len(text) > CALLBACK_ANSWER_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG")
        self.emu.callback_answers[query_id] = CallbackAnswer(
            query_id=query_id,
            text=text,
            show_alert=p.boolean("show_alert"),
            url=p.text("url"),
            cache_time=p.integer("cache_time"),
            created_at=self.emu.clock(),
        )
        self.emu.notify()
        return True

    # ------------------------------------------------------------------ chats
    async def getChatMember(self, p: Params) -> Any:
        chat = self.emu.resolve_chat(p.chat_ref())
        user_id = p.integer("user_id", required=True) or 0
        bot = self.emu.bot_user
        if chat.is_private:
            if user_id == bot.id:
                return member_dict("member", bot)
            if user_id != chat.id:
                raise bad_request("user not found")
            return member_dict("member", self.emu.users[user_id])
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if user_id == bot.id:
            return member_dict(chat.bot_status, bot)
        user = self.emu.users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        return member_dict(chat.members.get(user_id, "left"), user)

    async def getChat(self, p: Params) -> Any:
        chat = self.emu.resolve_chat(p.chat_ref())
        data = chat.to_api()
        data.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return data

    async def createForumTopic(self, p: Params) -> Any:
        chat = self.emu.sendable_chat(p.chat_ref())
        if chat.type != "supergroup" or not chat.is_forum:
            raise bad_request("the chat is not a forum")
        if chat.bot_status not in _ADMIN:
            raise bad_request("not enough rights to create a topic")
        name = (p.text("name") or "").strip()
        if not name:
            raise bad_request("TOPIC_TITLE_EMPTY")
        if len(name) > 128:
            raise bad_request("TOPIC_TITLE_TOO_LONG")
        color = p.integer("icon_color") or 7322096
        if color not in _TOPIC_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        topic: dict[str, Any] = {"name": name, "icon_color": color}
        emoji = p.text("icon_custom_emoji_id")
        if emoji:
            topic["icon_custom_emoji_id"] = emoji
        message = self._bot_send(chat, service={"forum_topic_created": dict(topic)})
        message.message_thread_id = message.message_id
        message.is_topic_message = True
        topic = {"message_thread_id": message.message_id, **topic}
        chat.topics[message.message_id] = topic
        return topic

    # ------------------------------------------------------------------ files
    async def getFile(self, p: Params) -> Any:
        file_id = p.text("file_id", required=True) or ""
        stored = self.emu.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        return stored.file_dict()

    # ------------------------------------------------------------------ bot settings
    @staticmethod
    def _commands_key(p: Params) -> tuple[str, str]:
        scope = p.json_value("scope")
        if scope is not None and not (
            isinstance(scope, dict) and isinstance(scope.get("type"), str)
        ):
            raise bad_request("can't parse BotCommandScope JSON object")
        language = p.text("language_code") or ""
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language

    async def setMyCommands(self, p: Params) -> Any:
        commands = p.json_value("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        cleaned: list[dict[str, Any]] = []
        for item in commands:
            if not isinstance(item, dict):
                raise bad_request("can't parse BotCommand JSON object")
            command = item.get("command")
            description = item.get("description")
            if not isinstance(command, str) or not _COMMAND_RE.fullmatch(command):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("command description must be 1-256 characters")
            cleaned.append({"command": command, "description": description})
        key = self._commands_key(p)
        if cleaned:
            self.emu.commands[key] = cleaned
        else:
            self.emu.commands.pop(key, None)
        return True

    async def deleteMyCommands(self, p: Params) -> Any:
        self.emu.commands.pop(self._commands_key(p), None)
        return True

    async def getMyCommands(self, p: Params) -> Any:
        return self.emu.commands.get(self._commands_key(p), [])

    async def setChatMenuButton(self, p: Params) -> Any:
        chat_id = p.chat_ref(required=False)
        if chat_id is not None:
            chat = self.emu.resolve_chat(chat_id)
            if not chat.is_private:
                raise bad_request("menu button can be set only in private chats")
            chat_id = chat.id
        button = p.json_value("menu_button") or {"type": "default"}
        kinds = ("default", "commands", "web_app")
        if not isinstance(button, dict) or button.get("type") not in kinds:
            raise bad_request("can't parse menu button JSON object")
        self.emu.menu_buttons[chat_id if isinstance(chat_id, int) else None] = button
        return True

    async def getChatMenuButton(self, p: Params) -> Any:
        chat_id = p.chat_ref(required=False)
        key = chat_id if isinstance(chat_id, int) else None
        return (
            self.emu.menu_buttons.get(key) or self.emu.menu_buttons.get(None) or {"type": "default"}
        )
