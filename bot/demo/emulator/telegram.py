"""A loopback Telegram Bot API emulator for end-to-end tests.

The real aiogram ``Bot`` talks to it over HTTP on 127.0.0.1::

    async with TelegramEmulator() as emu:
        bot = emu.make_bot()  # Bot(token, session=AiohttpSession(api=...from_base(base_url)))
        alice = emu.user(first_name="Alice", language_code="ru")
        await alice.send_command("/start")
        ...  # run the dispatcher (polling or webhook) against the bot
        reply = await emu.wait_for_bot_message(alice)
        assert "Здравствуйте" in reply.text
        query_id = await alice.press_button(reply, "Report")
        ...
        await bot.session.close()

What it enforces (the point of the exercise): Telegram's HTML parsing with its error
messages, text/caption/callback-data/media-group limits, "message is not modified", the
48 h deletion window, per-chat / per-group / global flood limits answered with 429 and
``retry_after`` (using an injectable clock), and fault injection (``emu.faults``).

Methods served: see :data:`bot.demo.emulator.api.API_METHODS`. Anything else answers 404
``{"ok": false, "error_code": 404, "description": "Not Found"}`` like the real server.

Group privacy mode is on by default (``privacy_mode``), rate limits too (``rate_limits``).

Known simplifications: no MarkdownV2 (400 "unsupported by the emulator"), no automatic
url/mention/hashtag entity detection in bot messages, no inline mode, no video/audio/voice
sending, photos get a single PhotoSize.

Webhook delivery works like Telegram's Bot API server (tdlib/telegram-bot-api, WebhookActor):
one update per POST; updates of one chat in order, the next only after the previous one was
answered 2xx; different chats in parallel, up to ``max_connections`` at once; a failed delivery
is retried after ``webhook_retry_delay`` or after the ``Retry-After`` header's seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.demo.emulator.api import BotApi
from bot.demo.emulator.faults import Faults
from bot.demo.emulator.files import DOCUMENT_UPLOAD_LIMIT, FileStore
from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.models import (
    ApiCall,
    CallbackAnswer,
    CallbackQueryRecord,
    EmuChat,
    EmuMessage,
    EmuUser,
    Stats,
)
from bot.demo.emulator.params import (
    ApiError,
    Params,
    Upload,
    bad_request,
    forbidden,
    normalize_params,
    read_request_params,
)
from bot.demo.emulator.ratelimit import RateLimitConfig, RateLimiter

__all__ = ["FakeClock", "LoopbackSession", "TelegramEmulator"]

#: Update kinds Telegram leaves out unless asked for explicitly in allowed_updates.
EXCLUDED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MAX_LONG_POLL = 50.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


#: Anything naming a chat: a chat id, an EmuChat, a GroupHandle or a UserHandle (private chat).
ChatLike = int | _HasId


class LoopbackSession(AiohttpSession):
    """aiogram's aiohttp session without the SSL grace sleep in ``close()``."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class FakeClock:
    """A manual monotonic clock: ``clock()`` reads it, ``clock.advance(s)`` moves it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.now += seconds


@dataclass
class _Queued:
    update: dict[str, Any]
    update_id: int
    forced: bool = False
    delivered: bool = False


def update_kind(update: Mapping[str, Any]) -> str:
    """The payload key of an update ("message", "callback_query", ...)."""
    return next((key for key in update if key != "update_id"), "unknown")


def _queue_key(update: Mapping[str, Any], update_id: int) -> Any:
    """Which of Telegram's per-chat delivery queues an update joins (its chat, else its sender)."""
    body = update.get(update_kind(update))
    if isinstance(body, dict):
        message = body.get("message")
        for holder in (body, message if isinstance(message, dict) else {}):
            chat = holder.get("chat")
            if isinstance(chat, dict) and "id" in chat:
                return ("chat", chat["id"])
        sender = body.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return ("chat", sender["id"])
    return ("update", update_id)


def chat_id_of(chat: ChatLike) -> int:
    return chat if isinstance(chat, int) else chat.id


