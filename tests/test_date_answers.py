"""Date answers in the flow: parts of the day and periods stored as said, ambiguous readings
asked back in words, errors that fit the question, and older drafts still loading."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from bot.reporting.export import answer_cell
from bot.services import form
from handlers.engine import engine as e
from handlers.engine.dates import PartOfDay, Reading
from handlers.engine.forms import FORMS
from handlers.engine.render import Translator, format_answer
from handlers.telegram.keyboards import neutral_keyboard

ALMATY = ZoneInfo("Asia/Almaty")
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=ALMATY)  # a Sunday


def _at(form: str, step: str) -> e.Draft:
    """A draft of ``form`` whose current question is ``step``."""
    return e.Draft(form=form, step=step, answers={"relation": "family", "subject": "A."})


def _say(draft: e.Draft, event: e.Input) -> e.Result:
    return e.advance(draft, event, now=NOW)


def _t(lang: str) -> Translator:
    return Translator(create_i18n(), lang, ALMATY)  # type: ignore[arg-type]


def test_a_part_of_the_day_is_stored_not_a_made_up_time() -> None:
    result = _say(_at("detention", "when"), e.Text("20.11 вечером"))
    assert result.draft is not None
    assert result.draft.answers["when"] == "2026-11-20 evening"
    assert result.draft.step == "account"  # the person's own words come next


def test_an_approximate_period_is_stored_as_a_period() -> None:
    result = _say(_at("other", "when"), e.Text("на прошлой неделе"))
    assert result.draft is not None
    assert result.draft.answers["when"] == "2026-11-09/2026-11-15"


def test_an_appointment_needs_a_day_not_a_period() -> None:
    result = _say(_at("summons", "appointment"), e.Text("на следующей неделе"))
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.error is not None
    assert "exact day" in result.reply.error.msgid
    assert result.draft is not None and "appointment" not in result.draft.answers


def test_a_date_question_keeps_the_day_only() -> None:
    result = _say(_at("account_freeze", "noticed"), e.Text("вчера в 18:00"))
    assert result.draft is not None
    assert result.draft.answers["noticed"] == "2026-11-21"


def test_an_ambiguous_date_is_asked_back_and_a_tap_confirms_it() -> None:
    draft = _at("detention", "when")
    result = _say(draft, e.Text("кеше, 20.11"))
    ask = result.reply
    assert isinstance(ask, e.AskStep)
    assert ask.step.key == "when"
    assert ask.pending == "2026-11-21T20:11:00+05:00"
    assert "when" not in draft.answers  # nothing stored yet
    assert ask.error is not None
    # The reader sees the reading in words, with the weekday, in their language.
    said = _t("ru").msg(ask.error).replace("\u202f", " ")
    assert said.startswith("Записано: суббота, 21 ноября 2026 г., 20:11\n")
    assert "сенбі" in _t("kk").msg(ask.error)
    # The draft survives a restart between the question and the answer.
    restored = e.Draft.from_json(draft.to_json())
    assert restored.pending == ask.pending
    # Telegram shows a button for it.
    markup = neutral_keyboard(form.ask_step(ask, _t("ru")))
    assert markup is not None
    assert markup.inline_keyboard[0][0].text == "✅ Да, верно"
    done = _say(restored, e.Pick(e.CONFIRM, step="when"))
    assert done.draft is not None
    assert done.draft.answers["when"] == "2026-11-21T20:11:00+05:00"
    assert done.draft.step == "account"


@pytest.mark.parametrize(
    "typed", ["да", "Иә", "yes", "Да, верно", "иә, дұрыс!", "Yes, that’s right"]
)
def test_typed_yes_confirms(typed: str) -> None:
    draft = _at("summons", "appointment")
    asked = _say(draft, e.Text("завтра к 3"))
    assert isinstance(asked.reply, e.AskStep) and asked.reply.pending is not None
    done = _say(draft, e.Text(typed))
    assert done.draft is not None
    assert done.draft.answers["appointment"] == "2026-11-23T15:00:00+05:00"


def test_writing_the_date_again_replaces_the_reading() -> None:
    draft = _at("detention", "when")
    _say(draft, e.Text("арғы күні"))
    assert draft.pending == "2026-11-20"
    result = _say(draft, e.Text("позавчера утром"))
    assert result.draft is not None
    assert result.draft.pending is None
    assert result.draft.answers["when"] == "2026-11-20 morning"


def test_the_error_fits_the_question() -> None:
    past = _say(_at("detention", "when"), e.Text("что-то"))
    future = _say(_at("summons", "appointment"), e.Text("что-то"))
    assert isinstance(past.reply, e.AskStep) and isinstance(future.reply, e.AskStep)
    assert past.reply.error is not None and future.reply.error is not None
    assert "yesterday" in past.reply.error.msgid
    assert "yesterday" not in future.reply.error.msgid
    assert "tomorrow" in future.reply.error.msgid


def test_incident_date_of_new_shapes() -> None:
    form = FORMS["other"]
    answers = {
        "other_kind": "threats",
        "relation": "self",
        "subject": "A.",
        "when": "2026-11-09/2026-11-15",
        "region": "almaty",
        "contact": "none",
        "consent": "statistics",
    }
    draft = e.Draft(form="other", step=e.REVIEW, answers=answers)
    submitted = _say(draft, e.Submit()).reply
    assert isinstance(submitted, e.Submitted)
    assert submitted.form is form
    # The first day of an approximate period is the day counted in statistics.
    assert submitted.incident_date == dt.date(2026, 11, 9)


def test_old_drafts_and_answers_still_load() -> None:
    old = {"form": "detention", "step": "when", "answers": {}, "path": [], "editing": False}
    draft = e.Draft.from_json(old)
    assert draft.pending is None
    assert "pending" not in draft.to_json()
    assert e.answer_as_datetime("2026-11-20", ALMATY) == (
        dt.datetime(2026, 11, 20, tzinfo=ALMATY),
        False,
    )
    assert e.answer_as_datetime("2026-11-20T14:30:00+05:00", ALMATY) == (
        dt.datetime(2026, 11, 20, 14, 30, tzinfo=ALMATY),
        True,
    )
    assert e.answer_as_datetime("2026-11-20 evening", ALMATY)[1] is False


@pytest.mark.parametrize(
    ("lang", "reading", "shown"),
    [
        ("ru", Reading(dt.date(2026, 11, 20), part=PartOfDay.EVENING), "20 ноября 2026 г., вечер"),
        ("kk", Reading(dt.date(2026, 11, 20), part=PartOfDay.EVENING), "2026 ж. 20 қараша, кешке"),
        ("en", Reading(dt.date(2026, 11, 20), part=PartOfDay.NIGHT), "November 20, 2026, night"),
        (
            "ru",
            Reading(dt.date(2026, 11, 9), until=dt.date(2026, 11, 15)),
            "примерно 9 ноября – 15 ноября 2026 г.",
        ),
        (
            "en",
            Reading(dt.date(2026, 12, 28), until=dt.date(2027, 1, 3)),
            "approximately December 28, 2026 – January 3, 2027",
        ),
        (
            "kk",
            Reading(dt.date(2026, 11, 9), until=dt.date(2026, 11, 15)),
            "шамамен 2026 ж. 9 қараша – 15 қараша",
        ),
    ],
)
def test_answers_in_words(lang: str, reading: Reading, shown: str) -> None:
    step = FORMS["detention"].step("when")
    assert step is not None
    # CLDR puts a narrow no-break space in "2026 г."; the test compares words.
    written = format_answer(step, reading.to_answer(ALMATY), _t(lang)).replace("\u202f", " ")
    assert written == shown


@pytest.mark.parametrize(
    ("stored", "cell"),
    [
        ("2026-11-20", "2026-11-20"),
        ("2026-11-20T14:30:00+05:00", "2026-11-20 14:30"),
        ("2026-11-20 evening", "2026-11-20 evening"),
        ("2026-11-09/2026-11-15", "2026-11-09/2026-11-15"),
    ],
)
def test_export_keeps_what_was_said(stored: str, cell: str) -> None:
    step = FORMS["detention"].step("when")
    assert answer_cell(step, stored, _t("en")) == cell
