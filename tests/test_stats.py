"""The counting rules, checked against hand-computed figures on SQLite and PostgreSQL.

The reports below straddle the boundary between ISO weeks 46 and 47 of 2026 in Almaty time
(UTC+5): Sunday 15 November 23:30 and Monday 16 November 00:30 local are both 15 November in UTC,
so counting by UTC dates would put both in week 46. Others have an incident date in another week
than their submission, or are duplicates, rejected, or not yet verified.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.db import create_sessionmaker
from storage.models import Report
from storage.stats import (
    Basis,
    CountRule,
    Dimension,
    Period,
    PeriodError,
    Scope,
    StatsRepository,
    count_query,
    parse_period,
    rule_for,
)

ALMATY = ZoneInfo("Asia/Almaty")
W45 = Period.iso_week(2026, 45)  # 2 - 8 November 2026
W46 = Period.iso_week(2026, 46)  # 9 - 15 November 2026
W47 = Period.iso_week(2026, 47)  # 16 - 22 November 2026


def local(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=ALMATY)


@dataclass(frozen=True)
class Seed:
    name: str
    incident_type: str
    region: str | None
    incident_day: int
    status: str
    submitted: dt.datetime
    duplicate_of: str | None = None
    source: str | None = None


SEEDS = [
    # Sunday 23:30 and Monday 00:30 in Almaty: the same UTC date, different ISO weeks.
    Seed("A", "detention", "almaty", 15, "verified", local(15, 23, 30)),
    Seed("B", "detention", "almaty", 16, "verified", local(16, 0, 30)),
    # Happened in week 45, reported in week 46.
    Seed("C", "search", "astana", 5, "verified", local(10)),
    Seed("D", "detention", "almaty", 12, "duplicate", local(12, 10), duplicate_of="A"),
    Seed("E", "summons", "shymkent", 11, "rejected", local(11, 9)),
    Seed("F", "account_freeze", None, 10, "new", local(10, 8)),
    Seed("G", "account_freeze", "astana", 13, "in_review", local(13)),
    # The first instant of week 46 and the last second of week 45.
    Seed("H", "search", "astana", 9, "verified", local(9, 0, 0)),
    Seed("I", "other", "almaty", 8, "verified", local(8, 23, 59, 59)),
    # Verified, but linked as a duplicate: still not counted twice.
    Seed("J", "detention", "almaty", 14, "verified", local(14), duplicate_of="H"),
    Seed("K", "detention", "shymkent", 10, "closed", local(10)),
    Seed("L", "detention", "astana", 3, "verified", local(3), source="fbgroup"),
    # A summons reported in week 46 for an appointment in week 47.
    Seed("M", "summons", "almaty", 20, "verified", local(12)),
]


async def seed_reports(session: AsyncSession, seeds: list[Seed]) -> dict[str, Report]:
    reports: dict[str, Report] = {}
    for seed in seeds:
        report = Report(
            public_code=f"T-{seed.name}",
            channel="telegram",
            source=seed.source,
            incident_type=seed.incident_type,
            region=seed.region,
            incident_date=dt.date(2026, 11, seed.incident_day),
            urgent=False,
            status=seed.status,
            language="ru",
            sealed_payload=b"sealed",
            key_id="k",
            created_at=seed.submitted,
            updated_at=seed.submitted,
        )
        session.add(report)
        reports[seed.name] = report
    await session.flush()
    for seed in seeds:
        if seed.duplicate_of:
            reports[seed.name].duplicate_of_id = reports[seed.duplicate_of].id
    await session.flush()
    return reports


@pytest.fixture
async def session(db_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with create_sessionmaker(db_engine)() as session, session.begin():
        await seed_reports(session, SEEDS)
        yield session


async def cells(
    session: AsyncSession,
    period: Period,
    rule: CountRule,
    dimensions: tuple[Dimension, ...] = (Dimension.TYPE, Dimension.REGION),
) -> dict[tuple[str | None, ...], int]:
    counts = await StatsRepository(session).count(period, rule, dimensions)
    return dict(counts.cells)


async def test_default_rule_counts_verified_non_duplicates_by_incident_date(
    session: AsyncSession,
) -> None:
    rule = CountRule()
    assert await cells(session, W46, rule) == {
        ("detention", "almaty"): 1,  # A (Sunday 23:30)
        ("search", "astana"): 1,  # H (Monday 00:00)
    }
    assert await cells(session, W45, rule) == {
        ("search", "astana"): 1,  # C, submitted in week 46
        ("other", "almaty"): 1,  # I
        ("detention", "astana"): 1,  # L
    }
    assert await cells(session, W47, rule) == {
        ("detention", "almaty"): 1,  # B (Monday 00:30)
        ("summons", "almaty"): 1,  # M, the appointment
    }


async def test_by_submission_date_cuts_weeks_in_almaty_time(session: AsyncSession) -> None:
    rule = CountRule(basis=Basis.SUBMITTED)
    assert await cells(session, W46, rule) == {
        ("detention", "almaty"): 1,  # A; B is Monday 00:30 local, though Sunday in UTC
        ("search", "astana"): 2,  # C and H (submitted at 00:00 on Monday)
        ("summons", "almaty"): 1,  # M
    }
    assert await cells(session, W45, rule) == {
        ("other", "almaty"): 1,  # I at 23:59:59 on Sunday
        ("detention", "astana"): 1,  # L
    }
    assert await cells(session, W47, rule) == {("detention", "almaty"): 1}  # B


async def test_including_unverified_still_leaves_out_rejected_and_duplicates(
    session: AsyncSession,
) -> None:
    rule = CountRule(scope=Scope.UNVERIFIED_TOO)
    assert await cells(session, W46, rule) == {
        ("detention", "almaty"): 1,  # A
        ("detention", "shymkent"): 1,  # K, closed
        ("search", "astana"): 1,  # H
        ("account_freeze", None): 1,  # F, new, no region given
        ("account_freeze", "astana"): 1,  # G, in review
    }


async def test_breakdown_by_status_counts_every_report(session: AsyncSession) -> None:
    basis, scope = rule_for([Dimension.STATUS])
    assert scope == Scope.EVERY
    counted = await cells(session, W46, CountRule(basis, scope), (Dimension.STATUS,))
    assert counted == {
        ("verified",): 3,  # A, H and J (J is linked as a duplicate but shown as it stands)
        ("duplicate",): 1,
        ("rejected",): 1,
        ("new",): 1,
        ("in_review",): 1,
        ("closed",): 1,
    }


async def test_breakdown_by_source(session: AsyncSession) -> None:
    counted = await cells(session, W45, CountRule(), (Dimension.SOURCE,))
    assert counted == {("fbgroup",): 1, (None,): 2}


async def test_figures_carry_the_previous_period_and_the_rule(session: AsyncSession) -> None:
    figures = await StatsRepository(session).figures(W46, CountRule())
    assert figures.current.total == 2
    assert figures.previous.period == W45
    assert figures.previous.total == 3
    assert figures.change == -1
    assert figures.current.by(Dimension.TYPE) == {"detention": 1, "search": 1}
    assert figures.rule.describe() == (
        "verified reports, duplicates excluded; by incident date; "
        "days and ISO weeks in Asia/Almaty time"
    )


async def test_a_date_range_counts_every_day_in_it(session: AsyncSession) -> None:
    month = Period.parse_range("2026-11-01", "2026-11-30")
    counts = await StatsRepository(session).count(month, CountRule())
    # Every verified, non-duplicate report: A, B, C, H, I, L and M.
    assert counts.total == 7
    assert month.previous() == Period(dt.date(2026, 10, 2), dt.date(2026, 10, 31))


def test_periods() -> None:
    assert W46.start == dt.date(2026, 11, 9)
    assert W46.end == dt.date(2026, 11, 15)
    assert W46.key == "2026-W46"
    assert Period.parse_week("2026-w46") == W46
    assert Period.parse_week("2026W46") == W46
    assert W46.previous() == W45
    assert W46.following() == W47
    # 2026 has 53 ISO weeks; the week after spans the new year.
    assert Period.parse_week("2027-W01").previous() == Period.iso_week(2026, 53)
    assert Period.iso_week(2026, 53).start == dt.date(2026, 12, 28)
    with pytest.raises(PeriodError):
        Period.parse_week("2025-W53")
    with pytest.raises(PeriodError):
        Period.parse_range("2026-11-30", "2026-11-01")
    with pytest.raises(PeriodError):
        Period.parse_range("2025-01-01", "2026-11-01")
    with pytest.raises(PeriodError):
        Period.parse_range("2026-11-01", "someday")
    assert Period.parse_range("2026-11-01", "2026-11-30").key == "2026-11-01..2026-11-30"
    assert W46.utc_bounds(ALMATY) == (
        dt.datetime(2026, 11, 8, 19, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 15, 19, tzinfo=dt.UTC),
    )


def test_last_complete_week_is_cut_in_local_time() -> None:
    # Monday 00:30 in Almaty is still Sunday in UTC: week 46 is already complete.
    assert Period.last_complete_week(local(16, 0, 30), ALMATY) == W46
    assert Period.last_complete_week(local(15, 23, 30), ALMATY) == W45
    now = local(16, 0, 30)
    assert parse_period(None, now=now, tz=ALMATY) == W46
    assert parse_period(" 2026-W45 ", now=now, tz=ALMATY) == W45
    assert parse_period("2026-11-09 2026-11-15", now=now, tz=ALMATY) == W46
    with pytest.raises(PeriodError):
        parse_period("last week please", now=now, tz=ALMATY)


# --- the queries are served by indexes ---------------------------------------------------------


def _bulk_rows(n: int) -> list[dict[str, object]]:
    """`n` reports spread over five years, so a week holds about 0.4% of them."""
    rng = random.Random(46)
    start = dt.date(2022, 1, 1)
    types = ["detention", "search", "account_freeze", "summons", "other"]
    regions = ["almaty", "astana", "shymkent", "abai", None]
    statuses = ["verified", "verified", "new", "in_review", "rejected", "duplicate"]
    rows = []
    for i in range(n):
        day = start + dt.timedelta(days=rng.randrange(5 * 365))
        created = dt.datetime.combine(day, dt.time(rng.randrange(24)), tzinfo=dt.UTC)
        rows.append(
            {
                "public_code": f"B-{i:07d}",
                "channel": "telegram",
                "incident_type": rng.choice(types),
                "region": rng.choice(regions),
                "incident_date": day,
                "urgent": False,
                "status": rng.choice(statuses),
                "language": "ru",
                "sealed_payload": b"x" * 300,
                "key_id": "k",
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


RULES = [
    CountRule(),
    CountRule(scope=Scope.UNVERIFIED_TOO),
    CountRule(scope=Scope.EVERY),
    CountRule(basis=Basis.SUBMITTED),
    CountRule(basis=Basis.SUBMITTED, scope=Scope.UNVERIFIED_TOO),
]


async def test_weekly_queries_read_an_index_not_the_table(db_engine: AsyncEngine) -> None:
    async with create_sessionmaker(db_engine)() as session, session.begin():
        await session.execute(insert(Report), _bulk_rows(10_000))
    dialect = db_engine.dialect.name
    async with db_engine.connect() as connection:
        await connection.execute(text("ANALYZE reports" if dialect == "postgresql" else "ANALYZE"))
        for rule in RULES:
            compiled = count_query(W46, rule, (Dimension.TYPE, Dimension.REGION)).compile(
                dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect(),
                compile_kwargs={"literal_binds": True},
            )
            if dialect == "postgresql":
                rows = await connection.execute(text(f"EXPLAIN {compiled}"))
                plan = "\n".join(row[0] for row in rows)
                assert "Seq Scan" not in plan, (rule, plan)
                assert " on ix_reports_" in plan, (rule, plan)
            else:
                rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
                plan = "\n".join(str(row[-1]) for row in rows)
                # SQLite may prefer the (status, incident_date) index for an equality on
                # status; either way it searches a range of an index, never the whole table.
                assert "SEARCH reports USING" in plan, (rule, plan)
                assert "SCAN reports" not in plan, (rule, plan)
