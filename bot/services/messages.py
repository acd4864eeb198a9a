"""Messages to a person in no channel's format: text made of spans, and neutral actions.

What the services say to a reporter is stored in the outbox in this shape (payload version 2)
and rendered by the reporter's channel when it is sent (bot/outbox/transports.py): Telegram
makes HTML and inline buttons of it, Messenger plain text and quick replies, and a new channel
one renderer more. No value is ever pre-rendered: every span is plain text, escaped (or not) by
the renderer of the channel that shows it (README, "Architecture").

A text message:
  {"type": "text", "paragraphs": [[span, ...], ...], "actions"?: [[action, ...], ...],
   "reply_to_message_id"?: int, "prompt"?: true}
a span: {"text": str, "style"?: "bold" | "italic" | "code" | "link", "href"?: str};
an action: {"intent": Intent, "args": [str, ...], "label": str, "short"?: str}, where `label`
is the full text of a button and `short` a shorter one for platforms whose buttons hold little
(Messenger's quick replies take 20 characters).

Payloads of version 1 ("version": 1, or none in the oldest rows) hold Telegram HTML ("html") and
Telegram buttons ("reply_markup"); rows queued before the upgrade are still sent as they are. A
version 2 payload may still hold such messages beside neutral ones (the form's prompts on
Telegram, which are not neutral yet): a transport tells them apart message by message
(`is_neutral`).
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

    def to_json(self) -> dict[str, Any]:
        action: dict[str, Any] = {
            "intent": self.intent.value,
            "args": list(self.args),
            "label": self.label,
        }
        if self.short is not None:
            action["short"] = self.short
        return action

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Action:
        return cls(
            Intent(str(data["intent"])),
            tuple(str(arg) for arg in data.get("args") or ()),
            str(data.get("label") or ""),
            data.get("short"),
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


def plain_text(message: Message) -> str:
    """The text as a platform without markup shows it: paragraphs apart, links spelled out."""
    paragraphs = []
    for paragraph in spans(message):
        parts = []
        for span in paragraph:
            if span.style is Style.LINK and span.href and span.href != span.text:
                parts.append(f"{span.text} ({span.href})")
            else:
                parts.append(span.text)
        paragraphs.append("".join(parts))
    return "\n\n".join(paragraphs)


_HTML_TAG = re.compile(r"<[^>]+>")


def html_to_text(telegram_html: str) -> str:
    """A version 1 message's Telegram HTML as the plain text it shows, for a platform without
    markup. User values in it are escaped, so every tag left is one of ours."""
    return html.unescape(_HTML_TAG.sub("", telegram_html))
