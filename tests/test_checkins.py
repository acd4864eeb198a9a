"""Check-ins after a summons (safe, need help, silence), re-announced urgent cards, and status
messages to reporters, on a clock the test moves."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import safety_jobs_for
from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.telegram import TelegramEmulator
from bot.services.checkins import ASK, CheckinScheduler
from bot.services.moderation import STATUS_NOTICES
from handlers.telegram.cards import ModCB
from handlers.telegram.keyboards import CheckinCB
from storage.models import Checkin, CheckinState, Outbox
from storage.sealing import Keyring
from tests.e2e import RunningBot, fill_report, moderator_group, outbox_settled, submit
from tests.safety import LIMITS, OTHER, MovableClock, bot_running, move_clock, rows

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")
ADMIN_ID = 610_000_777
SUMMONS: dict[str, Any] = {
    **OTHER,
    "agency": ("pick", "knb"),
    "appointment": "завтра 10:00",
    "summons_photo": "done",
    "checkin": ("pick", "yes"),
}


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def _report(
    emu: TelegramEmulator,
    bot: RunningBot,
    group: GroupHandle,
    form: str,
    answers: dict[str, Any],
    subject: str,
) -> tuple[UserHandle, EmuMessage, str]:
    user = emu.user(language_code="ru")
    review = await fill_report(
        emu, bot.app.i18n, user, form, {**answers, "subject": subject}, language="ru"
    )
    await submit(emu, user, review)
    card = await emu.wait_for_bot_message(group, lambda m: subject in (m.text or ""))
    found = CODE.search(card.text or "")
    assert found is not None
    await emu.wait_for_bot_message(user, lambda m: found.group(1) in (m.text or ""))
    return user, card, found.group(1)


async def _press(emu: TelegramEmulator, admin: UserHandle, card: EmuMessage, action: str) -> None:
    report = ModCB.unpack(card.keyboard[0][0]["callback_data"]).report
    query = await admin.press(card, ModCB(action=action, report=report).pack(), force=True)
    answer = await emu.wait_for_callback_answer(query)
    assert not answer.show_alert, answer.text


async def test_checkins_safe_help_and_silence_and_urgent_cards_come_back(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    admin = emu.user(ADMIN_ID, "Aigerim", language_code="ru")
    group.add_member(admin)
    clock = MovableClock()
    async with bot_running(
        emu, migrated_url, keyring, tmp_path, clock=clock, admin_ids=(ADMIN_ID,)
    ) as bot:
        i18n = bot.app.i18n
        safe, _, safe_code = await _report(emu, bot, group, "summons", SUMMONS, "Ерлан Safe")
        helpme, help_card, _ = await _report(emu, bot, group, "summons", SUMMONS, "Ерлан Help")
        silent, silent_card, _ = await _report(emu, bot, group, "summons", SUMMONS, "Ерлан Quiet")
        checkins = await rows(migrated_url, Checkin)
        assert [c.state for c in checkins] == ["scheduled"] * 3
        due = checkins[0].due_at
        # Tomorrow 10:00 in Almaty (UTC+5), plus CHECKIN_DELAY (3 hours).
        assert due.astimezone(dt.timezone(dt.timedelta(hours=5))).time() == dt.time(13, 0)

        # The appointment is over: two replicas run the pass at once; each reporter is asked once.
        await move_clock(bot.app, clock, due - clock() + dt.timedelta(minutes=1))
        replicas = [
            CheckinScheduler(sessionmaker=bot.app.sessionmaker, context=bot.app.context)
            for _ in range(2)
        ]
        await asyncio.gather(*(replica.run_due() for replica in replicas))
        bot.app.worker.notify()
        asked = await rows(migrated_url, Outbox, Outbox.kind == "checkin")
        assert len(asked) == 3
        question = i18n.gettext(ASK, locale="ru")
        prompts = {
            user.id: await emu.wait_for_bot_message(user, lambda m: question in (m.text or ""))
            for user in (safe, helpme, silent)
        }
        assert all(p.keyboard for p in prompts.values())
        assert safe_code not in (prompts[safe.id].text or "")  # discreet: no code, no summons

        checkin_of = {c.reporter_id: c.id for c in await rows(migrated_url, Checkin)}
        ids = sorted(checkin_of.values())
        await safe.press(prompts[safe.id], CheckinCB(checkin=ids[0], answer="safe").pack())
        thanks = await emu.wait_for_bot_message(safe)
        assert "безопасности" in (thanks.text or "")
        ok = await emu.wait_for_bot_message(group, lambda m: (m.text or "").startswith("✅"))
        assert safe_code in (ok.text or "")
        # Someone else's check-in cannot be answered from this chat.
        await safe.press(
            prompts[safe.id], CheckinCB(checkin=ids[1], answer="safe").pack(), force=True
        )
        assert "закрыт" in ((await emu.wait_for_bot_message(safe)).text or "")

        await helpme.press(prompts[helpme.id], CheckinCB(checkin=ids[1], answer="help").pack())
        alarm = await emu.wait_for_bot_message(group, lambda m: (m.text or "").startswith("🆘"))
        assert alarm.reply_to_message_id == help_card.message_id
        await emu.wait_for_edit(help_card, lambda m: m.keyboard[0][0]["text"].startswith("🚨"))
        await emu.wait_for_bot_message(helpme)
        # What they write next reaches the team.
        await helpme.send_text("Меня не отпускают")
        answer = await emu.wait_for_bot_message(group, lambda m: "не отпускают" in (m.text or ""))
        assert answer.reply_to_message_id == help_card.message_id

        # Silence: nobody answers within CHECKIN_TIMEOUT (an hour).
        await move_clock(bot.app, clock, dt.timedelta(minutes=61))
        await replicas[0].run_due()
        bot.app.worker.notify()
        missed = await emu.wait_for_bot_message(group, lambda m: "60" in (m.text or ""))
        assert missed.reply_to_message_id == silent_card.message_id
        assert (missed.text or "").startswith("🆘")
        await emu.wait_for_edit(silent_card, lambda m: m.keyboard[0][0]["text"].startswith("🚨"))
        states = {c.reporter_id: c.state for c in await rows(migrated_url, Checkin)}
        assert sorted(states.values()) == [
            CheckinState.HELP,
            CheckinState.MISSED,
            CheckinState.SAFE,
        ]


async def test_unclaimed_urgent_cards_are_announced_again(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    admin = emu.user(ADMIN_ID, "Aigerim", language_code="ru")
    group.add_member(admin)
    clock = MovableClock()
    async with bot_running(
        emu, migrated_url, keyring, tmp_path, clock=clock, admin_ids=(ADMIN_ID,)
    ) as bot:
        # An urgent detention card nobody takes comes back after 30 minutes, once per round.
        _, card, code = await _report(
            emu, bot, group, "detention", {**OTHER, "when": "сегодня 9:00"}, "Болат Urgent"
        )
        scheduler = safety_jobs_for(bot.app).checkins
        await move_clock(bot.app, clock, dt.timedelta(minutes=31))
        await asyncio.gather(scheduler.run_due(), scheduler.run_due())  # as two replicas would
        bot.app.worker.notify()
        again = await emu.wait_for_bot_message(group, lambda m: "31" in (m.text or ""))
        assert again.reply_to_message_id == card.message_id
        assert code in (again.text or "")
        await move_clock(bot.app, clock, dt.timedelta(minutes=30))
        await scheduler.run_due()
        bot.app.worker.notify()
        await emu.wait_for_bot_message(group, lambda m: "61" in (m.text or ""))
        await _press(emu, admin, card, "take")
        await move_clock(bot.app, clock, dt.timedelta(minutes=30))
        await scheduler.run_due()
        reannounced = await rows(migrated_url, Outbox, Outbox.kind == "reannounce")
        assert len(reannounced) == 2  # taken: not announced again


async def test_status_messages_reach_only_reporters_who_allowed_contact(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    admin = emu.user(ADMIN_ID, "Aigerim", language_code="ru")
    group.add_member(admin)
    async with bot_running(emu, migrated_url, keyring, tmp_path, admin_ids=(ADMIN_ID,)) as bot:
        i18n = bot.app.i18n
        user, card, code = await _report(emu, bot, group, "other", OTHER, "Дана Status")
        quiet, quiet_card, _ = await _report(
            emu, bot, group, "other", {**OTHER, "contact": ("pick", "none")}, "Дана Quiet"
        )
        # "Needs info" tells the reporter through the moderator's question, not a notice
        # (tests/test_moderation.py): only verified and closed are notices.
        for action in ("take", "verify", "close"):
            await _press(emu, admin, card, action)
        for action in ("take", "verify"):
            await _press(emu, admin, quiet_card, action)
        expected = [
            i18n.gettext(STATUS_NOTICES[status], locale="ru").format(code=code)
            for status in ("verified", "closed")
        ]
        await emu.wait_until(lambda: len(_texts_after_receipt(user, code)) == 2)
        # One per status; moments apart, the worker may deliver them in any order.
        assert sorted(_texts_after_receipt(user, code)) == sorted(expected)
        await outbox_settled(bot.app)  # anything queued for the quiet reporter has gone out
        assert _texts_after_receipt(quiet, code) == []
        statuses = await rows(migrated_url, Outbox, Outbox.kind == "status")
        assert len(statuses) == 2


def _texts_after_receipt(user: UserHandle, code: str) -> list[str]:
    texts = [m.text or "" for m in user.bot_messages()]
    receipts = [i for i, text in enumerate(texts) if CODE.search(text)]
    return [text for text in texts[receipts[0] + 1 :] if text] if receipts else []
