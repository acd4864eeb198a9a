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
from bot.services.cards import CardService, digest_line
from bot.services.intake import Intake
from bot.services.splitting import TEXT_LIMIT, utf16_len
from handlers.engine.engine import Submitted
from handlers.engine.forms import FORMS
from handlers.telegram.cards import ModCB, card_keyboard, lines_html, render_card
from storage.sealing import Keyring
from tests.card_cases import cases, digest
from tests.safety import service_context, session_for
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


HOSTILE = "<b>Нурлан</b> & Co"


async def test_the_services_store_the_card_as_data_and_the_transport_escapes_it(
    migrated_url: str, keyring: Keyring
) -> None:
    """What the services queue for the moderator chat is the card model, sealed like every
    outbox payload: no HTML, no Telegram buttons, the reporter's words as they were written.
    The staff transport's renderer escapes them and makes the buttons' callback data."""
    context = service_context(keyring)
    async with session_for(migrated_url) as session:
        intake = Intake(session, context)
        reporter, _ = await intake.reporters.get_or_create("telegram", 610_999_002, 610_999_002)
        report = await intake.submit(
            reporter,
            Submitted(
                form=FORMS["detention"],
                answers={"relation": "family", "subject": HOSTILE, "account": HOSTILE},
                region="almaty",
                incident_date=None,
                subject=HOSTILE,
            ),
            channel="telegram",
            language="ru",
        )
        alert = await intake.outbox.alert_of(report.id)
        assert alert is not None and alert.payload_enc is not None
        assert "Нурлан".encode() not in alert.payload_enc  # sealed under the server key
        payload = keyring.decrypt_json(alert.payload_enc)
        # A moderator takes it before it is sent: new actions on the queued card.
        report.status = "in_review"
        await CardService(session, context).refresh(report)
        taken = keyring.decrypt_json((await intake.outbox.alert_of(report.id)).payload_enc or b"")

    card = payload["messages"][0]
    assert payload["version"] == 2
    assert card["type"] == card_model.CARD
    assert not {"html", "reply_markup"} & set(card)
    said = [span["text"] for line in card["lines"] + card["folded"] for span in line]
    assert HOSTILE in said  # the name on the second line
    assert ": " + HOSTILE in said  # the account, folded
    intents = [action["intent"] for row in card[card_model.ACTIONS] for action in row]
    assert intents[0] == card_model.STATUS and "take" in intents and "verify" not in intents
    assert all(
        action["args"] == [str(report.id), "0"]
        for row in card[card_model.ACTIONS]
        for action in row
    )

    rendered = render_card(card)
    assert HOSTILE not in rendered["html"]
    assert "<b>&lt;b&gt;Нурлан&lt;/b&gt; &amp; Co</b>" in rendered["html"]
    buttons = [b for row in rendered["reply_markup"]["inline_keyboard"] for b in row]
    assert [ModCB.unpack(b["callback_data"]).action for b in buttons] == intents
    assert {ModCB.unpack(b["callback_data"]).report for b in buttons} == {report.id}

    first = taken["messages"][0]
    assert first["lines"] == card["lines"] and first["folded"] == card["folded"]
    taken_intents = [a["intent"] for row in first[card_model.ACTIONS] for a in row]
    assert "verify" in taken_intents and taken_intents != intents
