"""The weekly digest: due on Monday 09:00 Almaty time, queued once across replicas and restarts,
sent late rather than skipped."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.i18n import CatalogI18n, create_i18n
from bot.jobs.digest import DIGEST_KIND, DigestScheduler, due_week
from storage.db import create_engine, create_sessionmaker
from storage.models import Outbox, Report, ScheduledRun
from storage.schedule import ScheduledRuns
from storage.sealing import Keyring
from storage.stats import Period

ALMATY = ZoneInfo("Asia/Almaty")


def almaty(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=ALMATY)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def i18n() -> CatalogI18n:
    return create_i18n()


@pytest.fixture
async def engines(migrated_url: str) -> AsyncIterator[Callable[[], AsyncEngine]]:
    """Engines on the same database, one per "replica" (each its own connection pool)."""
    made: list[AsyncEngine] = []

    def make() -> AsyncEngine:
        made.append(create_engine(migrated_url))
        return made[-1]

    yield make
    for engine in made:
        await engine.dispose()


def scheduler(
    engine: AsyncEngine, keyring: Keyring, i18n: CatalogI18n, clock: Clock
) -> DigestScheduler:
    return DigestScheduler(
        sessionmaker=create_sessionmaker(engine),
        keyring=keyring,
        catalogs=i18n,
        timezone="Asia/Almaty",
        language="ru",
        clock=clock,
    )


async def digests(engine: AsyncEngine) -> list[Outbox]:
    async with create_sessionmaker(engine)() as session:
        rows = await session.execute(select(Outbox).where(Outbox.kind == "digest"))
        return list(rows.scalars())


async def runs(engine: AsyncEngine) -> dict[str, ScheduledRun]:
    async with create_sessionmaker(engine)() as session:
        return await ScheduledRuns(session, DIGEST_KIND).known_periods()


def test_the_digest_falls_due_on_monday_at_nine_almaty_time() -> None:
    week45, week46 = Period.iso_week(2026, 45), Period.iso_week(2026, 46)
    assert due_week(almaty(11, 16, 8, 59), ALMATY) == week45
    assert due_week(almaty(11, 16, 9, 0), ALMATY) == week46
    assert due_week(almaty(11, 22, 23, 59), ALMATY) == week46
    # 04:00 UTC on Monday is already 09:00 in Almaty.
    assert due_week(dt.datetime(2026, 11, 16, 4, 0, tzinfo=dt.UTC), ALMATY) == week46


async def test_first_run_only_marks_the_starting_point(
    engines: Callable[[], AsyncEngine], keyring: Keyring, i18n: CatalogI18n
) -> None:
    engine = engines()
    clock = Clock(almaty(11, 18, 15))
    assert await scheduler(engine, keyring, i18n, clock).run_due() == []
    assert await digests(engine) == []
    baseline = (await runs(engine))["2026-W46"]
    assert baseline.outcome == "baseline"
    assert baseline.done_at is not None


async def test_monday_digest_is_queued_once_with_table_chart_csv_and_posts(
    engines: Callable[[], AsyncEngine], keyring: Keyring, i18n: CatalogI18n
) -> None:
    engine = engines()
    clock = Clock(almaty(11, 15, 12))  # Sunday: week 45 is the starting point
    digest = scheduler(engine, keyring, i18n, clock)
    await digest.run_due()
    async with create_sessionmaker(engine)() as session, session.begin():
        session.add(
            Report(
                public_code="D-TEST",
                channel="telegram",
                incident_type="detention",
                region="almaty",
                incident_date=dt.date(2026, 11, 12),
                urgent=True,
                status="verified",
                language="ru",
                sealed_payload=b"sealed",
                key_id="k",
            )
        )
    clock.now = almaty(11, 16, 8, 59)
    assert await digest.run_due() == []
    clock.now = almaty(11, 16, 9, 0)
    assert await digest.run_due() == ["2026-W46"]
    assert await digest.run_due() == []

    (row,) = await digests(engine)
    assert row.target == "coordinators"
    assert row.idempotency_key == "digest:2026-W46"
    assert row.payload_enc is not None
    messages = keyring.decrypt_json(row.payload_enc)["messages"]
    assert [m["type"] for m in messages] == [
        "text",
        "photo_upload",
        "document_upload",
        "text",
        "text",
        "text",
    ]
    ru = i18n.gettext
    assert ru("Weekly digest", locale="ru") in messages[0]["html"]
    assert "<pre>" in messages[0]["html"]
    assert base64.b64decode(messages[1]["data"])[:4] == b"\x89PNG"
    csv_text = base64.b64decode(messages[2]["data"]).decode("utf-8-sig")
    assert "2026-W46,2026-11-09,2026-11-15,incident_date,verified" in csv_text
    assert messages[2]["filename"] == "reportbot-2026-W46.csv"
    # The three Facebook posts, each in its language, with the count in them.
    for message, language in zip(messages[3:], ("kk", "ru", "en"), strict=True):
        assert i18n.gettext("Detention", locale=language) + ": 1" in message["html"]
    assert (await runs(engine))["2026-W46"].outcome == "sent"


async def test_two_replicas_racing_queue_one_digest(
    engines: Callable[[], AsyncEngine], keyring: Keyring, i18n: CatalogI18n
) -> None:
    clock = Clock(almaty(11, 15, 12))
    first, second = (scheduler(engines(), keyring, i18n, clock) for _ in range(2))
    await first.run_due()  # the starting point, week 45
    clock.now = almaty(
        11,
        16,
        9,
        0,
    )
    for _ in range(3):  # a few rounds, as replicas would on their timers
        results = await asyncio.gather(first.run_due(), second.run_due())
        assert sum(len(weeks) for weeks in results) <= 1
    engine = engines()
    assert [row.idempotency_key for row in await digests(engine)] == ["digest:2026-W46"]


async def test_restart_does_not_send_again_and_a_missed_monday_is_sent_late(
    engines: Callable[[], AsyncEngine], keyring: Keyring, i18n: CatalogI18n
) -> None:
    clock = Clock(almaty(11, 15, 12))
    before_restart = scheduler(engines(), keyring, i18n, clock)
    await before_restart.run_due()
    clock.now = almaty(11, 16, 9, 1)
    assert await before_restart.run_due() == ["2026-W46"]

    # A new process (new engine, new worker id) later the same day: nothing new.
    clock.now = almaty(11, 16, 17)
    after_restart = scheduler(engines(), keyring, i18n, clock)
    assert await after_restart.run_due() == []

    # The bot is down over the next two Mondays and back on a Wednesday: both weeks go out,
    # the older first.
    clock.now = almaty(12, 2, 11)
    back = scheduler(engines(), keyring, i18n, clock)
    assert await back.run_due() == ["2026-W47", "2026-W48"]
    keys = [row.idempotency_key for row in await digests(engines())]
    assert keys == ["digest:2026-W46", "digest:2026-W47", "digest:2026-W48"]


async def test_a_replica_that_died_mid_digest_is_taken_over_after_its_lease(
    engines: Callable[[], AsyncEngine], keyring: Keyring, i18n: CatalogI18n
) -> None:
    engine = engines()
    clock = Clock(almaty(11, 15, 12))
    survivor = scheduler(engine, keyring, i18n, clock)
    await survivor.run_due()
    clock.now = almaty(11, 16, 9, 0)
    # Another replica claimed week 46 and died before queueing it.
    async with create_sessionmaker(engine)() as session, session.begin():
        claimed = await ScheduledRuns(session, DIGEST_KIND).claim(
            "2026-W46", worker="dead", now=clock.now, lease=dt.timedelta(minutes=10)
        )
    assert claimed
    clock.now = almaty(11, 16, 9, 5)
    assert await survivor.run_due() == []  # the lease still holds
    clock.now = almaty(11, 16, 9, 11)
    assert await survivor.run_due() == ["2026-W46"]
    assert len(await digests(engine)) == 1


async def test_the_schedule_runs_until_stopped(
    engines: Callable[[], AsyncEngine], keyring: Keyring, i18n: CatalogI18n
) -> None:
    engine = engines()
    clock = Clock(almaty(11, 15, 12))
    digest = scheduler(engine, keyring, i18n, clock)
    digest.interval = 0.05
    stop = asyncio.Event()
    task = asyncio.create_task(digest.run(stop))
    try:
        for _ in range(100):
            if await runs(engine):
                break
            await asyncio.sleep(0.05)
        clock.now = almaty(11, 16, 9, 0)
        for _ in range(200):
            if await digests(engine):
                break
            await asyncio.sleep(0.05)
        assert len(await digests(engine)) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
