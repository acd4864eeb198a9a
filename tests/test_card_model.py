"""The alert card as channel-neutral data (bot/services/card_model.py), rendered for Telegram by
the staff transport (handlers/telegram/cards.py): the same HTML and the same callback data as the
renderer the services called before, so cards already in the chat keep working when pressed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.demo.emulator.html import parse_html
from bot.services import card_model
from bot.services.card_model import CardEvent, CardView, DuplicateHint
from bot.services.cards import digest_line
from bot.services.splitting import TEXT_LIMIT, utf16_len
from handlers.telegram.cards import card_keyboard, lines_html
from tests.card_cases import cases, digest
from tests.test_cards import card_html, realistic, translator

GOLDEN = Path(__file__).with_name("card_golden.json")


def _rendered() -> dict[str, Any]:
    return dict(
        cases(
            view=CardView,
            hint=DuplicateHint,
            event=CardEvent,
            answers=realistic,
            translator=translator,
            keyboard=lambda v, t, confirming: card_keyboard(v, t, confirming=confirming).model_dump(
                exclude_none=True
            ),
            status_label=card_model.status_label,
            stub=lambda v, t: lines_html(card_model.stub_lines(v, t)),
            digest_line=digest_line,
            card=card_html,
            event_line=card_model.event_line,
        )
    )


def test_a_neutral_card_renders_as_before_in_every_state() -> None:
    """Every status, urgency, hint, confirmation, language, form, channel and mark: the same
    HTML, buttons and callback data as the Telegram renderer wrote before the card model.

    One thing differs on purpose: where answers too long for one message are cut into the next.
    The services now measure the text as Telegram counts it, after entity parsing, not its
    markup (bot/services/card_model.py, CHUNK_BUDGET), so a long card's messages may break a
    few lines later; its lines, in order, are the same ("/content")."""
    before = json.loads(GOLDEN.read_text(encoding="utf-8"))
    rendered = _rendered()
    now = {name: digest(value) for name, value in rendered.items()}
    assert now.keys() == before.keys()
    changed = sorted(name for name in before if now[name] != before[name])
    assert [name for name in changed if not name.endswith("/long")] == []
    # The long cards still continue in more messages, each within Telegram's limit.
    long_cards = [name for name in rendered if name.endswith("/long")]
    assert long_cards and all(len(rendered[name]) > 1 for name in long_cards)
    for name in long_cards:
        for message in rendered[name]:
            text, _ = parse_html(message)
            assert utf16_len(text) <= TEXT_LIMIT, name
