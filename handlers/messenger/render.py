"""Channel-neutral messages (bot/services/messages.py) as Messenger messages: plain text, quick
replies, templates; the outbox's Messenger transport sends what `from_neutral` makes.

Messenger shows no markup, so everything is plain text. Actions become quick replies (at most 13,
titles of at most 20 characters, shown under the last message only). For the form's messages
(bot/services/form.py) the layout is Messenger's own, from the hints they carry: a question's
options that do not fit beside its buttons are paged with a "More options" quick reply; a label
too long for a title uses its short label, and the message lists short and full label together.
The review is a summary, then a button template (Send, Change an answer, Cancel); the answers to
change are a carousel with a Change button on each.

Payloads say which action on which step, nothing more: the engine checks the step against the
draft, so an old button or a forged payload changes nothing.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.services import messages
from bot.services.messages import FORM_INTENTS, Intent
from bot.services.messages import FormPart as Part
from bot.services.splitting import split_text as split_sentences
from handlers.messenger.graph import (
    BUTTON_TEXT_LIMIT,
    BUTTONS_MAX,
    ELEMENT_TEXT_LIMIT,
    ELEMENTS_MAX,
    QUICK_REPLIES_MAX,
    TEXT_LIMIT,
    TITLE_LIMIT,
)

log = logging.getLogger(__name__)

Message = dict[str, Any]

PREFIX = "rb1"

# Cut at a word boundary, as the form's answers are (the webhook's greeting and menu too).
shorten = messages.shorten


class Action(enum.StrEnum):
    TYPE = "t"
    PICK = "p"
    DONE = "d"
    SKIP = "s"
    BACK = "b"
    CANCEL = "c"
    EDIT = "e"
    SUBMIT = "x"
    MORE = "m"  # the next page of a long vocabulary (value: the page)
    EDIT_MENU = "em"  # the answers as a carousel, to pick one to change
    SHOW = "v"  # say again what is being asked (back from the carousel to the review)
    LANGUAGE = "l"  # value: kk, ru or en
    LANGUAGES = "ls"  # show the language choice
    START = "start"  # the Get Started button
    NEW = "new"
    HELP = "help"
    CONSENT = "ok"  # value: yes or no
    FORGET = "fg"  # value: "" (ask), yes or no
    WIPE = "wp"
    CHECKIN = "ck"  # step: the check-in's id, value: safe or help
    SKIP_DETAILS = "sd"  # skip the optional details up to the next question that matters
    FOLLOW = "fu"  # value: the report a held message is added to (bot.services.followups)


@dataclass(frozen=True)
class Payload:
    """Version 1 of the quick-reply and postback payloads: action, step key, value."""

    action: str
    step: str = ""
    value: str = ""

    def encode(self) -> str:
        return ":".join((PREFIX, self.action, self.step, self.value))

    @classmethod
    def decode(cls, raw: str | None) -> Payload | None:
        parts = (raw or "").split(":", 3)
        if len(parts) != 4 or parts[0] != PREFIX:
            return None
        return cls(parts[1], parts[2], parts[3])


GET_STARTED = Payload(Action.START).encode()


# --- text --------------------------------------------------------------------------------------
def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Messages of at most `limit` characters (Meta's 2,000: developers.facebook.com/docs/
    messenger-platform/send-messages), cut between paragraphs, else sentences, else words
    (bot/services/splitting.py), never dropped."""
    return split_sentences(text, limit)


def title(text: str, *, prefix: str = "", fallback: str | None = None) -> str:
    """A quick-reply or button title: with its prefix if that fits, else the short form."""
    for candidate in (prefix + text, text, fallback):
        if candidate is not None and len(candidate) <= TITLE_LIMIT:
            return candidate
    # Only a catalog entry longer than its short label allows gets here (tests keep them short).
    return shorten(fallback or text, TITLE_LIMIT)


def quick_reply(text: str, payload: Payload) -> dict[str, str]:
    return {"content_type": "text", "title": text, "payload": payload.encode()}


def postback(text: str, payload: Payload) -> dict[str, str]:
    return {"type": "postback", "title": text, "payload": payload.encode()}


