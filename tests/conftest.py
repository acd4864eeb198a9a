"""Shared fixtures: both databases, keys, and the bot running against the Telegram emulator."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.utils import random as random_bytes

from bot.logging import KeyValueFormatter, RedactingFilter, register_secrets
from storage.db import create_engine, migrate
from storage.sealing import Keyring
from tests.postgres import PostgresServer, postgres_server_fixture

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# Loggers that could write content: everything they say is captured at DEBUG (redacted_log).
VERBOSE = ("aiogram", "sqlalchemy.engine", "sqlalchemy.pool", "aiohttp", "asyncio", "bot")


@pytest.fixture(scope="session")
def postgres_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgresServer]:
    yield from postgres_server_fixture(tmp_path_factory, request.config)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await migrate(database_url)
    return database_url


@pytest.fixture
async def db_engine(migrated_url: str) -> AsyncIterator[object]:
    engine = create_engine(migrated_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def org_private_key() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture
def keyring(org_private_key: PrivateKey) -> Keyring:
    return Keyring(
        org_public=org_private_key.public_key,
        server_key=random_bytes(32),
        subject_key=random_bytes(32),
    )


@pytest.fixture
def redacted_log() -> Iterator[io.StringIO]:
    """The handler `reportbot run` installs, beside pytest's own, with everything at DEBUG."""
    from tests.e2e import TOKEN  # noqa: PLC0415 - the bot's whole harness, only when asked

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    levels = {name: logging.getLogger(name).level for name in VERBOSE}
    for name in VERBOSE:
        logging.getLogger(name).setLevel(logging.DEBUG)
    register_secrets([TOKEN])  # as the CLI does with BOT_TOKEN
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
