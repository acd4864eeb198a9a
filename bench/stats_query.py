"""The weekly counting query on a million reports, against a full scan of the same table.

    uv run python bench/stats_query.py [--rows 1000000] [--repeat 15] [--backend sqlite|postgres]

For each backend: migrate an empty database, bulk-load `--rows` reports spread over five years
(about 3,800 a week, statuses mixed as a busy archive would have them), then time each counting
rule of storage/stats.py for one week, first as the application runs it (the planner picks the
indexes of migration 0002), then forced to read the whole table (SQLite `NOT INDEXED`;
PostgreSQL with index and bitmap scans disabled). Both are measured in the same run on the same
data, and the ratio is printed. Not run in CI: it needs a few minutes and a few GB of disk.
PostgreSQL is the server the test suite starts (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402

import handlers  # noqa: E402, F401 - loads the package before bot.* to keep import order simple
from storage.db import migrate  # noqa: E402
from storage.stats import (  # noqa: E402
    DEFAULT_DIMENSIONS,
    Basis,
    CountRule,
    Dimension,
    Period,
    Scope,
    count_query,
)
from tests.postgres import start_postgres  # noqa: E402

FIRST_DAY = dt.date(2022, 1, 3)
DAYS = 5 * 364
WEEK = Period.iso_week(2024, 24)  # a week in the middle of the data
TYPES = ["detention", "search", "account_freeze", "summons", "other"]
REGIONS = ["astana", "almaty", "shymkent", "abai", "akmola", "aktobe", "almaty_region", "atyrau",
           "east_kazakhstan", "jambyl", "jetisu", "karaganda", "kostanay", "kyzylorda",
           "mangystau", "north_kazakhstan", "pavlodar", "turkistan", "ulytau", "west_kazakhstan",
           "abroad", "undisclosed", None]  # fmt: skip
STATUSES = ["verified"] * 45 + ["new"] * 15 + ["in_review"] * 10 + ["needs_info"] * 5
STATUSES += ["duplicate"] * 10 + ["rejected"] * 10 + ["closed"] * 5
PAYLOAD_BYTES = 400  # a sealed answer set is a few hundred bytes to a few KB

CASES: list[tuple[str, CountRule, tuple[Dimension, ...]]] = [
    ("weekly (verified, incident date)", CountRule(), DEFAULT_DIMENSIONS),
    ("unverified included", CountRule(scope=Scope.UNVERIFIED_TOO), DEFAULT_DIMENSIONS),
    ("by status (every report)", CountRule(scope=Scope.EVERY), (Dimension.STATUS,)),
    ("by submission date", CountRule(basis=Basis.SUBMITTED), DEFAULT_DIMENSIONS),
    ("by source", CountRule(), (Dimension.SOURCE,)),
]


def generate(rows: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(2026)
    payload = os.urandom(PAYLOAD_BYTES)
    for i in range(1, rows + 1):
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        delay = dt.timedelta(days=rng.choice((0, 0, 0, 1, 2, 9)), seconds=rng.randrange(86400))
        created = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + delay
        status = rng.choice(STATUSES)
        duplicate_of = rng.randrange(1, i) if status == "duplicate" and i > 1 else None
        source = "fbgroup" if rng.random() < 0.2 else None
        yield (
            i,
            f"B-{i:07d}",
            "telegram",
            source,
            rng.choice(TYPES),
            rng.choice(REGIONS),
            day,
            False,
            status,
            "ru",
            duplicate_of,
            payload,
            "bench",
            created,
            created,
        )


COLUMNS = (
    "id, public_code, channel, source, incident_type, region, incident_date, urgent, status, "
    "language, duplicate_of_id, sealed_payload, key_id, created_at, updated_at"
)


def timed(run: Callable[[], Any], repeat: int) -> float:
    """Median seconds of `repeat` runs after one warm-up run."""
    run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(backend: str, results: list[tuple[str, float, float, str]]) -> None:
    print(f"\n{backend}")
    print(f"  {'query':34} {'indexed':>10} {'full scan':>10} {'ratio':>8}  plan")
    for name, indexed, full, plan in results:
        ratio = full / indexed
        print(f"  {name:34} {indexed * 1e3:8.2f}ms {full * 1e3:8.1f}ms {ratio:7.0f}x  {plan}")


# --- SQLite ------------------------------------------------------------------------------------


def bench_sqlite(rows: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
        connection = sqlite3.connect(path)
        start = time.perf_counter()
        with connection:
            connection.executemany(
                f"INSERT INTO reports ({COLUMNS}) VALUES ({', '.join('?' * 15)})",  # noqa: S608
                (
                    (*row[:6], row[6].isoformat(), *row[7:13], _sqlite_time(row[13]),
                     _sqlite_time(row[14]))
                    for row in generate(rows)
                ),
            )  # fmt: skip
        connection.execute("ANALYZE")
        print(f"sqlite: loaded {rows} reports in {time.perf_counter() - start:.0f}s")
        results = []
        for name, rule, dimensions in CASES:
            sql = str(
                count_query(WEEK, rule, dimensions).compile(
                    dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
                )
            )
            full_sql = sql.replace("FROM reports", "FROM reports NOT INDEXED", 1)
            plan = " / ".join(
                str(row[-1]) for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}")
            )
            indexed = timed(lambda sql=sql: connection.execute(sql).fetchall(), repeat)
            full = timed(
                lambda sql=full_sql: connection.execute(sql).fetchall(), max(3, repeat // 5)
            )
            assert connection.execute(sql).fetchall() == connection.execute(full_sql).fetchall()
            results.append((name, indexed, full, plan))
        connection.close()
        report(f"SQLite {sqlite3.sqlite_version}, {rows} reports", results)


def _sqlite_time(value: dt.datetime) -> str:
    # The format SQLAlchemy's SQLite DateTime type stores (UTC, as the UTCDateTime column does).
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# --- PostgreSQL --------------------------------------------------------------------------------


async def bench_postgres(rows: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = start_postgres(Path(folder))
        try:
            url = server.create_database("bench_stats")
            await migrate(url)
            # No statement cache: a cached plan would survive the planner settings below and
            # time the indexed plan twice.
            connection = await asyncpg.connect(
                server.dsn_for("bench_stats"), statement_cache_size=0
            )
            start = time.perf_counter()
            await connection.copy_records_to_table(
                "reports", records=generate(rows), columns=[c.strip() for c in COLUMNS.split(",")]
            )
            # VACUUM sets the visibility map (index-only scans), ANALYZE the statistics.
            await connection.execute("VACUUM ANALYZE reports")
            print(f"postgres: loaded {rows} reports in {time.perf_counter() - start:.0f}s")
            version = await connection.fetchval("SHOW server_version")
            results = []
            for name, rule, dimensions in CASES:
                sql = str(
                    count_query(WEEK, rule, dimensions).compile(
                        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                    )
                )
                plan = await _plan(connection, sql)
                indexed = await _timed_pg(connection, sql, repeat)
                await connection.execute(
                    "SET enable_indexscan = off; SET enable_indexonlyscan = off; "
                    "SET enable_bitmapscan = off"
                )
                full_plan = await _plan(connection, sql)
                assert "Seq Scan" in full_plan, full_plan
                full = await _timed_pg(connection, sql, max(3, repeat // 5))
                await connection.execute("RESET ALL")
                results.append((name, indexed, full, plan))
            await connection.close()
            report(f"PostgreSQL {version}, {rows} reports", results)
        finally:
            server.stop()


async def _plan(connection: asyncpg.Connection, sql: str) -> str:
    lines = [row[0] for row in await connection.fetch(f"EXPLAIN {sql}")]
    scans = [line.strip().split("  (")[0].lstrip("-> ") for line in lines if "Scan" in line]
    return " / ".join(scans)


async def _timed_pg(connection: asyncpg.Connection, sql: str, repeat: int) -> float:
    await connection.fetch(sql)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await connection.fetch(sql)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    print(f"week {WEEK.key}; {args.rows} reports over {DAYS} days from {FIRST_DAY}")
    if args.backend in ("sqlite", "both"):
        bench_sqlite(args.rows, args.repeat)
    if args.backend in ("postgres", "both"):
        asyncio.run(bench_postgres(args.rows, args.repeat))


if __name__ == "__main__":
    main()
