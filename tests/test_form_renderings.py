"""The form's messages, channel-neutral since issue 12, look as they did when each adapter
rendered the engine's replies itself.

tests/data/form_renderings.json holds what the old renderers made (handlers/telegram/
conversation.py's `_render` with handlers/telegram/keyboards.py, and handlers/messenger/render.py's
`MessengerRenderer`, at commit fc2923e) for the replies `_cases` builds: every question of four
forms (unanswered, with an answer, a suggestion and an error, a date read back, files received,
options ticked), the choice of form, the review with and without an error, and the answers to
change. The neutral messages (bot/services/form.py) rendered by today's transports must give the
same Telegram HTML and callback data and the same Send API messages, page by page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from bot.outbox.transports import TelegramTransport
from bot.services import form
from handlers.engine.engine import AskForm, AskStep, Reply, ReviewItem, ShowReview
from handlers.engine.forms import FORMS, StepKind
from handlers.engine.render import Translator
from handlers.engine.text import Msg
from handlers.messenger.render import Action as Button
from handlers.messenger.render import Payload, from_neutral
from handlers.telegram.cards import render_card
from handlers.telegram.keyboards import neutral_keyboard

RECORDED = json.loads((Path(__file__).parent / "data" / "form_renderings.json").read_text())
I18N = create_i18n()
# The replies were recorded for these forms (and in Kazakh for detention only: its long labels).
FORM_KEYS = {"en": ("detention", "search", "summons"), "kk": ("detention",)}


def _t(lang: str) -> Translator:
    return Translator(I18N, lang, ZoneInfo("Asia/Almaty"))  # type: ignore[arg-type]


def _answers(form_key: str) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for step in FORMS[form_key].steps:
        if step.vocabulary:
            keys = [o.key for o in step.vocabulary.options]
            answers[step.key] = keys[:2] if step.kind == StepKind.MULTI else keys[0]
        elif step.kind == StepKind.MEDIA:
            answers[step.key] = [{"kind": "photo", "file_id": "x"}]
        elif step.kind == StepKind.DATETIME:
            answers[step.key] = "2026-11-20T14:30:00+05:00"
        elif step.kind == StepKind.DATE:
            answers[step.key] = "2026-11-20"
        else:
            answers[step.key] = "Нурлан <i>x</i> & " + "слово " * 10
    return answers


def _cases(lang: str) -> Iterator[tuple[str, Reply]]:
    yield "form", AskForm()
    yield "form.error", AskForm(error=Msg("Choose what you want to report."))
    stale = Msg("That button belongs to an earlier question. Here is the current one.")
    for key in FORM_KEYS[lang]:
        spec = FORMS[key]
        for step in spec.steps:
            name = f"{key}.{step.key}"
            keys = [o.key for o in step.vocabulary.options] if step.vocabulary else []
            yield name, AskStep(spec, step, None, can_back=True, can_skip=not step.required)
            if step.kind == StepKind.MULTI and keys:
                yield (
                    f"{name}.selected",
                    AskStep(
                        spec, step, keys[:2], can_back=False, can_skip=True, can_skip_details=True
                    ),
                )
            if step.kind == StepKind.CHOICE and keys:
                yield (
                    f"{name}.current",
                    AskStep(spec, step, keys[-1], can_back=False, suggestion=keys[0], error=stale),
                )
            if step.kind == StepKind.TEXT:
                yield (
                    f"{name}.current",
                    AskStep(spec, step, "Марат <b>&", can_back=True, can_skip=True),
                )
            if step.kind == StepKind.DATETIME:
                read = "2026-11-21T20:11:00+05:00"
                yield f"{name}.pending", AskStep(spec, step, None, can_back=True, pending=read)
            if step.kind == StepKind.MEDIA:
                files = [{"kind": "photo", "file_id": "x"}] * 3
                yield f"{name}.files", AskStep(spec, step, files, can_back=True)
        missing = Msg("This question must be answered.")
        empty = tuple(ReviewItem(step, None) for step in spec.steps)
        yield f"{key}.review.error", ShowReview(spec, empty, error=missing)
        answers = _answers(key)
        items = tuple(ReviewItem(step, answers.get(step.key)) for step in spec.steps)
        yield f"{key}.review", ShowReview(spec, items)


def _all_cases() -> list[tuple[str, str]]:
    return [(lang, name) for lang in FORM_KEYS for name, _ in _cases(lang)]


def _reply(lang: str, name: str) -> Reply:
    return dict(_cases(lang))[name]


TELEGRAM = TelegramTransport(bot=None, keyboard=neutral_keyboard, cards=render_card)  # type: ignore[arg-type]


def _telegram(message: dict[str, Any]) -> dict[str, Any]:
    rendered = TELEGRAM.render(message)
    return {"html": rendered["html"], "reply_markup": rendered.get("reply_markup")}


def test_every_recorded_rendering_is_checked() -> None:
    assert {f"{lang}:{name}" for lang, name in _all_cases()} == set(RECORDED)


@pytest.mark.parametrize(("lang", "name"), _all_cases())
def test_the_form_renders_on_telegram_as_before(lang: str, name: str) -> None:
    t, recorded = _t(lang), RECORDED[f"{lang}:{name}"]
    reply = _reply(lang, name)
    message = form.render(reply, t)
    assert message is not None
    assert _telegram(message) == recorded["telegram"]
    if isinstance(reply, ShowReview):
        # The answers to change replace the review's buttons; the text stays.
        listed = _telegram(form.answers_to_change(reply, t))
        before = recorded["telegram_edit_list"]
        assert listed == {"html": recorded["telegram"]["html"], "reply_markup": before}


@pytest.mark.parametrize(("lang", "name"), _all_cases())
def test_the_form_renders_on_messenger_as_before(lang: str, name: str) -> None:
    t, recorded = _t(lang), RECORDED[f"{lang}:{name}"]
    reply = _reply(lang, name)
    for page, before in enumerate(recorded["messenger"]):  # the pages of a long vocabulary
        message = form.render(reply, t, page=page)
        assert message is not None
        assert from_neutral(json.loads(json.dumps(message))) == before, page
    if isinstance(reply, ShowReview):
        assert from_neutral(form.answers_to_change(reply, t)) == recorded["messenger_edit_menu"]


@pytest.mark.parametrize("lang", ["en", "kk"])
def test_the_cancellation_renders_as_before(lang: str) -> None:
    """Telegram: the sentence alone (its command menu has /new); Messenger: with a "New report"
    quick reply, as each adapter said it before."""
    t = _t(lang)
    message = form.cancelled(t)
    sentence = t(form.CANCELLED)
    assert _telegram(message) == {"html": html.escape(sentence, quote=False), "reply_markup": None}
    new = Payload(Button.NEW).encode()
    assert from_neutral(message) == [
        {
            "text": sentence,
            "quick_replies": [{"content_type": "text", "title": t("New report"), "payload": new}],
        }
    ]
