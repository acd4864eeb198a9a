"""One form driver and one table of commands for every channel (bot/services/form.py,
bot/services/commands.py): the same report written through the
Telegram adapter (handlers/telegram/conversation.py) and the Messenger adapter
(handlers/messenger/conversation.py), button by button and answer by answer, says the same
channel-neutral messages; each channel's renderer then does its own with them (Telegram edits the
pressed question in place, Messenger, which cannot edit, sends it anew or not at all).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, User
from aiogram.types import Chat as TelegramChat
from aiogram.types import Message as TelegramMessage
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.outbox.transports import TelegramTransport
from bot.services import messages
from bot.services.actions import (
    checkin_actions,
    consent_actions,
    followup_actions,
    forget_actions,
    language_actions,
    wipe_actions,
)
from bot.services.buttons import NO_ROW, row_id
from bot.services.context import ServiceContext
from bot.services.intake import Intake
from bot.services.messages import Action, Intent
from bot.services.moderation import Moderation
from bot.services.privacy import Privacy
from bot.services.replies import Replies
from bot.services.session import (
    FORGOTTEN,
    LANGUAGE_CHANGED,
    NOT_NOW,
    NOTHING_DELETED,
    NOTHING_ERASED,
    THANK_YOU,
    ReporterSession,
)
from handlers.engine import engine
from handlers.engine.render import Translator
from handlers.messenger.conversation import MessengerConversation
from handlers.messenger.events import MessageEvent
from handlers.messenger.render import Action as Button
from handlers.messenger.render import Payload, button_action, from_neutral, quick_replies
from handlers.telegram.cards import render_card
from handlers.telegram.conversation import Conversation
from handlers.telegram.keyboards import button_action as telegram_button
from handlers.telegram.keyboards import neutral_keyboard
from handlers.telegram.reporter import create_router, on_command
from storage.db import create_sessionmaker
from storage.sealing import Keyring
from tests.safety import service_context

TYPED = {"subject": "Марат <b>&", "when": "20.11.2026 14:30", "account": "Пришли утром"}
CHANGED = "Марат Б."

Said = list[dict[str, Any]]


@dataclass
class Chat:
    """A reporter on one channel, each call one update in its own transaction, as the inbound
    pipeline runs them; what the update said is kept in `said`."""

    channel: str
    chat: str
    sessions: async_sessionmaker[AsyncSession]
    context: ServiceContext
    said: list[Said] = field(default_factory=list)
    answers: list[str | None] = field(default_factory=list)
    updates: int = 0
    consented: bool = True

    async def _update(self, act: Callable[[Any], Awaitable[None]]) -> Said:
        self.updates += 1
        async with self.sessions() as db, db.begin():
            intake = Intake(db, self.context)
            reporter, _ = await intake.reporters.get_or_create(self.channel, self.chat, self.chat)
            reporter.language = "en"
            privacy = Privacy(db, self.context)
            if self.consented:
                privacy.accept_consent(reporter)
            moderation = Moderation(db, self.context, moderator_chat_id=-1001)
            replies = Replies("reporter", f"{self.channel}:{self.updates}", reporter.id)
            t = intake.translator("en")
            if self.channel == "telegram":
                session = ReporterSession(intake, moderation, privacy, reporter, t)
                await act(Conversation(replies, session))
            else:
                await act(MessengerConversation(intake, moderation, privacy, reporter, t, replies))
        self.said.append(replies.messages)
        self.answers.append(replies.press.text if replies.press else None)
        return replies.messages

    async def new(self) -> Said:
        """/new, typed."""
        if self.channel == "telegram":
            return await self._update(lambda conversation: conversation.new())
        return await self._update(lambda c: c.on_payload(Payload(Button.NEW)))

    async def command(self, name: str) -> Said:
        """A command typed: Telegram's command filter hands it to its handler, Messenger's
        conversation reads it from the text."""
        if self.channel == "telegram":
            parsed = CommandObject(prefix="/", command=name)

            async def handler(c: Conversation) -> None:
                await on_command(None, parsed, c.replies, c.session)  # type: ignore[arg-type]

            return await self._update(handler)
        event = MessageEvent(self.chat, 0, f"m{self.updates}", text=f"/{name}")
        return await self._update(lambda c: c.on_message(event))

    async def type(self, text: str) -> Said:
        if self.channel == "telegram":
            return await self._update(lambda c: c.handle(engine.Text(text)))
        event = MessageEvent(self.chat, 0, f"m{self.updates}", text=text)
        return await self._update(lambda c: c.on_message(event))

    async def press(self, action: Action) -> Said:
        """The action's button as the platform sends it back: callback data, or a payload."""
        return await self.tap(button_data(self.channel, action))

    async def tap(self, data: str) -> Said:
        """A button pressed, its data as the platform hands it back: Telegram's callback data
        through the reporter's router (its filters read it back), Messenger's payload through
        its conversation."""
        if self.channel == "telegram":
            # The pressed message's id: Telegram's, made up here from the update's number.
            query = _callback_query(self.chat, data, message_id=1000 + self.updates)

            async def handler(c: Conversation) -> None:
                router = create_router()
                await router.propagate_event(
                    "callback_query", query, replies=c.replies, reporter_session=c.session
                )

            return await self._update(handler)
        payload = Payload.decode(data)
        assert payload is not None
        return await self._update(lambda c: c.on_payload(payload, pressed=True))


