"""Flood limits an account cannot reset by erasing itself (issue 14, finding 3)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.demo.emulator.handles import UserHandle
from bot.demo.emulator.telegram import TelegramEmulator
from bot.services.flood import OWN_LIMIT
from handlers.telegram.keyboards import FlowAction, FlowCB, ForgetCB
from storage.models import FloodMark, Report
from storage.sealing import Keyring
from tests.e2e import fill_report, moderator_group, submit
from tests.safety import LIMITS, OTHER, bot_running, rows

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def forget(emu: TelegramEmulator, user: UserHandle) -> None:
    await user.send_command("/forget")
    prompt = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
    await user.press(prompt, ForgetCB(answer="yes").pack())
    await emu.wait_until(lambda: prompt.keyboard == [])


async def test_forget_does_not_reset_the_hourly_report_limit(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    moderator_group(emu)
    user = emu.user(language_code="en")
    async with bot_running(emu, migrated_url, keyring, tmp_path, flood_reports_per_hour=1) as bot:
        i18n = bot.app.i18n
        review = await fill_report(emu, i18n, user, "other", OTHER, language="en")
        await submit(emu, user, review)
        await emu.wait_for_bot_message(user, lambda m: CODE.search(m.text or ""))
        refusals: list[str | None] = []
        for _ in range(2):
            await forget(emu, user)
            again = await fill_report(emu, i18n, user, "other", OTHER, language="en")
            query = await user.press(again, FlowCB(action=FlowAction.SUBMIT).pack())
            refusals.append((await emu.wait_for_callback_answer(query)).text)
        limit_text = i18n.gettext(*OWN_LIMIT, 1, locale="en").format(limit=1)
        assert refusals == [limit_text, limit_text]
        assert len(await rows(migrated_url, Report)) == 1
        (mark,) = await rows(migrated_url, FloodMark)
        assert len(mark.account) == 32  # a keyed hash, nothing of the report
