"""A report's source is an m.me ref only when it is on the MESSENGER_SOURCES allow-list (issue
14, finding 11): a link tagged for one person must not name them in the database or in stats.
WEBHOOK_SECRET has a minimum length (Low list)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.settings import ConfigError, load_settings
from storage.db import create_engine, create_sessionmaker
from storage.models import Report
from storage.sealing import Keyring
from tests.messenger_e2e import begin, fill_report, messenger_bot, submit
from tests.test_messenger import ANSWERS


async def sources_of(url: str) -> list[str | None]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.scalars(select(Report.source).order_by(Report.id))).all())
    finally:
        await engine.dispose()


async def test_a_personal_ref_is_not_stored_and_a_listed_one_is(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    async with messenger_bot(
        migrated_url, keyring, tmp_path, messenger_sources="group_pin, channel"
    ) as m:
        for ref in ("for_aigerim_b_0412", "group_pin"):
            user = m.graph.user(locale="ru_RU")
            await begin(m, user, ref=ref)
            review = await fill_report(m, user, "detention", ANSWERS["detention"], language="ru")
            await submit(m, user, review)
    assert await sources_of(migrated_url) == [None, "group_pin"]


def test_a_short_webhook_secret_is_refused() -> None:
    settings = load_settings(webhook_base_url="https://bot.example.org", webhook_secret="x")
    with pytest.raises(ConfigError, match="too short"):
        settings.require_for_webhook()
    load_settings(
        webhook_base_url="https://bot.example.org", webhook_secret="A" * 32
    ).require_for_webhook()
