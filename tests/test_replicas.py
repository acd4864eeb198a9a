"""Two replicas of the bot behind one webhook address, sharing one PostgreSQL.

Real processes (`python -m bot run --webhook`) behind a round-robin load balancer, so one
person's consecutive updates land on different replicas: they share conversations (drafts), the
outbox (claimed with FOR UPDATE SKIP LOCKED), the weekly digest (a lease) and the safety
check-ins (rows locked per pass), and nothing is handled or sent twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.i18n import create_i18n
from bot.jobs.digest import DIGEST_KIND, due_week
from bot.services.checkins import ASK
from storage.db import create_engine, create_sessionmaker, migrate
from storage.models import (
    Checkin,
    CheckinState,
    Outbox,
    OutboxState,
    ProcessedUpdate,
    Report,
    utcnow,
)
from storage.schedule import ScheduledRuns
from storage.sealing import Keyring
from storage.stats import Period
from tests.e2e import moderator_group
from tests.postgres import PostgresServer
from tests.webhook import (
    CODE,
    DETENTION,
    BotProcess,
    ReportFlow,
    RoundRobinProxy,
    bot_env,
    free_port,
    unexpected_errors,
)

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

COORDINATORS = -1001777000222
CHECKINS = 4
ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_replicas_started_together_migrate_one_at_a_time(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database("replicas_migrate")
    await asyncio.gather(*(migrate(url) for _ in range(3)))
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            assert await session.scalar(select(func.count()).select_from(Report)) == 0
    finally:
        await engine.dispose()


async def _seed_digest_due(url: str) -> None:
    """The last digest sent was for the week before last: last week's is due now."""
    await migrate(url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            latest = due_week(utcnow(), ALMATY)
            before = Period.week_of(latest.start - dt.timedelta(days=7))
            await ScheduledRuns(session, DIGEST_KIND).record_baseline(before.key, now=utcnow())
    finally:
        await engine.dispose()


async def _seed_checkins_due(url: str, count: int) -> list[int]:
    """Safety check-ins for the first `count` reports, due now (as after a summons)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            reports = (await session.scalars(select(Report).order_by(Report.id).limit(count))).all()
            rows = [
                Checkin(
                    report_id=report.id,
                    reporter_id=report.reporter_id,
                    due_at=utcnow(),
                    created_at=utcnow(),
                )
                for report in reports
            ]
            session.add_all(rows)
            await session.flush()
            return [row.id for row in rows]
    finally:
        await engine.dispose()


async def _checkin_states(url: str, ids: list[int]) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Checkin.state, func.count())
                .where(Checkin.id.in_(ids))
                .group_by(Checkin.state)
            )
            return {str(row[0]): int(row[1]) for row in rows.all()}
    finally:
        await engine.dispose()


def _asked(flows: list[ReportFlow], i18n: Any) -> int:
    """How many "are you back and safe?" messages the reporters got, in their languages."""
    return sum(
        1
        for flow in flows
        for message in flow.user.bot_messages()
        if i18n.gettext(ASK, locale=flow.language) in (message.text or "")
    )


async def _outbox_drained(url: str, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    engine = create_engine(url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with create_sessionmaker(engine)() as session:
                    pending = await session.scalar(
                        select(func.count())
                        .select_from(Outbox)
                        .where(Outbox.state == OutboxState.PENDING.value)
                    )
                if not pending:
                    return
                await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def _metrics(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        return await response.text()


def _sum(metrics: list[str], name: str, **labels: str) -> float:
    total = 0.0
    for text in metrics:
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def test_two_replicas_share_conversations_outbox_digest_and_checkins(
    emu: TelegramEmulator, postgres_server: PostgresServer, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    coordinators = emu.create_group("Coordinators", chat_id=COORDINATORS)
    url = postgres_server.create_database("replicas_shared")
    await _seed_digest_due(url)
    proxy = await RoundRobinProxy([]).start()
    replicas = []
    for name in ("a", "b"):
        port = free_port()
        env = bot_env(
            emu,
            url,
            keyring,
            tmp_path / "data",
            port=port,
            base_url=proxy.url,
            COORDINATOR_CHAT_ID=str(COORDINATORS),
        )
        replicas.append(BotProcess(name, env, tmp_path))
    proxy.upstreams.extend(replica.url for replica in replicas)
    proxy.counts.update(dict.fromkeys(proxy.upstreams, 0))
    try:
        await asyncio.gather(*(replica.start() for replica in replicas))
        i18n = create_i18n()
        flows = []
        for index in range(10):
            language = ("ru", "kk", "en")[index % 3]
            when = {"ru": "вчера 14:30", "kk": "кеше 14:30", "en": "yesterday 14:30"}[language]
            user = emu.user(first_name=f"R{index}", language_code=language)
            answers = {**DETENTION, "when": when, "subject": f"Person {index}"}
            flows.append(ReportFlow(emu, i18n, user, "detention", answers, language, 60))
        codes = set(await asyncio.wait_for(asyncio.gather(*(f.run() for f in flows)), 120))
        assert len(codes) == len(flows)
        await emu.wait_until(lambda: codes <= _cards(emu, group).keys(), 60)
        # The digest that fell due is sent once: one chart, though both replicas look for it.
        await emu.wait_until(lambda: _photos(emu, coordinators) >= 1, 60)
        # Check-ins that fall due are asked once, though both replicas pass every 15 s.
        due = await _seed_checkins_due(url, CHECKINS)
        await emu.wait_until(lambda: _asked(flows, i18n) >= CHECKINS, 60)
        await emu.wait_for_updates_consumed(10)
        # Every row either replica queued has gone out: a second copy of anything would be here.
        await _outbox_drained(url)
        metrics = [await _metrics(replica.url) for replica in replicas]
    finally:
        stopped = await asyncio.gather(*(replica.stop() for replica in replicas))
        await proxy.stop()
    assert stopped == [0, 0]

    # Each replica took part, and each person's updates went to both.
    assert all(count > 10 for count in proxy.counts.values()), proxy.counts
    # Nothing handled twice: every delivery handled once, no duplicate was even needed.
    handled = _sum(metrics, "reportbot_updates_total", outcome="handled") + _sum(
        metrics, "reportbot_updates_total", outcome="ignored"
    )
    assert handled == emu.stats.webhook_deliveries
    assert _sum(metrics, "reportbot_updates_total", outcome="duplicate") == 0
    assert _sum(metrics, "reportbot_updates_total", outcome="failed") == 0
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            processed = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
            alerts = (
                await session.execute(
                    select(Outbox.state, func.count())
                    .where(Outbox.kind == "alert")
                    .group_by(Outbox.state)
                )
            ).all()
    finally:
        await engine.dispose()
    assert processed == emu.stats.webhook_deliveries
    assert dict(alerts) == {OutboxState.SENT.value: len(codes)}
    # Nothing sent twice: one card per report, one receipt per reporter, one digest.
    assert set(_cards(emu, group).values()) == {1}
    for flow in flows:
        receipts = [m for m in flow.user.bot_messages() if CODE.search(m.text or "")]
        assert len(receipts) == 1
    assert _photos(emu, coordinators) == 1
    assert _asked(flows, i18n) == CHECKINS
    assert await _checkin_states(url, due) == {CheckinState.ASKED.value: CHECKINS}
    assert _sum(metrics, "reportbot_outbox_sent_total", kind="alert") == len(codes)
    for replica in replicas:
        assert unexpected_errors(replica.log_text()) == [], replica.log_tail()


def _cards(emu: TelegramEmulator, group: object) -> Counter[str]:
    counts: Counter[str] = Counter()
    for message in emu.chat_messages(group):  # type: ignore[arg-type]
        if message.from_bot and message.keyboard:
            counts.update(CODE.findall(message.content)[:1])
    return counts


def _photos(emu: TelegramEmulator, chat: object) -> int:
    return sum(
        1
        for message in emu.chat_messages(chat)  # type: ignore[arg-type]
        if message.from_bot and message.photo
    )