def button_data(channel: str, action: Action) -> str:
    """The data of the action's button on `channel`, as its renderer makes it."""
    if channel == "telegram":
        markup = neutral_keyboard([[action]])
        assert markup is not None
        return str(markup.inline_keyboard[0][0].callback_data)
    return quick_replies([[action]])[0]["payload"]


def _callback_query(chat: str, data: str, *, message_id: int) -> CallbackQuery:
    """A press of a button under the bot's message `message_id`, as Bot API's CallbackQuery
    carries it (core.telegram.org/bots/api#callbackquery)."""
    user = User(id=int(chat), is_bot=False, first_name="R")
    message = TelegramMessage(
        message_id=message_id,
        date=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        chat=TelegramChat(id=int(chat), type="private"),
    )
    return CallbackQuery(
        id=str(message_id), from_user=user, chat_instance="1", message=message, data=data
    )


def _shown(said: Said) -> dict[str, Any]:
    """The last message of the form in what an update said (a question, the review...)."""
    forms = [message for message in said if messages.form_hints(message)]
    assert forms, said
    return forms[-1]


def _find(message: dict[str, Any], intent: Intent, *args: str) -> Action | None:
    candidates = [*messages.choices(message), *(a for r in messages.actions(message) for a in r)]
    for action in candidates:
        if action.intent is intent and tuple(action.args[: len(args)]) == args:
            return action
    return None


async def _write_a_report(chat: Chat) -> None:
    """Start, cancel, start again; answer every question of the search form as a person would
    (options tapped, several things seized ticked one by one, text typed, the date typed); at
    the review change an answer through the list of answers, then send."""
    said = await chat.new()
    said = await chat.press(_find(_shown(said), Intent.CHOOSE_FORM, "search") or _no())
    said = await chat.press(_find(_shown(said), Intent.CANCEL) or _no())
    said = await chat.new()
    said = await chat.press(_find(_shown(said), Intent.CHOOSE_FORM, "search") or _no())
    changed = False
    for _ in range(60):
        shown = _shown(said)
        hints = messages.form_hints(shown)
        part, step = hints.get("part"), str(hints.get("step") or "")
        choices = messages.choices(shown)
        if part == "review" and not changed:
            said = await chat.press(_find(shown, Intent.EDIT_MENU) or _no())
        elif part == "edit_list":
            said = await chat.press(_find(shown, Intent.EDIT, "subject") or _no())
        elif part == "review":
            await chat.press(_find(shown, Intent.SUBMIT) or _no())
            return
        elif step == "subject" and chat.updates > 20:
            said = await chat.type(CHANGED)
            changed = True
        elif confirm := _find(shown, Intent.PICK, step, engine.CONFIRM):
            said = await chat.press(confirm)
        elif choices and _find(shown, Intent.DONE, step):  # several things seized
            await chat.press(choices[0])
            await chat.press(choices[1])  # a toggle: the question is redrawn
            said = await chat.press(_find(_shown(chat.said[-1]), Intent.DONE) or _no())
        elif choices:
            said = await chat.press(choices[0])
        elif step in TYPED:
            said = await chat.type(TYPED[step])
        else:  # files, or a question to skip
            said = await chat.press(
                _find(shown, Intent.DONE, step) or _find(shown, Intent.SKIP, step) or _no()
            )
    raise AssertionError("the review was never reached")


