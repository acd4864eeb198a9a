"""Buttons that fit a phone, and vocabularies in the order each language's readers expect.

Telegram cuts an inline button's text that does not fit its width: about 30 characters for a
button alone on its row, about 20 when two share a row (issue 15, measured on phones). The
keyboards below are the real ones the bot sends, built for every step in every language.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from bot.services import form as forms_said
from bot.services.card_model import CardView, DuplicateHint
from handlers.engine.engine import AskStep, ReviewItem, ShowReview
from handlers.engine.forms import FORMS, StepKind
from handlers.engine.render import Translator
from handlers.engine.vocab import ALL_VOCABULARIES, REGIONS, sort_key
from handlers.telegram.cards import card_keyboard
from handlers.telegram.keyboards import neutral_keyboard

LANGUAGES = ("kk", "ru", "en")
ALONE = 30  # characters of a button alone on its row
SHARED = 20  # characters of each button of a row it shares


def _t(lang: str) -> Translator:
    return Translator(create_i18n(), lang, ZoneInfo("Asia/Almaty"))  # type: ignore[arg-type]


def _too_long(rows: list[list[str]]) -> list[str]:
    return [
        text for row in rows for text in row if len(text) > (ALONE if len(row) == 1 else SHARED)
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_option_label_fits_a_button(lang: str) -> None:
    t = _t(lang)
    long = {
        (vocabulary.name, t(option.label))
        for vocabulary in ALL_VOCABULARIES
        for option in vocabulary.options
        if len(t(option.label)) > ALONE
    }
    assert long == set()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_step_keyboards_fit(lang: str) -> None:
    t = _t(lang)
    for form in FORMS.values():
        for step in form.steps:
            keys = [o.key for o in step.vocabulary.options] if step.vocabulary else []
            # A multi-choice step with everything ticked is its widest form ("✅ ...").
            value = keys if step.kind == StepKind.MULTI else None
            ask = AskStep(form, step, value, can_back=True, pending="2026-11-20")
            markup = neutral_keyboard(forms_said.ask_step(ask, t))
            assert markup is not None
            rows = [[b.text for b in row] for row in markup.inline_keyboard]
            assert _too_long(rows) == [], (form.key, step.key)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_review_keyboards_fit(lang: str) -> None:
    """The review's buttons, and the answers to change, two "✏️ label" buttons on a row."""
    t = _t(lang)
    for form in FORMS.values():
        review = ShowReview(form, tuple(ReviewItem(step, None) for step in form.steps))
        for said in (forms_said.review(review, t), forms_said.answers_to_change(review, t)):
            markup = neutral_keyboard(said)
            assert markup is not None
            rows = [[b.text for b in row] for row in markup.inline_keyboard]
            assert _too_long(rows) == [], form.key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_short_labels_fit_a_quick_reply(lang: str) -> None:
    """Messenger's quick replies take 20 characters; a short label exists for that."""
    t = _t(lang)
    long = [
        t(option.short_label)
        for vocabulary in ALL_VOCABULARIES
        for option in vocabulary.options
        if option.short_label is not None and len(t(option.short_label)) > SHARED
    ]
    assert long == []


def _region_labels(lang: str) -> list[str]:
    t = _t(lang)
    return [t(option.label) for option in REGIONS.ordered(t, lang)]


def test_regions_are_in_each_languages_alphabetical_order() -> None:
    for lang in LANGUAGES:
        labels = _region_labels(lang)
        cities, regions, rest = labels[:3], labels[3:-2], labels[-2:]
        assert cities == sorted(cities, key=lambda label: sort_key(label, lang)), lang
        assert regions == sorted(regions, key=lambda label: sort_key(label, lang)), lang
        assert rest == [_t(lang)("Abroad"), _t(lang)("Prefer not to say")]
    # Kazakh letters sort after their base letter, not after я: Қарағанды before Маңғыстау,
    # Өңір after Орал; Russian "область Абай" is looked for under А.
    kk = _region_labels("kk")
    assert kk.index("Қарағанды облысы") < kk.index("Маңғыстау облысы")
    assert kk.index("Қостанай облысы") < kk.index("Павлодар облысы")
    ru = _region_labels("ru")
    assert ru[3] == "область Абай"
    assert ru.index("Восточно-Казахстанская (ВКО)") < ru.index("Жамбылская область")
    assert ru.index("Туркестанская область") < ru.index("область Ұлытау")  # Ұ read as У
    assert ru.index("область Ұлытау") < ru.index("За рубежом")
    assert ru.index("область Ұлытау") == ru.index("Туркестанская область") + 1
    en = _region_labels("en")
    assert en[3:5] == ["Abai Region", "Akmola Region"]


def test_russian_uses_the_short_forms_people_expect() -> None:
    labels = _region_labels("ru")
    for short in ("ВКО", "СКО", "ЗКО"):
        assert any(label.endswith(f"({short})") for label in labels), short


def test_the_order_shown_is_not_the_order_stored() -> None:
    """Sorting is for display: the keys and their stored order do not change."""
    t = _t("kk")
    assert REGIONS.option_keys()[:3] == ("astana", "almaty", "shymkent")
    assert {o.key for o in REGIONS.ordered(t, "kk")} == set(REGIONS.option_keys())


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("status", ["new", "in_review", "needs_info", "verified", "closed"])
def test_moderator_card_buttons_fit(lang: str, status: str) -> None:
    hint = DuplicateHint(7, "D-7K3F", dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    view = CardView(
        report_id=1,
        code="S-2QWE",
        incident_type="search",
        region="almaty",
        incident_date=dt.date(2026, 11, 20),
        urgent=True,
        status=status,
        channel="telegram",
        language="ru",
        received_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        hints=(hint,),
    )
    markup = card_keyboard(view, _t(lang))
    rows = [[b.text for b in row] for row in markup.inline_keyboard]
    assert _too_long(rows) == []
