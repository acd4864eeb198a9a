"""Messages to a person in no channel's format: text made of spans, and neutral actions.

What the services say to a reporter is stored in the outbox in this shape (payload version 2)
and rendered by the reporter's channel when it is sent (bot/outbox/transports.py): Telegram
makes HTML and inline buttons of it, Messenger plain text and quick replies, and a new channel
one renderer more. No value is ever pre-rendered: every span is plain text, escaped (or not) by
the renderer of the channel that shows it (README, "Architecture").

A text message:
  {"type": "text", "paragraphs": [[span, ...], ...], "actions"?: [[action, ...], ...],
   "reply_to_message_id"?: int, "prompt"?: true, "form"?: {...}, "edit"?: {...}}
a span: {"text": str, "style"?: "bold" | "italic" | "code" | "link", "href"?: str};
an action: {"intent": Intent, "args": [str, ...], "label": str, "short"?: str,
"selected"?: true, "detail"?: str}, where `label` is the full text of a button, `short` a
shorter one for platforms whose buttons hold little (Messenger's quick replies take 20
characters), `selected` marks an option already chosen (a multi-choice question) and `detail`
is what the option stands for now (an answer under its question's name, for a platform that
shows a card per option).

"prompt": a question whose buttons the next answer takes off (bot/outbox/worker.py records its
id). The form's messages (bot/services/form.py) say which part of the form they are, so each
channel can lay them out its own way without the services writing its format:
  "form": {"part": "types" | "question" | "review" | "edit_list", "step"?: str,
           "choices"?: [action, ...], "suggested"?: action, "page"?: int, "can_back"?: bool,
           "texts"?: {name: str}}
`choices` are the options of a question (or the forms, or the answers to change), laid out by
the channel (Telegram in one or two columns, Messenger paged with "more" under its 13 quick
replies); `suggested` the option closest to what was typed; `page` the page of `choices` a
channel that pages them shows; `texts` words a channel may add in its own layout ("selected":
the options chosen, said in words; "range": "Options {first}–{last} of {total}"; "more": the
label of the next page; "change": the button on one answer's card), already translated. The
paragraphs and actions alone are the whole message for a channel that ignores the hints.

"edit": {"message_id"?: int, "otherwise": "send" | "skip"}: the message replaces the one whose
button was pressed (its platform id, when the platform gave one). A platform that cannot edit
messages (Messenger) or that does not know which message sends it as a new one ("send": the
question redrawn) or not at all ("skip": it only records in place what the chat already shows).

A message that takes the buttons off another: {"type": "clear_buttons", "message_id"?: int}
(without an id, the last question asked in the chat); a platform whose buttons go away by
themselves (Messenger's quick replies) ignores it.

Payloads of version 1 ("version": 1, or none in the oldest rows) hold Telegram HTML ("html") and
Telegram buttons ("reply_markup"), or Send API messages ({"type": "messenger"}); rows queued
before the upgrade are still sent as they are: a transport tells the shapes apart message by
message (`is_neutral`).
"""

from __future__ import annotations

import enum
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PAYLOAD_VERSION = 2

Message = dict[str, Any]


class Style(enum.StrEnum):
    PLAIN = "plain"
    BOLD = "bold"
    ITALIC = "italic"
    CODE = "code"
    LINK = "link"


class Intent(enum.StrEnum):
    """What pressing an action asks for; each channel turns it into its own button data."""

    CHECKIN = "checkin"  # args: the check-in's id, "safe" or "help"
    WIPE = "wipe"  # args: "keep" (clear the chat, keep the codes), "all", or "no"
    FORGET = "forget"  # args: "yes" (erase the link to the reporter) or "no"
    FOLLOW = "follow"  # args: the report held messages are added to; "0": a new report instead
    CONSENT = "consent"  # args: "yes" or "no" (the consent notice)
    LANGUAGE = "language"  # args: "kk", "ru" or "en"
    # The form (bot/services/form.py): the engine checks every step against the draft, so an
    # old or forged action changes nothing.
    CHOOSE_FORM = "form"  # args: the form's key
    PICK = "pick"  # args: the step's key, the option's key (or the engine's CONFIRM)
    DONE = "done"  # args: the step's key (a multi-choice or files question is finished)
    SKIP = "skip"  # args: the step's key
    SKIP_DETAILS = "skip_details"  # args: the step's key (to the next question that matters)
    BACK = "back"
    CANCEL = "cancel"
    EDIT = "edit"  # args: the step's key (change that answer from the review)
    EDIT_MENU = "edit_menu"  # the answers to change, from the review
    SHOW = "show"  # the review again (back from the answers to change); what is being asked
    SUBMIT = "submit"  # send the report
    MORE = "more"  # args: the step's key, the page (a channel that pages long lists)
    NEW = "new"  # a new report
    LANGUAGES = "languages"  # show the language choice


class FormPart(enum.StrEnum):
    """Which part of the form a message is ("form": {"part": ...})."""

    TYPES = "types"
    QUESTION = "question"
    REVIEW = "review"
    EDIT_LIST = "edit_list"


# The form's intents (bot/services/form.py, `FormDriver.act`).
FORM_INTENTS = frozenset(
    {
        Intent.CHOOSE_FORM,
        Intent.PICK,
        Intent.DONE,
        Intent.SKIP,
        Intent.SKIP_DETAILS,
        Intent.BACK,
        Intent.CANCEL,
        Intent.EDIT,
        Intent.EDIT_MENU,
        Intent.SHOW,
        Intent.SUBMIT,
        Intent.MORE,
        Intent.NEW,
    }
)


