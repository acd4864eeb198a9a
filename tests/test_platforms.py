"""What the real Telegram does that a plain emulator would not, and that the bot survives.

Each test drives the bot against the emulator doing what Telegram documents (bot/demo/emulator/,
each case with the page it follows); docs/platforms.md lists them with what the bot does.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import check_chats
from bot.demo.emulator.files import make_png
from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.services.group_chats import GroupChatIds, check_moderator_chat
from bot.services.splitting import split_text, utf16_len
from bot.web import HealthRoutes, WebState
from storage.db import create_engine, create_sessionmaker
from storage.models import GroupChat, Outbox, OutboxState, Report, StaffRole, utcnow
from storage.repositories import OutboxRepository, StaffRepository
from storage.sealing import Keyring
from tests.e2e import (
    MODERATOR_CHAT_ID,
    RunningBot,
    fill_report,
    outbox_settled,
    start_bot,
    submit,
)
from tests.safety import rows
from tests.test_cli import _reportbot
from tests.test_moderation import CODE, REPORT, data, status_of

MODERATOR_ID = 620_000_001
ADMIN_ID = 620_000_002


@dataclass
class Setup:
    emu: TelegramEmulator
    bot: RunningBot
    group: GroupHandle
    moderator: UserHandle
    admin: UserHandle
    url: str


async def _setup(
    migrated_url: str, keyring: Keyring, tmp_path: Path, *, kind: str
) -> AsyncIterator[Setup]:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emu:
        group = emu.create_group("Moderators", chat_id=MODERATOR_CHAT_ID, kind=kind)
        moderator = emu.user(MODERATOR_ID, "Aigerim", language_code="ru")
        # The admin has written to the bot, so the bot may write to them privately.
        admin = emu.user(ADMIN_ID, "Yerlan", language_code="ru", started=True)
        group.add_member(moderator)
        group.add_member(admin, "creator")
        engine = create_engine(migrated_url)
        async with create_sessionmaker(engine)() as session, session.begin():
            await StaffRepository(session).set_role(MODERATOR_ID, StaffRole.MODERATOR)
        await engine.dispose()
        bot = await start_bot(emu, migrated_url, keyring, tmp_path, admin_ids=(ADMIN_ID,))
        try:
            yield Setup(emu, bot, group, moderator, admin, migrated_url)
        finally:
            await bot.shutdown()
        assert emu.internal_errors == []


@pytest.fixture
async def setup(migrated_url: str, keyring: Keyring, tmp_path: Path) -> AsyncIterator[Setup]:
    async for value in _setup(migrated_url, keyring, tmp_path, kind="supergroup"):
        yield value


@pytest.fixture
async def basic_group(migrated_url: str, keyring: Keyring, tmp_path: Path) -> AsyncIterator[Setup]:
    async for value in _setup(migrated_url, keyring, tmp_path, kind="group"):
        yield value


async def send_report(s: Setup, subject: str) -> UserHandle:
    user = s.emu.user(language_code="ru")
    review = await fill_report(
        s.emu, s.bot.app.i18n, user, "detention", {**REPORT, "subject": subject}, language="ru"
    )
    await submit(s.emu, user, review)
    return user


async def card_in(s: Setup, chat: GroupHandle, subject: str, timeout: float = 15) -> EmuMessage:  # noqa: ASYNC109
    return await s.emu.wait_for_bot_message(
        chat, lambda m: subject in (m.text or "") and bool(m.keyboard), timeout=timeout
    )


async def admin_told(s: Setup, needle: str) -> EmuMessage:
    # Any message so far: the notice may come before the test's last action.
    return await s.emu.wait_for_bot_message(s.admin, lambda m: needle in (m.text or ""), after=0)


# --- a group upgraded to a supergroup ------------------------------------------------------------
@pytest.mark.parametrize("announced", [True, False], ids=["service-message", "send-refused"])
async def test_a_group_upgraded_to_a_supergroup_is_followed(
    basic_group: Setup, announced: bool
) -> None:
    s = basic_group
    # Telegram announces the move in both chats; without that update (missed while the bot was
    # down, say) the first send to the old id is refused with migrate_to_chat_id.
    new = s.emu.upgrade_to_supergroup(s.group, announce=announced)
    reporter = await send_report(s, "Серик Жумабаев")
    card = await card_in(s, new, "Серик Жумабаев")
    notice = await admin_told(s, str(new.id))
    assert "MODERATOR_CHAT_ID" in (notice.text or "")

    # Presses and replies from the new id are the moderators' own.
    query = await s.moderator.press(card, data(card, "take"), force=True)
    answer = await s.emu.wait_for_callback_answer(query)
    assert answer.show_alert is False, answer.text
    await s.emu.wait_for_edit(card)
    await s.moderator.send_text("Где он сейчас?", chat=new, reply_to=card)
    await s.emu.wait_for_bot_message(reporter, lambda m: "Где он сейчас?" in (m.text or ""))

    # Stored for every replica: a fresh process reads the new id from the database.
    stored = await rows(s.url, GroupChat)
    assert [(row.configured_id, row.chat_id) for row in stored] == [(MODERATOR_CHAT_ID, new.id)]
    app = s.bot.app
    other = GroupChatIds(
        sessionmaker=app.sessionmaker, context=app.context, configured=[MODERATOR_CHAT_ID]
    )
    await other.refresh(force=True)
    assert other.current(MODERATOR_CHAT_ID) == new.id
    # Told once, however many messages met the old id.
    assert len([m for m in s.emu.bot_messages(s.admin) if str(new.id) in (m.text or "")]) == 1


# --- cards of any age ----------------------------------------------------------------------------
async def test_a_card_older_than_two_days_still_works_from_its_buttons(setup: Setup) -> None:
    s = setup
    reporter = await send_report(s, "Асель Нурова")
    card = await card_in(s, s.group, "Асель Нурова")
    await outbox_settled(s.bot.app)  # the card's id is recorded (long before two days pass)
    # Two days on, Telegram sends the press with an InaccessibleMessage (date 0, chat and id).
    s.emu.message(s.group, card.message_id).created_at -= 49 * 3600
    query = await s.moderator.press(card, data(card, "take"), force=True)
    update = s.emu.last_update
    assert update is not None and update["callback_query"]["message"]["date"] == 0
    answer = await s.emu.wait_for_callback_answer(query)
    assert answer.show_alert is False, answer.text
    edited = await s.emu.wait_for_edit(card)
    assert "aigerim" in status_of(edited)
    # Replies to the old card still reach the reporter.
    await s.moderator.send_text("Вы на связи?", chat=s.group, reply_to=card)
    await s.emu.wait_for_bot_message(reporter, lambda m: "Вы на связи?" in (m.text or ""))


# --- the moderators' chat refuses the bot for a while --------------------------------------------
@pytest.mark.parametrize(
    "status", ["restricted", "kicked"], ids=["not-enough-rights", "bot-removed"]
)
async def test_alerts_wait_while_the_chat_refuses_them_and_go_when_it_allows(
    setup: Setup, status: str
) -> None:
    s = setup
    s.group.set_bot_status(status)
    await send_report(s, "Бауыржан Омаров")
    await send_report(s, "Дана Серикова")
    await admin_told(s, "не принимает сообщения бота")
    health = HealthRoutes(s.bot.app, WebState())

    async def waiting_in_health() -> dict[str, Any]:
        async with asyncio.timeout(15):
            while True:
                response = await health.health(None)  # type: ignore[arg-type]
                body: dict[str, Any] = json.loads(response.text or "{}")
                if body["outbox"].get("waiting_for_chat", 0) >= 2:
                    return body
                await asyncio.sleep(0.1)

    body = await waiting_in_health()
    assert body["outbox"]["dead"] == 0
    metrics = (await health.metrics(None)).body  # type: ignore[arg-type]
    assert b"reportbot_outbox_waiting_for_chat 2.0" in metrics
    assert body["status"] == "chat_refused"
    stored = await rows(s.url, Outbox)
    assert not [row for row in stored if row.state == OutboxState.DEAD]
    # Waiting is not failing: the alerts keep all their attempts for real failures later.
    assert [row.attempts for row in stored if row.kind == "alert"] == [0, 0]

    # Each alert is tried again every second or so at first. Refused messages were not posted:
    # they must not fill the group's 20 a minute, or the alerts would go as a digest first and
    # their full cards a minute later.
    await s.emu.wait_until(
        lambda: len([c for c in s.emu.failed_calls if c.method == "sendMessage"]) >= 8 or None,
        30,
    )
    s.group.set_bot_status("administrator")
    subjects = ("Бауыржан Омаров", "Дана Серикова")
    for subject in subjects:  # in whichever order they go
        await s.emu.wait_for_bot_message(
            s.group, lambda m, subject=subject: subject in (m.text or ""), timeout=20, after=0
        )
    await admin_told(s, "снова принимает")
    posted = [m.text or "" for m in s.emu.bot_messages(s.group)]
    assert all(any(name in text for name in subjects) for text in posted), posted  # no digest
    # One notice for the episode, not one per alert.
    refusals = [
        m for m in s.emu.bot_messages(s.admin) if "не принимает сообщения" in (m.text or "")
    ]
    assert len(refusals) == 1


# --- a reporter who blocked the bot; dead letters sent again ------------------------------------
async def test_a_question_the_reporter_cannot_receive_is_marked_on_the_card_and_resent(
    setup: Setup,
) -> None:
    s = setup
    reporter = await send_report(s, "Ерлан Касымов")
    card = await card_in(s, s.group, "Ерлан Касымов")
    await outbox_settled(s.bot.app)  # the card's id is recorded, as long before a person replies
    await reporter.block_bot()  # Telegram now answers 403 "bot was blocked by the user"
    await s.moderator.send_text("Вы в безопасности?", chat=s.group, reply_to=card)
    note = await s.emu.wait_for_bot_message(s.group, lambda m: "Не доставлено" in (m.text or ""))
    assert note.reply_to_message_id == card.message_id
    assert str(reporter.id) not in (note.text or "")

    await s.admin.send_text("/outbox", chat=s.group)
    listing = await s.emu.wait_for_bot_message(s.group, lambda m: "question" in (m.text or ""))
    found = re.search(r"#(\d+) · question", listing.text or "")
    assert found is not None, listing.text
    await reporter.unblock_bot()
    await s.admin.send_text(f"/outbox resend {found.group(1)}", chat=s.group)
    await s.emu.wait_for_bot_message(s.group, lambda m: "снова поставлено" in (m.text or ""))
    await s.emu.wait_for_bot_message(reporter, lambda m: "Вы в безопасности?" in (m.text or ""))
    # Only admins may send dead letters again.
    await s.moderator.send_text("/outbox resend all", chat=s.group)
    await s.emu.wait_for_bot_message(s.group, lambda m: "не можете" in (m.text or ""))


async def test_reportbot_outbox_lists_and_resends_dead_letters(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    engine = create_engine(migrated_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            outbox = OutboxRepository(session, keyring)
            row_id = await outbox.enqueue(
                kind="alert",
                target="moderators",
                payload={"messages": [{"type": "text", "html": "secret words"}]},
                idempotency_key="alert:test",
            )
            assert row_id is not None
            await outbox.mark_dead(row_id, now=utcnow(), error="TelegramBadRequest: test")
        env = {"DATABASE_URL": migrated_url, "DATA_DIR": str(tmp_path)}
        listed = await asyncio.to_thread(_reportbot, tmp_path, "outbox", **env)
        assert listed.returncode == 0, listed.stderr
        assert f"#{row_id}\talert\tmoderators" in listed.stdout
        assert "dead: 1" in listed.stdout
        assert "secret words" not in listed.stdout + listed.stderr
        resent = await asyncio.to_thread(
            _reportbot, tmp_path, "outbox", "--resend", str(row_id), **env
        )
        assert resent.returncode == 0, resent.stderr
        assert f"#{row_id}" in resent.stdout
        async with create_sessionmaker(engine)() as session:
            row = await session.get(Outbox, row_id)
            assert row is not None and row.state == OutboxState.PENDING
    finally:
        await engine.dispose()


# --- long texts and pictures Telegram will not take as photos -------------------------------------
def test_long_texts_are_cut_on_paragraph_then_sentence_boundaries() -> None:
    paragraph = "Его задержали у дома. Потом увезли в ИВС. " * 40
    text = "\n\n".join([paragraph.strip()] * 5)
    pieces = split_text(text, 4000)
    assert len(pieces) > 1
    assert all(utf16_len(piece) <= 4000 for piece in pieces)
    assert all(piece.endswith(".") for piece in pieces)  # never in the middle of a sentence
    assert " ".join(pieces).split() == text.split()  # nothing lost
    # Emoji take two UTF-16 units each, as Telegram counts them.
    emoji = split_text("🙂" * 3000, 4096)
    assert [utf16_len(piece) for piece in emoji] == [4096, 1904]


async def test_a_long_answer_and_a_long_question_arrive_whole(setup: Setup) -> None:
    s = setup
    reporter = await send_report(s, "Мадина Ержанова")
    card = await card_in(s, s.group, "Мадина Ержанова")
    await outbox_settled(s.bot.app)  # the card's id is recorded, as long before a person replies
    question = ("Он в ИВС, адвоката не пускают. " * 132).strip()
    assert len(question) <= 4096  # as long as Telegram lets the moderator write it
    await s.moderator.send_text(question, chat=s.group, reply_to=card)
    await s.emu.wait_for_bot_message(reporter, lambda m: "не пускают" in (m.text or ""))
    await outbox_settled(s.bot.app)
    parts = [m for m in s.emu.bot_messages(reporter) if "не пускают" in (m.text or "")]
    assert len(parts) == 2
    assert " ".join(m.text or "" for m in parts).count("адвоката не пускают") == 132

    answer = ("Спасибо. " + "Его перевели в СИЗО. " * 194).strip()
    assert len(answer) <= 4096
    await reporter.send_text(answer, reply_to=parts[-1])
    await s.emu.wait_for_bot_message(s.group, lambda m: "СИЗО" in (m.text or ""))
    await outbox_settled(s.bot.app)
    forwarded = [m for m in s.emu.bot_messages(s.group) if "СИЗО" in (m.text or "")]
    assert len(forwarded) == 2
    assert all(m.reply_to_message_id == card.message_id for m in forwarded)
    assert " ".join(m.text or "" for m in forwarded).count("Его перевели в СИЗО") == 194
    stored = await rows(s.url, Outbox)
    assert not [row for row in stored if row.state == OutboxState.DEAD]


async def test_a_picture_refused_as_a_photo_goes_as_a_file(setup: Setup) -> None:
    s = setup
    reporter = await send_report(s, "Айдос Калиев")
    card = await card_in(s, s.group, "Айдос Калиев")
    await outbox_settled(s.bot.app)  # the card's id is recorded, as long before a person replies
    await s.moderator.send_text("Пришлите повестку", chat=s.group, reply_to=card)
    question = await s.emu.wait_for_bot_message(
        reporter, lambda m: "Пришлите повестку" in (m.text or "")
    )
    # A long screenshot: 30 x 1000, a ratio over 20 (core.telegram.org/bots/api#sendphoto).
    await reporter.send_photo(make_png(30, 1000), reply_to=question)
    document = await s.emu.wait_for_bot_message(s.group, lambda m: m.kind == "document")
    assert document.reply_to_message_id == card.message_id
    assert [c for c in s.emu.failed_calls if c.method == "sendPhoto"]


# --- flood control with a long retry_after -------------------------------------------------------
async def test_a_long_flood_wait_while_handling_an_update_does_not_lose_it(setup: Setup) -> None:
    s = setup
    reporter = await send_report(s, "Гульнар Сапарова")
    card = await card_in(s, s.group, "Гульнар Сапарова")
    await outbox_settled(s.bot.app)  # the card's id is recorded, as long before a person replies
    await s.moderator.send_text("Есть фото повестки?", chat=s.group, reply_to=card)
    question = await s.emu.wait_for_bot_message(
        reporter, lambda m: "Есть фото повестки?" in (m.text or "")
    )
    # 429 with retry_after longer than the session middleware waits (core.telegram.org/bots/faq),
    # while the bot fetches the photo, before the update's transaction.
    s.emu.faults.retry_after_next(6, method="getFile")
    await reporter.send_photo(reply_to=question)
    photo = await s.emu.wait_for_bot_message(s.group, lambda m: m.kind == "photo", timeout=30)
    assert photo.reply_to_message_id == card.message_id
    assert [c for c in s.emu.calls if c.method == "getFile" and c.status == 429]


# --- MODERATOR_CHAT_ID checked at start ---------------------------------------------------------
async def test_the_moderator_chat_is_checked_at_start_in_one_line(
    migrated_url: str, keyring: Keyring, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with TelegramEmulator() as emu:
        group = emu.create_group("Moderators", chat_id=MODERATOR_CHAT_ID, bot_status="restricted")
        bot = await start_bot(emu, migrated_url, keyring, tmp_path)
        try:
            app = bot.app
            assert app.chats is not None
            # The start's own check comes just before the command menu (set_commands_softly):
            # wait for it, so that it cannot take the fault armed below.
            await emu.wait_until(lambda: emu.calls_to("setMyCommands") or None, 15)
            await check_chats(app)  # what `reportbot run` does as it starts
            problem = [r for r in caplog.records if "MODERATOR_CHAT_ID" in r.getMessage()]
            assert problem
            assert {r.levelname for r in problem} == {"ERROR"}
            assert all("may not send messages" in r.getMessage() for r in problem)
            assert all("\n" not in r.getMessage() for r in problem)

            group.set_bot_status("left")
            said = await check_moderator_chat(app.bot, app.chats, MODERATOR_CHAT_ID)
            assert said is not None and "not a member" in said
            emu.faults.fail_next(method="getChat")  # a transient fault: said, and not fatal
            said = await check_moderator_chat(app.bot, app.chats, MODERATOR_CHAT_ID)
            assert said is not None and "could not be checked now" in said
            group.set_bot_status("administrator")
            assert await check_moderator_chat(app.bot, app.chats, MODERATOR_CHAT_ID) is None
            assert not bot.task.done()  # the bot runs on whatever the check said
        finally:
            await bot.shutdown()


# --- a press answered too late ----------------------------------------------------------------
async def test_a_press_answered_after_telegram_gave_up_still_takes_effect(setup: Setup) -> None:
    s = setup
    await send_report(s, "Нуржан Абенов")
    card = await card_in(s, s.group, "Нуржан Абенов")
    await outbox_settled(s.bot.app)
    query = await s.moderator.press(card, data(card, "take"), force=True)
    # Handled slowly (a busy database, say): Telegram refuses answers after about 15 s.
    s.emu.callback_queries[query].created_at -= 20
    edited = await s.emu.wait_for_edit(card)
    assert "aigerim" in status_of(edited)
    await s.emu.wait_until(
        lambda: [c for c in s.emu.failed_calls if c.method == "answerCallbackQuery"] or None, 10
    )
    reports = await rows(s.url, Report)
    assert [r.status for r in reports] == ["in_review"]


async def test_a_card_that_is_gone_is_posted_anew_and_works(setup: Setup) -> None:
    s = setup
    await send_report(s, "Жанар Муратова")
    card = await card_in(s, s.group, "Жанар Муратова")
    await outbox_settled(s.bot.app)
    query = await s.moderator.press(card, data(card, "take"), force=True)
    # Someone deleted the card while the press was on its way: the edit finds nothing.
    s.emu.message(s.group, card.message_id).deleted = True
    await s.emu.wait_for_callback_answer(query)
    # Posted anew as its stub (the bot keeps no answers to write the card again: README, "What
    # a seized server gives away"): the code, type, place and date, and the buttons.
    code = CODE.search(card.text or "")
    assert code is not None
    again = await card_in(s, s.group, code.group(0))
    assert again.message_id != card.message_id
    assert "aigerim" in status_of(again)
    await outbox_settled(s.bot.app)
    query = await s.moderator.press(again, data(again, "verify"), force=True)
    answer = await s.emu.wait_for_callback_answer(query)
    assert answer.show_alert is False, answer.text
    await s.emu.wait_for_edit(again)


async def test_a_status_message_the_reporter_cannot_receive_is_marked_on_the_card(
    setup: Setup,
) -> None:
    s = setup
    reporter = await send_report(s, "Тимур Исаев")
    card = await card_in(s, s.group, "Тимур Исаев")
    await outbox_settled(s.bot.app)
    await reporter.block_bot()
    for action in ("take", "verify"):  # "verified" is told to the reporter (contact: this chat)
        query = await s.moderator.press(card, data(card, action), force=True)
        await s.emu.wait_for_callback_answer(query)
    note = await s.emu.wait_for_bot_message(s.group, lambda m: "Не доставлено" in (m.text or ""))
    assert note.reply_to_message_id == card.message_id
    assert "заблокировал" in (note.text or "")
