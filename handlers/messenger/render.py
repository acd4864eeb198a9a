"""The engine's replies as Messenger messages: plain text, quick replies, templates.

Messenger shows no markup, so everything is plain text. Choices become quick replies (at most 13,
titles of at most 20 characters, shown under the last message only); vocabularies longer than what
fits are paged with a "More options" quick reply. A label that is too long for a title uses the
option's short label from the catalogs, and the message lists short and full label together.
The review screen is a summary, then a button template (Send, Change an answer, Cancel); "Change an
answer" shows the answers as a carousel with a Change button on each.

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
from bot.services.messages import Intent
from bot.services.splitting import split_text as split_sentences
from handlers.engine import engine
from handlers.engine.forms import StepKind
from handlers.engine.render import Translator, format_answer
from handlers.engine.text import N_
from handlers.engine.vocab import INCIDENT_TYPES, Option
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
# How much of one answer the review shows; the whole answer is kept and sent.
REVIEW_ANSWER = 300


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
def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when it must be cut."""
    text = " ".join(text.split()) if len(text) > limit else text
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    # One enormous word (a link) has no boundary to cut at; then it is cut where it must be.
    return (cut[:space] if space > 0 else cut).rstrip(" ,.;:") + "…"


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


def option_title(option: Option, t: Translator) -> str:
    label = t(option.label)
    if len(label) <= TITLE_LIMIT or option.short_label is None:
        return title(label)
    return title(t(option.short_label))


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


