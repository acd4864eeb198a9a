"""End to end: `/stats` and the weekly digest through the real bot and the Telegram emulator."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import create_app, run_polling
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.jobs.digest import DIGEST_KIND, due_week
from bot.reporting.figures import period_title
from bot.settings import load_settings
from handlers.engine.render import Translator
from storage.db import create_engine, create_sessionmaker
from storage.models import Report, StaffRole, utcnow
from storage.repositories import StaffRepository
from storage.schedule import ScheduledRuns
from storage.sealing import Keyring
from storage.stats import Period
from tests.e2e import MODERATOR_CHAT_ID, TOKEN, RunningBot, moderator_group, start_bot

ALMATY = ZoneInfo("Asia/Almaty")
COORDINATOR_ID = 5_000_001
ADMIN_ID = 5_000_002
COORDINATOR_CHAT_ID = -1001555000222


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def _seed(url: str, *, coordinator: int | None = None) -> None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            if coordinator is not None:
                await StaffRepository(session).set_role(coordinator, StaffRole.COORDINATOR)
            for code, kind, region, day, status in [
                ("D-AAAA", "detention", "almaty", 10, "verified"),
                ("D-CCCC", "detention", "almaty", 11, "verified"),
                ("S-DDDD", "search", "astana", 12, "verified"),
                ("C-EEEE", "summons", "almaty", 13, "new"),  # not verified: not counted
            ]:
                session.add(
                    Report(
                        public_code=code,
                        channel="telegram",
                        incident_type=kind,
                        region=region,
                        incident_date=dt.date(2026, 11, day),
                        status=status,
                        language="ru",
                        sealed_payload=b"sealed",
                        key_id="k",
                    )
                )
    finally:
        await engine.dispose()


def _file(emu: TelegramEmulator, message: EmuMessage) -> bytes:
    assert message.file_id is not None
    stored = emu.files.get(message.file_id)
    assert stored is not None
    return stored.data


async def _expect_figures(
    emu: TelegramEmulator, chat: object, heading: str
) -> tuple[EmuMessage, bytes]:
    table = await emu.wait_for_bot_message(chat, lambda m: heading in (m.text or ""), timeout=15)
    photo = await emu.wait_for_bot_message(chat, lambda m: m.kind == "photo", timeout=15)
    document = await emu.wait_for_bot_message(chat, lambda m: m.kind == "document", timeout=15)
    assert photo.photo is not None
    assert document.document is not None
    assert str(document.document["file_name"]).endswith(".csv")
    return table, _file(emu, document)


async def test_coordinators_get_the_table_chart_and_csv_and_others_are_refused(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    await _seed(migrated_url, coordinator=COORDINATOR_ID)
    bot = await start_bot(emu, migrated_url, keyring, tmp_path, admin_ids=str(ADMIN_ID))
    try:
        i18n = bot.app.i18n
        coordinator = emu.user(COORDINATOR_ID, "Coordinator", language_code="en")
        admin = emu.user(ADMIN_ID, "Admin", language_code="en")
        outsider = emu.user(first_name="Someone", language_code="en")

        # In the moderator chat, in the moderators' language (Russian by default).
        await coordinator.send_command("/stats", "2026-W46", chat=group)
        heading = period_title(Period.iso_week(2026, 46), Translator(i18n, "ru", ALMATY))
        table, data = await _expect_figures(emu, group, heading)
        text = table.text or ""
        assert "46" in text
        assert i18n.gettext("Almaty", locale="ru") in text
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert {(r["incident_type"], r["region"], r["count"]) for r in rows} == {
            ("detention", "almaty", "2"),
            ("search", "astana", "1"),
        }

        await outsider.send_command("/stats", chat=group)
        refusal = await emu.wait_for_bot_message(group)
        assert refusal.text == i18n.gettext(
            "Sorry, figures are only for the coalition's coordinators. "
            "If you should have access, ask an admin.",
            locale="ru",
        )

        # In a private chat, in the reader's language; ADMIN_IDS may see figures too.
        await admin.send_command("/stats", "2026-11-01 2026-11-30")
        table, data = await _expect_figures(emu, admin, "From November 1, 2026")
        assert "In total 3 reports" in (table.text or "")
        assert "Counted: verified reports, duplicates excluded" in (table.text or "")

        await outsider.send_command("/stats")
        refusal = await emu.wait_for_bot_message(outsider)
        assert (refusal.text or "").startswith("Sorry, figures are only for")
        assert [m.kind for m in emu.bot_messages(outsider)] == ["text"]

        await coordinator.send_command("/stats", "next week")
        usage = await emu.wait_for_bot_message(coordinator)
        assert (usage.text or "").startswith("I could not read that period.")
    finally:
        await bot.shutdown()


def _next_monday_nine(after: dt.datetime) -> dt.datetime:
    local = after.astimezone(ALMATY)
    monday = local.date() + dt.timedelta(days=(7 - local.weekday()) % 7 or 7)
    return dt.datetime.combine(monday, dt.time(9, 1), tzinfo=ALMATY)


async def test_weekly_digest_reaches_the_coordinator_chat(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    moderator_group(emu)
    coordinators = emu.create_group("Coordinators", chat_id=COORDINATOR_CHAT_ID)
    # The bot's clock stands at the next Monday 09:01 in Almaty and runs on from there. It is
    # ahead of the real time, which the outbox stamps its rows with, so the digest is due at once.
    started, monday = utcnow(), _next_monday_nine(utcnow())

    def clock() -> dt.datetime:
        return monday + (utcnow() - started)

    week = due_week(monday, ALMATY)
    engine = create_engine(migrated_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            # The digest ran last week: this week's is the next one due.
            await ScheduledRuns(session, DIGEST_KIND).record_baseline(
                week.previous().key, now=started
            )
    finally:
        await engine.dispose()

    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emu.base_url,
        database_url=migrated_url,
        moderator_chat_id=MODERATOR_CHAT_ID,
        coordinator_chat_id=COORDINATOR_CHAT_ID,
        data_dir=tmp_path,
        moderator_language="en",
    )
    app = create_app(settings, keyring, clock=clock)
    app.worker.poll_interval = 0.2
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(app, stop=stop, handle_signals=False))
    bot = RunningBot(app, stop, task)
    try:
        digest = await emu.wait_for_bot_message(
            coordinators, lambda m: "Weekly digest" in (m.text or ""), timeout=20
        )
        assert f"Week {week.start.isocalendar()[1]} of" in (digest.text or "")
        await emu.wait_until(lambda: len(emu.bot_messages(coordinators)) == 6, timeout=20)
        kinds = [m.kind for m in emu.bot_messages(coordinators)]
        assert kinds == ["text", "photo", "document", "text", "text", "text"]
        posts = emu.bot_messages(coordinators)[3:]
        assert "Text for the Facebook group, in Kazakh:" in (posts[0].text or "")
        assert "Text for the Facebook group, in English:" in (posts[2].text or "")
        assert emu.bot_messages(MODERATOR_CHAT_ID) == []
    finally:
        await bot.shutdown()