def _no() -> Action:
    raise AssertionError("the button the script wants is not offered")


def _without_platform_ids(said: list[Said]) -> str:
    """What was said, the platforms' message ids left out (Telegram names the pressed message,
    Messenger cannot)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "message_id"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(said), ensure_ascii=False, sort_keys=True)


async def test_the_same_report_says_the_same_on_telegram_and_messenger(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    context = service_context(keyring)
    sessions = create_sessionmaker(db_engine)
    telegram = Chat("telegram", "5550001", sessions, context)
    messenger = Chat("messenger", "7000000000000001", sessions, context)
    await _write_a_report(telegram)
    await _write_a_report(messenger)

    assert telegram.updates == messenger.updates
    assert _without_platform_ids(telegram.said) == _without_platform_ids(messenger.said)
    every = [message for said in telegram.said for message in said]
    edits = [m for m in every if "edit" in m]
    # A tap answers a question: it keeps its answer on Telegram; Messenger's chat shows the tap.
    answered = [m for m in edits if m["edit"]["otherwise"] == "skip"]
    assert answered and all("actions" not in m for m in answered)
    assert any(messages.plain_paragraphs(m)[-1].startswith("✓ ") for m in answered)
    # A toggle redraws the question, the review swaps its buttons: sent anew where not edited.
    redrawn = [m for m in edits if m["edit"]["otherwise"] == "send"]
    parts = [messages.form_hints(m)["part"] for m in redrawn]
    assert parts == ["question", "question", "edit_list"]
    ticked = [[c.args[1] for c in messages.choices(m) if c.selected] for m in redrawn[:2]]
    assert [len(options) for options in ticked] == [1, 2]
    assert all(m["edit"]["message_id"] >= 1000 for m in edits)  # Telegram's pressed message
    # Cancelled, with a new report offered (as a button where there is no command menu).
    assert any(_find(m, Intent.NEW) for m in every if "form" not in m)
    # Sent: the press's answer on Telegram; the receipt is the intake's.
    assert telegram.answers[-1] == "Sending…"
    assert messenger.answers[-1] is None
    send_pressed_on = 1000 + telegram.updates - 1  # the review's message
    assert telegram.said[-1] == [{"type": "clear_buttons", "message_id": send_pressed_on}]
    assert CHANGED in json.dumps(
        [m for said in telegram.said[-3:] for m in said], ensure_ascii=False
    )

    # Each channel renders the same messages its own way.
    transport = TelegramTransport(bot=None, keyboard=neutral_keyboard, cards=render_card)  # type: ignore[arg-type]
    toggle = redrawn[1]
    on_telegram = transport.render(toggle)
    assert on_telegram["type"] == "edit"
    assert on_telegram["message_id"] == toggle["edit"]["message_id"]
    assert "✅ " in json.dumps(on_telegram["reply_markup"], ensure_ascii=False)
    kept = transport.render(answered[0])  # the question keeps its answer, without buttons
    assert kept["type"] == "edit" and "reply_markup" not in kept
    unknown = {**answered[0], "edit": {"otherwise": "skip"}}  # which message, not known
    assert transport.render(unknown)["type"] == "nothing"
    assert from_neutral(answered[0]) == []
    anew = from_neutral(toggle)
    assert anew[-1]["quick_replies"] and "Selected: " in anew[-1]["text"]
    listed = redrawn[2]
    assert from_neutral(listed)[0]["attachment"]["payload"]["template_type"] == "generic"


def _texts(said: Said) -> list[str]:
    return [messages.plain_text(m) for m in said if messages.is_neutral(m)]


async def test_the_commands_are_one_table_on_telegram_and_messenger(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    """Each command does the same on both channels, before consent and after; what differs is
    the channel's wording (bot/services/session.py, `Wording`)."""
    context = service_context(keyring)
    sessions = create_sessionmaker(db_engine)
    chats = {
        channel: Chat(channel, chat, sessions, context, consented=False)
        for channel, chat in (("telegram", "5550002"), ("messenger", "7000000000000002"))
    }
    said: dict[str, dict[str, Said]] = {"telegram": {}, "messenger": {}}
    for channel, chat in chats.items():
        for name in ("new", "cancel", "help", "wipe", "language", "forget", "start"):
            said[channel][name] = await chat.command(name)
        chat.consented = True
        for name in ("start", "new", "help", "cancel"):
            said[channel][f"{name}, agreed"] = await chat.command(name)

    for channel in chats:
        ours = said[channel]
        # Before consent: a report cannot begin, nor be cancelled; the notice says why.
        for name in ("new", "cancel"):
            assert [messages.form_hints(m) for m in ours[name]] == [{}]
            assert [a["intent"] for a in ours[name][0]["actions"][0]] == ["consent"]
        # What is allowed before it: how it works, leaving no trace, the language.
        assert "How it works" in _texts(ours["help"])[0]
        assert [a["intent"] for row in ours["forget"][0]["actions"] for a in row] == [
            "forget",
            "forget",
        ]
        assert {a["intent"] for row in ours["language"][0]["actions"] for a in row} == {"language"}
        # After it: /start welcomes and asks what happened; /new asks it anew; /cancel cancels.
        assert messages.form_hints(ours["start, agreed"][-1])["part"] == "types"
        assert messages.form_hints(ours["new, agreed"][-1])["part"] == "types"
        assert "cancelled" in _texts(ours["cancel, agreed"])[-1]
    telegram, messenger = said["telegram"], said["messenger"]
    for name in ("new, agreed", "cancel, agreed"):
        assert _without_platform_ids([telegram[name]]) == _without_platform_ids([messenger[name]])
    # The notice names who can see the conversation; Messenger's offers only the other
    # languages (quick replies are few).
    assert "Telegram" in _texts(telegram["new"])[0] and "Meta" in _texts(messenger["new"])[0]
    offered = [[a["args"] for a in m[0]["actions"][2]] for m in (telegram["new"], messenger["new"])]
    assert offered == [[["kk"], ["ru"], ["en"]], [["kk"], ["ru"]]]
    # The wording's differences: Messenger's thread opens empty, so /start welcomes before the
    # notice; its buttons show under the latest message only, so /help asks the question again.
    assert len(telegram["start"]) == 1 and len(messenger["start"]) == 2
    assert not any(messages.form_hints(m) for m in telegram["help, agreed"])
    assert messages.form_hints(messenger["help, agreed"][-1])["part"] == "types"
    # Telegram's /wipe asks; a Page can delete nothing, so Messenger's says how to by hand.
    assert telegram["wipe"][0]["actions"] and "actions" not in messenger["wipe"][0]


