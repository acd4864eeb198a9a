"""A canary report: its name, text and contact are nowhere in clear in the database or logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from storage.db import create_engine, create_sessionmaker
from storage.models import Report
from storage.sealing import Keyring, open_sealed
from tests.e2e import fill_report, moderator_group, running_bot, submit
from tests.emulator.ratelimit import RateLimitConfig
from tests.emulator.telegram import TelegramEmulator

CANARY_NAME = "Canaryname Zhanbolatuly"
CANARY_TEXT = "canary-free-text-7f3a9c: they took him from Abai street"
CANARY_CONTACT = "+7 701 555 0199 canary-contact"
CANARY_PLACE = "canary-place-Satpaev-22"
USER_ID = 731_000_555


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(
        rate_limits=RateLimitConfig(private_per_second=10, private_burst=30)
    ) as emulator:
        yield emulator


async def _dump_database(url: str) -> bytes:
    """Every row of every table as the database stores it (SQLite: the files themselves)."""
    if make_url(url).get_backend_name() == "sqlite":
        database = Path(str(make_url(url).database))
        return b"".join(
            path.read_bytes() for path in (database, Path(f"{database}-wal")) if path.exists()
        )
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            # Table names come from the database's own catalog, not from input.
            queries = [text(f'SELECT t::text FROM "{table}" t') for table in tables]  # noqa: S608
            chunks = [repr((await connection.execute(query)).all()) for query in queries]
    finally:
        await engine.dispose()
    return "\n".join(chunks).encode()


async def test_canaries_are_sealed_and_never_logged(
    emu: TelegramEmulator,
    migrated_url: str,
    keyring: Keyring,
    org_private_key: PrivateKey,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    group = moderator_group(emu)
    user = emu.user(user_id=USER_ID, first_name="Canary", language_code="ru")
    answers = {
        "relation": ("pick", "self"),
        "subject": CANARY_NAME,
        "when": "сегодня 8:00",
        "region": ("pick", "almaty"),
        "place": CANARY_PLACE,
        "account": CANARY_TEXT,
        "media": "done",
        "contact": ("pick", "other"),
        "contact_other": CANARY_CONTACT,
        "consent": ("pick", "statistics"),
    }
    async with running_bot(emu, migrated_url, keyring, tmp_path) as bot:
        review = await fill_report(emu, bot.app.i18n, user, "detention", answers, language="ru")
        await submit(emu, user, review)
        card = await emu.wait_for_bot_message(group, lambda m: CANARY_NAME in (m.text or ""))
        assert CANARY_TEXT in (card.text or "")
        await emu.wait_for_bot_message(user, lambda m: "D-" in (m.text or ""))

    dump = await _dump_database(migrated_url)
    for canary in (CANARY_NAME, CANARY_TEXT, CANARY_CONTACT, CANARY_PLACE, str(USER_ID)):
        assert canary.encode() not in dump, canary
        assert canary.encode().hex() not in dump.decode("latin-1"), canary
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the bot did log its work
    for canary in (CANARY_NAME, CANARY_TEXT, CANARY_CONTACT, CANARY_PLACE, str(USER_ID)):
        assert canary not in logged, canary

    # The organisation, and only the organisation, can read it back.
    engine = create_engine(migrated_url)
    try:
        async with create_sessionmaker(engine)() as session:
            report = (await session.execute(select(Report))).scalar_one()
    finally:
        await engine.dispose()
    opened = open_sealed(org_private_key, report.sealed_payload)
    assert opened["answers"]["subject"] == CANARY_NAME
    assert opened["answers"]["contact_other"] == CANARY_CONTACT
    assert report.region == "almaty"
    assert report.consent == "statistics"
