"""An unknown button pressed in a reporter's private chat leaves nothing of them in the audit
trail (issue 14, finding 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.demo.emulator.telegram import TelegramEmulator
from storage.models import ModerationEvent
from storage.sealing import Keyring
from tests.e2e import moderator_group
from tests.safety import LIMITS, agree, bot_running, dump_database, rows


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_an_old_button_in_a_private_chat_writes_no_audit_row(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    moderator_group(emu)
    user = emu.user(710_000_123, "Zhanar Canary", language_code="en")
    async with bot_running(emu, migrated_url, keyring, tmp_path):
        menu = await agree(emu, user)
        # Button data an older version of the bot wrote (or a forged one).
        query = await user.press(menu, "oldflow:7:back", force=True)
        assert (await emu.wait_for_callback_answer(query)).show_alert
    assert await rows(migrated_url, ModerationEvent) == []
    dump, _ = await dump_database(migrated_url)
    assert b"710000123" not in dump and b"Zhanar" not in dump
