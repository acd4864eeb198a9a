"""A canary report: its name, phone, address and text are nowhere in clear in the database or logs.

Every table is read raw (on SQLite the database files themselves, WAL included; on both backends
every row as text), and every log line written while the report went through the bot, with
aiogram, SQLAlchemy (statements, parameters and rows) and aiohttp at DEBUG: both as the records
were emitted, and as the redacting handler `reportbot run` installs writes them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from sqlalchemy import select

from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from storage.db import create_engine, create_sessionmaker
from storage.models import Base, Report
from storage.sealing import Keyring, open_sealed
from tests.e2e import TOKEN, fill_report, moderator_group, running_bot, submit
from tests.safety import CANARY_MAKE, dump_database, jpeg_with_gps

CANARY_NAME = "Canaryname Zhanbolatuly"
CANARY_TEXT = "canary-free-text-7f3a9c: they took him from Abai street"
CANARY_CONTACT = "+7 701 555 0199 canary-contact"
CANARY_PLACE = "canary-place-Satpaev-22"
CANARY_LAST_NAME = "Canarylastname"
CANARY_USERNAME = "canary_user_handle"
USER_ID = 731_000_555
CANARIES = (
    CANARY_NAME,
    CANARY_TEXT,
    CANARY_CONTACT,
    CANARY_PLACE,
    CANARY_LAST_NAME,
    CANARY_USERNAME,
    CANARY_MAKE,
    str(USER_ID),
)


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(
        rate_limits=RateLimitConfig(private_per_second=10, private_burst=30)
    ) as emulator:
        yield emulator


async def test_canaries_are_sealed_and_never_logged(
    emu: TelegramEmulator,
    migrated_url: str,
    keyring: Keyring,
    org_private_key: PrivateKey,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    redacted_log: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG)
    group = moderator_group(emu)
    user = emu.user(
        user_id=USER_ID,
        first_name="Canary",
        last_name=CANARY_LAST_NAME,
        username=CANARY_USERNAME,
        language_code="ru",
    )
    answers = {
        "relation": ("pick", "self"),
        "subject": CANARY_NAME,
        "when": "сегодня 8:00",
        "region": ("pick", "almaty"),
        "place": CANARY_PLACE,
        "account": CANARY_TEXT,
        "media": ("photo", jpeg_with_gps()),
        "contact": ("pick", "other"),
        "contact_other": CANARY_CONTACT,
        "consent": ("pick", "statistics"),
    }
    async with running_bot(emu, migrated_url, keyring, tmp_path) as bot:
        review = await fill_report(emu, bot.app.i18n, user, "detention", answers, language="ru")
        await submit(emu, user, review)
        card = await emu.wait_for_bot_message(group, lambda m: CANARY_NAME in (m.text or ""))
        assert CANARY_TEXT in (card.text or "")
        await emu.wait_for_bot_message(group, lambda m: m.kind == "photo")
        await emu.wait_for_bot_message(user, lambda m: "D-" in (m.text or ""))

    dump, tables = await dump_database(migrated_url)
    assert set(Base.metadata.tables) <= tables  # every table, the new ones included
    for canary in CANARIES:
        assert canary.encode() not in dump, canary
        assert canary.encode().hex() not in dump.decode("latin-1"), canary
    raw = caplog.text
    written = redacted_log.getvalue()
    assert "sqlalchemy.engine" in written  # statements and parameters were logged
    assert "aiogram" in written
    for canary in CANARIES:
        assert canary not in raw, canary  # nothing logs content, even before the filter
        assert canary not in written, canary
    assert TOKEN not in written

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
    assert opened["answers"]["place"] == CANARY_PLACE
    assert report.region == "almaty"
    assert report.consent == "statistics"
