"""Channel-neutral rendering of answers: translated labels, Babel dates, plurals.

Used by the Telegram and Messenger adapters and by the alert card. Returns plain text; each
channel escapes it for its own markup.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time

from handlers.engine.engine import answer_as_datetime
from handlers.engine.forms import Step, StepKind
from handlers.engine.text import Msg


class Catalogs(Protocol):
    def gettext(
        self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None
    ) -> str: ...


@dataclass(frozen=True)
class Translator:
    """Translation, plurals and dates in one reader's language and time zone."""

    catalogs: Catalogs
    locale: str
    tz: dt.tzinfo

    def __call__(self, msgid: str, **params: Any) -> str:
        text = self.catalogs.gettext(msgid, locale=self.locale)
        return text.format(**params) if params else text

    def plural(self, singular: str, plural: str, n: int, **params: Any) -> str:
        text = self.catalogs.gettext(singular, plural, n, locale=self.locale)
        return text.format(n=n, **params)

    def msg(self, message: Msg) -> str:
        if message.plural is not None:
            text = self.catalogs.gettext(
                message.msgid, message.plural, message.count, locale=self.locale
            )
            return text.format(**message.params)
        return self(message.msgid, **message.params)

    def date(self, value: dt.date) -> str:
        return format_date(value, format="long", locale=self.locale)

    def day_month(self, value: dt.date) -> str:
        """'22.11' in Russian and Kazakh, '11/22' in English: the locale's own short form."""
        return format_skeleton("Md", value, locale=self.locale)

    def datetime(self, value: dt.datetime) -> str:
        # CLDR's own pattern joins the long date and the short time ("{1}, {0}" and the like).
        local = value.astimezone(self.tz)
        pattern = str(Locale.parse(self.locale).datetime_formats["medium"])
        day = format_date(local.date(), format="long", locale=self.locale)
        time = format_time(local.time(), format="short", locale=self.locale)
        return pattern.replace("{1}", day).replace("{0}", time)


def format_answer(step: Step, value: Any, t: Translator) -> str:
    """The answer as a person reads it; an em dash when there is none."""
    if value in (None, "", []):
        return "—"
    if step.kind == StepKind.CHOICE and step.vocabulary is not None:
        option = step.vocabulary.get(str(value))
        return t(option.label) if option else str(value)
    if step.kind == StepKind.MULTI and step.vocabulary is not None:
        labels = []
        for key in value:
            option = step.vocabulary.get(str(key))
            labels.append(t(option.label) if option else str(key))
        return ", ".join(labels)
    if step.kind in (StepKind.DATE, StepKind.DATETIME):
        local, has_time = answer_as_datetime(str(value), t.tz)
        return t.datetime(local) if has_time else t.date(local.date())
    if step.kind == StepKind.MEDIA:
        return t.plural("{n} file", "{n} files", len(value))
    return str(value)
