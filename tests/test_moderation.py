"""Moderator triage end to end: card actions, authorisation, audit, two-way contact, duplicates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.services import card_model
from bot.services.access import ChatMembership
from bot.services.card_model import CardView, DuplicateHint
from bot.services.cards import CardService
from bot.services.intake import Intake
from bot.services.moderation import TRANSITIONS
from handlers.engine.engine import Submitted
from handlers.engine.forms import FORMS
from handlers.telegram.cards import ModCB, card_keyboard, render_card
from handlers.telegram.keyboards import FlowAction, FlowCB, FollowCB
from storage.db import create_engine, create_sessionmaker
from storage.models import ModerationEvent, Report, ReportStatus, StaffRole
from storage.repositories import OutboxRepository, StaffRepository
from storage.sealing import Keyring
from tests.e2e import (
    RunningBot,
    button_data,
    fill_report,
    flow_buttons,
    moderator_group,
    outbox_settled,
    start_bot,
    submit,
)

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")
MODERATOR_ID = 610_000_001
ADMIN_ID = 610_000_002
OUTSIDER_ID = 610_000_003

REPORT = {
    "relation": ("pick", "family"),
    "subject": "Нурлан Ахметов",
    "when": "вчера 14:30",
    "region": ("pick", "almaty"),
    "media": "done",
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
}

# A report whose card was queued by the version before the card model.
OLD_ANSWERS = {
    "relation": "family",
    "subject": "Канат Сейтказиев",
    "account": "Пришли <утром> & увели",
    "contact": "chat",
    "consent": "anonymised",
}


@dataclass
class Setup:
    emu: TelegramEmulator
    bot: RunningBot
    group: GroupHandle
    moderator: UserHandle
    admin: UserHandle
    outsider: UserHandle
    url: str


@pytest.fixture
async def setup(migrated_url: str, keyring: Keyring, tmp_path: Path) -> AsyncIterator[Setup]:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emu:
        group = moderator_group(emu)
        moderator = emu.user(MODERATOR_ID, "Aigerim", language_code="ru")
        admin = emu.user(ADMIN_ID, "Yerlan", language_code="ru")
        outsider = emu.user(OUTSIDER_ID, "Stranger", language_code="ru")
        for user in (moderator, admin, outsider):
            group.add_member(user)
        engine = create_engine(migrated_url)
        async with create_sessionmaker(engine)() as session, session.begin():
            await StaffRepository(session).set_role(MODERATOR_ID, StaffRole.MODERATOR)
        await engine.dispose()
        bot = await start_bot(emu, migrated_url, keyring, tmp_path, admin_ids=(ADMIN_ID,))
        try:
            yield Setup(emu, bot, group, moderator, admin, outsider, migrated_url)
        finally:
            await bot.shutdown()
        assert emu.internal_errors == []


async def report(s: Setup, language: str = "ru", **answers: Any) -> tuple[UserHandle, EmuMessage]:
    user = s.emu.user(language_code=language)
    review = await fill_report(
        s.emu, s.bot.app.i18n, user, "detention", {**REPORT, **answers}, language=language
    )
    await submit(s.emu, user, review)
    subject = answers.get("subject", REPORT["subject"])
    card = await s.emu.wait_for_bot_message(
        s.group, lambda m: subject in (m.text or "") and bool(m.keyboard)
    )
    # The card's id is recorded a moment after it appears; a person replies or presses seconds
    # later, a test at once.
    await outbox_settled(s.bot.app)
    return user, card


def data(card: EmuMessage, action: str, report_id: int | None = None, other: int = 0) -> str:
    if report_id is None:
        first = next(b["callback_data"] for row in card.keyboard for b in row)
        report_id = ModCB.unpack(first).report
    return ModCB(action=action, report=report_id, other=other).pack()


async def press(s: Setup, user: UserHandle, card: EmuMessage, action: str, **kw: Any) -> Any:
    query = await user.press(card, data(card, action, **kw), force=True)
    return await s.emu.wait_for_callback_answer(query)


async def events(url: str) -> list[ModerationEvent]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(select(ModerationEvent))).scalars())
    finally:
        await engine.dispose()


async def stored_report(url: str, code: str) -> Report:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return (
                await session.execute(select(Report).where(Report.public_code == code))
            ).scalar_one()
    finally:
        await engine.dispose()


def labels_of(card: EmuMessage) -> list[str]:
    return [button["text"] for row in card.keyboard for button in row]


def status_of(card: EmuMessage) -> str:
    """The status the card's first button names (its text never changes: README, "What a seized
    server gives away")."""
    return labels_of(card)[0].lower() if card.keyboard else ""


