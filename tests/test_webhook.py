"""Webhook mode in this process: the secret, durable acknowledgement, health and metrics."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Router
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetMe
from aiogram.types import Message
from pydantic._internal import _generics
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.app import App, create_app, create_bot, run_polling
from bot.demo.emulator.handles import GroupHandle
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.outage import is_database_outage, log_pass_failure
from bot.settings import ConfigError, load_settings
from bot.web import MAX_FAILURES, SECRET_HEADER, start_web_server
from storage.sealing import Keyring
from tests.e2e import (
    MODERATOR_CHAT_ID,
    TOKEN,
    fill_report,
    moderator_group,
    outbox_settled,
    submit,
)
from tests.webhook import SECRET, WebhookBot, free_port, start_webhook_bot

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")
ANSWERS = {
    "relation": ("pick", "family"),
    "subject": "Нурлан Ахметов",
    "when": "вчера 14:30",
    "region": ("pick", "almaty"),
    "agency": ("pick", "knb"),
    "held_where": ("pick", "ivs"),
    "article": ("pick", "cc405"),
    "lawyer": ("pick", "no"),
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
    "media": "done",
    "account": "Пришли утром.",
}


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture
def group(emu: TelegramEmulator) -> GroupHandle:
    return moderator_group(emu)


@pytest.fixture
async def hook(
    emu: TelegramEmulator, group: GroupHandle, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[WebhookBot]:
    running = await start_webhook_bot(emu, migrated_url, keyring, tmp_path)
    try:
        yield running
    finally:
        await running.shutdown()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> aiohttp.ClientResponse:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        await response.read()
        return response


async def test_a_report_through_the_webhook_with_health_and_metrics(
    emu: TelegramEmulator, group: GroupHandle, hook: WebhookBot
) -> None:
    info = await hook.app.bot.get_webhook_info()
    assert info.url == f"{hook.url}/telegram/webhook"
    assert emu.webhook_secret == SECRET
    assert "message" in (info.allowed_updates or []) and info.max_connections == 40

    user = emu.user(language_code="ru")
    review = await fill_report(emu, hook.app.i18n, user, "detention", ANSWERS, language="ru")
    await submit(emu, user, review)
    receipt = await emu.wait_for_bot_message(user, lambda m: CODE.search(m.text or ""))
    code = CODE.search(receipt.text or "")
    assert code is not None
    await emu.wait_for_bot_message(group, lambda m: code.group(1) in (m.text or ""))
    await outbox_settled(hook.app)  # the card's send is recorded, and counted
    assert emu.stats.webhook_failures == 0

    status, body = await _get(f"{hook.url}/healthz")
    assert status == 200 and '"database": "ok"' in body and '"status": "ok"' in body
    assert (await _get(f"{hook.url}/healthz/live"))[0] == 200
    status, metrics = await _get(f"{hook.url}/metrics")
    assert status == 200
    assert 'reportbot_reports_submitted_total{channel="telegram",type="detention"} 1.0' in metrics
    assert re.search(
        r'reportbot_updates_total\{kind="callback_query",outcome="handled"\} \d', metrics
    )
    assert 'reportbot_outbox_sent_total{kind="alert"} 1.0' in metrics
    assert "reportbot_database_up 1.0" in metrics
    assert "reportbot_outbox_oldest_pending_seconds" in metrics


async def test_requests_without_the_secret_are_refused(
    emu: TelegramEmulator, hook: WebhookBot
) -> None:
    user = emu.user(language_code="en")
    update = json.dumps(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": user.id, "type": "private"},
                "from": {"id": user.id, "is_bot": False, "first_name": "M"},
                "text": "/start",
            },
        }
    ).encode()
    url = f"{hook.url}/telegram/webhook"
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}):
        response = await _post(url, update, {"Content-Type": "application/json", **headers})
        assert response.status == 401
    # With the secret, an unreadable body is acknowledged and dropped: Telegram would only send
    # it again and again.
    for body in (b"not json", b"[1, 2]", b'{"update_id": "x"}'):
        response = await _post(url, body, {SECRET_HEADER: SECRET})
        assert response.status == 200
    # Each request was answered only once it was decided: nothing more is coming of them.
    _, metrics = await _get(f"{hook.url}/metrics")
    assert 'reportbot_webhook_rejected_total{reason="secret"} 3.0' in metrics
    assert 'reportbot_webhook_rejected_total{reason="body"} 3.0' in metrics
    await outbox_settled(hook.app)
    assert user.bot_messages() == []


async def test_an_update_is_acknowledged_only_once_handled_and_never_handled_twice(
    emu: TelegramEmulator, hook: WebhookBot
) -> None:
    user = emu.user(language_code="en")
    # Telegram fails the bot's answer: the update and its answer were stored before anything was
    # sent, so the update is acknowledged once and the outbox sends the answer again, once.
    emu.faults.fail_next(method="sendMessage")
    sent = await user.send_command("/new")
    menu = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
    await emu.wait_for_updates_consumed()
    assert emu.stats.faults_injected == 1
    assert emu.stats.webhook_failures == 0
    assert emu.stats.webhook_deliveries == 1
    assert len(user.bot_messages()) == 1

    # A redelivery of an update already handled changes nothing.
    emu.redeliver(sent)
    await emu.wait_for_updates_consumed()
    # The redelivery was answered after it was recognised as a duplicate; nothing was queued.
    _, metrics = await _get(f"{hook.url}/metrics")
    assert 'reportbot_updates_total{kind="message",outcome="duplicate"} 1.0' in metrics
    await outbox_settled(hook.app)
    assert user.bot_messages() == [menu]


async def test_an_update_that_keeps_failing_is_given_up(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    # Stands for a bug: a handler that raises on one message every time.
    broken = Router(name="broken")

    @broken.message(lambda message: message.text == "boom")
    async def boom(message: Message) -> None:
        raise RuntimeError("a bug")

    running = await start_webhook_bot(emu, migrated_url, keyring, tmp_path)
    try:
        dispatcher = running.app.dispatcher
        dispatcher.include_router(broken)
        dispatcher.sub_routers.insert(0, dispatcher.sub_routers.pop())  # before the catch-alls
        user = emu.user(language_code="en")
        await user.send_text("boom")
        await user.send_command("/help")  # the same chat's next update must get through
        await emu.wait_for_bot_message(user)
        await emu.wait_for_updates_consumed()
        assert emu.stats.webhook_failures == MAX_FAILURES - 1
        assert emu.stats.webhook_deliveries == 2
    finally:
        await running.shutdown()


async def test_a_draining_process_sends_updates_back(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    """Between SIGTERM and exit nothing new is taken in: Telegram is asked to come back."""
    port = free_port()
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emu.base_url,
        database_url=migrated_url,
        moderator_chat_id=MODERATOR_CHAT_ID,
        data_dir=tmp_path,
        webhook_base_url=f"http://127.0.0.1:{port}",
        webhook_secret=SECRET,
        webhook_port=port,
    )
    app = create_app(settings, keyring)
    server = await start_web_server(app, telegram=True)
    try:
        assert (await _get(f"http://127.0.0.1:{port}/healthz/live"))[0] == 200
        server.state.draining = True
        assert (await _get(f"http://127.0.0.1:{port}/healthz/live"))[0] == 503
        assert (await _get(f"http://127.0.0.1:{port}/healthz"))[0] == 503
        response = await _post(
            f"http://127.0.0.1:{port}/telegram/webhook", b"{}", {SECRET_HEADER: SECRET}
        )
        assert response.status == 503 and response.headers["Retry-After"] == "1"
    finally:
        await server.stop()
        await app.close()


def _settings(**values: object) -> None:
    load_settings(
        bot_token=TOKEN, moderator_chat_id=MODERATOR_CHAT_ID, **values
    ).require_for_webhook()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"webhook_secret": SECRET}, "WEBHOOK_BASE_URL is not set"),
        (
            {"webhook_base_url": "ftp://x", "webhook_secret": SECRET},
            "WEBHOOK_BASE_URL is malformed",
        ),
        ({"webhook_base_url": "https://bot.example.org"}, "WEBHOOK_SECRET is not set"),
        (
            {"webhook_base_url": "https://bot.example.org", "webhook_secret": "with space"},
            "WEBHOOK_SECRET is malformed",
        ),
    ],
)
def test_webhook_settings_are_checked_in_one_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        _settings(**values)
    assert "\n" not in str(error.value)


def test_outbox_lease_must_outlast_a_bot_api_call() -> None:
    settings = load_settings(
        bot_token=TOKEN, moderator_chat_id=MODERATOR_CHAT_ID, telegram_timeout=60, outbox_lease=30
    )
    with pytest.raises(ConfigError, match="OUTBOX_LEASE is too short"):
        settings.require_for_run()


@pytest.mark.parametrize("delay", [0.0, 0.001, 0.005, 0.02, 0.05])
async def test_polling_stops_whenever_the_stop_comes(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path, delay: float
) -> None:
    """A stop asked before or while start_polling takes its lock is not lost."""
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emu.base_url,
        database_url=migrated_url,
        moderator_chat_id=MODERATOR_CHAT_ID,
        data_dir=tmp_path,
    )
    moderator_group(emu)
    app: App = create_app(settings, keyring)
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(app, stop=stop, handle_signals=False))
    try:
        if delay:
            await asyncio.sleep(delay)
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await app.close()


def _wrapped(error: Exception) -> Exception:
    """The error as SQLAlchemy hands it over: a DBAPIError caused by the driver's own."""
    try:
        try:
            raise error
        except Exception as cause:
            raise DBAPIError("SELECT 1", {}, cause) from cause
    except DBAPIError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (OperationalError("SELECT 1", {}, Exception("database is locked")), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (TelegramNetworkError(method=GetMe(), message="connection refused"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_database_outages_are_told_from_bugs(error: Exception, outage: bool) -> None:
    assert is_database_outage(_wrapped(error)) is outage


def test_a_failed_pass_is_a_warning_in_an_outage_and_an_error_for_a_bug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.pass")
    with caplog.at_level(logging.INFO, logger="tests.pass"):
        log_pass_failure(logger, "check-in pass failed", _wrapped(ConnectionRefusedError(111, "")))
        log_pass_failure(logger, "check-in pass failed", RuntimeError("a bug"))
    outage, bug = caplog.records
    assert (outage.levelno, outage.exc_info) == (logging.WARNING, None)
    assert "database unreachable (DBAPIError)" in outage.getMessage()
    assert bug.levelno == logging.ERROR
    # The traceback is kept: as exc_info, or already rendered (and redacted) by bot.logging's
    # filter when an earlier test installed it.
    traceback = logging.Formatter().formatException(bug.exc_info) if bug.exc_info else bug.exc_text
    assert "RuntimeError: a bug" in (traceback or "")


async def test_bot_api_answers_reuse_their_response_models(
    emu: TelegramEmulator, group: GroupHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiogram reads each answer as `Response[T]`, and pydantic keeps those classes only weakly:
    without KeepResponseModels every garbage collection costs a rebuild (~5 ms of CPU) on the
    next call. This counts the rebuilds across collections."""
    built: list[str] = []
    create = _generics.create_generic_submodel

    def spy(name: str, *args: Any) -> Any:
        built.append(name)
        return create(name, *args)

    monkeypatch.setattr(_generics, "create_generic_submodel", spy)
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emu.base_url,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db",
        moderator_chat_id=MODERATOR_CHAT_ID,
        data_dir=tmp_path,
    )
    bot = create_bot(settings)
    try:
        for round_ in range(5):
            gc.collect()
            await bot.get_me()
            await bot.send_message(group.chat.id, f"round {round_}")
    finally:
        await bot.session.close()
    assert len(built) == len(set(built)), built  # each answer type built at most once
