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

from handlers.engine.dates import PartOfDay, Reading, read_answer
from handlers.engine.forms import Step, StepKind
from handlers.engine.text import N_, DateValue, Msg

# "20 November 2026, evening": a part of the day said instead of a time.
PART_OF_DAY = {
    PartOfDay.MORNING: N_("{date}, morning"),
    PartOfDay.AFTERNOON: N_("{date}, afternoon"),
    PartOfDay.EVENING: N_("{date}, evening"),
    PartOfDay.NIGHT: N_("{date}, night"),
}


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
        params = {
            key: self.when(read_answer(value.answer, self.tz), full=True)
            if isinstance(value, DateValue)
            else value
            for key, value in message.params.items()
        }
        if message.plural is not None:
            text = self.catalogs.gettext(
                message.msgid, message.plural, message.count, locale=self.locale
            )
            return text.format(**params)
        return self(message.msgid, **params)

    def date(self, value: dt.date, *, full: bool = False) -> str:
        # "full" adds the weekday ("пятница, 20 ноября 2026 г."): a person checking a date
        # read back to them knows the weekday better than the number.
        return format_date(value, format="full" if full else "long", locale=self.locale)

    def when(self, reading: Reading, *, full: bool = False) -> str:
        """A date answer in words: a day, a moment, a day and part of it, or a period."""
        if reading.until is not None:
            if reading.day.year != reading.until.year:
                return self(
                    N_("approximately {start} – {end}"),
                    start=self.date(reading.day),
                    end=self.date(reading.until),
                )
            # One year: said once, where the language puts it ("2026 ж. 9 – 15 қараша").
            return self(
                N_("approximately {start} – {end} {year}"),
                start=format_skeleton("MMMMd", reading.day, locale=self.locale),
                end=format_skeleton("MMMMd", reading.until, locale=self.locale),
                year=format_skeleton("y", reading.day, locale=self.locale),
            )
        if reading.clock is not None:
            moment = dt.datetime.combine(reading.day, reading.clock, tzinfo=self.tz)
            return self.datetime(moment, full=full)
        day = self.date(reading.day, full=full)
        if reading.part is not None:
            return self(PART_OF_DAY[reading.part], date=day)
        return day

    def day_month(self, value: dt.date) -> str:
        """'22.11' in Russian and Kazakh, '11/22' in English: the locale's own short form."""
        return format_skeleton("Md", value, locale=self.locale)

    def datetime(self, value: dt.datetime, *, full: bool = False) -> str:
        # CLDR's own pattern joins the long date and the short time ("{1}, {0}" and the like).
        local = value.astimezone(self.tz)
        pattern = str(Locale.parse(self.locale).datetime_formats["medium"])
        day = self.date(local.date(), full=full)
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
        return t.when(read_answer(str(value), t.tz))
    if step.kind == StepKind.MEDIA:
        return t.plural("{n} file", "{n} files", len(value))
    return str(value)
