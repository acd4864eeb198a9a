"""The flow engine on its own: every form end to end, navigation, validation, and fuzzing."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.i18n import create_i18n
from handlers.engine import engine as e
from handlers.engine.forms import FORMS, Form, Step, StepKind
from handlers.engine.matching import Lexicon, lexicon_for
from handlers.engine.vocab import REGIONS

ALMATY = ZoneInfo("Asia/Almaty")
NOW = dt.datetime(2026, 11, 21, 15, 0, tzinfo=ALMATY)

TEXT_ANSWERS = {"subject": "Asel Nurlanovna", "account": "They came at dawn.", "place": "Abai 10"}


def answer_for(step: Step) -> e.Input:
    if step.kind == StepKind.CHOICE:
        assert step.vocabulary is not None
        if step.key == "contact":
            return e.Pick("chat", step=step.key)
        return e.Pick(step.vocabulary.options[0].key, step=step.key)
    if step.kind == StepKind.MULTI:
        return e.Done(step=step.key)
    if step.kind == StepKind.MEDIA:
        return e.Done(step=step.key)
    if step.kind == StepKind.DATE:
        return e.Text("вчера")
    if step.kind == StepKind.DATETIME:
        return e.Text("завтра 10:00" if step.key == "appointment" else "вчера 14:30")
    return e.Text(TEXT_ANSWERS.get(step.key, "some answer"))


def run_to_review(form: Form) -> e.Draft:
    result = e.advance(None, e.ChooseForm(form.key), now=NOW)
    for _ in range(50):
        reply = result.reply
        if isinstance(reply, e.ShowReview):
            assert result.draft is not None
            return result.draft
        assert isinstance(reply, e.AskStep), reply
        assert reply.error is None, (reply.step.key, reply.error)
        result = e.advance(result.draft, answer_for(reply.step), now=NOW)
    raise AssertionError("form did not reach the review")


@pytest.mark.parametrize("form_key", sorted(FORMS))
def test_each_form_reaches_a_submission(form_key: str) -> None:
    form = FORMS[form_key]
    draft = run_to_review(form)
    result = e.advance(draft, e.Submit(), now=NOW)
    assert result.draft is None
    submitted = result.reply
    assert isinstance(submitted, e.Submitted)
    assert submitted.form is form
    assert submitted.subject == "Asel Nurlanovna"
    assert submitted.incident_date is not None
    if form_key == "summons":
        assert submitted.incident_date == dt.date(2026, 11, 22)
    else:
        assert submitted.incident_date == dt.date(2026, 11, 20)
    assert submitted.answers["contact"] == "chat"


def test_required_step_cannot_be_skipped_and_optional_can() -> None:
    result = e.advance(None, e.ChooseForm("detention"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "relation"
    result = e.advance(result.draft, e.Skip(step="relation"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "subject"
    result = e.advance(result.draft, e.Skip(step="subject"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "subject"
    assert result.reply.error is not None
    assert result.reply.error.msgid == "This question cannot be skipped."


def test_back_returns_to_the_previous_question_with_its_answer() -> None:
    result = e.advance(None, e.ChooseForm("search"), now=NOW)
    result = e.advance(result.draft, e.Pick("family", step="relation"), now=NOW)
    result = e.advance(result.draft, e.Text("Dana"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "when"
    result = e.advance(result.draft, e.Back(), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "subject"
    assert result.reply.value == "Dana"
    result = e.advance(result.draft, e.Back(), now=NOW)
    result = e.advance(result.draft, e.Back(), now=NOW)
    assert isinstance(result.reply, e.AskForm)


def test_edit_from_review_returns_to_review() -> None:
    draft = run_to_review(FORMS["detention"])
    result = e.advance(draft, e.Edit("subject"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "subject"
    result = e.advance(result.draft, e.Text("Yerlan"), now=NOW)
    assert isinstance(result.reply, e.ShowReview)
    values = {item.step.key: item.value for item in result.reply.items}
    assert values["subject"] == "Yerlan"


def test_changing_contact_to_other_asks_for_the_new_required_answer() -> None:
    draft = run_to_review(FORMS["search"])
    result = e.advance(draft, e.Edit("contact"), now=NOW)
    result = e.advance(result.draft, e.Pick("other", step="contact"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "contact_other"
    result = e.advance(result.draft, e.Text("Signal +7 700 000 00 00"), now=NOW)
    assert isinstance(result.reply, e.ShowReview)


def test_multi_choice_toggles_and_condition_adds_a_step() -> None:
    result = e.advance(None, e.ChooseForm("search"), now=NOW)
    draft = result.draft
    assert draft is not None
    draft.step = "seized"
    result = e.advance(draft, e.Pick("other", step="seized"), now=NOW)
    result = e.advance(result.draft, e.Pick("phones", step="seized"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.value == ["phones", "other"]
    result = e.advance(result.draft, e.Pick("phones", step="seized"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.value == ["other"]
    result = e.advance(result.draft, e.Done(step="seized"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "seized_other"


def test_stale_button_changes_nothing() -> None:
    result = e.advance(None, e.ChooseForm("detention"), now=NOW)
    before = result.draft
    assert before is not None
    answers_before = dict(before.answers)
    result = e.advance(before, e.Pick("astana", step="region"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "relation"
    assert result.reply.error is not None
    assert result.draft is not None
    assert result.draft.answers == answers_before


def test_future_incident_date_is_refused() -> None:
    result = e.advance(None, e.ChooseForm("other"), now=NOW)
    draft = result.draft
    assert draft is not None
    draft.step = "when"
    result = e.advance(draft, e.Text("25.12.2026"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.error is not None
    assert "future" in result.reply.error.msgid


def test_media_is_collected_until_done() -> None:
    draft = e.Draft(form="detention", step="media")
    result = e.advance(draft, e.Media("photo", "file-1"), now=NOW)
    result = e.advance(result.draft, e.Media("document", "file-2", "protocol.pdf"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert [item["file_id"] for item in result.reply.value] == ["file-1", "file-2"]
    result = e.advance(result.draft, e.Done(step="media"), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.step.key == "contact"


def test_draft_survives_serialisation() -> None:
    draft = run_to_review(FORMS["account_freeze"])
    again = e.Draft.from_json(draft.to_json())
    assert again == draft


def test_html_and_control_characters_are_kept_as_text() -> None:
    draft = e.Draft(form="detention", step="subject")
    result = e.advance(draft, e.Text("  <b>Ерлан</b> & ‹Slava>\x00\x07 "), now=NOW)
    assert result.draft is not None
    assert result.draft.answers["subject"] == "<b>Ерлан</b> & ‹Slava>"


def test_over_long_text_is_refused_with_the_limit() -> None:
    draft = e.Draft(form="detention", step="subject")
    result = e.advance(draft, e.Text("я" * 201), now=NOW)
    assert isinstance(result.reply, e.AskStep)
    assert result.reply.error is not None
    assert result.reply.error.params == {"limit": 200}
    assert result.reply.error.count == 200


ALL_STEP_KEYS = sorted({step.key for form in FORMS.values() for step in form.steps})
OPTION_KEYS = sorted(
    {
        option.key
        for form in FORMS.values()
        for step in form.steps
        if step.vocabulary is not None
        for option in step.vocabulary.options
    }
)
step_keys = st.sampled_from([*ALL_STEP_KEYS, "nope", ""])
inputs = st.one_of(
    st.builds(e.ChooseForm, st.sampled_from([*FORMS, "bogus"])),
    st.builds(e.Pick, st.sampled_from([*OPTION_KEYS, "x"]), st.one_of(st.none(), step_keys)),
    st.builds(e.Text, st.text(max_size=300)),
    st.builds(e.Media, st.sampled_from(["photo", "document"]), st.text(min_size=1, max_size=20)),
    st.builds(e.Done, st.one_of(st.none(), step_keys)),
    st.builds(e.Skip, st.one_of(st.none(), step_keys)),
    st.builds(e.Edit, step_keys),
    st.just(e.Back()),
    st.just(e.Submit()),
    st.just(e.Show()),
    st.just(e.Cancel()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(inputs, max_size=40))
def test_engine_never_raises_and_always_replies(events: list[e.Input]) -> None:
    draft: e.Draft | None = None
    for event in events:
        result = e.advance(draft, event, now=NOW)
        assert isinstance(
            result.reply, (e.AskForm, e.AskStep, e.ShowReview, e.Submitted, e.Cancelled)
        )
        error: Any = getattr(result.reply, "error", None)
        if error is not None:
            assert error.msgid
        draft = result.draft
        if draft is not None:
            draft = e.Draft.from_json(draft.to_json())


# --- typed answers to choice questions (handlers/engine/matching.py) ---------------------------
def _lexicon() -> Lexicon:
    return lexicon_for(create_i18n())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("алматы", "almaty"),  # a label in Russian
        ("вко", "east_kazakhstan"),  # a short label
        ("  Шымкент. ", "shymkent"),
        ("Karaganda", "karaganda"),  # English, the beginning of "Karaganda Region"
        ("Қарағанды облысы", "karaganda"),  # Kazakh
        ("Karag", "karaganda"),  # a unique beginning
    ],
)
def test_typed_region_names_in_any_language_count_as_taps(typed: str, key: str) -> None:
    assert _lexicon().match(REGIONS, typed).key == key


def test_a_close_name_is_offered_back_and_nonsense_is_not() -> None:
    lexicon = _lexicon()
    close = lexicon.match(REGIONS, "Карагандинкая")  # a letter missing
    assert close.key is None
    assert close.suggestion == "karaganda"
    nothing = lexicon.match(REGIONS, "где-то")
    assert nothing.key is None
    assert nothing.suggestion is None


def test_the_engine_takes_a_typed_choice_and_says_did_you_mean() -> None:
    lexicon = _lexicon()
    result = e.advance(None, e.ChooseForm("detention"), now=NOW)
    draft = result.draft
    for answer in (e.Pick("family", step="relation"), e.Text("Асель"), e.Text("вчера 14:30")):
        draft = e.advance(draft, answer, now=NOW, lexicon=lexicon).draft
    draft = e.advance(draft, e.Text("They came at dawn."), now=NOW, lexicon=lexicon).draft
    assert draft is not None and draft.step == "region"
    asked = e.advance(draft, e.Text("Карагандинкая"), now=NOW, lexicon=lexicon)
    assert isinstance(asked.reply, e.AskStep)
    assert asked.reply.step.key == "region"
    assert asked.reply.suggestion == "karaganda"
    assert asked.draft is not None
    # Without the catalogs a choice question takes buttons only.
    copy = e.Draft.from_json(asked.draft.to_json())
    refused = e.advance(copy, e.Text("Karaganda"), now=NOW)
    assert isinstance(refused.reply, e.AskStep) and refused.reply.error is not None
    assert refused.reply.step.key == "region"
    taken = e.advance(asked.draft, e.Text("Karaganda"), now=NOW, lexicon=lexicon)
    assert taken.draft is not None
    assert taken.draft.answers["region"] == "karaganda"


def test_skip_the_details_goes_to_the_files_and_the_name_is_optional_about_oneself() -> None:
    result = e.advance(None, e.ChooseForm("detention"), now=NOW)
    result = e.advance(result.draft, e.Pick("self", step="relation"), now=NOW)
    assert isinstance(result.reply, e.AskStep) and result.reply.step.key == "subject"
    assert result.reply.can_skip  # it happened to me: the name may be withheld
    for event in (e.Skip(step="subject"), e.Text("вчера 14:30"), e.Text("Забрали утром.")):
        result = e.advance(result.draft, event, now=NOW)
    assert isinstance(result.reply, e.AskStep) and result.reply.step.key == "region"
    assert result.reply.can_skip_details
    result = e.advance(result.draft, e.Skip(step="region", details=True), now=NOW)
    assert isinstance(result.reply, e.AskStep) and result.reply.step.key == "media"
    # Back from there returns to the last detail skipped, one at a time.
    back = e.advance(result.draft, e.Back(), now=NOW)
    assert isinstance(back.reply, e.AskStep) and back.reply.step.key == "injuries"
    # Someone else's detention: the name is asked and cannot be skipped.
    other = e.advance(None, e.ChooseForm("detention"), now=NOW)
    other = e.advance(other.draft, e.Pick("family", step="relation"), now=NOW)
    assert isinstance(other.reply, e.AskStep) and not other.reply.can_skip