async def test_each_action_moves_the_card_and_says_who_and_when(setup: Setup) -> None:
    s = setup
    reporter_and_card = await report(s)
    _, card = reporter_and_card
    code = CODE.search(card.text or "")
    assert code is not None
    text = card.text
    assert "новое" in status_of(card)

    answer = await press(s, s.moderator, card, "take")
    assert not answer.show_alert, answer.text
    await s.emu.wait_for_edit(card, lambda m: "на проверке" in status_of(m))
    assert "aigerim" in status_of(card)

    await press(s, s.moderator, card, "verify")
    await s.emu.wait_for_edit(card, lambda m: "проверено" in status_of(m))

    refused = await press(s, s.moderator, card, "needs_info")
    assert refused.show_alert
    assert "проверено" in (refused.text or "")

    await press(s, s.moderator, card, "reopen")
    await s.emu.wait_for_edit(card, lambda m: "на проверке" in status_of(m))
    reporter, card = reporter_and_card
    await press(s, s.moderator, card, "needs_info")
    # "Needs info" asks for the question first; the status changes once it is sent.
    prompt = await s.emu.wait_for_bot_message(
        s.group, lambda m: "Что нужно знать команде?" in (m.text or "")
    )
    await outbox_settled(s.bot.app)
    await s.moderator.send_text("Какой номер ИВС?", chat=s.group, reply_to=prompt)
    await s.emu.wait_for_edit(card, lambda m: "нужна информация" in status_of(m))
    question = await s.emu.wait_for_bot_message(
        reporter, lambda m: "Какой номер ИВС?" in (m.text or "")
    )
    assert "Сообщение от команды правозащитников" in (question.text or "")
    # A rejection asks first, on the card itself; "No" changes nothing.
    await press(s, s.moderator, card, "reject_spam")
    await s.emu.wait_for_edit(card, lambda m: labels_of(m) == ["Да, это спам", "Нет"])
    await press(s, s.moderator, card, "keep")
    await s.emu.wait_for_edit(card, lambda m: "Спам" in labels_of(m))
    assert "нужна информация" in status_of(card)
    await press(s, s.moderator, card, "reject_spam")
    await s.emu.wait_for_edit(card, lambda m: labels_of(m) == ["Да, это спам", "Нет"])
    await press(s, s.moderator, card, "reject_spam_yes")
    await s.emu.wait_for_edit(card, lambda m: "отклонено" in status_of(m))
    await press(s, s.moderator, card, "close")
    await s.emu.wait_for_edit(card, lambda m: "закрыто" in status_of(m))
    assert labels_of(card)[1:] == ["Открыть снова"]
    # The status button says who last acted, and when.
    last = await press(s, s.moderator, card, "status")
    assert not last.show_alert and "Aigerim" in (last.text or "")
    # Only the buttons changed: the text is what was written at submission.
    assert card.text == text

    report_row = await stored_report(s.url, code.group(1))
    assert report_row.status == "closed"
    assert report_row.assigned_to == MODERATOR_ID
    actions = [e.action for e in await events(s.url) if e.report_id == report_row.id]
    assert actions == [
        "take",
        "verify",
        "refused",
        "reopen",
        "ask",
        "needs_info",
        "reject_spam",
        "close",
    ]


async def test_urgent_toggle_and_history(setup: Setup) -> None:
    s = setup
    _, card = await report(s)
    assert (card.text or "").startswith("🚨")
    await press(s, s.moderator, card, "not_urgent")
    await s.emu.wait_for_edit(card, lambda m: "Срочно" in labels_of(m))
    assert "Не срочно" not in labels_of(card)
    assert not labels_of(card)[0].startswith("🚨")  # the status button says it too
    code = CODE.search(card.text or "")
    assert code is not None
    await s.moderator.send_text(f"/history {code.group(1)}", chat=s.group)
    history = await s.emu.wait_for_bot_message(s.group, lambda m: "История" in (m.text or ""))
    assert "Aigerim" in (history.text or "")


