"""Consent, leaving no trace on the phone, erasure on request and after retention."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import safety_jobs_for
from bot.demo.emulator.telegram import TelegramEmulator
from bot.services.privacy import CONSENT_QUESTION, NEUTRAL_LINE
from handlers.telegram.cards import ModCB
from handlers.telegram.keyboards import ConsentCB, FlowAction, FlowCB, ForgetCB, LanguageCB, WipeCB
from storage.models import (
    AlertCard,
    Draft,
    ModerationEvent,
    Outbox,
    Report,
    Reporter,
    TrackedMessage,
)
from storage.sealing import Keyring
from tests.e2e import fill_report, is_consent, moderator_group, outbox_settled, submit
from tests.safety import (
    LIMITS,
    OTHER,
    MovableClock,
    agree,
    bot_running,
    has_wipe_buttons,
    move_clock,
    rows,
    session_for,
)

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_consent_comes_first_in_the_readers_language_and_is_remembered(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    user = emu.user(language_code="ru")
    async with bot_running(emu, migrated_url, keyring, tmp_path) as bot:
        i18n = bot.app.i18n
        await user.send_command("/new")
        consent = await emu.wait_for_bot_message(user)
        assert is_consent(consent)
        text = consent.text or ""
        assert i18n.gettext(CONSENT_QUESTION, locale="ru") in text
        assert "Telegram" in text
        assert "90" in text  # how long the link is kept, from RETENTION_DAYS
        # Typing or pressing an old flow button before agreeing only shows the notice again.
        await user.send_text("Мой брат задержан")
        assert is_consent(await emu.wait_for_bot_message(user))
        # The notice offers the languages; choosing one shows it again in that language.
        await user.press(consent, LanguageCB(lang="kk").pack())
        kazakh = await emu.wait_for_bot_message(user, is_consent)
        assert i18n.gettext(CONSENT_QUESTION, locale="kk") in (kazakh.text or "")
        await user.press(kazakh, ConsentCB(answer="no").pack())
        declined = await emu.wait_for_bot_message(user)
        assert "/start" in (declined.text or "")
        (reporter,) = await rows(migrated_url, Reporter)
        assert reporter.consented_at is None
        assert await rows(migrated_url, Draft) == []

        menu = await agree(emu, user)
        assert menu.keyboard and not is_consent(menu)
        (reporter,) = await rows(migrated_url, Reporter)
        assert reporter.consented_at is not None
        # Agreed once is enough: /new goes straight to the menu.
        await user.send_command("/new")
        assert not is_consent(await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard)))


async def test_wipe_deletes_the_whole_conversation_and_leaves_one_neutral_line(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    moderator_group(emu)
    user = emu.user(language_code="en")
    async with bot_running(emu, migrated_url, keyring, tmp_path) as bot:
        i18n = bot.app.i18n
        await agree(emu, user)
        review = await fill_report(emu, i18n, user, "other", OTHER, language="en")
        await submit(emu, user, review)
        receipt = await emu.wait_for_bot_message(user, lambda m: CODE.search(m.text or ""))
        code = CODE.search(receipt.text or "")
        assert code is not None
        # Leaving no trace is offered right under the receipt.
        assert has_wipe_buttons(receipt)
        before = {m.message_id for m in emu.chat_messages(user)}
        assert len(before) > 10

        async def receipt_recorded() -> bool:
            tracked = await rows(migrated_url, TrackedMessage)
            return receipt.message_id in {t.message_id for t in tracked}

        # A person reads the receipt before pressing; by then the worker has recorded it. (A
        # press even faster still deletes it: the pressed message is always deleted.)
        await emu.wait_until(receipt_recorded)
        await user.press(receipt, WipeCB(action="keep").pack())
        line = await emu.wait_for_bot_message(user, lambda m: NEUTRAL_LINE in (m.text or ""))
        # Every message of the conversation, the reporter's and the bot's, is gone.
        assert set(emu.deleted_message_ids(user)) == before
        assert [m.message_id for m in emu.chat_messages(user, include_deleted=False)] == [
            line.message_id
        ]
        # The line says nothing about reports; the reporter chose to keep the code.
        assert line.text == f"{NEUTRAL_LINE}\n{code.group(1)}"
        # The line is in the chat before the worker's commit records it (and marks its row sent).
        await outbox_settled(bot.app)
        tracked = await rows(migrated_url, TrackedMessage)
        assert [t.message_id for t in tracked] == [line.message_id]  # the old ids are forgotten

        # /wipe at any time; without keeping the code this time.
        await user.send_command("/wipe")
        prompt = await emu.wait_for_bot_message(user, has_wipe_buttons)
        await user.press(prompt, WipeCB(action="all").pack())
        last = await emu.wait_for_bot_message(user, lambda m: m.text == NEUTRAL_LINE)
        visible = emu.chat_messages(user, include_deleted=False)
        assert [m.message_id for m in visible] == [last.message_id]
    # The report itself is untouched.
    (report,) = await rows(migrated_url, Report)
    assert report.public_code == code.group(1)
    assert report.reporter_id is not None


async def test_forget_erases_the_link_and_the_report_stays(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    admin = emu.user(610_000_900, "Aigerim", language_code="ru")
    group.add_member(admin)
    user = emu.user(language_code="ru")
    async with bot_running(emu, migrated_url, keyring, tmp_path, admin_ids=(admin.id,)) as bot:
        review = await fill_report(emu, bot.app.i18n, user, "other", OTHER, language="ru")
        await submit(emu, user, review)
        card = await emu.wait_for_bot_message(group, lambda m: CODE.search(m.text or ""))
        await emu.wait_for_bot_message(user, lambda m: CODE.search(m.text or ""))
        # An unfinished second report, to be dropped with the link.
        menu = await emu.wait_for_bot_message(user, lambda m: True, after=0)
        await user.send_command("/new")
        menu = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
        await user.press(menu, FlowCB(action=FlowAction.TYPE, value="search").pack())
        await emu.wait_for_bot_message(user)
        assert len(await rows(migrated_url, Draft)) == 1

        await user.send_command("/forget")
        prompt = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
        await user.press(prompt, ForgetCB(answer="no").pack())
        await emu.wait_until(lambda: prompt.keyboard == [])
        (reporter,) = await rows(migrated_url, Reporter)
        assert reporter.erased_at is None
        await user.send_command("/forget")
        prompt = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
        await user.press(prompt, ForgetCB(answer="yes").pack())
        await emu.wait_for_bot_message(user, lambda m: "/wipe" not in (m.text or ""))

        (reporter,) = await rows(migrated_url, Reporter)
        assert reporter.erased_at is not None
        assert reporter.external_enc is None
        assert reporter.external_hash.startswith("erased:")  # their Telegram id finds nothing
        assert reporter.consented_at is None
        (report,) = await rows(migrated_url, Report)
        assert report.reporter_id is None
        assert report.sealed_payload  # the record stays
        assert await rows(migrated_url, Draft) == []
        assert await rows(migrated_url, TrackedMessage) == []
        assert await rows(migrated_url, Outbox, Outbox.reporter_id.is_not(None)) == []
        erased = await rows(migrated_url, ModerationEvent, ModerationEvent.action == "erased")
        assert [(e.report_id, e.note) for e in erased] == [(report.id, "forget")]

        # The team can no longer reach them.
        ask = ModCB(action="ask", report=report.id).pack()
        query = await admin.press(card, ask, force=True)
        await emu.wait_for_callback_answer(query)
        prompt = await emu.wait_for_bot_message(group, lambda m: "Ответьте" in (m.text or ""))

        async def prompt_recorded() -> bool:
            sent = await rows(migrated_url, Outbox, Outbox.sent_message_id == prompt.message_id)
            return bool(sent)

        await emu.wait_until(prompt_recorded)  # a person does not reply within milliseconds
        await admin.send_text("Вы в безопасности?", chat=group, reply_to=prompt)
        refusal = await emu.wait_for_bot_message(group, lambda m: "больше" in (m.text or ""))
        assert refusal.reply_to_message_id is not None

        # Writing again starts as a new reporter: consent first.
        await user.send_command("/start")
        assert is_consent(await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard)))
        async with session_for(migrated_url) as session:
            count = await session.scalar(select(func.count()).select_from(Reporter))
        assert count == 2


async def test_retention_erases_idle_links_drafts_and_payloads_on_a_moved_clock(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    clock = MovableClock()
    early, late = emu.user(language_code="en"), emu.user(language_code="en")
    async with bot_running(emu, migrated_url, keyring, tmp_path, clock=clock) as bot:
        sweeper = safety_jobs_for(bot.app).sweeper
        review = await fill_report(emu, bot.app.i18n, early, "other", OTHER, language="en")
        await submit(emu, early, review)
        await emu.wait_for_bot_message(group, lambda m: CODE.search(m.text or ""))
        await emu.wait_for_bot_message(early, lambda m: CODE.search(m.text or ""))
        await emu.wait_until(lambda: early.messages()[-1].from_bot)
        await outbox_settled(bot.app)
        first = await sweeper.run_due()
        # The worker erases every payload as it records the row sent, the alert's (the card and
        # its files) included: the sweeper finds none left.
        assert first["payloads"] == 0
        assert all(row.payload_enc is None for row in await rows(migrated_url, Outbox))
        assert first["reporters_erased"] == 0

        await move_clock(bot.app, clock, dt.timedelta(days=89))
        # Someone else starts a report and leaves it unfinished.
        menu = await agree(emu, late)
        await late.press(menu, FlowCB(action=FlowAction.TYPE, value="detention").pack())
        await emu.wait_for_bot_message(late)
        assert len(await rows(migrated_url, Draft)) == 1
        # 90 days and an hour after the report.
        await move_clock(bot.app, clock, dt.timedelta(days=1, hours=1))

        counts = await sweeper.run_due()
        assert counts["reporters_erased"] == 1
        assert counts["drafts"] == 1  # idle for more than 24 hours
        again = await sweeper.run_due()  # a second pass (or replica) finds nothing to do
        assert again["reporters_erased"] == again["drafts"] == 0
        # Message ids kept for /wipe go after Telegram's 48 hours, when they are of no use.
        await outbox_settled(bot.app)  # each id is recorded as its row is marked sent
        kept = len(await rows(migrated_url, TrackedMessage))
        assert kept > 0
        await move_clock(bot.app, clock, dt.timedelta(hours=48))
        assert (await sweeper.run_due())["tracked_messages"] == kept

    reporters = await rows(migrated_url, Reporter)
    erased = [r for r in reporters if r.erased_at is not None]
    assert len(erased) == 1
    assert erased[0].external_enc is None
    (report,) = await rows(migrated_url, Report)
    assert report.reporter_id is None
    events = await rows(migrated_url, ModerationEvent, ModerationEvent.action == "erased")
    assert [(e.report_id, e.note, e.actor) for e in events] == [(report.id, "retention", None)]
    assert all(row.payload_enc is None for row in await rows(migrated_url, Outbox))
    assert len(await rows(migrated_url, AlertCard)) == 1  # the card's edit count; no text
