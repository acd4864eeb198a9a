"""How long each form is for a person: taps and typed answers, counted through the engine.

Two walks per form, from the type menu to Send: a person who answers every question they are
asked (the scripted path of the issue 16 test drive), and one who gives only what is required
and skips the rest. The ceilings below are today's figures; a change that makes a form longer
fails here and must lower the cost elsewhere or raise the ceiling on purpose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from handlers.engine import engine as e
from handlers.engine.forms import FORMS, Step, StepKind

NOW = dt.datetime(2026, 11, 21, 15, 0, tzinfo=ZoneInfo("Asia/Almaty"))


@dataclass
class Cost:
    taps: int = 0
    typed: int = 0


def _answer(step: Step) -> tuple[list[e.Input], Cost]:
    """What a person does at one question, and what it costs them."""
    if step.kind == StepKind.CHOICE:
        assert step.vocabulary is not None
        value = "chat" if step.key == "contact" else step.vocabulary.options[0].key
        if step.key == "relation":
            value = "family"  # a relative: the person's name is asked and given
        return [e.Pick(value, step=step.key)], Cost(taps=1)
    if step.kind == StepKind.MULTI:
        assert step.vocabulary is not None
        first = step.vocabulary.options[0].key
        return [e.Pick(first, step=step.key), e.Done(step=step.key)], Cost(taps=2)
    if step.kind == StepKind.MEDIA:
        return [e.Done(step=step.key)], Cost(taps=1)
    if step.kind == StepKind.DATE:
        return [e.Text("вчера")], Cost(typed=1)
    if step.kind == StepKind.DATETIME:
        text = "завтра 10:00" if step.key == "appointment" else "вчера 14:30"
        return [e.Text(text)], Cost(typed=1)
    return [e.Text("Асель Нурлановна")], Cost(typed=1)


def walk(form_key: str, *, everything: bool) -> Cost:
    cost = Cost(taps=1)  # the type
    result = e.advance(None, e.ChooseForm(form_key), now=NOW)
    for _ in range(40):
        reply = result.reply
        if isinstance(reply, e.ShowReview):
            result = e.advance(result.draft, e.Submit(), now=NOW)
            assert isinstance(result.reply, e.Submitted), result.reply
            cost.taps += 1  # Send
            return cost
        assert isinstance(reply, e.AskStep), reply
        assert reply.error is None, reply.error
        if not everything and reply.can_skip:
            details = reply.can_skip_details  # one tap for all the details after it
            inputs, spent = [e.Skip(step=reply.step.key, details=details)], Cost(taps=1)
        else:
            inputs, spent = _answer(reply.step)
        for event in inputs:
            result = e.advance(result.draft, event, now=NOW)
        cost.taps += spent.taps
        cost.typed += spent.typed
    raise AssertionError(f"{form_key} never reached the review")


# (taps, typed answers): answering everything; giving only what is required (Skip everywhere
# else, "Skip the details" where offered). Before issue 16 (commit a11c082) the second walk took
# detention 14 + 2, search 12 + 2, account_freeze 13 + 2, summons 13 + 2, other 10 + 2.
CEILINGS = {
    "detention": ((12, 4), (8, 2)),
    "search": ((12, 3), (8, 2)),
    "account_freeze": ((11, 4), (9, 2)),
    "summons": ((12, 3), (10, 2)),
    "other": ((9, 3), (9, 2)),
}


@pytest.mark.parametrize("form_key", sorted(FORMS))
def test_forms_do_not_grow(form_key: str) -> None:
    full = walk(form_key, everything=True)
    short = walk(form_key, everything=False)
    (full_taps, full_typed), (short_taps, short_typed) = CEILINGS[form_key]
    assert full.taps <= full_taps and full.typed <= full_typed, full
    assert short.taps <= short_taps and short.typed <= short_typed, short


def test_the_own_words_come_right_after_who_and_when() -> None:
    for form in FORMS.values():
        keys = [step.key for step in form.steps]
        first_date = next(s.key for s in form.steps if s.facet == "incident_date")
        assert keys.index("account") == keys.index(first_date) + 1, form.key
