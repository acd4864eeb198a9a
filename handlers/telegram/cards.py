"""The alert card in the Telegram moderator chat: HTML and inline buttons.

What a card says is decided by the services, channel-neutral (bot/services/card_model.py); this
module is how Telegram shows it, used by the staff transport (bot/outbox/transports.py, given
`render_card` by bot/app.py). Every span is escaped here (core.telegram.org/bots/api#html-style).
The folded answers go in an expandable quote (core.telegram.org/bots/api#formatting-options:
`<blockquote expandable>`), which a phone shows as three lines until tapped. A button's callback
data is `ModCB` (version 1, at most 64 bytes: core.telegram.org/bots/api#inlinekeyboardbutton);
cards already in the chat carry it, so it must not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiogram import html
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.services import card_model
from bot.services.card_model import CardAction, CardView
from bot.services.messages import Span, Style
from handlers.engine.render import Translator
from handlers.telegram.keyboards import RowId


class ModCB(CallbackData, prefix="m1"):
    """Version 1 of the card buttons: which action on which report, nothing else."""

    action: str
    report: RowId
    other: RowId = 0  # the suggested original, for "duplicate of"


def _span(span: Span) -> str:
    value = html.quote(span.text)
    if span.style is Style.BOLD:
        return html.bold(value)
    if span.style is Style.ITALIC:
        return html.italic(value)
    if span.style is Style.CODE:
        return html.code(value)
    return value


def lines_html(lines: Sequence[Sequence[Span]]) -> str:
    """A card's lines as Telegram HTML, one line each, every value escaped."""
    return "\n".join("".join(_span(span) for span in line) for line in lines)


def card_html(message: dict[str, Any]) -> str:
    """The card's lines, then its folded answers in an expandable quote."""
    head = lines_html(card_model.lines_of(message))
    body = lines_html(card_model.lines_of(message, "folded"))
    folded = f"<blockquote expandable>{body}</blockquote>" if body else ""
    return "\n".join(part for part in (head, folded) if part)


def card_markup(rows: Sequence[Sequence[CardAction]]) -> InlineKeyboardMarkup:
    """Neutral moderator actions as inline buttons with the callback data the handlers read."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=action.label,
                    callback_data=ModCB(
                        action=action.intent, report=action.report, other=action.other
                    ).pack(),
                )
                for action in row
            ]
            for row in rows
        ]
    )


def render_card(message: dict[str, Any]) -> dict[str, Any]:
    """A neutral card message (card_model.is_card) as the version 1 message the transport's Bot
    API calls send: "html" and "reply_markup"; other fields (the message to edit, a reply's
    target) are kept. A version 1 card keeps its text and gets the new buttons."""
    rendered = {
        k: v for k, v in message.items() if k not in ("lines", "folded", card_model.ACTIONS)
    }
    if message.get("type") == card_model.CARD:
        rendered["type"] = "text"
        rendered["html"] = card_html(message)
    elif "lines" in message:  # the stub posted with new buttons if the card is gone
        rendered["html"] = lines_html(card_model.lines_of(message))
    if card_model.ACTIONS in message:
        markup = card_markup(card_model.actions_of(message))
        rendered["reply_markup"] = markup.model_dump(exclude_none=True)
    return rendered


def card_keyboard(
    view: CardView, t: Translator, *, confirming: str | None = None
) -> InlineKeyboardMarkup:
    """The buttons a card of this report shows now (tests/test_labels.py measures them)."""
    return card_markup(card_model.card_actions(view, t, confirming=confirming))