@dataclass(frozen=True)
class Span:
    text: str
    style: Style = Style.PLAIN
    href: str | None = None

    def to_json(self) -> dict[str, str]:
        span = {"text": self.text}
        if self.style is not Style.PLAIN:
            span["style"] = self.style.value
        if self.href is not None:
            span["href"] = self.href
        return span


def plain(text: str) -> Span:
    return Span(text)


def bold(text: str) -> Span:
    return Span(text, Style.BOLD)


def italic(text: str) -> Span:
    return Span(text, Style.ITALIC)


@dataclass(frozen=True)
class Action:
    intent: Intent
    args: tuple[str, ...]
    label: str
    short: str | None = None
    selected: bool = False
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        action: dict[str, Any] = {
            "intent": self.intent.value,
            "args": list(self.args),
            "label": self.label,
        }
        if self.short is not None:
            action["short"] = self.short
        if self.selected:
            action["selected"] = True
        if self.detail is not None:
            action["detail"] = self.detail
        return action

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Action:
        return cls(
            Intent(str(data["intent"])),
            tuple(str(arg) for arg in data.get("args") or ()),
            str(data.get("label") or ""),
            data.get("short"),
            data.get("selected") is True,
            data.get("detail"),
        )


Paragraph = Sequence[Span]


def text(
    *paragraphs: Paragraph | Span,
    actions: Iterable[Sequence[Action]] = (),
    reply_to: int | None = None,
) -> Message:
    """A text message; a lone span is a paragraph of its own."""
    message: Message = {
        "type": "text",
        "paragraphs": [
            [p.to_json()] if isinstance(p, Span) else [span.to_json() for span in p]
            for p in paragraphs
        ],
    }
    rows = [[action.to_json() for action in row] for row in actions if row]
    if rows:
        message["actions"] = rows
    if reply_to is not None:
        message["reply_to_message_id"] = reply_to
    return message


def payload(messages: Iterable[Message], **extra: Any) -> dict[str, Any]:
    """An outbox payload of version 2 (`extra`: envelope fields such as "chat_id")."""
    return {"version": PAYLOAD_VERSION, "messages": list(messages), **extra}


def is_neutral(message: Message) -> bool:
    """A version 2 text (the other message types are the same in both versions)."""
    return message.get("type") == "text" and "paragraphs" in message


def form_hints(message: Message) -> dict[str, Any]:
    """The form's layout hints of a message ("form"); empty for any other message."""
    hints = message.get("form")
    return hints if isinstance(hints, dict) else {}


def choices(message: Message) -> list[Action]:
    return [Action.from_json(a) for a in form_hints(message).get("choices") or []]


def suggested(message: Message) -> Action | None:
    found = form_hints(message).get("suggested")
    return Action.from_json(found) if isinstance(found, dict) else None


def read_back(
    intent: Intent | None, step: str, value: str
) -> tuple[Intent, tuple[str, ...]] | None:
    """A platform's button data (the intent it stands for, a step and a value) as one of the
    form's actions; None for data that stands for none (a forged button)."""
    if intent is None:
        return None
    if intent is Intent.CHOOSE_FORM:
        return intent, (value,)
    return intent, (step, value)


def edit_of(message: Message) -> tuple[int | None, bool] | None:
    """For a message that replaces the pressed one: the message's platform id (None when not
    known) and whether to send it as new where it cannot be edited; None for any other."""
    edit = message.get("edit")
    if not isinstance(edit, dict):
        return None
    message_id = edit.get("message_id")
    known = message_id if isinstance(message_id, int) and not isinstance(message_id, bool) else None
    return known, edit.get("otherwise") == "send"


def spans(message: Message) -> list[list[Span]]:
    return [
        [
            Span(
                str(span.get("text") or ""),
                Style(span.get("style") or Style.PLAIN.value),
                span.get("href"),
            )
            for span in paragraph
        ]
        for paragraph in message.get("paragraphs") or []
    ]


def actions(message: Message) -> list[list[Action]]:
    return [[Action.from_json(a) for a in row] for row in message.get("actions") or []]


def plain_paragraphs(message: Message) -> list[str]:
    """Each paragraph as a platform without markup shows it: links spelled out."""
    paragraphs = []
    for paragraph in spans(message):
        parts = []
        for span in paragraph:
            if span.style is Style.LINK and span.href and span.href != span.text:
                parts.append(f"{span.text} ({span.href})")
            else:
                parts.append(span.text)
        paragraphs.append("".join(parts))
    return paragraphs


def plain_text(message: Message) -> str:
    """The text as a platform without markup shows it: paragraphs apart, links spelled out."""
    return "\n\n".join(plain_paragraphs(message))


_HTML_TAG = re.compile(r"<[^>]+>")


def html_to_text(telegram_html: str) -> str:
    """A version 1 message's Telegram HTML as the plain text it shows, for a platform without
    markup. User values in it are escaped, so every tag left is one of ours."""
    return html.unescape(_HTML_TAG.sub("", telegram_html))


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when it must be cut."""
    text = " ".join(text.split()) if len(text) > limit else text
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    # One enormous word (a link) has no boundary to cut at; then it is cut where it must be.
    return (cut[:space] if space > 0 else cut).rstrip(" ,.;:") + "…"
