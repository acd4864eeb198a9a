"""Middlewares: one database transaction per update, idempotent intake, reporter and language."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, html
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.context import ServiceContext
from bot.flood import TOO_FAST, Admission, FloodGuard
from bot.i18n import language_for
from bot.intake import Intake
from bot.logging import mark_sensitive
from bot.metrics import DUPLICATE_KEY
from bot.moderation import MemberCheck, Moderation
from bot.outage import OutageNotifier, StorageUnavailable, is_database_outage
from bot.privacy import Privacy
from bot.tracking import collect_sent_messages
from storage.models import Reporter
from storage.repositories import ProcessedUpdates
from storage.safety import TrackedMessages

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Polling mode passes `outage_hold` (seconds) in the update data: there nobody would deliver the
# update again, so it is held and retried here. In webhook mode it is 0 and Telegram redelivers.
OUTAGE_RETRY_FIRST = 1.0
OUTAGE_RETRY_MAX = 15.0


class UpdateContextMiddleware(BaseMiddleware):
    """Outer middleware on every update.

    Opens one session and transaction for the whole update, records the update id first (a
    redelivered update is dropped inside the same transaction that would repeat its effects),
    finds the reporter in private chats, and sets the reader's language. After the commit it
    wakes the outbox worker if the update queued messages.

    When the database is unreachable the reporter is told so (bot/outage.py) and the update
    ends in StorageUnavailable, with nothing of it stored, so it can be delivered again.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
        i18n: I18n,
        moderator_chat_id: int,
        on_outbox: Callable[[], None],
        member_check: MemberCheck | None = None,
        outage: OutageNotifier | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.context = context
        self.i18n = i18n
        self.moderator_chat_id = moderator_chat_id
        self.on_outbox = on_outbox
        self.member_check = member_check
        self.outage = outage or OutageNotifier(context)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}  # lock and how many hold or wait

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        # Before anything can log: this update's ids, names and text never reach a log line.
        mark_sensitive(_sensitive_values(event, chat, user))
        key = chat.id if chat is not None else (user.id if user is not None else None)
        if key is None:
            return await self._handle_or_hold(handler, event, data)
        # Updates are handled as concurrent tasks; one person's quick inputs must still be
        # applied in the order they were sent. asyncio.Lock wakes waiters first come, first served.
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._handle_or_hold(handler, event, data)
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _handle_or_hold(self, handler: Handler, event: Update, data: dict[str, Any]) -> Any:
        hold: float = data.get("outage_hold", 0.0)
        deadline = time.monotonic() + hold
        delay = OUTAGE_RETRY_FIRST
        while True:
            try:
                return await self._handle(handler, event, data)
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                log.warning(
                    "database unreachable while handling update %s (%s)",
                    event.update_id,
                    type(exc).__name__,
                )
                await self.outage.notify(
                    data["bot"], event, data.get("event_chat"), data.get("event_from_user")
                )
                if time.monotonic() + delay > deadline:
                    raise StorageUnavailable(str(event.update_id)) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, OUTAGE_RETRY_MAX)

    async def _handle(self, handler: Handler, event: Update, data: dict[str, Any]) -> Any:
        async with self.sessionmaker() as session:
            async with session.begin():
                if not await ProcessedUpdates(session).record("telegram", event.update_id):
                    log.info("update %s was already handled; ignored", event.update_id)
                    data[DUPLICATE_KEY] = True
                    return None
                intake = Intake(session, self.context)
                data["session"] = session
                data["intake"] = intake
                data["moderation"] = Moderation(
                    session,
                    self.context,
                    moderator_chat_id=self.moderator_chat_id,
                    member_check=self.member_check,
                )
                language = await self._language(intake, data)
                data["t"] = intake.translator(language)
                data["privacy"] = Privacy(session, self.context)
                reporter: Reporter | None = data.get("reporter")
                sent = collect_sent_messages()
                with self.i18n.context(), self.i18n.use_locale(language):
                    result = None
                    if reporter is None or await self._admitted(session, reporter, event, data):
                        result = await handler(event, data)
                if reporter is not None:
                    await self._track(session, reporter, event, data, sent)
            if session.info.get("outbox_enqueued"):
                self.on_outbox()
        return result

    async def _admitted(
        self, session: AsyncSession, reporter: Reporter, event: Update, data: dict[str, Any]
    ) -> bool:
        """Flood control for a reporter's update; the first one over the limit is answered."""
        admission = await FloodGuard(session, self.context).admit_update(reporter)
        if admission is Admission.OK:
            return True
        log.info(
            "update %s dropped: reporter %s over the message limit", event.update_id, reporter.id
        )
        if admission is Admission.REFUSE_AND_SAY:
            bot: Bot = data["bot"]
            text = data["t"].msg(TOO_FAST)
            chat: Chat | None = data.get("event_chat")
            if event.callback_query is not None:
                await bot.answer_callback_query(event.callback_query.id, text=text, show_alert=True)
            elif chat is not None:
                await bot.send_message(chat.id, html.quote(text))
        return False

    async def _track(
        self,
        session: AsyncSession,
        reporter: Reporter,
        event: Update,
        data: dict[str, Any],
        sent: list[tuple[int, int]],
    ) -> None:
        """Remember this update's messages in the reporter's chat, for /wipe."""
        chat: Chat | None = data.get("event_chat")
        if reporter.erased_at is not None or chat is None:
            return  # /forget just ran: nothing is remembered about this chat any more
        ids = [message_id for chat_id, message_id in sent if chat_id == chat.id]
        if event.message is not None:
            ids.insert(0, event.message.message_id)
        if ids:
            await TrackedMessages(session).add(reporter.id, ids, self.context.now())

    async def _language(self, intake: Intake, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or user.is_bot or chat is None:
            return self.context.moderator_language
        if chat.type == "private":
            reporter, _ = await intake.reporters.get_or_create(
                "telegram", user.id, chat.id, now=self.context.now()
            )
            if reporter.language is None:
                reporter.language = language_for(user.language_code)
            data["reporter"] = reporter
            return reporter.language
        return self.context.moderator_language


def _sensitive_values(event: Update, chat: Chat | None, user: User | None) -> list[object]:
    """What of this update must not be logged: a person's ids and names, and what they wrote.

    Group chat ids (negative) and moderators' user ids stay loggable: the audit of refused
    presses names who tried. In groups only the content is marked.
    """
    values: list[object] = []
    if user is not None:
        values += [user.first_name, user.last_name, user.username, user.full_name]
        if chat is not None and chat.type == "private":
            values.append(user.id)
    if chat is not None and chat.type == "private":
        values += [chat.id, chat.first_name, chat.last_name, chat.username]
    message = event.message or event.edited_message
    if message is not None:
        values += [message.text, message.caption]
        if message.document is not None:
            values.append(message.document.file_name)
        if message.contact is not None:
            values += [message.contact.phone_number, message.contact.first_name]
    return values