def text_messages(text: str, quick_replies: Sequence[dict[str, str]] = ()) -> list[Message]:
    """The text in as many messages as it needs; quick replies go under the last one."""
    messages: list[Message] = [{"text": chunk} for chunk in split_text(text)]
    if quick_replies:
        messages[-1]["quick_replies"] = list(quick_replies)[:QUICK_REPLIES_MAX]
    return messages


# --- neutral messages --------------------------------------------------------------------------
# The Payload of each neutral intent (bot/services/messages.py); the conversation reads them back.
_SIMPLE: dict[Intent, Action] = {
    Intent.BACK: Action.BACK,
    Intent.CANCEL: Action.CANCEL,
    Intent.SUBMIT: Action.SUBMIT,
    Intent.EDIT_MENU: Action.EDIT_MENU,
    Intent.SHOW: Action.SHOW,
    Intent.NEW: Action.NEW,
    Intent.LANGUAGES: Action.LANGUAGES,
}
_ON_STEP: dict[Intent, Action] = {
    Intent.DONE: Action.DONE,
    Intent.SKIP: Action.SKIP,
    Intent.SKIP_DETAILS: Action.SKIP_DETAILS,
    Intent.EDIT: Action.EDIT,
}


def payload_of(action: messages.Action) -> Payload | None:
    """A neutral action as the payload the conversation reads back; None for what Messenger
    cannot do (clearing the chat: a Page cannot delete the person's messages)."""
    intent, args = action.intent, action.args
    if intent in _SIMPLE:
        return Payload(_SIMPLE[intent])
    if intent in _ON_STEP:
        return Payload(_ON_STEP[intent], args[0])
    if intent in (Intent.PICK, Intent.MORE, Intent.CHECKIN):
        kind = {Intent.PICK: Action.PICK, Intent.MORE: Action.MORE}.get(intent, Action.CHECKIN)
        return Payload(kind, args[0], args[1])
    if intent is Intent.FOLLOW:
        report = args[0]
        return Payload(Action.NEW) if report == "0" else Payload(Action.FOLLOW, value=report)
    single = {
        Intent.CHOOSE_FORM: Action.TYPE,
        Intent.CONSENT: Action.CONSENT,
        Intent.LANGUAGE: Action.LANGUAGE,
        Intent.FORGET: Action.FORGET,
    }.get(intent)
    return Payload(single, value=args[0]) if single is not None else None


_FORM_INTENTS: dict[str, Intent] = {
    **{action.value: intent for intent, action in _SIMPLE.items() if intent in FORM_INTENTS},
    **{action.value: intent for intent, action in _ON_STEP.items()},
    Action.PICK.value: Intent.PICK,
    Action.MORE.value: Intent.MORE,
    Action.TYPE.value: Intent.CHOOSE_FORM,
}


def form_action(payload: Payload) -> tuple[Intent, tuple[str, ...]] | None:
    """A payload read back as one of the form's actions (bot/services/form.py); None for any
    other payload."""
    return messages.read_back(_FORM_INTENTS.get(payload.action), payload.step, payload.value)


# The reporter's other buttons (bot/services/buttons.py) by their payload's action; the same
# payloads as before they were neutral ("rb1:ok::yes", "rb1:ck:42:safe"), so quick replies
# already in conversations keep working. /wipe's postback is a command (Messenger has no
# answers to it: a Page deletes nothing), as is /forget's with no answer.
_BUTTONS: dict[str, Intent] = {
    Action.CONSENT.value: Intent.CONSENT,
    Action.LANGUAGE.value: Intent.LANGUAGE,
    Action.CHECKIN.value: Intent.CHECKIN,
    Action.FOLLOW.value: Intent.FOLLOW,
    Action.FORGET.value: Intent.FORGET,
}


def button_action(payload: Payload) -> tuple[Intent, tuple[str, ...]] | None:
    """A payload read back as any of the reporter's buttons: the form's (`form_action`), or
    one of the others with its args (a check-in's id and answer, else the one value); None for
    any other payload."""
    intent = _BUTTONS.get(payload.action)
    if intent is None:
        return form_action(payload)
    if intent is Intent.CHECKIN:
        return intent, (payload.step, payload.value)
    return intent, (payload.value,)


