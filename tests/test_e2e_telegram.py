"""End to end: people report through the real bot against the loopback Telegram emulator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.demo.emulator.files import make_png
from bot.demo.emulator.handles import GroupHandle
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.services import receipts
from handlers.telegram.keyboards import FlowAction, FlowCB
from storage.db import create_engine, create_sessionmaker
from storage.models import Outbox, Report
from storage.sealing import Keyring
from tests.e2e import (
    RunningBot,
    fill_report,
    flow_buttons,
    moderator_group,
    open_menu,
    outbox_settled,
    running_bot,
    start_bot,
    step_of,
    submit,
)

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")

BASE = {
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
    "media": "done",
    "account": "Пришли утром, без объяснений.",
}
ANSWERS: dict[str, dict[str, Any]] = {
    "detention": {
        **BASE,
        "relation": ("pick", "family"),
        "subject": "Нурлан Ахметов",
        "when": "вчера 14:30",
        "region": ("pick", "almaty"),
        "agency": ("pick", "knb"),
        "held_where": ("pick", "ivs"),
        "article": ("pick", "cc405"),
        "lawyer": ("pick", "no"),
    },
    "search": {
        **BASE,
        "subject": "Әсел Серікқызы",
        "when": "кеше",
        "region": ("pick", "shymkent"),
        "seized": ("pick", "phones", "computers"),
    },
    "account_freeze": {
        **BASE,
        "subject": "Dana K.",
        "bank": ("pick", "kaspi"),
        "noticed": "yesterday",
        "reason": ("pick", "none"),
        "donations": ("pick", "yes"),
    },
    "summons": {
        **BASE,
        "subject": "Ерлан",
        "agency": ("pick", "anti_extremism"),
        "appointment": "25.11 10:00",
        "case_status": ("pick", "witness_defence"),
        "summons_photo": "done",
        "checkin": ("pick", "yes"),
    },
    "other": {
        **BASE,
        "other_kind": ("pick", "travel_ban"),
        "subject": "Айгүл",
        "when": "20.11",
        "region": ("pick", "atyrau"),
    },
}
LANGUAGE_OF = {
    "detention": "ru",
    "search": "kk",
    "account_freeze": "en",
    "summons": "ru",
    "other": "kk",
}


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    # Telegram's group and global limits as documented; in private chats Telegram tolerates
    # short bursts beyond one message a second, and test users answer far faster than people.
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture
def group(emu: TelegramEmulator) -> GroupHandle:
    return moderator_group(emu)


@pytest.fixture
async def bot(
    emu: TelegramEmulator, group: GroupHandle, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    async with running_bot(emu, migrated_url, keyring, tmp_path) as running:
        yield running


async def _report_count(url: str) -> int:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Report)) or 0)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("form_key", sorted(ANSWERS))
async def test_complete_report_reaches_moderators_and_reporter_gets_a_code(
    form_key: str, emu: TelegramEmulator, group: GroupHandle, bot: RunningBot, migrated_url: str
) -> None:
    language = LANGUAGE_OF[form_key]
    user = emu.user(first_name="Reporter", language_code=language)
    await user.send_command("/start")
    await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
    review = await fill_report(
        emu, bot.app.i18n, user, form_key, ANSWERS[form_key], language=language
    )
    assert bot.app.i18n.gettext("Please check your report:", locale=language) in (review.text or "")
    await submit(emu, user, review)

    receipt = await emu.wait_for_bot_message(user, lambda m: CODE.search(m.text or ""))
    code_match = CODE.search(receipt.text or "")
    assert code_match is not None
    code = code_match.group(1)

    # The receipt says what happens next, per type and urgency, in the reporter's language.
    def said(msgid: str) -> str:
        return bot.app.i18n.gettext(msgid, locale=language)

    text = receipt.text or ""
    assert text.startswith(said(receipts.RECEIVED).format(code=code))
    assert said(receipts.URGENCY[form_key == "detention"]) in text
    assert said(receipts.CONTACT["chat"]) in text
    assert said(receipts.WHAT_TO_DO[form_key]) in text
    assert (said(receipts.CHECKIN).split("{when}")[0] in text) == (form_key == "summons")
    assert said(receipts.WRITE_MORE) in text

    card = await emu.wait_for_bot_message(group, lambda m: code in (m.text or ""))
    answers = ANSWERS[form_key]
    assert answers["subject"] in (card.text or "")
    assert (card.text or "").startswith("🚨") == (form_key == "detention")
    assert await _report_count(migrated_url) == 1


async def test_report_with_a_photo_sends_card_then_photo(
    emu: TelegramEmulator, group: GroupHandle, bot: RunningBot
) -> None:
    user = emu.user(language_code="en")
    answers = {**ANSWERS["detention"], "media": ("photo", make_png())}
    review = await fill_report(emu, bot.app.i18n, user, "detention", answers, language="en")
    assert "1 file" in (review.text or "")
    await submit(emu, user, review)
    card = await emu.wait_for_bot_message(group, lambda m: CODE.search(m.text or ""))
    photo = await emu.wait_for_bot_message(group, lambda m: m.kind == "photo")
    assert photo.reply_to_message_id == card.message_id


async def test_html_breaking_names_are_shown_literally(
    emu: TelegramEmulator, group: GroupHandle, bot: RunningBot
) -> None:
    user = emu.user(language_code="ru")
    name = "<b>Ерлан</b> & ‹Slava> <a href='x'>"
    answers = {**ANSWERS["detention"], "subject": name, "account": "1 < 2 && 3 > 2"}
    review = await fill_report(emu, bot.app.i18n, user, "detention", answers, language="ru")
    assert name in (review.text or "")
    await submit(emu, user, review)
    card = await emu.wait_for_bot_message(group, lambda m: CODE.search(m.text or ""))
    assert name in (card.text or "")
    assert "1 < 2 && 3 > 2" in (card.text or "")
    assert not [e for e in card.entities if e["type"] in ("text_link", "url")]


def flow_buttons_of(row: list[dict[str, Any]]) -> list[FlowCB]:
    return [
        FlowCB.unpack(b["callback_data"]) for b in row if b.get("callback_data", "")[:3] == "f1:"
    ]


async def test_back_skip_edit_and_cancel(
    emu: TelegramEmulator, group: GroupHandle, bot: RunningBot, migrated_url: str
) -> None:
    user = emu.user(language_code="en")
    menu = await open_menu(emu, user)
    await user.press(menu, FlowCB(action=FlowAction.TYPE, value="search").pack())
    first = await emu.wait_for_bot_message(user)
    assert step_of(bot.app.i18n, first, "search", "en").key == "relation"
    await user.press(first, FlowCB(action=FlowAction.SKIP, step="relation").pack())
    subject = await emu.wait_for_bot_message(user)
    assert step_of(bot.app.i18n, subject, "search", "en").key == "subject"
    # The previous question lost its buttons (old taps can't be confused with new ones) and
    # keeps what was done with it.
    answered = await emu.wait_for_edit(first, lambda m: "» Skipped" in (m.text or ""))
    assert answered.keyboard == []
    await user.send_text("Marat")
    when = await emu.wait_for_bot_message(user)
    await user.press(when, FlowCB(action=FlowAction.BACK).pack())
    again = await emu.wait_for_bot_message(user)
    assert step_of(bot.app.i18n, again, "search", "en").key == "subject"
    assert "Current answer: Marat" in (again.text or "")
    await user.send_text("Marat B.")
    # A date that can't be read is asked again with a translated explanation.
    when = await emu.wait_for_bot_message(user)
    await user.send_text("someday")
    retry = await emu.wait_for_bot_message(user)
    assert "I could not read that date" in (retry.text or "")
    await user.send_text("yesterday")
    review = await fill_report(
        emu, bot.app.i18n, user, "search", ANSWERS["search"], language="en", start=False
    )
    assert "Marat B." in (review.text or "")
    # Send stands alone on the first row; the answers to change open behind one button.
    assert [cb.action for cb in flow_buttons_of(review.keyboard[0])] == [FlowAction.SUBMIT]
    assert FlowAction.EDIT not in [cb.action for cb in flow_buttons(review)]
    await user.press(review, FlowCB(action=FlowAction.EDIT_MENU).pack())
    review = await emu.wait_for_edit(
        review, lambda m: FlowAction.EDIT in [cb.action for cb in flow_buttons(m)]
    )
    # Edit an answer from the review screen, then come back to the review.
    await user.press(review, FlowCB(action=FlowAction.EDIT, step="subject").pack())
    edit = await emu.wait_for_bot_message(user)
    await user.send_text("Marat Bekov")
    review = await emu.wait_for_bot_message(user, lambda m: "Marat Bekov" in (m.text or ""))
    await user.press(review, FlowCB(action=FlowAction.CANCEL).pack())
    cancelled = await emu.wait_for_bot_message(user)
    assert "nothing was sent" in (cancelled.text or "")
    assert edit.message_id < cancelled.message_id
    assert await _report_count(migrated_url) == 0
    assert emu.bot_messages(group) == []


async def test_restart_in_the_middle_of_a_report_loses_nothing(
    emu: TelegramEmulator,
    group: GroupHandle,
    migrated_url: str,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    user = emu.user(language_code="ru")
    first = await start_bot(emu, migrated_url, keyring, tmp_path)
    menu = await open_menu(emu, user)
    await user.press(menu, FlowCB(action=FlowAction.TYPE, value="detention").pack())
    prompt = await emu.wait_for_bot_message(user)
    await user.press(prompt, FlowCB(action=FlowAction.PICK, step="relation", value="self").pack())
    await emu.wait_for_bot_message(user)
    await user.send_text("Бауыржан")
    await emu.wait_for_bot_message(user)
    await first.shutdown()

    second = await start_bot(emu, migrated_url, keyring, tmp_path)
    try:
        await user.send_text("сегодня 9:00")
        review = await fill_report(
            emu,
            second.app.i18n,
            user,
            "detention",
            ANSWERS["detention"],
            language="ru",
            start=False,
        )
        assert "Бауыржан" in (review.text or "")
        await submit(emu, user, review)
        card = await emu.wait_for_bot_message(group, lambda m: CODE.search(m.text or ""))
        assert "Бауыржан" in (card.text or "")
    finally:
        await second.shutdown()


async def test_redelivered_update_is_handled_once(
    emu: TelegramEmulator, group: GroupHandle, bot: RunningBot
) -> None:
    user = emu.user(language_code="en")
    start = await user.send_command("/start")
    await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
    handled = len(emu.bot_messages(user))
    assert start.update_id is not None
    emu.redeliver(start.update_id)
    await emu.wait_for_updates_consumed()
    await user.send_command("/help")
    await emu.wait_for_bot_message(user)
    assert len(emu.bot_messages(user)) == handled + 1


async def test_alert_survives_server_errors_and_rate_limits(
    emu: TelegramEmulator, group: GroupHandle, bot: RunningBot, migrated_url: str
) -> None:
    user = emu.user(language_code="en")
    review = await fill_report(emu, bot.app.i18n, user, "other", ANSWERS["other"], language="en")
    emu.faults.fail_next(2, status=502, method="sendMessage")
    await submit(emu, user, review)
    # The worker backs off (about 1-3 s) and retries until the card and receipt are through.
    card = await emu.wait_for_bot_message(group, lambda m: CODE.search(m.text or ""), timeout=20)
    assert card.text
    await emu.wait_for_bot_message(user, lambda m: CODE.search(m.text or ""), timeout=20)
    await outbox_settled(bot.app)
    engine = create_engine(migrated_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (await session.execute(select(Outbox))).scalars().all()
    finally:
        await engine.dispose()
    assert {row.state for row in rows} == {"sent"}
    assert sum(row.attempts for row in rows) >= 1
    receipt = next(row for row in rows if row.kind == "receipt")
    assert receipt.payload_enc is None  # delivered messages to reporters are not kept