async def test_forged_and_unauthorised_presses_change_nothing_and_are_audited(
    setup: Setup,
) -> None:
    s = setup
    _, first = await report(s, subject="Первый Человек")
    _, second = await report(s, subject="Второй Человек")
    first_id = ModCB.unpack(first.keyboard[0][0]["callback_data"]).report
    before = second.text

    # A member of the chat who is not staff.
    answer = await press(s, s.outsider, second, "verify")
    assert answer.show_alert
    # Data naming another report, pressed on this card.
    answer = await press(s, s.moderator, second, "verify", report_id=first_id)
    assert answer.show_alert
    assert "недействительна" in (answer.text or "")
    # Data naming an action that does not exist.
    answer = await press(s, s.moderator, second, "delete_everything")
    assert answer.show_alert
    # Garbage that is no callback data of ours.
    query = await s.moderator.press(second, "zz:1:2", force=True)
    assert (await s.emu.wait_for_callback_answer(query)).show_alert
    # A card button replayed in a private chat: refused, and not audited under whatever id
    # and name the presser has (issue 14, Low list).
    reporter = s.emu.user(language_code="ru")
    await reporter.send_command("/start")
    menu = await s.emu.wait_for_bot_message(reporter, lambda m: bool(m.keyboard))
    query = await reporter.press(menu, data(second, "verify"), force=True)
    assert (await s.emu.wait_for_callback_answer(query)).show_alert

    assert second.text == before
    assert not second.edit_seqs
    refused = [e.note for e in await events(s.url) if e.action == "refused"]
    assert sorted(refused) == sorted(["not_staff", "forged", "forged", "unknown_button"])
    assert reporter.id not in {e.actor for e in await events(s.url)}


async def test_possible_duplicate_is_hinted_and_marked(setup: Setup) -> None:
    s = setup
    _, first = await report(s, subject="Ахметов Нурлан")
    _, second = await report(s, subject="нурлан  АХМЕТОВ")
    first_code = CODE.search(first.text or "")
    assert first_code is not None
    assert f"Возможно, тот же человек, что и в {first_code.group(1)}" in (second.text or "")
    first_id = ModCB.unpack(first.keyboard[0][0]["callback_data"]).report
    await press(s, s.moderator, second, "dupof", other=first_id)
    await s.emu.wait_for_edit(
        second, lambda m: f"дубликат {first_code.group(1).lower()}" in status_of(m)
    )


async def test_duplicate_by_code_through_a_reply(setup: Setup) -> None:
    s = setup
    _, first = await report(s, subject="Ерлан Сапаров")
    _, second = await report(s, subject="Другой Человек")
    first_code = CODE.search(first.text or "")
    assert first_code is not None
    await press(s, s.moderator, second, "duplicate")
    prompt = await s.emu.wait_for_bot_message(s.group, lambda m: "код" in (m.text or ""))
    # The prompt is known by its message id once the worker has recorded sending it, a moment
    # after it appears; a person's reply comes seconds later, the test's at once.
    await outbox_settled(s.bot.app)
    await s.moderator.send_text(first_code.group(1).lower(), chat=s.group, reply_to=prompt)
    await s.emu.wait_for_edit(
        second, lambda m: f"дубликат {first_code.group(1).lower()}" in status_of(m)
    )


@pytest.mark.parametrize(
    ("language", "header"),
    [
        ("kk", "құқық қорғаушылар тобынан хат"),
        ("ru", "Сообщение от команды правозащитников"),
        ("en", "A message from the human-rights team"),
    ],
)
async def test_question_reaches_the_reporter_and_the_answer_comes_back(
    setup: Setup, language: str, header: str
) -> None:
    s = setup
    reporter, card = await report(s, language=language)
    await s.moderator.send_text("Где он сейчас? <b>", chat=s.group, reply_to=card)
    question = await s.emu.wait_for_bot_message(
        reporter, lambda m: "Где он сейчас?" in (m.text or "")
    )
    assert "Где он сейчас? <b>" in (question.text or "")
    assert "Aigerim" not in (question.text or "")
    assert header in (question.text or "")
    await s.emu.wait_for_bot_message(s.group, lambda m: "Отправлено" in (m.text or ""))

    await reporter.send_text("В ИВС Алматы", reply_to=question)
    answer = await s.emu.wait_for_bot_message(s.group, lambda m: "В ИВС Алматы" in (m.text or ""))
    assert answer.reply_to_message_id == card.message_id
    # Without replying, the next message still answers while the question is open.
    await reporter.send_photo()
    photo = await s.emu.wait_for_bot_message(s.group, lambda m: m.kind == "photo")
    assert photo.reply_to_message_id == card.message_id