def action_title(action: messages.Action) -> str:
    """An action's title: its label if that fits, else its short label."""
    return title(action.label, fallback=action.short)


def _reply(action: messages.Action, text: str | None = None) -> dict[str, str] | None:
    payload = payload_of(action)
    return quick_reply(text or action_title(action), payload) if payload is not None else None


def quick_replies(rows: Sequence[Sequence[messages.Action]]) -> list[dict[str, str]]:
    """The actions a Messenger reporter can answer, as quick replies."""
    replies = [reply for row in rows for action in row if (reply := _reply(action))]
    if rows and not replies:
        log.info("a message to a Messenger reporter: its buttons are left out")
    return replies


def _legend(shown: Sequence[tuple[messages.Action, str]]) -> list[str]:
    """'Short — full label' for every option whose title is not its whole label."""
    return [f"• {text} — {option.label}" for option, text in shown if text != option.label]


# The form's buttons under a question, in the order a thumb wants them: the answer first, leaving
# last; Back only where it leads somewhere, since quick replies are few.
_NAV_ORDER = [Intent.PICK, Intent.DONE, Intent.SKIP, Intent.SKIP_DETAILS, Intent.BACK]


def _nav_rank(action: messages.Action) -> int:
    return _NAV_ORDER.index(action.intent) if action.intent in _NAV_ORDER else len(_NAV_ORDER)


def _question(message: messages.Message, hints: dict[str, Any]) -> list[Message]:
    """A question (or the choice of form): its options as quick replies, paged with "More
    options" when they and the other buttons exceed 13
    (developers.facebook.com/docs/messenger-platform/send-messages/quick-replies), titles cut to
    20 characters with a legend of short and full labels."""
    lines = messages.plain_paragraphs(message)
    texts: dict[str, str] = hints.get("texts") or {}
    if "selected" in texts:
        lines.append(texts["selected"])
    nav_actions = sorted(
        (a for row in messages.actions(message) for a in row), key=_nav_rank
    )  # sorted() is stable: Cancel stays after Back, Language after the rest
    if hints.get("can_back") is False:
        nav_actions = [a for a in nav_actions if a.intent is not Intent.BACK]
    nav = [reply for action in nav_actions if (reply := _reply(action))]
    suggested = messages.suggested(message)
    if suggested is not None:  # "did you mean": the closest option to what was typed, first
        lines.insert(1, "👉 " + suggested.label)
        nav.insert(
            0, quick_reply(title(action_title(suggested), prefix="👉 "), _payload(suggested))
        )
    choices = messages.choices(message)
    replies: list[dict[str, str]] = []
    if choices:
        step = str(hints.get("step") or "")
        page = hints.get("page")
        room = QUICK_REPLIES_MAX - len(nav)
        replies, page_lines = _page(
            choices, page if isinstance(page, int) else 0, room, step, texts
        )
        lines.extend(page_lines)
    text = "\n\n".join(lines)
    if suggested is not None:
        return text_messages(text, [nav[0], *replies, *nav[1:]])
    return text_messages(text, [*replies, *nav])


def _payload(action: messages.Action) -> Payload:
    payload = payload_of(action)
    assert payload is not None  # the form's options are all answerable here
    return payload


def _page(
    options: Sequence[messages.Action], page: int, room: int, step: str, texts: dict[str, str]
) -> tuple[list[dict[str, str]], list[str]]:
    per_page = room if len(options) <= room else room - 1  # one slot for "More options"
    pages = math.ceil(len(options) / per_page)
    page = page % pages
    first = page * per_page
    on_page = options[first : first + per_page]
    shown = [(option, action_title(option)) for option in on_page]
    replies = [
        quick_reply(title(text, prefix="✅ ") if option.selected else text, _payload(option))
        for option, text in shown
    ]
    lines: list[str] = []
    if pages > 1:
        more = texts.get("more", "…")
        replies.append(
            quick_reply(
                title(more, prefix="⋯ "), Payload(Action.MORE, step, str((page + 1) % pages))
            )
        )
        lines.append(
            texts.get("range", "{first}–{last} / {total}").format(
                first=first + 1, last=first + len(on_page), total=len(options)
            )
        )
    legend = _legend(shown)
    if legend:
        lines.append("\n".join(legend))
    return replies, lines


