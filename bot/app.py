"""The composition root: settings in, a running bot out. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
)
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.i18n import CatalogI18n, create_i18n
from bot.jobs.digest import DigestScheduler, start_weekly_digest
from bot.jobs.safety import SafetyJobs, create_safety_jobs, start_safety_jobs
from bot.keys import ORG_PRIVATE_FILE
from bot.metrics import Metrics, UpdateMetricsMiddleware, count_submitted_reports
from bot.outage import StorageUnavailable
from bot.outbox.transports import TelegramTransport, Transport, Transports
from bot.outbox.worker import UNDELIVERED, OutboxWorker
from bot.services.access import ChatMembership
from bot.services.context import SafetyPolicy, ServiceContext
from bot.services.group_chats import GroupChatIds, check_moderator_chat
from bot.services.moderation import MemberCheck
from bot.services.reach import may_write_unasked
from bot.settings import LEASE_MARGIN, Settings
from bot.web import start_web_server
from handlers.engine.text import N_
from handlers.messenger import CHANNEL as MESSENGER
from handlers.messenger.transport import MessengerFiles, MessengerTransport
from handlers.messenger.webhook import MessengerChannel, messenger_routes
from handlers.telegram import get_routers
from handlers.telegram.cards import render_card
from handlers.telegram.conversation import CHANNEL as TELEGRAM
from handlers.telegram.keyboards import neutral_keyboard
from handlers.telegram.middlewares import UpdateContextMiddleware
from handlers.telegram.quiet import RefusalGate
from handlers.telegram.session import (
    KeepResponseModels,
    RetryAfterMiddleware,
    StaleCallbackAnswerMiddleware,
)
from handlers.web import CHANNEL as WEB
from handlers.web.routes import web_form_routes
from handlers.web.transport import WebTransport
from storage.db import create_engine, create_sessionmaker
from storage.models import utcnow
from storage.sealing import Keyring

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

# Polling mode: how long an update that meets a database outage is held and retried in-process
# (webhook mode hands it back to Telegram instead, bot/web.py).
POLLING_OUTAGE_HOLD = 600.0
# Shutdown: the outbox worker finishes the row it is sending, within this many seconds.
WORKER_GRACE = 5.0
WEBHOOK_RETRY_MAX = 300.0  # seconds between attempts to register the webhook, at most


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
    metrics: Metrics = field(default_factory=Metrics)
    # The configured groups' current ids (bot/services/group_chats.py).
    chats: GroupChatIds | None = None
    # Routes other channels serve on the bot's HTTP server (bot/web.py explains the contract).
    web_routes: list[web.AbstractRouteDef] = field(default_factory=list)
    # The Facebook Messenger channel, when FACEBOOK_* is set (handlers/messenger/).
    messenger: MessengerChannel | None = None

    async def close(self) -> None:
        if self.messenger is not None:
            await self.messenger.close()
        await self.bot.session.close()
        await self.engine.dispose()


def create_bot(settings: Settings) -> Bot:
    assert settings.bot_token is not None
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url),
        timeout=settings.telegram_timeout,
    )
    session.middleware(KeepResponseModels())
    session.middleware(RetryAfterMiddleware())
    session.middleware(StaleCallbackAnswerMiddleware())
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
    metrics: Metrics | None = None,
    chats: GroupChatIds | None = None,
) -> Dispatcher:
    assert settings.moderator_chat_id is not None
    # Shared, long-lived objects reach handlers as parameters through the dispatcher's data.
    dispatcher = Dispatcher(settings=settings, group_chats=chats, refusal_gate=RefusalGate())
    # Outermost, so that it sees every outcome, duplicates and outages included.
    dispatcher.update.outer_middleware(
        UpdateMetricsMiddleware(metrics or worker.metrics, unavailable=StorageUnavailable)
    )
    dispatcher.update.outer_middleware(
        UpdateContextMiddleware(
            sessionmaker=sessionmaker,
            context=context,
            i18n=i18n,
            moderator_chat_id=settings.moderator_chat_id,
            deliver=worker.deliver_now,
            notify=worker.notify,
            member_check=member_check,
            chats=chats,
        )
    )
    dispatcher.include_routers(
        *get_routers(moderator_chat_id=settings.moderator_chat_id, chats=chats)
    )
    return dispatcher


def create_app(settings: Settings, keyring: Keyring, *, clock: Clock = utcnow) -> App:
    settings.require_for_run()
    assert settings.moderator_chat_id is not None
    engine = create_engine(settings.effective_database_url)
    sessionmaker = create_sessionmaker(engine)
    metrics = Metrics()
    count_submitted_reports(sessionmaker, metrics)
    i18n = create_i18n()
    context = ServiceContext(
        keyring=keyring,
        catalogs=i18n,
        tz=settings.tz,
        moderator_language=settings.moderator_language,
        clock=clock,
        admin_ids=frozenset(settings.admin_ids),
        policy=SafetyPolicy.from_settings(settings),
        messenger_human_agent=settings.facebook_human_agent,
        help_contacts=settings.help_contacts.strip(),
        messenger_sources=frozenset(settings.messenger_sources),
        may_write_unasked=may_write_unasked,
    )
    bot = create_bot(settings)
    chats = GroupChatIds(
        sessionmaker=sessionmaker,
        context=context,
        configured={settings.moderator_chat_id, settings.effective_coordinator_chat_id or 0} - {0},
    )
    messenger = (
        MessengerChannel(settings=settings, context=context, sessionmaker=sessionmaker, bot=bot)
        if settings.messenger_enabled
        else None
    )
    # How the outbox reaches each chat (bot/outbox/transports.py): the team's chats are in
    # Telegram; a reporter's chat through their channel's transport (a new channel: one entry).
    telegram = TelegramTransport(
        bot,
        keyboard=neutral_keyboard,
        cards=render_card,
        files=MessengerFiles(messenger.delivery) if messenger is not None else None,
    )
    reporters: dict[str, Transport] = {TELEGRAM: telegram}
    if messenger is not None:
        reporters[MESSENGER] = MessengerTransport(messenger.delivery)
    # Web reporters' mailboxes, even with the form off: what is queued for them still arrives.
    reporters[WEB] = WebTransport(sessionmaker, keyring, clock)
    worker = OutboxWorker(
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
        metrics=metrics,
        lease=dt.timedelta(seconds=settings.outbox_lease),
        renew_before=dt.timedelta(seconds=settings.telegram_timeout + LEASE_MARGIN),
        transports=Transports(staff=telegram, reporters=reporters),
        chats=chats,
        undelivered_text=lambda reason, code: context.moderators_t(UNDELIVERED[reason], code=code),
    )
    moderator_chat_id = settings.moderator_chat_id
    member_check = (
        ChatMembership(bot, lambda: chats.current(moderator_chat_id))
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
        metrics=metrics,
        chats=chats,
    )
    app = App(
        settings,
        context,
        engine,
        sessionmaker,
        i18n,
        bot,
        dispatcher,
        worker,
        metrics=metrics,
        messenger=messenger,
        chats=chats,
    )
    if messenger is not None:
        messenger.on_outbox = worker.notify
        # Served in both run modes: polling starts the HTTP server for these routes.
        app.web_routes.extend(messenger_routes(app))
    if settings.web_form:  # the web form under /report/ (README, "The web form")
        app.web_routes.extend(web_form_routes(app))
    return app


def digest_for(app: App) -> DigestScheduler:
    return DigestScheduler(
        sessionmaker=app.sessionmaker,
        keyring=app.worker.keyring,
        catalogs=app.i18n,
        timezone=app.settings.timezone,
        language=app.settings.moderator_language,
        clock=app.worker.clock,
        on_enqueued=app.worker.notify,
    )


def safety_jobs_for(app: App) -> SafetyJobs:
    return create_safety_jobs(
        sessionmaker=app.sessionmaker,
        context=app.context,
        on_enqueued=app.worker.notify,
        private_key_path=app.settings.data_dir / ORG_PRIVATE_FILE,
    )


_COMMANDS = (
    ("start", N_("Start")),
    ("new", N_("New report")),
    ("cancel", N_("Cancel the current report")),
    ("language", N_("Change the language")),
    ("help", N_("How it works")),
    ("wipe", N_("Clear this chat from your phone")),
    ("forget", N_("Erase the link to your reports")),
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
        scope=BotCommandScopeChat(chat_id=_moderators(app)),
    )


def _moderators(app: App) -> int:
    assert app.settings.moderator_chat_id is not None
    configured = app.settings.moderator_chat_id
    return app.chats.current(configured) if app.chats is not None else configured


async def check_chats(app: App) -> None:
    """At start: whether the bot can post in MODERATOR_CHAT_ID; one line when it cannot.

    Never stops the bot: the outbox keeps every alert until the chat takes it.
    """
    if app.chats is None or app.settings.moderator_chat_id is None:
        return
    try:
        await app.chats.refresh(force=True)
        problem = await check_moderator_chat(app.bot, app.chats, app.settings.moderator_chat_id)
    except Exception as exc:  # noqa: BLE001 - a check; the bot starts regardless
        log.warning("MODERATOR_CHAT_ID not checked: %s", type(exc).__name__)
        return
    if problem is not None:
        log.error("%s", problem)
    else:
        log.info("MODERATOR_CHAT_ID %s: the bot may post there", _moderators(app))


async def set_commands_softly(app: App) -> None:
    """set_commands, but a failure only costs the menu: the bot must start regardless."""
    await check_chats(app)
    try:
        await set_commands(app)
    except TelegramAPIError as exc:
        log.warning("command menu not set: %s", type(exc).__name__)
    if app.messenger is not None:
        await app.messenger.setup_profile()  # logs, never raises: conversations work without


async def run_polling(
    app: App, *, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> None:
    """Long polling plus the outbox worker until SIGINT/SIGTERM or until `stop` is set."""
    stop = stop or asyncio.Event()
    worker_task = asyncio.create_task(app.worker.run(stop), name="outbox-worker")
    digest_task = start_weekly_digest(digest_for(app), stop)
    safety_task = start_safety_jobs(safety_jobs_for(app), stop)
    # Messenger's stored webhook events are processed in the background
    # (handlers/messenger/inbox.py).
    inbox_task = app.messenger.start(stop) if app.messenger is not None else None
    # Other channels' routes (App.web_routes) need the HTTP server in polling mode too.
    server = await start_web_server(app, telegram=False) if app.web_routes else None
    polling: asyncio.Task[None] | None = None
    try:
        await set_commands_softly(app)
        polling = asyncio.create_task(
            app.dispatcher.start_polling(
                app.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                allowed_updates=app.dispatcher.resolve_used_update_types(),
                outage_hold=POLLING_OUTAGE_HOLD,  # reaches the update middleware as data
            ),
            name="polling",
        )
        watcher = asyncio.create_task(
            _stop_polling_when_asked(app.dispatcher, polling, stop), name="stop-watcher"
        )
        try:
            await polling
        finally:
            watcher.cancel()
    finally:
        stop.set()
        if polling is not None and not polling.done():  # we were cancelled
            polling.cancel()
        # Updates taken before the stop are finished, not cut off; they may still call the Bot
        # API and the database, which close right after this returns.
        if not await app.metrics.wait_for_updates_in_flight(WORKER_GRACE):
            log.warning("updates still being handled after %.0f s; stopping anyway", WORKER_GRACE)
        if server is not None:
            await server.stop()
        if inbox_task is not None:
            await _finish(inbox_task, WORKER_GRACE)
        await worker_task
        await digest_task
        await safety_task


async def _stop_polling_when_asked(
    dispatcher: Dispatcher, polling: asyncio.Task[None], stop: asyncio.Event
) -> None:
    await stop.wait()
    # A stop asked before start_polling holds its lock raises RuntimeError, and one asked just
    # after it took the lock is undone when it resets its stop signal: ask until polling ended.
    while not polling.done():
        try:
            await asyncio.wait_for(dispatcher.stop_polling(), 0.5)
        except (RuntimeError, TimeoutError):
            await asyncio.wait({polling}, timeout=0.05)


async def register_webhook(app: App, stop: asyncio.Event) -> bool:
    """setWebhook, retried until Telegram accepts it; False if stopped first.

    Every replica registers the same address and secret, so whichever runs last changes
    nothing. Pending updates are kept: Telegram queued them while no replica answered.
    """
    settings = app.settings
    assert settings.webhook_secret is not None
    delay = 1.0
    while not stop.is_set():
        try:
            await app.bot.set_webhook(
                settings.telegram_webhook_url,
                secret_token=settings.webhook_secret.get_secret_value(),
                allowed_updates=app.dispatcher.resolve_used_update_types(),
                max_connections=settings.webhook_max_connections,
                drop_pending_updates=False,
            )
        except TelegramUnauthorizedError:
            log.error("Telegram refused BOT_TOKEN (revoked?); set the new token and restart")
        except TelegramAPIError as exc:
            log.warning("setWebhook failed (%s); trying again in %.0f s", exc, delay)
        else:
            log.info("webhook registered at %s", settings.telegram_webhook_url)
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, WEBHOOK_RETRY_MAX)
    return False


async def run_webhook(
    app: App, *, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> None:
    """Webhook mode until SIGINT/SIGTERM or until `stop` is set.

    Serves /telegram/webhook, /healthz and /metrics (bot/web.py), registers the webhook, and
    runs the outbox worker, the digest schedule and the reporter-safety jobs (check-ins,
    retention). Several replicas may run this against one
    PostgreSQL behind one address. Stopping: intake stops first (new requests get 503 and go to
    another replica or come back later), updates in flight finish, then the outbox worker
    finishes the row it is sending and releases the rest of its claims.
    """
    app.settings.require_for_webhook()
    stop = stop or asyncio.Event()
    restore_signals = stop_on_signals(stop) if handle_signals else None
    server = await start_web_server(app, telegram=True)
    worker_stop = asyncio.Event()
    worker_task = asyncio.create_task(app.worker.run(worker_stop), name="outbox-worker")
    digest_task = start_weekly_digest(digest_for(app), stop)
    safety_task = start_safety_jobs(safety_jobs_for(app), stop)
    inbox_task = app.messenger.start(stop) if app.messenger is not None else None
    try:
        if await register_webhook(app, stop):
            await set_commands_softly(app)
        await stop.wait()
    finally:
        stop.set()
        log.info("stopping: intake closed, finishing updates in flight")
        await server.stop()
        if inbox_task is not None:
            await _finish(inbox_task, WORKER_GRACE)
        worker_stop.set()
        await _finish(worker_task, WORKER_GRACE)
        await _finish(digest_task, WORKER_GRACE)
        await _finish(safety_task, WORKER_GRACE)
        if restore_signals is not None:
            restore_signals()
        log.info("stopped")


def stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stop`; returns the function that puts the old handling back."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)

    def on_signal(sig: signal.Signals) -> None:
        log.info("%s received: shutting down", sig.name)
        stop.set()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)

    def restore() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)

    return restore


async def _finish(task: asyncio.Task[Any], grace: float) -> None:
    """Let a background task end on its own for `grace` seconds, then cancel it."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("%s did not stop within %.0f s; cancelled", task.get_name(), grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
