"""Self-test of tests/postgres.py: the suite really gets a working PostgreSQL server."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.postgres import (
    ENV_MODE,
    ENV_URL,
    PostgresServer,
    postgres_server_fixture,
    start_postgres,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="session")
def _pg_for_selftest(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgresServer]:
    yield from postgres_server_fixture(tmp_path_factory, request.config)


async def _scalar(url: str, query: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(query))).scalar_one()
    finally:
        await engine.dispose()


async def test_server_answers_and_source_matches_mode(_pg_for_selftest: PostgresServer) -> None:
    server = _pg_for_selftest
    assert server.url.startswith("postgresql+asyncpg://")
    assert server.dsn.startswith("postgresql://")
    assert re.fullmatch(r"env|(system|pgserver) \d+(\.\d+)*\S*", server.source), server.source

    version = await _scalar(server.url, "select version()")
    assert isinstance(version, str)
    assert version.startswith("PostgreSQL ")

    conn = await asyncpg.connect(server.dsn)  # the plain DSN works for asyncpg too
    try:
        assert await conn.fetchval("select current_user") is not None
    finally:
        await conn.close()

    if os.environ.get(ENV_URL):
        assert server.source == "env"
    else:
        mode = os.environ.get(ENV_MODE, "auto")
        if mode in ("system", "pgserver"):
            assert server.source.startswith(f"{mode} ")
        # a real cluster of our own only listens on loopback, tuned for speed
        assert await _scalar(server.url, "show listen_addresses") == "127.0.0.1"
        assert await _scalar(server.url, "show fsync") == "off"
        assert await _scalar(server.url, "show synchronous_commit") == "off"


async def test_create_database_gives_separate_databases(_pg_for_selftest: PostgresServer) -> None:
    url_a = _pg_for_selftest.create_database("selftest_a")
    url_b = _pg_for_selftest.create_database("selftest_b")
    assert url_a != url_b
    assert url_a.startswith("postgresql+asyncpg://")

    engine_a, engine_b = create_async_engine(url_a), create_async_engine(url_b)
    try:
        async with engine_a.begin() as conn:
            await conn.execute(text("create table only_in_a (id int primary key)"))
            await conn.execute(text("insert into only_in_a values (1)"))
        async with engine_a.connect() as conn:
            assert (await conn.execute(text("select current_database()"))).scalar() == "selftest_a"
            assert (await conn.execute(text("select count(*) from only_in_a"))).scalar() == 1
        async with engine_b.connect() as conn:
            assert (await conn.execute(text("select current_database()"))).scalar() == "selftest_b"
            missing = await conn.execute(text("select to_regclass('only_in_a')"))
            assert missing.scalar() is None
    finally:
        await engine_a.dispose()
        await engine_b.dispose()


async def test_create_database_again_starts_empty(_pg_for_selftest: PostgresServer) -> None:
    server = _pg_for_selftest
    url = server.create_database("selftest_again")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table leftover (id int)"))
    finally:
        await engine.dispose()

    holder = await asyncpg.connect(server.dsn_for("selftest_again"))
    try:  # a connection left open (e.g. by a crashed test) must not block re-creating
        assert server.create_database("selftest_again") == url
    finally:
        holder.terminate()

    assert await _scalar(url, "select to_regclass('leftover') is null") is True


def test_create_database_rejects_unsafe_names(_pg_for_selftest: PostgresServer) -> None:
    for bad in ('x"; drop database postgres; --', "Upper", "", "a" * 64, "1abc"):
        with pytest.raises(ValueError, match="database name"):
            _pg_for_selftest.create_database(bad)


async def test_for_update_skip_locked_across_connections(_pg_for_selftest: PostgresServer) -> None:
    engine = create_async_engine(_pg_for_selftest.create_database("selftest_locks"))
    claim = text("select id from jobs order by id limit 1 for update skip locked")
    unclaimed = text("select id from jobs order by id for update skip locked")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table jobs (id int primary key)"))
            await conn.execute(text("insert into jobs values (1), (2), (3)"))

        async with engine.connect() as first, engine.connect() as second:
            assert (await first.execute(claim)).scalar_one() == 1
            assert (await second.execute(claim)).scalar_one() == 2  # row 1 is skipped, not awaited

            with pytest.raises(DBAPIError) as err:
                await second.execute(text("select id from jobs where id = 1 for update nowait"))
            assert getattr(err.value.orig, "sqlstate", None) == "55P03"  # lock_not_available
            await second.rollback()  # releases row 2

            assert (await second.execute(unclaimed)).scalars().all() == [2, 3]
            await second.rollback()
            await first.commit()  # releases row 1
            assert (await second.execute(unclaimed)).scalars().all() == [1, 2, 3]
            await second.rollback()
    finally:
        await engine.dispose()


async def test_stop_is_idempotent_and_stops_the_server(tmp_path) -> None:
    server = start_postgres(tmp_path)
    try:
        assert await _scalar(server.url, "select 1") == 1
    finally:
        server.stop()
    server.stop()  # second call is a no-op

    if server.source == "env":  # an existing server is never stopped
        assert await _scalar(server.url, "select 1") == 1
    else:
        with pytest.raises(OSError):
            await asyncpg.connect(server.dsn, timeout=5)
        assert (tmp_path / "postgres.log").exists()


def test_unknown_mode_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(ENV_MODE, "sqlite")
    with pytest.raises(ValueError, match=ENV_MODE):
        start_postgres(tmp_path)