def _review(message: messages.Message, hints: dict[str, Any]) -> list[Message]:
    """The review: the answers as text, then a button template (Send, Change an answer, Cancel:
    at most three buttons, developers.facebook.com/docs/messenger-platform/send-messages/
    template/button) whose text says what to press, and Back as a quick reply."""
    # The header (and an error above it) on lines of their own, a blank line, the answers; the
    # last paragraph, what to press, is the template's text unless the message words it anew.
    *head, items, footer = ["", "", *messages.plain_paragraphs(message)]
    head = [line for line in head if line]
    body = text_messages("\n".join(head) + "\n\n" + items)
    actions = [a for row in messages.actions(message) for a in row]
    buttons = [
        postback(_button_title(a), _payload(a)) for a in actions if a.intent is not Intent.BACK
    ][:BUTTONS_MAX]
    texts: dict[str, str] = hints.get("texts") or {}
    template: Message = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": shorten(texts.get("buttons", footer), BUTTON_TEXT_LIMIT),
                "buttons": buttons,
            },
        }
    }
    back = [_reply(a) for a in actions if a.intent is Intent.BACK]
    template["quick_replies"] = [reply for reply in back if reply is not None]
    return [*body, template]


def _button_title(action: messages.Action) -> str:
    # Sending goes off as a letter here (the other channels tick it).
    if action.intent is Intent.SUBMIT:
        return title(action.short or action.label, prefix="📨 ")
    return action_title(action)


def _edit_menu(message: messages.Message, hints: dict[str, Any]) -> list[Message]:
    """The answers as cards of a carousel, each with a button to change it (a generic template
    holds ten cards: developers.facebook.com/docs/messenger-platform/send-messages/template/
    generic), then Send and Back as quick replies."""
    texts: dict[str, str] = hints.get("texts") or {}
    change = title(texts.get("change", ""), prefix="✏️ ")
    elements = [
        {
            "title": shorten(item.short or item.label, ELEMENT_TEXT_LIMIT),
            "subtitle": shorten(item.detail or "", ELEMENT_TEXT_LIMIT),
            "buttons": [postback(change, _payload(item))],
        }
        for item in messages.choices(message)
    ]
    sent: list[Message] = [
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "generic",
                    "elements": elements[start : start + ELEMENTS_MAX],
                },
            }
        }
        for start in range(0, len(elements), ELEMENTS_MAX)
    ]
    actions = [a for row in messages.actions(message) for a in row]
    sent[-1]["quick_replies"] = [
        quick_reply(_button_title(a), _payload(a)) for a in actions if payload_of(a) is not None
    ]
    return sent


def from_neutral(message: messages.Message) -> list[Message]:
    """A channel-neutral text (bot/services/messages.py) as Send API messages: plain text split
    to Meta's 2,000 characters, quick replies under the last part (at most 13:
    developers.facebook.com/docs/messenger-platform/send-messages/quick-replies); the form's
    questions, review and answers to change laid out for Messenger.

    A Page cannot edit a message it sent (the Send API has no such call: developers.facebook.com/
    docs/messenger-platform/reference/send-api), so a message that replaces the pressed one is
    sent as a new one, or not at all when it only records the answer in place: a tapped quick
    reply is already posted to the conversation as the person's message
    (developers.facebook.com/docs/messenger-platform/send-messages/quick-replies)."""
    edit = messages.edit_of(message)
    if edit is not None and not edit[1]:
        return []
    hints = messages.form_hints(message)
    part = hints.get("part")
    if part in (Part.TYPES, Part.QUESTION):
        return _question(message, hints)
    if part == Part.REVIEW:
        return _review(message, hints)
    if part == Part.EDIT_LIST:
        return _edit_menu(message, hints)
    return text_messages(messages.plain_text(message), quick_replies(messages.actions(message)))
