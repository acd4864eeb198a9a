"""Faults, proven with real processes: `python -m bot run --webhook` against the emulator and a
PostgreSQL server of this module's own (it is stopped and started again in one test).

- kill -9 at random moments while many people report at once, then a restart;
- PostgreSQL stopped for tens of seconds under traffic;
- the Bot API answering 5xx, timing out and answering 429 on a share of calls;
- SIGTERM while updates are in flight.

Marked `faults` (about a minute and a half together); they run in the default `uv run pytest`.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.i18n import create_i18n
from bot.outage import UNAVAILABLE
from handlers.telegram.keyboards import FlowAction, FlowCB
from storage.db import create_engine, create_sessionmaker, migrate
from storage.models import Draft, Outbox, OutboxState, Report
from storage.sealing import Keyring
from tests.e2e import moderator_group, start_bot
from tests.postgres import PostgresServer, start_postgres
from tests.webhook import (
    CODE,
    DETENTION,
    BotProcess,
    ReportFlow,
    bot_env,
    free_port,
    unexpected_errors,
)

pytestmark = pytest.mark.faults

WHEN = {"ru": "вчера 14:30", "kk": "кеше 14:30", "en": "yesterday 14:30"}
LANGUAGES = ("ru", "kk", "en")
# Short, so that a claim left by a killed process is taken over within the test.
FAST = {"TELEGRAM_TIMEOUT": "3", "OUTBOX_LEASE": "18"}


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = start_postgres(tmp_path_factory.mktemp("faults-pg"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture
def group(emu: TelegramEmulator) -> GroupHandle:
    return moderator_group(emu)


def _process(
    name: str,
    emu: TelegramEmulator,
    url: str,
    keyring: Keyring,
    workdir: Path,
    **extra: str,
) -> BotProcess:
    port = free_port()
    env = bot_env(
        emu,
        url,
        keyring,
        workdir / "data",
        port=port,
        base_url=f"http://127.0.0.1:{port}",
        **{**FAST, **extra},
    )
    return BotProcess(name, env, workdir)


def _flows(emu: TelegramEmulator, count: int, *, timeout: float = 90.0) -> list[ReportFlow]:
    i18n = create_i18n()
    flows = []
    for index in range(count):
        language = LANGUAGES[index % len(LANGUAGES)]
        user = emu.user(first_name=f"Reporter{index}", language_code=language)
        answers = {**DETENTION, "when": WHEN[language], "subject": f"Person {index}"}
        flows.append(ReportFlow(emu, i18n, user, "detention", answers, language, timeout))
    return flows


async def _query(url: str, statement: Any) -> Any:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return (await session.execute(statement)).all()
    finally:
        await engine.dispose()


def _visible(emu: TelegramEmulator, group: GroupHandle) -> set[str]:
    """Report codes the moderators can see: in a card, or listed in a burst digest."""
    return {
        code
        for message in emu.chat_messages(group)
        if message.from_bot
        for code in CODE.findall(message.content)
    }


def _cards(emu: TelegramEmulator, group: GroupHandle) -> Counter[str]:
    """How many alert cards (the messages with the triage buttons) each report got."""
    counts: Counter[str] = Counter()
    for message in emu.chat_messages(group):
        if message.from_bot and message.keyboard:
            counts.update(set(CODE.findall(message.content)[:1]))
    return counts


async def _all_alerts_delivered(
    emu: TelegramEmulator,
    group: GroupHandle,
    url: str,
    codes: set[str],
    timeout: float,  # noqa: ASYNC109
) -> None:
    await emu.wait_until(
        lambda: codes <= _visible(emu, group),
        timeout,
        message=f"alerts missing: {codes - _visible(emu, group)}",
    )
    stored = {row[0] for row in await _query(url, select(Report.public_code))}
    assert stored == codes

    # Each alert was sent as a card, or (in a burst) listed in a digest with its card to follow.
    # A card can be seen before its row says so: Telegram performed the send but its answer was
    # lost, and the row waits for its retry (which repeats the card). Wait for the rows to settle.
    async def settled() -> bool:
        alerts = await _query(
            url, select(Outbox.state, Outbox.announced_at).where(Outbox.kind == "alert")
        )
        done = all(
            state == OutboxState.SENT.value
            or (state == OutboxState.PENDING.value and announced is not None)
            for state, announced in alerts
        )
        return done and len(alerts) == len(codes)

    deadline = asyncio.get_running_loop().time() + timeout
    while not await settled():
        assert asyncio.get_running_loop().time() < deadline, await _query(
            url, select(Outbox.state, Outbox.announced_at).where(Outbox.kind == "alert")
        )
        await asyncio.sleep(0.25)


async def test_kill_9_at_random_moments_loses_no_report_alert_or_draft(
    emu: TelegramEmulator,
    group: GroupHandle,
    own_postgres: PostgresServer,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    url = own_postgres.create_database("faults_kill")
    bot = _process("bot", emu, url, keyring, tmp_path)
    await bot.start()
    flows = _flows(emu, 8)
    tasks = [asyncio.create_task(flow.run()) for flow in flows]
    rng = random.Random(20260121)
    kills = 0
    try:
        while kills < 3 and not all(task.done() for task in tasks):
            await asyncio.sleep(rng.uniform(0.2, 1.2))
            bot.kill(signal.SIGKILL)
            await bot.wait()
            kills += 1
            await bot.start()
        codes = set(await asyncio.wait_for(asyncio.gather(*tasks), 120))
        assert len(codes) == len(flows)
        # Every draft resumed where it was: no question was asked again after a restart.
        for flow in flows:
            assert len(flow.steps) == len(set(flow.steps)), flow.steps
        await _all_alerts_delivered(emu, group, url, codes, timeout=60)
        assert await _query(url, select(Draft.id)) == []
        # A card is sent twice only if the process died between Telegram's answer and the
        # record of it, which each kill can do once at most.
        assert max(_cards(emu, group).values(), default=1) <= 1 + kills
    finally:
        for task in tasks:
            task.cancel()
        await bot.stop()
    assert kills >= 2
    assert unexpected_errors(bot.log_text()) == []


async def test_postgres_outage_answers_reporters_and_everything_resumes(
    emu: TelegramEmulator,
    group: GroupHandle,
    own_postgres: PostgresServer,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    url = own_postgres.create_database("faults_outage")
    bot = _process("bot", emu, url, keyring, tmp_path)
    await bot.start()
    i18n = create_i18n()
    flows = _flows(emu, 6)
    # Half the reporters are half-way through when the database goes away.
    early = [asyncio.create_task(flow.run()) for flow in flows[:3]]
    await emu.wait_until(lambda: all(len(flow.steps) >= 3 for flow in flows[:3]), 30)
    await asyncio.to_thread(own_postgres.interrupt)
    outage_started = time.monotonic()
    try:
        late = [asyncio.create_task(flow.run()) for flow in flows[3:]]
        # Everyone who writes meanwhile is told, in their language, and only once a minute.
        for flow in flows:
            text = i18n.gettext(UNAVAILABLE, locale=flow.language)
            await emu.wait_until(
                lambda user=flow.user, text=text: _told(user, text),
                20,
                message=f"{flow.language} reporter was not told about the outage",
            )
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{bot.url}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["database"] == "unreachable"
            async with session.get(f"{bot.url}/healthz/live") as response:
                assert response.status == 200
        # Tens of seconds without the database; the process keeps running, not restarting.
        await asyncio.sleep(max(0.0, 20.0 - (time.monotonic() - outage_started)))
        assert bot.alive
    finally:
        await asyncio.to_thread(own_postgres.resume)
    try:
        codes = set(await asyncio.wait_for(asyncio.gather(*early, *late), 120))
        assert len(codes) == len(flows)
        await _all_alerts_delivered(emu, group, url, codes, timeout=60)
        for flow in flows:
            text = i18n.gettext(UNAVAILABLE, locale=flow.language)
            assert _told_count(flow.user, text) == 1  # once, though each update came back
    finally:
        assert await bot.stop() == 0
    log = bot.log_text()
    assert bot.starts == 1
    assert "database unreachable" in log
    # Handled, not crashed: the outage is logged as warnings, without tracebacks.
    assert unexpected_errors(log) == [], log[-3000:]


def _told(user: UserHandle, text: str) -> bool:
    return _told_count(user, text) > 0


def _told_count(user: UserHandle, text: str) -> int:
    return sum(1 for message in user.bot_messages() if message.text == text)


async def test_bot_api_faults_deliver_every_alert_with_duplicates_only_for_lost_answers(
    emu: TelegramEmulator,
    group: GroupHandle,
    own_postgres: PostgresServer,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    url = own_postgres.create_database("faults_api")
    bot = _process("bot", emu, url, keyring, tmp_path)
    await bot.start()
    # A share of all calls: 5xx, 429 with retry_after, performed but answered 500 (the answer
    # lost), and answered after TELEGRAM_TIMEOUT (the bot gave up waiting).
    emu.faults.set_random_failures(
        0.1,
        seed=7,
        status=502,
        kinds=("error", "retry_after", "lose_answer", "slow"),
        retry_after=2,
        delay=4.0,
    )
    flows = _flows(emu, 6, timeout=120)
    try:
        codes = set(await asyncio.wait_for(asyncio.gather(*(f.run() for f in flows)), 240))
        await _all_alerts_delivered(emu, group, url, codes, timeout=90)
    finally:
        injected = emu.stats.faults_injected
        emu.faults.clear()
        assert await bot.stop() == 0
    # Enough faults to mean something (about 10 % of some 300 calls; a failed answer is retried by
    # the outbox, not by Telegram redelivering the whole update, so calls are not multiplied).
    assert injected >= 20
    # A card is repeated only where Telegram performed the call but its answer never reached
    # the bot: an answer lost, or one that came after the bot had stopped waiting.
    to_group = [c for c in emu.calls_to("sendMessage") if c.params.get("chat_id") == group.id]
    unanswered = sum(1 for call in to_group if call.answer_lost or call.delayed > 3)
    repeated = sum(count - 1 for count in _cards(emu, group).values())
    assert repeated <= unanswered
    assert unexpected_errors(bot.log_text()) == []


async def test_sigterm_finishes_in_flight_work_releases_claims_and_exits_in_seconds(
    emu: TelegramEmulator,
    group: GroupHandle,
    own_postgres: PostgresServer,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    url = own_postgres.create_database("faults_term")
    bot = _process("bot", emu, url, keyring, tmp_path)
    await bot.start()
    flows = _flows(emu, 4)
    reviews = await asyncio.gather(*(flow.fill() for flow in flows))
    # Telegram turns slow: the worker will be mid-send, with more rows claimed behind it, and an
    # update mid-handling, when SIGTERM comes.
    emu.faults.slow_next(1.5, n=100, method="sendMessage")
    for flow, review in zip(flows, reviews, strict=True):
        await flow.user.press(review, FlowCB(action=FlowAction.SUBMIT).pack())
    await _wait_for_claims(url)
    asker = emu.user(language_code="en")
    await asker.send_command("/help")
    await asyncio.sleep(0.3)
    started = time.monotonic()
    bot.kill(signal.SIGTERM)
    assert await bot.wait(20) == 0
    took = time.monotonic() - started
    emu.faults.clear()
    assert took < 10, took
    log = bot.log_text()
    assert "SIGTERM received" in log and "claimed outbox rows released" in log
    # The update in flight was answered before the process left.
    assert asker.bot_messages()
    held = await _query(
        url,
        select(Outbox.id).where(
            Outbox.state == OutboxState.PENDING.value, Outbox.claimed_until.is_not(None)
        ),
    )
    assert held == []
    await bot.start()
    try:
        codes = {row[0] for row in await _query(url, select(Report.public_code))}
        assert len(codes) == len(flows)
        await _all_alerts_delivered(emu, group, url, codes, timeout=30)
    finally:
        assert await bot.stop() == 0
    assert unexpected_errors(bot.log_text()) == []


async def _wait_for_claims(url: str) -> None:
    """Until the worker holds claimed rows (it is sending one, the others wait behind it)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        claimed = await _query(
            url,
            select(func.count()).where(
                Outbox.state == OutboxState.PENDING.value, Outbox.claimed_until.is_not(None)
            ),
        )
        if claimed[0][0] >= 2:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker never held several claims")


async def test_polling_mode_holds_an_update_through_an_outage(
    emu: TelegramEmulator,
    group: GroupHandle,
    own_postgres: PostgresServer,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    """In polling mode nobody would deliver an update again: the bot holds it and retries."""
    url = own_postgres.create_database("faults_polling")
    await migrate(url)
    running = await start_bot(emu, url, keyring, tmp_path)
    try:
        user = emu.user(language_code="ru")
        await user.send_command("/help")
        await emu.wait_for_bot_message(user, timeout=10)
        await asyncio.to_thread(own_postgres.interrupt)
        try:
            await user.send_command("/help")
            text = create_i18n().gettext(UNAVAILABLE, locale="ru")
            await emu.wait_until(lambda: _told(user, text), 20)
        finally:
            await asyncio.to_thread(own_postgres.resume)
        # The held /help is answered once the database is back.
        await emu.wait_for_bot_message(user, lambda m: "/new" in (m.text or ""), timeout=40)
    finally:
        await running.shutdown()