def follow_buttons(message: EmuMessage) -> list[FollowCB]:
    return [FollowCB.unpack(d) for d in button_data(message) if d.startswith("a1:")]


FOLLOW_UPS = {
    "kk": "Оны уақытша ұстау изоляторына ауыстырды, адвокатты кіргізбейді.",
    "ru": "Перевели в ИВС, адвоката не пускают.",
    "en": "He was moved to the temporary detention centre; no lawyer is let in.",
}


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
async def test_a_follow_up_reaches_the_card_without_the_menu(setup: Setup, language: str) -> None:
    """The issue's reporter: after sending, the code and a new fact, not in reply to anything."""
    s = setup
    reporter, card = await report(s, language=language)
    code = CODE.search(card.text or "")
    assert code is not None
    receipt = await s.emu.wait_for_bot_message(reporter, lambda m: code.group(1) in (m.text or ""))
    await reporter.send_text(f"{code.group(1)} {FOLLOW_UPS[language]}")
    offer = await s.emu.wait_for_bot_message(reporter, follow_buttons)
    assert code.group(1) in (offer.text or "")
    choice = follow_buttons(offer)[0]
    assert choice.report == ModCB.unpack(card.keyboard[0][0]["callback_data"]).report
    await reporter.press(offer, choice.pack())
    addition = await s.emu.wait_for_bot_message(
        s.group, lambda m: FOLLOW_UPS[language] in (m.text or "")
    )
    assert addition.reply_to_message_id == card.message_id
    assert code.group(1) in (addition.text or "")
    await s.emu.wait_for_bot_message(
        reporter, lambda m: code.group(1) in (m.text or "") and not m.keyboard
    )
    # A photo, without the code, goes the same way; the report-type menu never came back.
    await reporter.send_photo()
    offer = await s.emu.wait_for_bot_message(reporter, follow_buttons)
    await reporter.press(offer, follow_buttons(offer)[0].pack())
    photo = await s.emu.wait_for_bot_message(s.group, lambda m: m.kind == "photo")
    assert photo.reply_to_message_id == card.message_id
    after_receipt = [m for m in s.emu.bot_messages(reporter) if m.message_id > receipt.message_id]
    assert not any(cb.action == FlowAction.TYPE for m in after_receipt for cb in flow_buttons(m))


async def test_with_several_reports_the_reporter_chooses_and_new_report_opens_the_menu(
    setup: Setup,
) -> None:
    s = setup
    reporter, first = await report(s, subject="Первый Человек")
    await reporter.send_command("/new")
    menu = await s.emu.wait_for_bot_message(reporter, flow_buttons)
    await reporter.press(menu, FlowCB(action=FlowAction.TYPE, value="detention").pack())
    review = await fill_report(
        s.emu,
        s.bot.app.i18n,
        reporter,
        "detention",
        {**REPORT, "subject": "Второй Человек"},
        language="ru",
        start=False,
    )
    await submit(s.emu, reporter, review)
    await s.emu.wait_for_bot_message(s.group, lambda m: "Второй Человек" in (m.text or ""))
    await reporter.send_text("Есть новости?")
    offer = await s.emu.wait_for_bot_message(reporter, follow_buttons)
    choices = [c.report for c in follow_buttons(offer) if c.report]  # 0 is "new report"
    first_id = ModCB.unpack(first.keyboard[0][0]["callback_data"]).report
    assert len(choices) == 2
    assert choices[-1] == first_id  # newest first
    await reporter.press(offer, FollowCB(report=first_id).pack())
    addition = await s.emu.wait_for_bot_message(
        s.group, lambda m: "Есть новости?" in (m.text or "")
    )
    assert addition.reply_to_message_id == first.message_id

    await reporter.send_text("Другое дело")
    offer = await s.emu.wait_for_bot_message(reporter, follow_buttons)
    await reporter.press(offer, FollowCB(report=0).pack())
    menu = await s.emu.wait_for_bot_message(reporter, flow_buttons)
    assert any(cb.action == FlowAction.TYPE for cb in flow_buttons(menu))