def _as_said_on_messenger(chat: Chat) -> list[Said]:
    """What each update said, the press's answer put first as a message of its own: Telegram
    answers a press with a notice (answerCallbackQuery), Messenger has none and says it."""
    return [
        ([messages.text(messages.plain(answer))] if answer else []) + said
        for said, answer in zip(chat.said, chat.answers, strict=True)
    ]


def _offered(rows: Sequence[Sequence[Action]], intent: Intent, *args: str) -> Action:
    for action in (a for row in rows for a in row):
        if action.intent is intent and action.args == args:
            return action
    raise AssertionError(f"no {intent} {args} among the actions")


async def _press_every_button(chat: Chat, t: Translator) -> None:
    """Every reporter button other than the form's, as a person could press them: before the
    consent notice is agreed to, then after; some for rows that are not theirs, one forged."""
    consent = consent_actions(t)
    forget = [forget_actions(t)]
    # Before consent: a follow-up (as the form) waits for the notice; a check-in's answer does
    # not (a call for help is never held back); the notice's language and answers work.
    await chat.press(_offered(followup_actions([(7, "R-1")], t), Intent.FOLLOW, "7"))
    await chat.press(_offered([checkin_actions(12345, t)], Intent.CHECKIN, "12345", "safe"))
    await chat.press(_offered([language_actions()], Intent.LANGUAGE, "ru"))
    await chat.press(_offered(consent, Intent.CONSENT, "no"))
    await chat.press(_offered(consent, Intent.CONSENT, "yes"))
    # After it: a check-in and a report that are not the reporter's find nothing.
    await chat.press(_offered([checkin_actions(12345, t)], Intent.CHECKIN, "12345", "help"))
    await chat.press(_offered(followup_actions([(12345, "R-2")], t), Intent.FOLLOW, "12345"))
    await chat.press(Action(Intent.LANGUAGE, ("xx",), "forged"))
    await chat.press(_offered(forget, Intent.FORGET, "no"))
    await chat.press(_offered(followup_actions([(7, "R-1")], t), Intent.FOLLOW, "0"))
    await chat.press(_offered(forget, Intent.FORGET, "yes"))


