"""Flood and infiltration resistance: per-reporter and global limits, marks on the card, and
answers that never reveal whether someone was already reported."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.demo.emulator.telegram import TelegramEmulator
from bot.services.card_model import WAVE_LINE, WAVE_NEW_REPORTER_LINE
from bot.services.flood import CAP_REACHED, OWN_LIMIT, TOO_FAST
from handlers.telegram.keyboards import FlowAction, FlowCB
from storage.models import Draft, ProcessedUpdate, Report
from storage.sealing import Keyring
from tests.e2e import fill_report, is_consent, moderator_group, submit
from tests.safety import LIMITS, OTHER, MovableClock, bot_running, move_clock, rows

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_too_many_messages_a_minute_are_answered_once_then_dropped(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    user = emu.user(language_code="en")
    clock = MovableClock()
    async with bot_running(
        emu, migrated_url, keyring, tmp_path, clock=clock, flood_messages_per_minute=5
    ) as bot:
        for index in range(8):
            await user.send_text(f"message {index}")
        await emu.wait_for_updates_consumed()
        await emu.wait_until(lambda: TOO_FAST.msgid in [m.text for m in user.bot_messages()])
        texts = [m.text for m in user.bot_messages()]
        # Five handled (each answered with the consent notice), one warning, then silence.
        assert texts.count(TOO_FAST.msgid) == 1
        assert len(texts) == 6
        assert texts[-1] == TOO_FAST.msgid

        async def all_handled() -> bool:
            return len(await rows(migrated_url, ProcessedUpdate)) == 8

        # The last two were dropped in the same minute, and nothing more was said.
        await emu.wait_until(all_handled)
        assert len(user.bot_messages()) == 6
        # A minute later they are heard again.
        await move_clock(bot.app, clock, dt.timedelta(seconds=61))
        await user.send_text("again")
        assert is_consent(await emu.wait_for_bot_message(user))
        assert bot.app.context.policy.messages_per_minute == 5


async def test_report_limits_keep_the_draft_and_cards_carry_intake_marks(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    clock = MovableClock()
    first, second, third = (emu.user(language_code="en") for _ in range(3))
    async with bot_running(
        emu,
        migrated_url,
        keyring,
        tmp_path,
        clock=clock,
        flood_reports_per_hour=1,
        intake_reports_per_hour=2,
        wave_reports=2,
    ) as bot:
        i18n = bot.app.i18n
        # Two people report the same person: what each is told is the same, but for the code.
        receipts = []
        for user in (first, second):
            review = await fill_report(emu, i18n, user, "other", OTHER, language="en")
            await submit(emu, user, review)
            receipts.append(
                await emu.wait_for_bot_message(user, lambda m: CODE.search(m.text or ""))
            )
        assert [CODE.sub("X", r.text or "") for r in receipts] == [
            CODE.sub("X", receipts[0].text or "")
        ] * 2
        assert [r.keyboard for r in receipts] == [receipts[0].keyboard] * 2
        codes = [CODE.search(r.text or "") for r in receipts]
        cards = [
            await emu.wait_for_bot_message(
                group, lambda m, c=c: c is not None and c.group(1) in (m.text or ""), after=0
            )
            for c in codes
        ]
        # "First wrote minutes before" says something only during a wave (most people write
        # to the bot for the first time minutes before they report): one line says both.
        wave_line, both_line = (
            i18n.gettext(line, locale="ru") for line in (WAVE_LINE, WAVE_NEW_REPORTER_LINE)
        )
        assert "🌊" not in (cards[0].text or "")
        assert both_line in (cards[1].text or "") and wave_line not in (cards[1].text or "")

        # The same reporter again within the hour: refused, and the report waits on the screen.
        review = await fill_report(emu, i18n, first, "other", OTHER, language="en")
        query = await first.press(review, FlowCB(action=FlowAction.SUBMIT).pack())
        refused = await emu.wait_for_callback_answer(query)
        assert refused.show_alert
        assert refused.text == i18n.gettext(*OWN_LIMIT, 1, locale="en").format(limit=1)
        assert len(await rows(migrated_url, Report)) == 2
        assert len(await rows(migrated_url, Draft)) == 1
        # Someone new, while everyone together reached the hourly cap: not refused (a few
        # scripted accounts must not lock real reporters out), and the moderators are told.
        review3 = await fill_report(emu, i18n, third, "other", OTHER, language="en")
        await submit(emu, third, review3)
        await emu.wait_for_bot_message(third, lambda m: CODE.search(m.text or ""))
        alarm = i18n.gettext(CAP_REACHED, locale="ru").format(limit=2)
        await emu.wait_for_bot_message(group, lambda m: m.text == alarm, after=0)

        # An hour later the kept report goes with one press, now without the "new" mark.
        await move_clock(bot.app, clock, dt.timedelta(minutes=61))
        await submit(emu, first, review)
        await emu.wait_for_bot_message(first, lambda m: CODE.search(m.text or ""))
        reports = await rows(migrated_url, Report)
        assert [r.intake_flags for r in reports] == [
            "new_reporter",
            "new_reporter,wave",
            "new_reporter,wave",
            None,
        ]