async def test_contact_refused_when_the_reporter_said_no(setup: Setup) -> None:
    s = setup
    reporter, card = await report(s, contact=("pick", "none"))
    await s.moderator.send_text("Можно вопрос?", chat=s.group, reply_to=card)
    refusal = await s.emu.wait_for_bot_message(
        s.group, lambda m: "просил не связываться" in (m.text or "")
    )
    assert refusal.text
    assert [m for m in s.emu.bot_messages(reporter) if "Можно вопрос?" in (m.text or "")] == []


async def test_staff_commands_for_admins_only(setup: Setup) -> None:
    s = setup
    await s.outsider.send_text(f"/staff add {OUTSIDER_ID} moderator", chat=s.group)
    await s.emu.wait_for_bot_message(s.group, lambda m: "не можете" in (m.text or ""))
    await s.admin.send_text(f"/staff add {OUTSIDER_ID} coordinator", chat=s.group)
    await s.emu.wait_for_bot_message(s.group, lambda m: str(OUTSIDER_ID) in (m.text or ""))
    await s.admin.send_text("/staff list", chat=s.group)
    listing = await s.emu.wait_for_bot_message(
        s.group, lambda m: str(MODERATOR_ID) in (m.text or "")
    )
    assert str(OUTSIDER_ID) in (listing.text or "")
    await s.admin.send_text(f"/staff remove {OUTSIDER_ID}", chat=s.group)
    await s.emu.wait_for_bot_message(s.group, lambda m: "удалён" in (m.text or ""))
    await s.admin.send_text("/outbox", chat=s.group)
    # The fifth message into the group within a minute; under load the worker's pass may take
    # a while (seen once at 15 s on a machine shared with four other test runs).
    await s.emu.wait_for_bot_message(
        s.group, lambda m: "ждут отправки" in (m.text or ""), timeout=40
    )
    audit = [e.action for e in await events(s.url)]
    assert "staff_add" in audit
    assert "staff_remove" in audit


async def test_chat_members_count_as_moderators_when_configured(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emu:
        group = moderator_group(emu)
        member = emu.user(620_000_001, "Member", language_code="ru")
        former = emu.user(620_000_002, "Former", language_code="ru")
        group.add_member(member)
        group.add_member(former)
        bot = await start_bot(
            emu, migrated_url, keyring, tmp_path, moderator_chat_members_are_staff=True
        )
        try:
            s = Setup(emu, bot, group, member, member, former, migrated_url)
            _, card = await report(s)
            answer = await press(s, member, card, "take")
            assert not answer.show_alert, answer.text
            await emu.wait_for_edit(card, lambda m: "member" in status_of(m))
            assert emu.calls_to("getChatMember")
            # Someone who left the chat is no longer a moderator (Telegram says "left").
            group.remove_member(former)
            membership = ChatMembership(bot.app.bot, group.id)
            assert await membership(member.id)
            assert not await membership(former.id)
        finally:
            await bot.shutdown()


@pytest.mark.parametrize("status", [s.value for s in ReportStatus])
def test_a_card_offers_only_what_its_state_allows(status: str) -> None:
    """No button on a card is refused for the state the card shows, and none is missing."""
    view = CardView(
        report_id=7,
        code="D-7K3F",
        incident_type="detention",
        region="almaty",
        incident_date=dt.date(2026, 11, 20),
        urgent=True,
        status=status,
        channel="telegram",
        language="ru",
        received_at=dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.UTC),
        hints=(
            DuplicateHint(
                report_id=3, code="D-3ACE", created_at=dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
            ),
        ),
    )
    offered = {
        ModCB.unpack(button.callback_data or "").action
        for row in card_keyboard(view, lambda text, **params: text.format(**params)).inline_keyboard
        for button in row
    }
    allowed = {action for action, (starts, _) in TRANSITIONS.items() if status in starts}
    assert offered & set(TRANSITIONS) == allowed