async def test_every_reporter_button_does_the_same_on_telegram_and_messenger(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    """Consent, language, check-in, follow-up and /forget buttons, pressed as each platform hands
    them back (callback data through Telegram's reporter router, payloads through Messenger's
    conversation), are one table (bot/services/buttons.py): the same neutral messages, before
    consent and after, for rows not the reporter's and forged args too."""
    context = service_context(keyring)
    sessions = create_sessionmaker(db_engine)
    t = context.translator("en")
    chats = {
        channel: Chat(channel, chat, sessions, context, consented=False)
        for channel, chat in (("telegram", "5550003"), ("messenger", "7000000000000003"))
    }
    for chat in chats.values():
        await _press_every_button(chat, t)
    telegram, messenger = (_as_said_on_messenger(chat) for chat in chats.values())
    # The same messages, but where the channel's `Wording` (bot/services/session.py) says
    # otherwise: the notice names who can see the conversation and Messenger's offers only the
    # other languages, Messenger asks the language in all three at once; and "A new report
    # instead", which on Messenger is the form's New (its quick replies are few).
    new_report = 9
    same = [1, 3, 4, 5, 6, 8, 10]
    assert _without_platform_ids([telegram[i] for i in same]) == _without_platform_ids(
        [messenger[i] for i in same]
    )
    for said in (telegram, messenger):
        assert [a["intent"] for a in said[0][0]["actions"][0]] == ["consent"]  # waits for it
        closed = ["This check-in is already closed."]
        assert _texts(said[1]) == closed  # not the reporter's: nothing changes
        # The notice again, in the language chosen, the change acknowledged first.
        changed, cleared, notice = said[2]
        assert messages.plain_text(changed) == context.translator("ru")(LANGUAGE_CHANGED)
        assert cleared["type"] == "clear_buttons"
        assert messages.plain_text(notice) != messages.plain_text(said[0][0])
        assert "consent" in json.dumps(notice["actions"])
        assert _texts(said[3]) == [t(NOT_NOW)]
        assert _texts(said[4])[0] == t(THANK_YOU)
        assert messages.form_hints(said[4][-1])["part"] == "types"
        assert _texts(said[5]) == closed
        assert "can no longer receive additions" in _texts(said[6])[0]
        assert {a["intent"] for a in said[7][0]["actions"][0]} == {"language"}  # asked again
        assert _texts(said[8]) == [t(NOTHING_ERASED)]
        assert messages.form_hints(said[new_report][-1])["part"] == "types"
        assert _texts(said[10]) == [t(FORGOTTEN)]
    # Telegram takes the buttons off the pressed message (its id); Messenger's go by themselves.
    assert chats["telegram"].said[3][0] == {"type": "clear_buttons", "message_id": 1003}
    assert chats["telegram"].said[new_report][0]["type"] == "clear_buttons"


async def test_wipe_answers_delete_on_telegram_and_say_how_on_messenger(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    """/wipe's answers: Telegram deletes the pressed message (and the chat's tracked ones) and
    leaves one neutral line, or deletes nothing; a Page can delete no message, so Messenger
    offers no such button, and the /wipe postback, whatever it carries, says how by hand."""
    context = service_context(keyring)
    sessions = create_sessionmaker(db_engine)
    t = context.translator("en")
    rows = wipe_actions(t, codes=False, cancel=True)
    telegram = Chat("telegram", "5550004", sessions, context)
    said = await telegram.press(_offered(rows, Intent.WIPE, "no"))
    assert said == [{"type": "clear_buttons", "message_id": 1000}]
    assert telegram.answers[-1] == t(NOTHING_DELETED)
    said = await telegram.press(_offered(rows, Intent.WIPE, "all"))
    assert said[0] == {"type": "delete", "message_ids": [1001]}
    assert _texts(said[1:]) == ["The chat was cleared."]

    messenger = Chat("messenger", "7000000000000004", sessions, context)
    assert quick_replies(rows) == []
    by_hand = await messenger.tap("rb1:wp::all")
    assert by_hand == await messenger.command("wipe")
    assert "delete it in Messenger" in _texts(by_hand)[0]


# Button data recorded from chats before the buttons were neutral: each reads back as the same
# intent and args, and the renderers still make it byte for byte.
RECORDED_CALLBACK_DATA = {
    "c1:yes": (Intent.CONSENT, ("yes",)),
    "l1:kk": (Intent.LANGUAGE, ("kk",)),
    "k1:42:help": (Intent.CHECKIN, ("42", "help")),
    "a1:0": (Intent.FOLLOW, ("0",)),
    "a1:42": (Intent.FOLLOW, ("42",)),
    "w1:keep": (Intent.WIPE, ("keep",)),
    "g1:no": (Intent.FORGET, ("no",)),
}
RECORDED_PAYLOADS = {
    "rb1:ok::yes": (Intent.CONSENT, ("yes",)),
    "rb1:l::kk": (Intent.LANGUAGE, ("kk",)),
    "rb1:ck:42:help": (Intent.CHECKIN, ("42", "help")),
    "rb1:fu::42": (Intent.FOLLOW, ("42",)),
    "rb1:fg::yes": (Intent.FORGET, ("yes",)),
    "rb1:p:region:almaty": (Intent.PICK, ("region", "almaty")),
}


def test_buttons_already_in_chats_read_back_as_before() -> None:
    for data, (intent, args) in RECORDED_CALLBACK_DATA.items():
        assert telegram_button(data) == (intent, args)
        assert button_data("telegram", Action(intent, args, "label")) == data
    for data, (intent, args) in RECORDED_PAYLOADS.items():
        payload = Payload.decode(data)
        assert payload is not None and button_action(payload) == (intent, args)
        assert button_data("messenger", Action(intent, args, "label")) == data
    # The form's buttons and forged data are not the reporter's other buttons: beyond a 32-bit
    # row id, or not a number, nothing unpacks and no handler takes the press.
    for forged in ("f1:p:region:almaty", "k1:2147483648:safe", "a1:-1", "a1:x", "k1::safe"):
        assert telegram_button(forged) is None
    assert row_id("2147483647") == 2**31 - 1
    for bad in ("2147483648", "99999999999", "-1", "٣", "", "4 2"):
        assert row_id(bad) == NO_ROW


@pytest.mark.parametrize(
    ("channel", "chat_id", "consent", "forged"),
    [
        ("telegram", "5550005", "c1:yes", "k1:99999999999:safe"),
        ("messenger", "7000000000000005", "rb1:ok::yes", "rb1:ck:99999999999:safe"),
    ],
)
async def test_an_old_button_still_works_and_a_forged_one_changes_nothing(
    db_engine: AsyncEngine, keyring: Keyring, channel: str, chat_id: str, consent: str, forged: str
) -> None:
    context = service_context(keyring)
    chat = Chat(channel, chat_id, create_sessionmaker(db_engine), context, consented=False)
    said = await chat.tap(consent)
    assert messages.form_hints(said[-1])["part"] == "types"  # agreed: what happened?
    said = await chat.tap(forged)
    # Telegram's cannot unpack (no handler takes it); Messenger's names no row (NO_ROW).
    expected = [] if channel == "telegram" else ["This check-in is already closed."]
    assert _texts(said) == expected
