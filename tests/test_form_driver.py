"""One form driver and one table of commands for every channel (bot/services/form.py,
bot/services/commands.py): the same report written through the
Telegram adapter (handlers/telegram/conversation.py) and the Messenger adapter
(handlers/messenger/conversation.py), button by button and answer by answer, says the same
channel-neutral messages; each channel's renderer then does its own with them (Telegram edits the
pressed question in place, Messenger, which cannot edit, sends it anew or not at all).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram.filters import CommandObject
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.outbox.transports import TelegramTransport
from bot.services import messages
from bot.services.context import ServiceContext
from bot.services.intake import Intake
from bot.services.messages import Action, Intent
from bot.services.moderation import Moderation
from bot.services.privacy import Privacy
from bot.services.replies import Replies
from bot.services.session import ReporterSession
from handlers.engine import engine
from handlers.messenger.conversation import MessengerConversation
from handlers.messenger.events import MessageEvent
from handlers.messenger.render import Action as Button
from handlers.messenger.render import Payload, from_neutral, quick_replies
from handlers.telegram.cards import render_card
from handlers.telegram.conversation import Conversation
from handlers.telegram.keyboards import FlowCB, neutral_keyboard
from handlers.telegram.reporter import on_command
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
        if self.channel == "telegram":
            markup = neutral_keyboard([[action]])
            assert markup is not None
            data = FlowCB.unpack(str(markup.inline_keyboard[0][0].callback_data))
            # The pressed message's id: Telegram's, made up here from the update's number.
            message_id = 1000 + self.updates
            return await self._update(lambda c: c.press(data, message_id))
        payload = Payload.decode(quick_replies([[action]])[0]["payload"])
        assert payload is not None
        return await self._update(lambda c: c.on_payload(payload, pressed=True))


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
