"""Alert cards a moderator can triage on a phone (issue 16, item 4).

The first three lines say what, who, where, when, how urgent and in which language to answer;
the other answers are folded; a card's text and buttons fit one screen of a 390 px wide phone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from typing import Any

import pytest

from bot.demo.emulator.html import parse_html
from bot.i18n import create_i18n
from bot.services.card_model import CardView, DuplicateHint, card_messages
from handlers.engine.engine import Submitted
from handlers.engine.forms import FORMS
from handlers.engine.render import Translator
from handlers.telegram.cards import card_keyboard, render_card

NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
TZ = dt.timezone(dt.timedelta(hours=5))

# The measure of one screen. A 390 pt wide phone (iPhone 12 to 15, the common size) shows a
# Telegram message bubble about 300 pt wide inside the chat's margins; at the default 16-17 pt
# text, an average Latin or Cyrillic letter is 8 to 8.5 pt wide, so a line holds about 36
# characters: we count 34, to be on the safe side for Cyrillic. The chat area between the chat's
# title bar and the message field is about 620 pt of the phone's 844 (status bar, title bar,
# message field and home indicator take the rest); at about 22 pt a line, that is 28 lines.
CHARS_PER_LINE = 34
LINES_PER_SCREEN = 28
# An inline keyboard row is a button about 44 pt tall: two lines of text.
LINES_PER_BUTTON_ROW = 2
# A collapsed expandable quote shows its first three lines and a "show more" mark
# (core.telegram.org/bots/api#formatting-options: "expandable block quotation").
FOLDED_LINES = 3

LONG_ACCOUNT = (
    "Утром около семи часов к дому подъехали две машины без номеров, из них вышли шесть человек "
    "в гражданской одежде и двое в форме. Они не показали документов, сказали, что это "
    "оперативные мероприятия, забрали телефоны у всех, кто был дома, и долго не разрешали "
    "никому звонить адвокату. Потом его вывели в наручниках и увезли, куда — не сказали. "
) * 9  # about 3,000 characters: near the 3,500 a reporter may write
LONG_NAME = "Нурлан Серикович Ахметов-Байтурсынов, 1987 г.р., преподаватель, г. Алматы"
PLACE = "г. Алматы, мкр. Самал-2, ул. Жолдасбекова, д. 97, кв. 41, у подъезда"
CONTACT = "Signal +7 701 000 00 00 или почта friend.of.family@example.org"


def realistic(form_key: str) -> dict[str, Any]:
    """Every question of the form answered, at length where the reporter writes freely."""
    answers: dict[str, Any] = {
        "relation": "family",
        "subject": LONG_NAME,
        "account": LONG_ACCOUNT,
        "region": "almaty",
        "agency": "knb",
        "article": "cc405",
        "media": [{"kind": "photo", "file_id": "att:1"}, {"kind": "photo", "file_id": "att:2"}],
        "contact": "other",
        "contact_other": CONTACT,
        "consent": "anonymised",
    }
    if form_key == "detention":
        answers |= {
            "when": "2026-11-21T06:30:00+05:00",
            "place": PLACE,
            "held_where": "ivs",
            "lawyer": "no",
            "injuries": "unknown",
        }
    elif form_key == "search":
        answers |= {
            "when": "2026-11-20 morning",
            "sanction": "no",
            "seized": ["phones", "computers", "documents", "other"],
            "seized_other": "Флешки, записные книжки, паспорт супруги, банковские карты",
            "present": "neither",
        }
    elif form_key == "account_freeze":
        answers |= {
            "noticed": "2026-11-19",
            "bank": "kaspi",
            "how_learned": "app",
            "reason": "none",
            "donations": "yes",
            "amount": "1 250 000 тенге",
        }
    elif form_key == "summons":
        answers |= {
            "appointment": "2026-11-25T10:00:00+05:00",
            "case_status": "witness",
            "summons_photo": [{"kind": "photo", "file_id": "att:3"}],
            "contact": "chat",
            "checkin": "yes",
        }
    else:
        answers |= {"other_kind": "travel_ban", "when": "2026-11-18"}
    form = FORMS[form_key]
    known = {step.key for step in form.steps}
    for step in form.steps:
        chosen = answers.get(step.key)
        if step.vocabulary is not None and isinstance(chosen, str):
            assert step.vocabulary.get(chosen) is not None, (step.key, chosen)
    return {key: value for key, value in answers.items() if key in known}


def submission(form_key: str) -> Submitted:
    return Submitted(
        form=FORMS[form_key],
        answers=realistic(form_key),
        region="almaty",
        incident_date=dt.date(2026, 11, 20),
        subject=LONG_NAME,
    )


def view(form_key: str, *, language: str = "en", channel: str = "telegram") -> CardView:
    form = FORMS[form_key]
    return CardView(
        report_id=7,
        code=f"{form.code_prefix}-7K3F",
        incident_type=form_key,
        region="almaty",
        incident_date=dt.date(2026, 11, 20),
        urgent=form.urgent,
        status="new",
        channel=channel,
        language=language,
        received_at=NOW,
        hints=[DuplicateHint(3, "S-4HQP", NOW - dt.timedelta(days=2))],
        flags=("new_reporter",),
    )


def card_html(view: CardView, submission: Submitted, t: Translator) -> list[str]:
    """The card's messages as the staff transport sends them into the moderator chat: what the
    services store (as JSON, like the outbox), rendered to Telegram HTML."""
    stored = json.loads(json.dumps(card_messages(view, submission, t, now=NOW)))
    rendered = [render_card(message) for message in stored]
    assert all(message["type"] == "text" for message in rendered)
    assert "reply_markup" in rendered[0]  # the buttons are on the card, not its continuations
    assert not any("reply_markup" in message for message in rendered[1:])
    return [message["html"] for message in rendered]


def translator(locale: str) -> Translator:
    return Translator(create_i18n(), locale, TZ)


def shown_text(card_html: str) -> tuple[str, list[tuple[int, int]]]:
    """The card as the chat shows it, and the folded quotes' spans in it (UTF-16 offsets)."""
    text, entities = parse_html(card_html)
    folded = [
        (entity["offset"], entity["offset"] + entity["length"])
        for entity in entities
        if entity["type"] == "expandable_blockquote"
    ]
    return text, folded