async def test_a_reply_to_a_card_in_its_first_moment_reaches_the_reporter(setup: Setup) -> None:
    """The moderator replies as the card appears, before its message id is recorded: the reply
    is still taken for the card (it is the bot's, with card buttons) and relayed."""
    s = setup
    user = s.emu.user(language_code="ru")
    review = await fill_report(s.emu, s.bot.app.i18n, user, "detention", REPORT, language="ru")
    await submit(s.emu, user, review)
    card = await s.emu.wait_for_bot_message(
        s.group, lambda m: REPORT["subject"] in (m.text or "") and bool(m.keyboard)
    )
    await s.moderator.send_text("Сразу вопрос", chat=s.group, reply_to=card)
    await s.emu.wait_for_bot_message(user, lambda m: "Сразу вопрос" in (m.text or ""))


def _version_1(message: dict[str, Any]) -> dict[str, Any]:
    """A card message as the services stored it before the card model: Telegram HTML and the
    Telegram buttons (the same bytes: tests/test_card_model.py)."""
    return render_card(message) if card_model.is_card(message) else message


async def test_a_card_queued_before_the_upgrade_is_delivered_and_its_buttons_still_work(
    setup: Setup,
) -> None:
    """Rows in the old shape (version 1) when the bot is upgraded: a card not sent yet, whose
    buttons change before it goes (a moderator acted from /history, say), is sent with its text
    as it was and the new buttons; the buttons of a card sent in the old shape are edited by the
    new card model; an edit of buttons queued in the old shape still goes."""
    s = setup
    app = s.bot.app
    async with app.sessionmaker() as session, session.begin():
        intake = Intake(session, app.context)
        reporter, _ = await intake.reporters.get_or_create("telegram", 610_999_001, 610_999_001)
        report_row = await intake.submit(
            reporter,
            Submitted(
                form=FORMS["detention"],
                answers={**OLD_ANSWERS},
                region="almaty",
                incident_date=None,
                subject=OLD_ANSWERS["subject"],
            ),
            channel="telegram",
            language="ru",
        )
        alert = await intake.outbox.alert_of(report_row.id)
        assert alert is not None
        payload = app.context.keyring.decrypt_json(alert.payload_enc or b"")
        old = {
            "messages": [_version_1(m) for m in payload["messages"]],
            "summary": payload["summary"],
        }
        old_html = old["messages"][0]["html"]
        assert "<blockquote expandable>" in old_html and "reply_markup" in old["messages"][0]
        await intake.outbox.replace_payload(alert.id, old)
        # Taken before the card went out: new buttons on the old queued card.
        report_row.status = ReportStatus.IN_REVIEW
        await CardService(session, app.context).refresh(report_row)
    app.worker.notify()

    card = await s.emu.wait_for_bot_message(
        s.group, lambda m: OLD_ANSWERS["subject"] in (m.text or "") and bool(m.keyboard)
    )
    await outbox_settled(app)
    assert "на проверке" in status_of(card)
    assert [e["type"] for e in card.entities if e["type"] == "expandable_blockquote"]
    assert all(ModCB.unpack(d).report == report_row.id for d in button_data(card))

    # A button of a card sent in the old shape: the press works and the buttons are edited.
    answer = await press(s, s.moderator, card, "verify")
    assert not answer.show_alert, answer.text
    await s.emu.wait_for_edit(card, lambda m: "проверено" in status_of(m))

    # An edit of buttons queued in the old shape (Telegram buttons and the stub's HTML).
    closed = CardView(
        report_id=report_row.id,
        code=report_row.public_code,
        incident_type="detention",
        region="almaty",
        incident_date=None,
        urgent=report_row.urgent,
        status="closed",
        channel="telegram",
        language="ru",
        received_at=report_row.created_at,
    )
    t = app.context.moderators_t
    edit = _version_1(card_model.edit_buttons(closed, t))
    assert set(edit) == {"type", "reply_markup", "html"}
    async with app.sessionmaker() as session, session.begin():
        await OutboxRepository(session, app.context.keyring).enqueue(
            kind="card_edit",
            target="moderators",
            payload={"messages": [edit]},
            idempotency_key=f"card_edit:{report_row.id}:old",
            report_id=report_row.id,
        )
    app.worker.notify()
    await s.emu.wait_for_edit(card, lambda m: "закрыто" in status_of(m))
    assert labels_of(card)[1:] == ["Открыть снова"]
