"""Channel-neutral outbox payloads (version 2), rendered by each channel's transport; rows queued
in the old shape (version 1: Telegram HTML and buttons, Send API messages) before an upgrade are
still delivered, the form's questions among them, and their buttons still work.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.outbox.worker as worker_module
from bot.demo.emulator.graph import MessengerUser
from bot.demo.emulator.handles import UserHandle
from bot.demo.emulator.telegram import TelegramEmulator
from bot.i18n import create_i18n
from bot.outbox.transports import telegram_html
from bot.services import messages
from bot.services.actions import checkin_actions, wipe_actions
from bot.services.context import ServiceContext
from bot.services.intake import Intake
from bot.services.messages import Span, Style
from bot.services.moderation import Moderation
from bot.services.privacy import Privacy
from bot.services.session import ReporterSession
from handlers.engine import engine
from handlers.engine.forms import FORMS
from handlers.engine.render import Translator
from handlers.messenger.delivery import MESSENGER_MESSAGE
from handlers.messenger.render import Action as Button
from handlers.messenger.render import Payload, quick_replies
from handlers.telegram.keyboards import FlowAction, FlowCB, neutral_keyboard
from storage.db import create_engine, create_sessionmaker
from storage.repositories import OutboxRepository, Reporters
from storage.sealing import Keyring
from tests.e2e import button_data, moderator_group, open_menu, running_bot
from tests.messenger_e2e import Messenger, begin, messenger_bot
from tests.safety import service_context

T = Translator(create_i18n(), "en", dt.UTC)  # type: ignore[arg-type]

# One message in both shapes: what a service queued before the upgrade, and what it queues now.
OLD_HTML = "<b>A question &lt;from&gt; the team</b>\n\nWhere &amp; when?"


def _v1(checkin_id: int) -> dict[str, Any]:
    # The buttons as version 1 rows stored them: Telegram's markup with CheckinCB's data.
    markup = {
        "inline_keyboard": [
            [
                {"text": action.label, "callback_data": f"k1:{checkin_id}:{action.args[1]}"}
                for action in checkin_actions(checkin_id, T)
            ]
        ]
    }
    return {"messages": [{"type": "text", "html": OLD_HTML, "reply_markup": markup}]}


def _v2(checkin_id: int) -> dict[str, Any]:
    text = messages.text(
        messages.bold("A question <from> the team"),
        messages.plain("Where & when?"),
        actions=[checkin_actions(checkin_id, T)],
    )
    return messages.payload([text])


def test_the_worker_names_no_channel() -> None:
    """The worker picks a transport from the registry it is given; it imports no channel and
    spells no channel's name."""
    source = Path(worker_module.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    channels = ("handlers.telegram", "handlers.messenger")
    assert not [name for name in imported if name.startswith(channels)], imported
    literals = {
        node.value.lower()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not {"telegram", "messenger"} & literals
    assert "messenger" not in source.lower()


def test_telegram_html_escapes_every_span() -> None:
    hostile = '<a href="x">&'
    rendered = telegram_html(
        [
            [Span(hostile, Style.BOLD), Span(hostile)],
            [Span(hostile, Style.ITALIC), Span(hostile, Style.CODE)],
            [Span(hostile, Style.LINK, href='https://e.x/?a="1"&b=<2>')],
        ]
    )
    escaped = '&lt;a href="x"&gt;&amp;'
    assert rendered == (
        f"<b>{escaped}</b>{escaped}\n\n<i>{escaped}</i><code>{escaped}</code>\n\n"
        f'<a href="https://e.x/?a=&quot;1&quot;&amp;b=&lt;2&gt;">{escaped}</a>'
    )


def test_neutral_actions_make_the_same_buttons_as_before() -> None:
    """Telegram: the same callback data the handlers read; Messenger: the same quick replies."""
    checkin = neutral_keyboard([checkin_actions(42, T)])
    assert checkin is not None
    assert [[b.callback_data for b in row] for row in checkin.inline_keyboard] == [
        ["k1:42:safe", "k1:42:help"]
    ]
    wipe = neutral_keyboard(wipe_actions(T, codes=True, cancel=True))
    assert wipe is not None
    assert [[b.callback_data for b in row] for row in wipe.inline_keyboard] == [
        ["w1:keep"],
        ["w1:all"],
        ["w1:no"],
    ]
    replies = quick_replies([checkin_actions(42, T)])
    assert [r["payload"] for r in replies] == [
        Payload(Button.CHECKIN, "42", "safe").encode(),
        Payload(Button.CHECKIN, "42", "help").encode(),
    ]
    # Clearing the chat has no Messenger twin: left out, as before.
    assert quick_replies(wipe_actions(T, codes=True, cancel=False)) == []


def test_plain_text_keeps_paragraphs_and_spells_out_links() -> None:
    message = messages.text(
        [messages.bold("Header")],
        [Span("the page", Style.LINK, href="https://example.org")],
    )
    assert messages.plain_text(message) == "Header\n\nthe page (https://example.org)"


async def _enqueue(
    app: Any, reporter_id: int, payload: dict[str, Any], key: str, *, kind: str = "status"
) -> None:
    async with app.sessionmaker() as session, session.begin():
        await OutboxRepository(session, app.context.keyring).enqueue(
            kind=kind,
            target="reporter",
            payload=payload,
            idempotency_key=key,
            reporter_id=reporter_id,
        )
    app.worker.notify()


async def _reporter_id(app: Any, channel: str, external_id: str | int) -> int:
    async with app.sessionmaker() as session, session.begin():
        reporter = await Reporters(session, app.context.keyring).find(channel, external_id)
        assert reporter is not None
        return reporter.id


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_a_row_queued_before_the_upgrade_still_reaches_a_telegram_reporter(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    moderator_group(emu)
    async with running_bot(emu, migrated_url, keyring, tmp_path) as bot:
        user: UserHandle = emu.user(language_code="en")
        await user.send_command("/start")
        await emu.wait_for_bot_message(user)
        reporter_id = await _reporter_id(bot.app, "telegram", user.id)

        await _enqueue(bot.app, reporter_id, _v1(7), "test:v1")
        old = await emu.wait_for_bot_message(user, lambda m: "Where & when?" in (m.text or ""))
        await _enqueue(bot.app, reporter_id, _v2(7), "test:v2")
        new = await emu.wait_for_bot_message(user, lambda m: "Where & when?" in (m.text or ""))

    assert old.text == new.text == "A question <from> the team\n\nWhere & when?"
    assert old.entities == new.entities
    assert [e["type"] for e in new.entities] == ["bold"]
    assert old.keyboard == new.keyboard
    assert len(new.keyboard[0]) == 2


@pytest.fixture
async def m(migrated_url: str, keyring: Keyring, tmp_path: Path) -> AsyncIterator[Messenger]:
    async with messenger_bot(migrated_url, keyring, tmp_path) as running:
        yield running


async def test_a_row_queued_before_the_upgrade_still_reaches_a_messenger_reporter(
    m: Messenger,
) -> None:
    user: MessengerUser = m.graph.user(locale="en_US")
    await begin(m, user)
    reporter_id = await _reporter_id(m.bot.app, "messenger", user.psid)

    before = m.graph.seq
    await _enqueue(m.bot.app, reporter_id, _v1(7), "test:v1")
    old = await m.graph.wait_for_page_message(
        user, lambda msg: "Where & when?" in (msg.text or ""), after=before
    )
    before = m.graph.seq
    await _enqueue(m.bot.app, reporter_id, _v2(7), "test:v2")
    new = await m.graph.wait_for_page_message(
        user, lambda msg: "Where & when?" in (msg.text or ""), after=before
    )

    assert old.text == new.text == "A question <from> the team\n\nWhere & when?"
    assert old.quick_replies == new.quick_replies
    assert [r["payload"] for r in new.quick_replies] == [
        Payload(Button.CHECKIN, "7", "safe").encode(),
        Payload(Button.CHECKIN, "7", "help").encode(),
    ]


async def _session_script(
    sessions: async_sessionmaker[AsyncSession], context: ServiceContext, channel: str, chat: str
) -> str:
    """consent, a report, a follow-up held and added to it, /forget asked and confirmed: what
    the session says, as one JSON text with the report's own code and id taken out."""
    said: list[Any] = []
    async with sessions() as db, db.begin():
        intake = Intake(db, context)
        reporter, _ = await intake.reporters.get_or_create(channel, chat, chat)
        reporter.language = "en"
        t = intake.translator("en")
        session = ReporterSession(
            intake=intake,
            moderation=Moderation(db, context, moderator_chat_id=-1001),
            privacy=Privacy(db, context),
            reporter=reporter,
            t=t,
        )
        assert session.consent(True)
        said.append(session.take())
        report = await intake.submit(
            reporter,
            engine.Submitted(
                form=FORMS["other"],
                answers={"other_kind": "threats", "relation": "self", "contact": "chat"},
                region=None,
                incident_date=None,
                subject=None,
            ),
            channel=channel,
            language="en",
        )
        assert await session.offer([{"type": "text", "html": "One more thing"}]) is not None
        said.append(session.take())
        await session.follow(report.id)
        said.append(session.take())
        assert not await session.forget("", "Erase?")
        said.append(session.take())
        assert await session.forget("yes", "Erase?")
        said.append(session.take())
    text = json.dumps(said, ensure_ascii=False)
    return text.replace(report.public_code, "CODE").replace(f'"{report.id}"', '"ID"')


async def test_one_session_says_the_same_on_every_channel(
    migrated_url: str, keyring: Keyring
) -> None:
    engine_ = create_engine(migrated_url)
    try:
        context = service_context(keyring)
        sessions = create_sessionmaker(engine_)
        on_telegram = await _session_script(sessions, context, "telegram", "5550001")
        on_messenger = await _session_script(sessions, context, "messenger", "7000000000000001")
    finally:
        await engine_.dispose()
    assert on_telegram == on_messenger
    said = json.loads(on_telegram)
    assert said[0] == [[], "Thank you."]  # an acknowledgement: a notice, or a message
    offer = said[1][0][0]
    assert [a["intent"] for row in offer["actions"] for a in row] == ["follow", "follow"]
    assert offer["actions"][0][0]["args"] == ["ID"]
    assert "CODE" in json.dumps(said[2])
    assert [a["args"] for a in said[3][0][0]["actions"][0]] == [["yes"], ["no"]]
    assert "erased" in said[4][0][0]["paragraphs"][0][0]["text"]


async def _enqueue_reply(app: Any, reporter_id: int, payload: dict[str, Any], key: str) -> None:
    """A row as an update's replies were queued (bot/services/replies.py, kind "reply")."""
    await _enqueue(app, reporter_id, payload, f"reply:{key}", kind="reply")


FIRST_QUESTION = FORMS["detention"].steps[0].question


async def test_a_form_question_queued_before_the_form_was_neutral_still_works_on_telegram(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    """The types menu as the Telegram conversation queued it before issue 12 (version 1: HTML
    and flow buttons, a prompt) arrives as it was, and its button still leads to the form: the
    callback data is what today's neutral menu carries too."""
    moderator_group(emu)
    async with running_bot(emu, migrated_url, keyring, tmp_path) as bot:
        user: UserHandle = emu.user(language_code="en")
        menu = await open_menu(emu, user)
        reporter_id = await _reporter_id(bot.app, "telegram", user.id)
        data = FlowCB(action=FlowAction.TYPE, value="detention").pack()
        assert data in button_data(menu)  # the neutral menu's button, byte for byte
        markup = {"inline_keyboard": [[{"text": "Detention", "callback_data": data}]]}
        old = {
            "version": 1,
            "messages": [
                {
                    "type": "text",
                    "html": "<b>What do you want to report?</b> (queued before)",
                    "reply_markup": markup,
                    "prompt": True,
                }
            ],
        }
        await _enqueue_reply(bot.app, reporter_id, old, "test:v1-form")
        queued = await emu.wait_for_bot_message(user, lambda m: "queued before" in (m.text or ""))
        assert queued.keyboard == markup["inline_keyboard"]
        assert [e["type"] for e in queued.entities] == ["bold"]
        await user.press(queued, data)
        question = bot.app.context.catalogs.gettext(FIRST_QUESTION, locale="en")
        asked = await emu.wait_for_bot_message(user, lambda m: question in (m.text or ""))
        assert asked.keyboard


async def test_a_form_question_queued_before_the_form_was_neutral_still_works_on_messenger(
    m: Messenger,
) -> None:
    """The types menu as the Messenger conversation queued it before issue 12 (Send API
    messages inside a version 2 row, beside a neutral text) arrives as it was, and its quick
    reply still leads to the form."""
    user: MessengerUser = m.graph.user(locale="en_US")
    menu = await begin(m, user)
    reporter_id = await _reporter_id(m.bot.app, "messenger", user.psid)
    payload = Payload(Button.TYPE, value="detention").encode()
    assert payload in [r["payload"] for r in menu.quick_replies]  # today's menu, the same
    sent_as_is = {
        "text": "What do you want to report? (queued before)",
        "quick_replies": [{"content_type": "text", "title": "Detention", "payload": payload}],
    }
    old = messages.payload(
        [
            messages.text(messages.plain("Thank you.")),
            {"type": MESSENGER_MESSAGE, "message": sent_as_is},
        ]
    )
    before = m.graph.seq
    await _enqueue_reply(m.bot.app, reporter_id, old, "test:v1-form")
    queued = await m.graph.wait_for_page_message(
        user, lambda msg: "queued before" in (msg.text or ""), after=before
    )
    assert queued.message == sent_as_is
    assert [msg.text for msg in m.graph.page_messages(user) if msg.seq > before][0] == "Thank you."
    await user.tap(payload=payload)
    question = m.i18n.gettext(FIRST_QUESTION, locale="en")
    await m.graph.wait_for_page_message(user, lambda msg: question in (msg.text or ""))