# --- the engine's replies ----------------------------------------------------------------------
class MessengerRenderer:
    def __init__(self, t: Translator) -> None:
        self.t = t

    def render(self, reply: engine.Reply, *, page: int = 0) -> list[Message]:
        if isinstance(reply, engine.AskForm):
            return self.ask_form(reply)
        if isinstance(reply, engine.AskStep):
            return self.ask_step(reply, page=page)
        if isinstance(reply, engine.ShowReview):
            return self.review(reply)
        return []

    def _error(self, reply: engine.AskForm | engine.AskStep | engine.ShowReview) -> list[str]:
        return [self.t.msg(reply.error)] if reply.error is not None else []

    def _legend(self, options: Sequence[tuple[Option, str]]) -> list[str]:
        """'Short — full label' for every option whose title is not its whole label."""
        return [
            f"• {shown} — {self.t(option.label)}"
            for option, shown in options
            if shown != self.t(option.label)
        ]

    def ask_form(self, reply: engine.AskForm) -> list[Message]:
        t = self.t
        shown = [(option, option_title(option, t)) for option in INCIDENT_TYPES.options]
        lines = [*self._error(reply), t(N_("What do you want to report?"))]
        legend = self._legend(shown)
        if legend:
            lines.append("\n".join(legend))
        replies = [quick_reply(text, Payload(Action.TYPE, value=o.key)) for o, text in shown]
        replies.append(
            quick_reply(title(t(N_("Language")), prefix="🌐 "), Payload(Action.LANGUAGES))
        )
        return text_messages("\n\n".join(lines), replies)

    def _nav(self, reply: engine.AskStep) -> list[dict[str, str]]:
        t = self.t
        step = reply.step
        nav: list[dict[str, str]] = []
        if reply.pending is not None:  # a date read back for confirmation (issue 15)
            nav.append(
                quick_reply(
                    title(t(N_("Yes, that's right")), prefix="✅ "),
                    Payload(Action.PICK, step.key, engine.CONFIRM),
                )
            )
        if step.kind in (StepKind.MULTI, StepKind.MEDIA):
            nav.append(
                quick_reply(title(t(N_("Done")), prefix="✔ "), Payload(Action.DONE, step.key))
            )
        if reply.can_skip:
            nav.append(quick_reply(title(t(N_("Skip")) + " »"), Payload(Action.SKIP, step.key)))
        if reply.can_skip_details:
            nav.append(
                quick_reply(
                    title(t(N_("Skip the details")), prefix="⏭ "),
                    Payload(Action.SKIP_DETAILS, step.key),
                )
            )
        if reply.can_back:
            nav.append(quick_reply(title(t(N_("Back")), prefix="« "), Payload(Action.BACK)))
        nav.append(quick_reply(title(t(N_("Cancel")), prefix="✕ "), Payload(Action.CANCEL)))
        return nav

    def ask_step(self, reply: engine.AskStep, *, page: int = 0) -> list[Message]:
        t = self.t
        step = reply.step
        lines = [*self._error(reply), t(step.question)]
        if step.kind == StepKind.MEDIA and reply.value:
            lines.append(t.plural("Received {n} file.", "Received {n} files.", len(reply.value)))
        elif step.kind in (StepKind.TEXT, StepKind.DATE, StepKind.DATETIME):
            hint = (
                N_("Type your answer, or press Skip.")
                if reply.can_skip
                else N_("Type your answer.")
            )
            lines.append(t(hint))
        if step.kind == StepKind.MULTI and reply.value:
            lines.append(t(N_("Selected: {answers}"), answers=format_answer(step, reply.value, t)))
        elif reply.value not in (None, "", []) and step.kind != StepKind.MEDIA:
            current = shorten(format_answer(step, reply.value, t), REVIEW_ANSWER)
            lines.append(t(N_("Current answer: {answer}"), answer=current))
        nav = self._nav(reply)
        vocabulary, wanted = step.vocabulary, reply.suggestion
        suggested = vocabulary.get(wanted) if vocabulary is not None and wanted else None
        if suggested is not None:  # "did you mean": the closest option to what was typed, first
            lines.insert(1, "👉 " + t(suggested.label))
            nav.insert(
                0,
                quick_reply(
                    title(option_title(suggested, t), prefix="👉 "),
                    Payload(Action.PICK, step.key, suggested.key),
                ),
            )
        choices: list[dict[str, str]] = []
        if step.vocabulary is not None and step.kind in (StepKind.CHOICE, StepKind.MULTI):
            choices, page_lines = self._choices(reply, page, room=QUICK_REPLIES_MAX - len(nav))
            lines.extend(page_lines)
        if suggested is not None:
            return text_messages("\n\n".join(lines), [nav[0], *choices, *nav[1:]])
        return text_messages("\n\n".join(lines), [*choices, *nav])

    def _choices(
        self, reply: engine.AskStep, page: int, *, room: int
    ) -> tuple[list[dict[str, str]], list[str]]:
        t = self.t
        step = reply.step
        assert step.vocabulary is not None
        options = step.vocabulary.ordered(t, t.locale)  # regions sorted per language
        per_page = room if len(options) <= room else room - 1  # one slot for "More options"
        pages = math.ceil(len(options) / per_page)
        page = page % pages
        first = page * per_page
        on_page = options[first : first + per_page]
        selected = set(reply.value or []) if step.kind == StepKind.MULTI else set()
        shown = [(option, option_title(option, t)) for option in on_page]
        replies = [
            quick_reply(
                title(text, prefix="✅ ") if option.key in selected else text,
                Payload(Action.PICK, step.key, option.key),
            )
            for option, text in shown
        ]
        lines: list[str] = []
        legend = self._legend(shown)
        if pages > 1:
            replies.append(
                quick_reply(
                    title(t(N_("More options")), prefix="⋯ "),
                    Payload(Action.MORE, step.key, str((page + 1) % pages)),
                )
            )
            lines.append(
                t(
                    N_("Options {first}–{last} of {total}"),
                    first=first + 1,
                    last=first + len(on_page),
                    total=len(options),
                )
            )
        if legend:
            lines.append("\n".join(legend))
        return replies, lines

    def review(self, reply: engine.ShowReview) -> list[Message]:
        t = self.t
        lines = [*self._error(reply), t(N_("Please check your report:")), ""]
        for item in reply.items:
            answer = shorten(format_answer(item.step, item.value, t), REVIEW_ANSWER)
            lines.append(f"{t(item.step.label)}: {answer}")
        messages = text_messages("\n".join(lines))
        buttons = [
            postback(title(t(N_("Send the report")), prefix="📨 "), Payload(Action.SUBMIT)),
            postback(title(t(N_("Change an answer")), prefix="✏️ "), Payload(Action.EDIT_MENU)),
            postback(title(t(N_("Cancel")), prefix="✕ "), Payload(Action.CANCEL)),
        ][:BUTTONS_MAX]
        template: Message = {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "button",
                    "text": shorten(
                        t(N_("Press Send, or change an answer first.")), BUTTON_TEXT_LIMIT
                    ),
                    "buttons": buttons,
                },
            },
            "quick_replies": [
                quick_reply(title(t(N_("Back")), prefix="« "), Payload(Action.BACK)),
            ],
        }
        return [*messages, template]

    def edit_menu(self, reply: engine.ShowReview) -> list[Message]:
        """The answers as cards, each with a button to change it (a carousel holds ten)."""
        t = self.t
        change = title(t(N_("Change this answer")), prefix="✏️ ")
        elements = [
            {
                "title": shorten(t(item.step.label), ELEMENT_TEXT_LIMIT),
                "subtitle": shorten(format_answer(item.step, item.value, t), ELEMENT_TEXT_LIMIT),
                "buttons": [postback(change, Payload(Action.EDIT, item.step.key))],
            }
            for item in reply.items
        ]
        messages: list[Message] = [
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
        messages[-1]["quick_replies"] = [
            quick_reply(title(t(N_("Send the report")), prefix="📨 "), Payload(Action.SUBMIT)),
            quick_reply(title(t(N_("Back")), prefix="« "), Payload(Action.SHOW)),
        ]
        return messages


def _neutral_reply(action: messages.Action) -> dict[str, str] | None:
    """A neutral action as a quick reply (the payload the conversation reads back); None for
    what Messenger cannot do (clearing the chat: a Page cannot delete the person's messages)."""
    if action.intent is Intent.CHECKIN:
        payload = Payload(Action.CHECKIN, action.args[0], action.args[1])
    elif action.intent is Intent.CONSENT:
        payload = Payload(Action.CONSENT, value=action.args[0])
    elif action.intent is Intent.LANGUAGE:
        payload = Payload(Action.LANGUAGE, value=action.args[0])
    elif action.intent is Intent.FORGET:
        payload = Payload(Action.FORGET, value=action.args[0])
    elif action.intent is Intent.FOLLOW:
        report = action.args[0]
        payload = Payload(Action.NEW) if report == "0" else Payload(Action.FOLLOW, value=report)
    else:
        return None
    return quick_reply(title(action.label, fallback=action.short), payload)


def quick_replies(rows: Sequence[Sequence[messages.Action]]) -> list[dict[str, str]]:
    """The actions a Messenger reporter can answer, as quick replies."""
    replies = [reply for row in rows for action in row if (reply := _neutral_reply(action))]
    if rows and not replies:
        log.info("a message to a Messenger reporter: its buttons are left out")
    return replies


def from_neutral(message: messages.Message) -> list[Message]:
    """A channel-neutral text (bot/services/messages.py) as Send API messages: plain text split
    to Meta's 2,000 characters, quick replies under the last part (at most 13:
    developers.facebook.com/docs/messenger-platform/send-messages/quick-replies)."""
    return text_messages(messages.plain_text(message), quick_replies(messages.actions(message)))
