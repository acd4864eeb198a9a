"""Alert cards in every state, language and shape, to compare two renderings of them.

`tests/card_golden.json` holds a hash of each case as the Telegram renderer wrote it before the
card model became channel-neutral (bot/services/card_model.py); tests/test_card_model.py renders
the same cases now and compares. The cases take the view's classes and the renderer's functions as
arguments, so the same list was run against the code before the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from handlers.engine.engine import Submitted
from handlers.engine.forms import FORMS
from handlers.engine.render import Translator

NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
STATUSES = ("new", "in_review", "verified", "needs_info", "duplicate", "rejected", "closed")
CONFIRMING = (None, "reject_spam", "reject_unfounded", "reject_scope", "bogus")
# Values a reporter could type that HTML must escape.
HOSTILE_NAME = 'Айгерим <b>&"Тест"</b>'


def digest(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content(messages: list[str]) -> list[str]:
    """A card's lines whatever messages they were packed into: its messages' lines, without the
    quotes' tags and the continuations' first line."""
    lines: list[str] = []
    for index, message in enumerate(messages):
        unquoted = message.replace("<blockquote expandable>", "").replace("</blockquote>", "")
        lines.extend(unquoted.split("\n")[1 if index else 0 :])
    return lines


def _short(form_key: str, answers: dict[str, Any]) -> Submitted:
    answers = {k: v for k, v in answers.items() if k != "account"}
    answers["subject"] = HOSTILE_NAME
    return Submitted(
        form=FORMS[form_key],
        answers=answers,
        region="almaty",
        incident_date=dt.date(2026, 11, 20),
        subject=HOSTILE_NAME,
    )


def _long(form_key: str, answers: dict[str, Any]) -> Submitted:
    return Submitted(
        form=FORMS[form_key],
        answers=answers,
        region="almaty",
        incident_date=dt.date(2026, 11, 20),
        subject=str(answers.get("subject")),
    )


def cases(
    *,
    view: Callable[..., Any],
    hint: Callable[..., Any],
    event: Callable[..., Any],
    answers: Callable[[str], dict[str, Any]],
    translator: Callable[[str], Translator],
    keyboard: Callable[..., dict[str, Any]],
    status_label: Callable[..., str],
    stub: Callable[..., str],
    digest_line: Callable[..., str],
    card: Callable[..., list[str]],
    event_line: Callable[..., str],
) -> Iterator[tuple[str, Any]]:
    """(name, what was rendered) for every case; `card` gives a card's messages' HTML."""
    hints = [
        hint(3, "S-4HQP", NOW - dt.timedelta(days=2)),
        hint(5, "D-9XYZ", NOW - dt.timedelta(days=40)),
        hint(6, "D-AAAA", NOW),
    ]

    def make(form_key: str, **changes: Any) -> Any:
        form = FORMS[form_key]
        fields: dict[str, Any] = {
            "report_id": 7,
            "code": f"{form.code_prefix}-7K3F",
            "incident_type": form_key,
            "region": "almaty",
            "incident_date": dt.date(2026, 11, 20),
            "urgent": form.urgent,
            "status": "new",
            "channel": "telegram",
            "language": "ru",
            "received_at": NOW,
        }
        return view(**(fields | changes))

    for locale in ("en", "ru", "kk"):
        t = translator(locale)
        for status in STATUSES:
            for urgent in (False, True):
                for with_hints in (False, True):
                    v = make(
                        "detention",
                        status=status,
                        urgent=urgent,
                        hints=hints if with_hints else (),
                        assignee="Aigerim <&>" if with_hints else None,
                        duplicate_of="D-9XYZ" if status == "duplicate" and with_hints else None,
                    )
                    name = f"{locale}/{status}/urgent={urgent}/hints={with_hints}"
                    for confirming in CONFIRMING:
                        if confirming is None or status == "new":
                            yield (
                                f"{name}/keyboard/{confirming}",
                                keyboard(v, t, confirming=confirming),
                            )
                    yield f"{name}/status_label", status_label(v, t)
                    yield f"{name}/stub", stub(v, t)
                    yield f"{name}/digest", digest_line(v, t)
        for form_key in FORMS:
            for channel in ("telegram", "messenger", "web"):
                for flags in ((), ("wave",), ("wave", "new_reporter")):
                    for length, submission in (("short", _short), ("long", _long)):
                        v = make(
                            form_key,
                            channel=channel,
                            flags=flags,
                            hints=hints[:1] if flags else [],
                            language={"en": "kk", "ru": "en", "kk": "ru"}[locale],
                        )
                        name = f"{locale}/{form_key}/{channel}/{','.join(flags)}/{length}"
                        messages = card(v, submission(form_key, answers(form_key)), t)
                        yield name, messages
                        yield f"{name}/content", content(messages)
        for action in ("take", "verify", "answer", "unknown_action"):
            when = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)
            actor = "Aigerim" if action != "answer" else None
            yield f"{locale}/event/{action}", event_line(event(action, actor, when), t)
