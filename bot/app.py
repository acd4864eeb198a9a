"""The composition root: settings in, a running bot out. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.access import ChatMembership
from bot.context import ServiceContext
from bot.digest import start_weekly_digest
from bot.i18n import CatalogI18n, create_i18n
from bot.middlewares import UpdateContextMiddleware
from bot.moderation import MemberCheck
from bot.outbox import OutboxWorker
from bot.settings import Settings
from bot.telegram_session import RetryAfterMiddleware
from handlers import get_routers
from handlers.engine.text import N_
from storage.db import create_engine, create_sessionmaker
from storage.models import utcnow
from storage.sealing import Keyring

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


@dataclass
class App:
    settings: Settings
    context: ServiceContext
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    i18n: CatalogI18n
    bot: Bot
    dispatcher: Dispatcher
    worker: OutboxWorker

    async def close(self) -> None:
        await self.bot.session.close()
        await self.engine.dispose()


def create_bot(settings: Settings) -> Bot:
    assert settings.bot_token is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(RetryAfterMiddleware())
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview=LinkPreviewOptions(is_disabled=True),
        ),
    )


def create_dispatcher(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    context: ServiceContext,
    i18n: CatalogI18n,
    worker: OutboxWorker,
    member_check: MemberCheck | None = None,
) -> Dispatcher:
    assert settings.moderator_chat_id is not None
    # Shared, long-lived objects reach handlers as parameters through the dispatcher's data.
    dispatcher = Dispatcher(settings=settings)
    dispatcher.update.outer_middleware(
        UpdateContextMiddleware(
            sessionmaker=sessionmaker,
            context=context,
            i18n=i18n,
            moderator_chat_id=settings.moderator_chat_id,
            on_outbox=worker.notify,
            member_check=member_check,
        )
    )
    dispatcher.include_routers(*get_routers(moderator_chat_id=settings.moderator_chat_id))
    return dispatcher


def create_app(settings: Settings, keyring: Keyring, *, clock: Clock = utcnow) -> App:
    settings.require_for_run()
    assert settings.moderator_chat_id is not None
    engine = create_engine(settings.effective_database_url)
    sessionmaker = create_sessionmaker(engine)
    i18n = create_i18n()
    context = ServiceContext(
        keyring=keyring,
        catalogs=i18n,
        tz=settings.tz,
        moderator_language=settings.moderator_language,
        clock=clock,
        admin_ids=frozenset(settings.admin_ids),
    )
    bot = create_bot(settings)
    worker = OutboxWorker(
        bot=bot,
        sessionmaker=sessionmaker,
        keyring=keyring,
        moderator_chat_id=settings.moderator_chat_id,
        coordinator_chat_id=settings.effective_coordinator_chat_id,
        clock=clock,
        digest_header=lambda n: context.moderators_t.plural(
            "{n} new report is waiting; its full card follows.",
            "{n} new reports are waiting; their full cards follow.",
            n,
        ),
    )
    member_check = (
        ChatMembership(bot, settings.moderator_chat_id)
        if settings.moderator_chat_members_are_staff
        else None
    )
    dispatcher = create_dispatcher(
        settings=settings,
        sessionmaker=sessionmaker,
        context=context,
        i18n=i18n,
        worker=worker,
        member_check=member_check,
    )
    return App(settings, context, engine, sessionmaker, i18n, bot, dispatcher, worker)


_COMMANDS = (
    ("start", N_("Start")),
    ("new", N_("New report")),
    ("cancel", N_("Cancel the current report")),
    ("language", N_("Change the language")),
    ("help", N_("How it works")),
)


_MODERATOR_COMMANDS = (
    ("history", N_("History of a report: /history CODE")),
    ("stats", N_("Figures for a week or a period")),
    ("staff", N_("Manage staff (admins)")),
    ("outbox", N_("Messages waiting and dead letters (admins)")),
)


async def set_commands(app: App) -> None:
    """The command menus: reporters' in their own language in private chats, and the
    moderators' in the moderator chat, so neither side sees the other's commands."""
    for language in ("en", "ru", "kk"):
        commands = [
            BotCommand(command=name, description=app.i18n.gettext(text, locale=language))
            for name, text in _COMMANDS
        ]
        await app.bot.set_my_commands(
            commands,
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if language == "en" else language,
        )
    assert app.settings.moderator_chat_id is not None
    language = app.settings.moderator_language
    await app.bot.set_my_commands(
        [
            BotCommand(command=name, description=app.i18n.gettext(text, locale=language))
            for name, text in _MODERATOR_COMMANDS
        ],
        scope=BotCommandScopeChat(chat_id=app.settings.moderator_chat_id),
    )


async def run_polling(
    app: App, *, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> None:
    """Long polling plus the outbox worker until SIGINT/SIGTERM or until `stop` is set."""
    stop = stop or asyncio.Event()
    worker_task = asyncio.create_task(app.worker.run(stop), name="outbox-worker")
    digest_task = start_weekly_digest(app, stop)

    async def _stop_polling_when_asked() -> None:
        await stop.wait()
        with contextlib.suppress(RuntimeError):  # polling had not started, or already ended
            await app.dispatcher.stop_polling()

    watcher = asyncio.create_task(_stop_polling_when_asked(), name="stop-watcher")
    try:
        await set_commands(app)
        await app.dispatcher.start_polling(
            app.bot,
            handle_signals=handle_signals,
            close_bot_session=False,
            allowed_updates=app.dispatcher.resolve_used_update_types(),
        )
    finally:
        stop.set()
        watcher.cancel()
        await worker_task
        await digest_task