class TelegramEmulator:
    """The emulated Bot API server plus the controls tests use to act as people.

    :param clock: monotonic seconds used for message dates, the 48 h deletion rule and rate
        limits; pass a :class:`FakeClock` to drive time with :meth:`advance`.
    :param rate_limits: ``True`` (default Telegram limits), ``False`` (off) or a
        :class:`RateLimitConfig`; also switchable later via ``emu.rate_limits.enabled``.
    :param strict_html_ampersand: reject a lone ``&`` in HTML (real Telegram keeps it).
    :param privacy_mode: the bot's group privacy mode (Telegram's default): in groups where
        the bot is not an administrator it only gets commands, replies to its messages and
        @mentions; other user messages are stored but produce no update.
    :param webhook_retry_delay: real seconds between webhook retries after a failure.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        rate_limits: bool | RateLimitConfig = True,
        strict_html_ampersand: bool = True,
        privacy_mode: bool = True,
        bot_id: int = 100000001,
        bot_username: str = "reportbot_test_bot",
        bot_first_name: str = "Report Bot (test)",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 10.0,
    ) -> None:
        if host not in _LOOPBACK_HOSTS:
            raise ValueError("the emulator only listens on loopback addresses")
        self.clock: Callable[[], float] = clock or time.monotonic
        self._epoch = int(time.time())
        self._clock0 = self.clock()
        if isinstance(rate_limits, RateLimitConfig):
            self.rate_limits = rate_limits
        else:
            self.rate_limits = RateLimitConfig(enabled=rate_limits)
        self.limiter = RateLimiter(self.rate_limits, self.clock)
        self.strict_html_ampersand = strict_html_ampersand
        self.privacy_mode = privacy_mode
        self.bot_user = EmuUser(bot_id, bot_first_name, is_bot=True, username=bot_username)
        self.host = host
        self.port = port
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout

        self.faults = Faults()
        self.stats = Stats()
        self.files = FileStore()
        #: every answered request except empty getUpdates polls, oldest first.
        self.calls: list[ApiCall] = []
        #: tracebacks of emulator bugs (answered 500); the fixture should assert it's empty.
        self.internal_errors: list[str] = []
        self.users: dict[int, EmuUser] = {}
        self.chats: dict[int, EmuChat] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.callback_answers: dict[str, CallbackAnswer] = {}
        #: (chat_id, action) for every sendChatAction.
        self.chat_actions: list[tuple[int, str]] = []
        #: (scope JSON, language_code) -> commands, from setMyCommands.
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: chat_id (None = default) -> MenuButton dict, from setChatMenuButton.
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        #: every update ever enqueued, by update_id.
        self.updates_log: dict[int, dict[str, Any]] = {}
        self.last_update: dict[str, Any] | None = None
        #: clock() when each update was first handed to the bot (a webhook POST started or a
        #: getUpdates answer), by update_id; benchmarks time the bot's answers from it.
        self.delivered_at: dict[int, float] = {}

        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        self.webhook_last_error_date: int | None = None
        self.webhook_last_error_message: str | None = None

        self.api = BotApi(self)
        self.base_url = ""
        self._queue: list[_Queued] = []
        self._allowed_updates: frozenset[str] | None = None
        self._next_update_id = 500_000_001
        self._next_user_id = 200_000_001
        self._next_group_id = -1_001_000_000_001
        self._next_query = 1
        self._next_media_group = 13_000_000_001
        self._seq = 0
        self._last_action_seq = 0
        self._wait_cursor: dict[int, int] = {}
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> TelegramEmulator:
        """Start listening on the loopback address; sets :attr:`base_url`."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        self._closing = False
        app = web.Application(client_max_size=DOCUMENT_UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host.strip("[]"), self.port))
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = sock.getsockname()[1]
        host = f"[{self.host.strip('[]')}]" if family == socket.AF_INET6 else self.host
        self.base_url = f"http://{host}:{self.port}"
        return self

    async def stop(self) -> None:
        """Wake pending long polls, stop webhook delivery and close the server."""
        self._closing = True
        self.notify()
        await self._stop_webhook_task()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramEmulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def token(self) -> str:
        """A well-formed token for this bot (any token is accepted)."""
        return f"{self.bot_user.id}:TEST-emulator-token"

    def make_bot(self, token: str | None = None, **bot_kwargs: Any) -> Bot:
        """An aiogram ``Bot`` wired to this emulator (close ``bot.session`` when done).

        Its session skips aiogram's 250 ms SSL grace sleep on close (plain loopback HTTP).
        """
        if not self.base_url:
            raise RuntimeError("start the emulator first")
        session = LoopbackSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(token or self.token, session=session, **bot_kwargs)

    # ------------------------------------------------------------------ time
    def now(self) -> int:
        """Emulated unix time in seconds (wall clock at start + clock progress)."""
        return int(self._epoch + (self.clock() - self._clock0))

    def advance(self, seconds: float) -> None:
        """Move a fake clock forward (the clock must have an ``advance`` method)."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("advance() needs a FakeClock (pass clock=FakeClock())")
        advance(seconds)
        self.notify()

    # ------------------------------------------------------------------ people and chats
    def user(
        self,
        user_id: int | None = None,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        started: bool = False,
    ) -> UserHandle:
        """Register (or look up) a user and return a handle to act as them.

        The bot may only message a user privately after the user wrote to it (as on
        Telegram, otherwise 403 "bot can't initiate conversation"); ``started=True``
        pretends they already did.
        """
        if user_id is None:
            user_id = self._next_user_id
            self._next_user_id += 1
        user = self.users.get(user_id)
        if user is None:
            user = EmuUser(
                id=user_id,
                first_name=first_name or f"User{user_id}",
                last_name=last_name,
                username=username,
                language_code=language_code,
            )
            self.users[user_id] = user
            self.chats[user_id] = EmuChat(
                id=user_id,
                type="private",
                first_name=user.first_name,
                last_name=last_name,
                username=username,
            )
        if started:
            user.started = True
        return UserHandle(self, user)

    def create_group(
        self,
        title: str = "Group",
        chat_id: int | None = None,
        *,
        is_forum: bool = False,
        kind: str = "supergroup",
        bot_status: str = "administrator",
        username: str | None = None,
    ) -> GroupHandle:
        """Create a group (``kind`` "supergroup", "group" or "channel") the bot is in.

        ``bot_status`` is the bot's membership ("administrator" by default; "member",
        "left", "kicked"...). Forum topics need ``is_forum=True`` on a supergroup.
        """
        if kind not in ("supergroup", "group", "channel"):
            raise ValueError(f"unknown chat kind {kind!r}")
        if chat_id is None:
            chat_id = self._next_group_id
            self._next_group_id -= 1
        if chat_id in self.chats:
            raise ValueError(f"chat {chat_id} already exists")
        chat = EmuChat(
            id=chat_id,
            type=kind,
            title=title,
            username=username,
            is_forum=is_forum and kind == "supergroup",
            bot_status=bot_status,
        )
        self.chats[chat_id] = chat
        return GroupHandle(self, chat)

    def chat(self, chat: ChatLike) -> EmuChat:
        """The chat record (KeyError if unknown)."""
        return self.chats[chat_id_of(chat)]

    def resolve_chat(self, ref: int | str | None) -> EmuChat:
        """Chat by id or public @username, or 400 "chat not found"."""
        if isinstance(ref, str):
            name = ref.lstrip("@").lower()
            for chat in self.chats.values():
                if not chat.is_private and (chat.username or "").lower() == name:
                    return chat
            raise bad_request("chat not found")
        if ref is None or ref not in self.chats:
            raise bad_request("chat not found")
        chat = self.chats[ref]
        if chat.migrated_to is not None:
            # Every call naming a group that became a supergroup is refused with the new id
            # (core.telegram.org/bots/api#responseparameters, migrate_to_chat_id; the text is
            # tdlib/telegram-bot-api's).
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        return chat

    def sendable_chat(self, ref: int | str | None) -> EmuChat:
        """Chat the bot may post to, or the 400/403 Telegram gives."""
        chat = self.resolve_chat(ref)
        if chat.is_private:
            user = self.users[chat.id]
            if user.blocked:
                raise forbidden("bot was blocked by the user")
            if not user.started:
                raise forbidden("bot can't initiate conversation with a user")
        elif chat.bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        elif chat.bot_status == "left":
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        elif chat.bot_status == "restricted":
            # A member an admin took the right to post from (core.telegram.org/bots/api#
            # chatmemberrestricted, can_send_messages false); the text is the Bot API server's.
            raise bad_request("not enough rights to send text messages to the chat")
        return chat

    def upgrade_to_supergroup(self, group: ChatLike, *, announce: bool = True) -> GroupHandle:
        """An admin turned a basic group into a supergroup (Telegram does this when some
        settings change): a new chat with a new id, the same members; the old id now answers
        every call with 400 and migrate_to_chat_id. Both chats get the service messages
        migrate_to_chat_id and migrate_from_chat_id (core.telegram.org/bots/api#message);
        ``announce=False`` leaves those updates out (the bot missed them while it was stopped)."""
        old = self.chat(group)
        if old.type != "group":
            raise ValueError("only a basic group becomes a supergroup")
        new_id = self._next_group_id
        self._next_group_id -= 1
        new = EmuChat(
            id=new_id,
            type="supergroup",
            title=old.title,
            bot_status=old.bot_status,
            members=dict(old.members),
        )
        self.chats[new_id] = new
        creator = next(
            (self.users[uid] for uid, status in old.members.items() if status == "creator"),
            next(iter(self.users.values())),
        )
        to_old = self.store_message(
            old, creator, from_bot=False, service={"migrate_to_chat_id": new_id}
        )
        from_new = self.store_message(
            new, creator, from_bot=False, service={"migrate_from_chat_id": old.id}
        )
        old.migrated_to = new_id
        for message in (to_old, from_new) if announce else ():
            update = self.push_update({"message": message.to_api()})
            message.update_id = update["update_id"]
        self.mark_action()
        return GroupHandle(self, new)

    def bot_sees(self, message: EmuMessage) -> bool:
        """Whether a user's message reaches the bot as an update (membership, privacy)."""
        chat = message.chat
        if chat.is_private:
            return True
        if chat.bot_status in ("left", "kicked"):
            return False
        if not self.privacy_mode or chat.bot_status in ("administrator", "creator"):
            return True
        text = message.content
        if text.startswith("/") or f"@{self.bot_user.username}".lower() in text.lower():
            return True
        if message.reply_to_message_id is not None:
            replied = chat.messages.get(message.reply_to_message_id)
            return replied is not None and replied.from_bot
        return False

    def mention_lookup(self, user_id: int) -> dict[str, Any] | None:
        user = self.users.get(user_id)
        return user.to_api() if user is not None else None

    # ------------------------------------------------------------------ messages
    def store_message(
        self, chat: EmuChat, sender: EmuUser, *, from_bot: bool, **fields: Any
    ) -> EmuMessage:
        """Append a message to a chat (used by the API and by user actions)."""
        self._seq += 1
        message = EmuMessage(
            chat=chat,
            message_id=chat.next_message_id,
            sender=sender,
            from_bot=from_bot,
            date=self.now(),
            created_at=self.clock(),
            seq=self._seq,
            **fields,
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        self.notify()
        return message

    def record_edit(self, message: EmuMessage) -> None:
        """Snapshot ``message`` into its history before it is changed."""
        message.history.append(message.snapshot())
        self._seq += 1
        message.edit_seqs.append(self._seq)
        message.edit_date = self.now()

    def new_media_group_id(self) -> str:
        self._next_media_group += 1
        return str(self._next_media_group)

    def new_callback_query_id(self) -> str:
        self._next_query += 1
        return str(4_000_000_000_000_000 + self.bot_user.id * 1000 + self._next_query)

    def mark_action(self) -> None:
        """Remember "now" as the last test action (wait_for_bot_message looks after it)."""
        self._last_action_seq = self._seq

    def message(self, chat: ChatLike, message_id: int) -> EmuMessage:
        """A message by id (KeyError if it never existed; deleted ones are returned)."""
        return self.chat(chat).messages[message_id]

    def chat_messages(self, chat: ChatLike, *, include_deleted: bool = True) -> list[EmuMessage]:
        """All messages in a chat (bot's and users'), oldest first."""
        chat_record = self.chats.get(chat_id_of(chat))
        if chat_record is None:
            return []
        return [m for m in chat_record.messages.values() if include_deleted or not m.deleted]

    def bot_messages(self, chat: ChatLike) -> list[EmuMessage]:
        """The bot's non-deleted, non-service messages in a chat, oldest first."""
        return [
            m
            for m in self.chat_messages(chat, include_deleted=False)
            if m.from_bot and m.service is None
        ]

    def deleted_message_ids(self, chat: ChatLike) -> list[int]:
        return [m.message_id for m in self.chat_messages(chat) if m.deleted]

    def calls_to(self, method: str) -> list[ApiCall]:
        """Recorded calls of one method (case-insensitive name)."""
        key = method.lower()
        return [call for call in self.calls if call.method.lower() == key]

    @property
    def failed_calls(self) -> list[ApiCall]:
        return [call for call in self.calls if not call.ok]

    def get_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Commands set with setMyCommands for a scope (default scope if None)."""
        key = json.dumps(scope or {"type": "default"}, sort_keys=True)
        return self.commands.get((key, language_code), [])

    # ------------------------------------------------------------------ waiting
    def notify(self) -> None:
        """Wake everything waiting for a state change, and call the subscribers."""
        event = self._changed
        self._changed = asyncio.Event()
        event.set()
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every state change; returns the unsubscribe function.

        Changes are frequent (every stored or edited message, queued update, answered
        callback, getUpdates poll) and listeners run inside them: keep a listener cheap and
        non-raising, e.g. ``asyncio.Event.set`` to wake a task that reads the state.
        ``reportbot demo`` uses this to push live views of the chats to its page.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def _wait_change(self, seconds: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(seconds, 0.0))

    async def wait_until(
        self,
        predicate: Callable[[], Any],
        timeout: float = 15.0,  # noqa: ASYNC109 - a test helper, not a network call
        *,
        message: str | None = None,
    ) -> Any:
        """Wait (real time) until ``predicate()`` is truthy and return its value.

        Re-checked on every emulator state change and at least every 50 ms, so it may
        also look at outside state (a database); an awaitable result is awaited.
        Raises AssertionError on timeout.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(message or f"condition not met within {timeout}s")
            await self._wait_change(min(remaining, 0.05))

    async def wait_for_bot_message(
        self,
        chat: ChatLike,
        predicate: Callable[[EmuMessage], Any] | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109
        *,
        after: int | None = None,
    ) -> EmuMessage:
        """Wait for a NEW bot message in ``chat`` (matching ``predicate``) and return it.

        "New" means sent after the test's last user action and after the message a
        previous wait_for_bot_message returned for this chat; ``after=<message_id>``
        overrides that with "message_id greater than". Raises AssertionError listing
        the chat's recent bot messages and failed API calls on timeout.
        """
        chat_id = chat_id_of(chat)
        threshold = max(self._last_action_seq, self._wait_cursor.get(chat_id, 0))

        def find() -> EmuMessage | None:
            for message in self.bot_messages(chat_id):
                if after is not None:
                    if message.message_id <= after:
                        continue
                elif message.seq <= threshold:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        try:
            found: EmuMessage = await self.wait_until(find, timeout)
        except AssertionError:
            raise AssertionError(self._describe_timeout(chat_id, timeout)) from None
        self._wait_cursor[chat_id] = max(self._wait_cursor.get(chat_id, 0), found.seq)
        return found

    async def wait_for_edit(
        self,
        message: EmuMessage,
        predicate: Callable[[EmuMessage], Any] | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> EmuMessage:
        """Wait until ``message`` is edited after the last user action (and matches)."""
        threshold = self._last_action_seq

        def edited() -> EmuMessage | None:
            recent = any(seq > threshold for seq in message.edit_seqs)
            if recent and (predicate is None or predicate(message)):
                return message
            return None

        result: EmuMessage = await self.wait_until(
            edited,
            timeout,
            message=f"message {message.message_id} in chat {message.chat_id} was not edited "
            f"within {timeout}s; now: {message.content!r}",
        )
        return result

    async def wait_for_callback_answer(
        self,
        query_id: str,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Wait until the bot answers callback query ``query_id``."""
        answer: CallbackAnswer = await self.wait_until(
            lambda: self.callback_answers.get(query_id),
            timeout,
            message=f"callback query {query_id} not answered within {timeout}s",
        )
        return answer

    async def wait_for_updates_consumed(
        self,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until every queued update was confirmed (polling) or delivered (webhook)."""
        await self.wait_until(
            lambda: not self._queue,
            timeout,
            message=f"{len(self._queue)} update(s) still pending after {timeout}s",
        )

    def _describe_timeout(self, chat_id: int, timeout: float) -> str:
        lines = [f"no new bot message in chat {chat_id} within {timeout}s"]
        recent = self.bot_messages(chat_id)[-5:]
        lines.append("last bot messages in that chat:")
        lines.extend(f"  #{m.message_id} seq={m.seq}: {m.content[:120]!r}" for m in recent)
        if not recent:
            lines.append("  (none)")
        failed = self.failed_calls[-5:]
        if failed:
            lines.append("recent failed API calls:")
            lines.extend(f"  {c.method}: {c.status} {c.description}" for c in failed)
        if self.internal_errors:
            lines.append(f"emulator internal errors: {self.internal_errors[-1]}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ updates
    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot, in delivery order."""
        return [q.update for q in sorted(self._queue, key=lambda q: q.update_id)]

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Enqueue any update dict; an ``update_id`` is assigned if missing.

        Updates of kinds excluded by the bot's allowed_updates are dropped (counted in
        ``stats.updates_filtered``), as Telegram does.
        """
        if "update_id" not in update:
            update = {"update_id": self._next_update_id, **update}
            self._next_update_id += 1
        else:
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        self.updates_log[update["update_id"]] = update
        self.last_update = update
        kind = update_kind(update)
        allowed = self._allowed_updates
        if (kind in EXCLUDED_BY_DEFAULT) if allowed is None else (kind not in allowed):
            self.stats.updates_filtered += 1
            return update
        self._queue.append(_Queued(update, update["update_id"]))
        self.stats.updates_enqueued += 1
        self.notify()
        return update

    def redeliver(self, update: dict[str, Any] | int | EmuMessage) -> dict[str, Any]:
        """Deliver an already delivered update again, with the same update_id.

        Accepts the update dict, its update_id or a user's EmuMessage.
        """
        if isinstance(update, EmuMessage):
            if update.update_id is None:
                raise ValueError("that message was not announced by an update")
            update = update.update_id
        update_id = update if isinstance(update, int) else int(update["update_id"])
        stored = self.updates_log.get(update_id) if isinstance(update, int) else update
        if stored is None:
            raise KeyError(f"unknown update_id {update_id}")
        if any(q.update_id == update_id and not q.delivered for q in self._queue):
            return stored  # still pending: it will be delivered anyway
        self._queue = [q for q in self._queue if q.update_id != update_id]
        self._queue.append(_Queued(stored, update_id, forced=True))
        self.stats.updates_enqueued += 1
        self.notify()
        return stored

    def set_allowed_updates(self, allowed: list[str] | None) -> None:
        """What getUpdates/setWebhook allowed_updates does ([] = Telegram's default set)."""
        self._allowed_updates = frozenset(allowed) if allowed else None

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset < 0:
            ordered = sorted(self._queue, key=lambda q: q.update_id)
            self._queue = ordered[offset:]
            return
        self._queue = [
            q for q in self._queue if q.update_id >= offset or (q.forced and not q.delivered)
        ]

    async def poll(
        self, offset: int | None, limit: int, wait_seconds: float, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        """getUpdates semantics (see BotApi.getUpdates)."""
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if allowed is not None:
            self.set_allowed_updates(allowed)
        self._poll_generation += 1
        generation = self._poll_generation
        self.notify()  # an older poll still waiting now answers 409
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(wait_seconds, 0.0), MAX_LONG_POLL)
        while True:
            if self.webhook_url:
                raise ApiError(409, "Conflict: terminated by setWebhook request")
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = sorted(self._queue, key=lambda q: q.update_id)[:limit]
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                break
            await self._wait_change(remaining)
        now = self.clock()
        for queued in batch:
            queued.delivered = True
            self.delivered_at.setdefault(queued.update_id, now)
        self.stats.updates_delivered += len(batch)
        return [q.update for q in batch]

    # ------------------------------------------------------------------ webhook
    async def set_webhook(
        self,
        url: str,
        secret: str | None,
        allowed: list[str] | None,
        drop_pending: bool,
        max_connections: int | None,
    ) -> None:
        if not url:
            await self.delete_webhook(drop_pending)
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: invalid URL")
        if parts.hostname not in _LOOPBACK_HOSTS:
            raise bad_request("bad webhook: the emulator only delivers to loopback addresses")
        if secret is not None and (
            not 1 <= len(secret) <= 256
            or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in secret)
        ):
            raise bad_request("secret token contains unallowed characters")
        if drop_pending:
            self._queue.clear()
        if allowed is not None:
            self.set_allowed_updates(allowed)
        self.webhook_url = url
        self.webhook_secret = secret
        self.webhook_max_connections = max_connections or 40
        self.webhook_last_error_date = None
        self.webhook_last_error_message = None
        self._poll_generation += 1  # a waiting getUpdates answers 409
        if self._session is None:
            self._session = aiohttp.ClientSession()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._webhook_loop())
        self.notify()

    async def delete_webhook(self, drop_pending: bool) -> None:
        self.webhook_url = ""
        self.webhook_secret = None
        if drop_pending:
            self._queue.clear()
        self.notify()
        if self._webhook_task is not asyncio.current_task():
            await self._stop_webhook_task()

    async def _stop_webhook_task(self) -> None:
        task = self._webhook_task
        self._webhook_task = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def webhook_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self.webhook_last_error_date is not None:
            info["last_error_date"] = self.webhook_last_error_date
            info["last_error_message"] = self.webhook_last_error_message
        return info

    async def _webhook_loop(self) -> None:
        in_flight: dict[Any, asyncio.Task[None]] = {}
        retry_at: dict[Any, float] = {}  # queue key -> loop time of the next attempt
        loop = asyncio.get_running_loop()
        try:
            while not self._closing and self.webhook_url:
                now = loop.time()
                heads: set[Any] = set()
                for entry in sorted(self._queue, key=lambda q: q.update_id):
                    key = _queue_key(entry.update, entry.update_id)
                    if key in heads:
                        continue  # a chat's later updates wait for its first one
                    heads.add(key)
                    if key in in_flight or retry_at.get(key, 0.0) > now:
                        continue
                    if len(in_flight) >= self.webhook_max_connections:
                        break
                    retry_at.pop(key, None)
                    in_flight[key] = asyncio.create_task(
                        self._deliver_one(entry, key, in_flight, retry_at)
                    )
                waits = [at - now for at in retry_at.values() if at > now]
                await self._wait_change(min([1.0, *waits]))
        finally:
            for task in in_flight.values():
                task.cancel()
            await asyncio.gather(*in_flight.values(), return_exceptions=True)

    async def _deliver_one(
        self,
        entry: _Queued,
        key: Any,
        in_flight: dict[Any, asyncio.Task[None]],
        retry_at: dict[Any, float],
    ) -> None:
        try:
            entry.delivered = True
            self.delivered_at.setdefault(entry.update_id, self.clock())
            ok, error, reply, retry_after = await self._post_update(entry.update)
            if ok:
                if entry in self._queue:
                    self._queue.remove(entry)
                self.stats.webhook_deliveries += 1
                if reply is not None:
                    await self.dispatch(reply[0], reply[1], via="webhook_reply")
            else:
                self.stats.webhook_failures += 1
                self.webhook_last_error_date = self.now()
                self.webhook_last_error_message = error
                delay = max(self.webhook_retry_delay, float(retry_after or 0))
                retry_at[key] = asyncio.get_running_loop().time() + delay
        finally:
            in_flight.pop(key, None)
            self.notify()

    async def _post_update(
        self, update: dict[str, Any]
    ) -> tuple[bool, str, tuple[str, dict[str, Any]] | None, int | None]:
        assert self._session is not None
        headers = {}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        try:
            async with self._session.post(
                self.webhook_url,
                json=update,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                if not 200 <= response.status < 300:
                    retry_after = response.headers.get("Retry-After", "")
                    return (
                        False,
                        f"Wrong response from the webhook: {response.status} {response.reason}",
                        None,
                        int(retry_after) if retry_after.isdigit() else None,
                    )
                return True, "", await self._read_webhook_reply(response), None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return False, f"Connection failed: {type(exc).__name__}: {exc}", None, None

    @staticmethod
    async def _read_webhook_reply(
        response: aiohttp.ClientResponse,
    ) -> tuple[str, dict[str, Any]] | None:
        """A method call returned in the webhook response body, if any."""
        params: dict[str, Any] = {}
        if response.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = await response.json()
                if isinstance(body, dict):
                    params = body
        elif response.content_type == "multipart/form-data":
            reader = aiohttp.MultipartReader.from_response(response)
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                data = await part.read(decode=True)
                if part.filename:
                    params[part.name] = Upload(bytes(data), part.filename, None)
                else:
                    params[part.name] = bytes(data).decode("utf-8")
        method = params.pop("method", None)
        if not isinstance(method, str) or not method:
            return None
        return method, params

    # ------------------------------------------------------------------ HTTP
    async def dispatch(
        self, method: str, raw: Mapping[str, Any], *, via: str = "http"
    ) -> tuple[int, dict[str, Any] | str]:
        """Run one Bot API method; returns (HTTP status, JSON body or HTML text)."""
        self.stats.requests += 1
        if via == "http" and self.faults.latency:  # a round trip (emu.faults.set_latency)
            await asyncio.sleep(self.faults.latency)
        params = normalize_params(raw)
        entry = self.api.methods.get(method.lower())
        if entry is None:
            self._record(ApiCall(method, params, False, 404, 404, "Not Found", via=via))
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        name, handler = entry
        lose_answer = False
        delayed = 0.0
        rule = self.faults.take(name) if via == "http" else None
        if rule is not None:
            self.stats.faults_injected += 1
            if rule.kind == "slow":
                delayed = rule.delay
                await asyncio.sleep(rule.delay)
            elif rule.kind == "lose_answer":
                lose_answer = True
            else:
                error = (
                    ApiError(
                        429,
                        f"Too Many Requests: retry after {rule.retry_after}",
                        retry_after=rule.retry_after,
                    )
                    if rule.kind == "retry_after"
                    else ApiError(rule.status, rule.error_description)
                )
                self._record(
                    ApiCall(
                        name,
                        params,
                        False,
                        error.code,
                        error.code,
                        error.description,
                        injected=True,
                        via=via,
                    )
                )
                if rule.html:
                    page = f"<html><body><h1>{error.code} {error.description}</h1></body></html>"
                    return error.code, page
                return error.code, error.payload()
        try:
            result = await handler(Params(params))
        except ApiError as error:
            if error.code == 429:
                self.stats.rate_limited += 1
            self._record(
                ApiCall(name, params, False, error.code, error.code, error.description, via=via)
            )
            return error.code, error.payload()
        except Exception:  # an emulator bug: answer like a broken server, keep the trace
            self.internal_errors.append(traceback.format_exc())
            self._record(ApiCall(name, params, False, 500, 500, "Internal Server Error", via=via))
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        if lose_answer:
            self._record(
                ApiCall(
                    name, params, True, 500, result=result, answer_lost=True, injected=True, via=via
                )
            )
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        if not (name == "getUpdates" and result == []):
            self._record(ApiCall(name, params, True, 200, result=result, via=via, delayed=delayed))
        return 200, {"ok": True, "result": result}

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        try:
            raw = await read_request_params(request)
        except ApiError as error:
            return web.json_response(error.payload(), status=error.code)
        status, body = await self.dispatch(request.match_info["method"], raw)
        if isinstance(body, str):
            return web.Response(text=body, status=status, content_type="text/html")
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        rule = self.faults.take("file")
        if rule is not None:
            self.stats.faults_injected += 1
            if rule.kind == "slow":
                await asyncio.sleep(rule.delay)
            elif rule.kind != "lose_answer":
                return web.json_response(
                    {"ok": False, "error_code": rule.status, "description": rule.error_description},
                    status=rule.status,
                )
        stored = self.files.by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(not_found, status=404)
        content_type = stored.mime_type or (
            "image/png" if stored.file_path.endswith(".png") else "image/jpeg"
        )
        return web.Response(body=stored.data, content_type=content_type)
