"""Shared fixtures: both databases, keys, and the bot running against the Telegram emulator."""

from __future__ import annotations

import io
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.utils import random as random_bytes

from bot.logging import KeyValueFormatter, RedactingFilter, register_secrets
from storage.db import create_engine, migrate
from storage.sealing import Keyring
from tests.postgres import PostgresServer, postgres_server_fixture, run_async

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# Loggers that could write content: everything they say is captured at DEBUG (redacted_log).
VERBOSE = ("aiogram", "sqlalchemy.engine", "sqlalchemy.pool", "aiohttp", "asyncio", "bot")


# Tests that time themselves against a budget, or drive real bot processes and PostgreSQL
# servers of their own: under pytest-xdist (`-n 2 --dist loadgroup` in pyproject.toml) one
# worker runs them one after another, so no two of them compete for the two cores at once.
SERIAL_MODULES = frozenset({"test_burst.py", "test_faults.py", "test_replicas.py"})


@pytest.hookimpl(tryfirst=True)  # before xdist's hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERIAL_MODULES or item.get_closest_marker("faults"):
            item.add_marker(pytest.mark.xdist_group("serial"))


@pytest.fixture(scope="session")
def postgres_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgresServer]:
    yield from postgres_server_fixture(tmp_path_factory, request.config)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per session (per xdist worker), to copy."""
    path = tmp_path_factory.mktemp("migrated") / "template.db"
    run_async(lambda: migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database migrated to head once per session, to copy; nobody connects to it.

    Named after the xdist worker: with REPORTBOT_TEST_POSTGRES_URL the workers share a server.
    """
    name = f"t_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    url = postgres_server.create_database(name)
    run_async(lambda: migrate(url))
    return name


# URLs that `database_url` already made as copies of a migrated template.
_COPIED: set[str] = set()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database on each backend: an SQLite file, or a fresh PostgreSQL database.

    Empty, unless the test also uses `migrated_url`: then it is already a copy of a database
    migrated to head (the same schema and rows as running the migrations, in milliseconds).
    """
    migrated = "migrated_url" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        if migrated:
            _copy_sqlite(request.getfixturevalue("sqlite_template"), path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        template = request.getfixturevalue("postgres_template") if migrated else None
        url = server.create_database(f"t_{uuid.uuid4().hex[:16]}", template=template)
    if migrated:
        _COPIED.add(url)
    return url


def _copy_sqlite(template: Path, path: Path) -> None:
    shutil.copyfile(template, path)
    for suffix in ("-wal", "-journal"):  # none after a clean close, but a copy must be whole
        if Path(f"{template}{suffix}").exists():
            shutil.copyfile(f"{template}{suffix}", f"{path}{suffix}")


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    if database_url in _COPIED:
        _COPIED.discard(database_url)
    else:  # `database_url` was set up before this test asked for `migrated_url`
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