def _wrapped(line: str) -> int:
    width = sum(2 if unicodedata.east_asian_width(ch) == "W" else 1 for ch in line)
    return max(1, -(-width // CHARS_PER_LINE))


def screen_lines(card_html: str) -> int:
    """Lines the card's text takes in a 390 px chat, a folded quote counting as FOLDED_LINES."""
    text, folded = shown_text(card_html)
    utf16 = text.encode("utf-16-le")
    lines = 0
    cursor = 0
    for start, end in folded:
        before = utf16[cursor * 2 : start * 2].decode("utf-16-le")
        lines += sum(_wrapped(line) for line in before.strip("\n").split("\n") if before.strip())
        lines += FOLDED_LINES
        cursor = end
    rest = utf16[cursor * 2 :].decode("utf-16-le").strip("\n")
    lines += sum(_wrapped(line) for line in rest.split("\n")) if rest else 0
    return lines


@pytest.mark.parametrize("form_key", list(FORMS))
@pytest.mark.parametrize("locale", ["ru", "kk", "en"])
def test_a_card_and_its_buttons_fit_one_phone_screen(form_key: str, locale: str) -> None:
    t = translator(locale)
    card, *continued = card_html(view(form_key), submission(form_key), t)
    keyboard = card_keyboard(view(form_key), t)
    text_lines = screen_lines(card)
    rows = len(keyboard.inline_keyboard)
    assert text_lines <= 12, (form_key, locale, text_lines, shown_text(card)[0])
    assert text_lines + LINES_PER_BUTTON_ROW * rows <= LINES_PER_SCREEN, (text_lines, rows)
    # Nothing is cut: what does not fit the first message follows, folded too.
    everything = "".join(shown_text(part)[0] for part in [card, *continued])
    assert LONG_ACCOUNT.strip()[:2000] in re.sub(r"\n\S*\(continued\)\S*\n", "", everything)


@pytest.mark.parametrize("form_key", list(FORMS))
def test_the_first_three_lines_say_what_who_where_when_urgency_and_language(
    form_key: str,
) -> None:
    t = translator("en")
    card = card_html(view(form_key, language="kk"), submission(form_key), t)[0]
    text, folded = shown_text(card)
    first_three = text.split("\n")[:3]
    head = "\n".join(first_three)
    assert folded and folded[0][0] >= len(head.encode("utf-16-le")) // 2  # details come after
    kind = {"other": "Travel ban"}.get(form_key) or t(
        {
            "detention": "Detention",
            "search": "Search",
            "account_freeze": "Frozen bank account",
            "summons": "Summons for questioning",
        }[form_key]
    )
    assert kind in first_three[0] and f"{FORMS[form_key].code_prefix}-7K3F" in first_three[0]
    assert ("URGENT" in first_three[0]) == FORMS[form_key].urgent  # urgency, first
    assert LONG_NAME in first_three[1] and "A family member" in first_three[1]  # who
    assert "Almaty" in first_three[2]  # where
    date = {"detention": "21", "search": "20", "account_freeze": "19", "summons": "25"}
    assert f"November {date.get(form_key, '18')}, 2026" in first_three[2]  # when
    assert "writes in Kazakh" in first_three[2]  # the language to answer in
    # Nothing is said twice: the facets of the first lines are not repeated in the details.
    assert text.count(LONG_NAME) == 1
    assert text.count("Almaty") == 1
    assert "first wrote" not in text  # a new reporter alone means nothing (most are new)


def test_a_wave_and_a_new_reporter_are_said_together_and_only_then() -> None:
    t = translator("en")
    quiet = card_html(view("search"), submission("search"), t)[0]
    waved = CardView(**{**view("search").__dict__, "flags": ("new_reporter", "wave")})
    wave = card_html(waved, submission("search"), t)[0]
    assert "wave" not in quiet
    (line,) = [line for line in shown_text(wave)[0].split("\n") if "wave" in line]
    assert "first wrote to the bot minutes before" in line


@pytest.mark.parametrize("form_key", list(FORMS))
@pytest.mark.parametrize("locale", ["ru", "kk", "en"])
def test_a_web_card_says_web_form_on_its_first_line_and_still_fits(
    form_key: str, locale: str
) -> None:
    """A web reporter reads a question only when they come back (handlers/web): the moderators
    see the channel where they see Messenger's."""
    t = translator(locale)
    web = view(form_key, channel="web")
    card = card_html(web, submission(form_key), t)[0]
    first = shown_text(card)[0].split("\n")[0]
    assert first.endswith("🌐 " + t("web form"))
    assert t("web form") not in shown_text(card_html(view(form_key), submission(form_key), t)[0])[0]
    rows = len(card_keyboard(web, t).inline_keyboard)
    assert screen_lines(card) + LINES_PER_BUTTON_ROW * rows <= LINES_PER_SCREEN
