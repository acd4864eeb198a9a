"""Middlewares: one database transaction per update, idempotent intake, reporter and language."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.context import ServiceContext
from bot.i18n import language_for
from bot.intake import Intake
from bot.moderation import MemberCheck, Moderation
from storage.repositories import ProcessedUpdates

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateContextMiddleware(BaseMiddleware):
    """Outer middleware on every update.

    Opens one session and transaction for the whole update, records the update id first (a
    redelivered update is dropped inside the same transaction that would repeat its effects),
    finds the reporter in private chats, and sets the reader's language. After the commit it
    wakes the outbox worker if the update queued messages.
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
    ) -> None:
        self.sessionmaker = sessionmaker
        self.context = context
        self.i18n = i18n
        self.moderator_chat_id = moderator_chat_id
        self.on_outbox = on_outbox
        self.member_check = member_check
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}  # lock and how many hold or wait

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        key = chat.id if chat is not None else (user.id if user is not None else None)
        if key is None:
            return await self._handle(handler, event, data)
        # Updates are handled as concurrent tasks; one person's quick inputs must still be
        # applied in the order they were sent. asyncio.Lock wakes waiters first come, first served.
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._handle(handler, event, data)
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _handle(self, handler: Handler, event: Update, data: dict[str, Any]) -> Any:
        async with self.sessionmaker() as session:
            async with session.begin():
                if not await ProcessedUpdates(session).record("telegram", event.update_id):
                    log.info("update %s was already handled; ignored", event.update_id)
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
                with self.i18n.context(), self.i18n.use_locale(language):
                    result = await handler(event, data)
            if session.info.get("outbox_enqueued"):
                self.on_outbox()
        return result

    async def _language(self, intake: Intake, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or user.is_bot or chat is None:
            return self.context.moderator_language
        if chat.type == "private":
            reporter, _ = await intake.reporters.get_or_create("telegram", user.id, chat.id)
            if reporter.language is None:
                reporter.language = language_for(user.language_code)
            data["reporter"] = reporter
            return reporter.language
        return self.context.moderator_language
