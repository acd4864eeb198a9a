"""The receipt and /help say what happens next, with the coalition's help line when it is set."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from bot.services.receipts import help_text, receipt_text
from handlers.engine.render import Translator

ALMATY = ZoneInfo("Asia/Almaty")
HOTLINE = "+7 700 000 00 00 (24/7)"


def _t(language: str) -> Translator:
    return Translator(create_i18n(), language, ALMATY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "urgent_words"), [("kk", "шұғыл"), ("ru", "срочное"), ("en", "urgent")]
)
def test_receipt_of_an_urgent_detention_and_of_a_summons(language: str, urgent_words: str) -> None:
    t = _t(language)
    detention = receipt_text(
        t,
        code="D-7K3F",
        form="detention",
        urgent=True,
        contact="chat",
        checkin_at=None,
        help_contacts=HOTLINE,
    )
    assert "D-7K3F" in detention
    assert urgent_words in detention.lower()
    assert HOTLINE in detention
    summons = receipt_text(
        t,
        code="C-7K3F",
        form="summons",
        urgent=False,
        contact="none",
        checkin_at=dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC),
        help_contacts="",
    )
    assert urgent_words not in summons.lower()
    assert "13:00" in summons or "1:00" in summons  # Almaty time
    assert HOTLINE not in summons
    assert t.datetime(dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)) in summons


def test_help_says_what_happens_after_sending_and_the_help_line() -> None:
    t = _t("ru")
    assert "/new" in help_text(t, "")
    assert HOTLINE in help_text(t, HOTLINE)
    assert HOTLINE not in help_text(t, "")
