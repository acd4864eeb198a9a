"""Database engine, sessions and migrations."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
# pg_advisory_lock key held while migrating: replicas started together migrate one at a time.
MIGRATION_LOCK_KEY = 0x7265706F72740001

log = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; on SQLite, set it up for one writer and many readers."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would BEGIN lazily (DEFERRED); we issue BEGIN
        # ourselves below so that the whole update's transaction holds the write lock from the
        # start. A deferred read-then-write transaction in WAL mode fails at once with
        # SQLITE_BUSY when another writer committed in between, and busy_timeout cannot help.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted and overwritten content is zeroed in the file, not left in free pages: an
        # erased reporter's lookup hash and chat id must not be readable from a copied disk
        # (sqlite.org/pragma.html#pragma_secure_delete). The WAL is scrubbed by scrub_sqlite.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def scrub_sqlite(engine: AsyncEngine) -> bool:
    """Copy the write-ahead log into the database and truncate it to zero bytes, so that what
    an erasure removed is not left in old WAL frames (sqlite.org/pragma.html#pragma_wal_checkpoint).
    Run outside any transaction; True when SQLite did it (False elsewhere, or while a reader
    keeps it from finishing: the next pass tries again)."""
    if engine.dialect.name != "sqlite":
        return False
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        # TRUNCATE waits for readers and holds new writers back meanwhile: a second at most,
        # then the next pass tries again, rather than the connection's 30 s.
        await driver.execute("PRAGMA busy_timeout=1000")
        try:
            cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = await cursor.fetchone()
            await cursor.close()
        finally:
            await driver.execute("PRAGMA busy_timeout=30000")
    return row is not None and row[0] == 0


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def _upgrade(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (Alembic runs its own event loop in a thread).

    On PostgreSQL an advisory lock is held meanwhile: two replicas starting at once would
    otherwise both run the same DDL, and the second would fail half-way.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_upgrade, url, revision)
        return
    engine = create_async_engine(url)
    try:
        async with engine.connect() as lock:
            await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await lock.commit()  # the lock belongs to the session, not to a transaction
            try:
                await asyncio.to_thread(_upgrade, url, revision)
            finally:
                await lock.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                await lock.commit()
    finally:
        await engine.dispose()


async def wait_for_database(
    url: str,
    stop: asyncio.Event | None = None,
    *,
    first_delay: float = 1.0,
    max_delay: float = 30.0,
) -> bool:
    """Wait until the database answers, retrying with growing pauses; False if stopped first.

    A bot started while its database is down waits instead of exiting: under systemd or Docker
    an exit would only restart it, again and again, until the database came back.
    """
    engine = create_engine(url)
    delay = first_delay
    try:
        while True:
            try:
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # any failure to connect is retried: that is the point
                log.warning(
                    "database unreachable (%s); trying again in %.0f s", type(exc).__name__, delay
                )
            if stop is None:
                await asyncio.sleep(delay)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return False
                except TimeoutError:
                    pass
            delay = min(delay * 2, max_delay)
    finally:
        await engine.dispose()


async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(_downgrade, url, revision)
