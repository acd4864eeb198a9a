"""What relatives type for a date, in Kazakh (Cyrillic, Latin, Russian letters), Russian and
English, with what the bot must make of it: the right day, time, part of the day or period,
a reading asked back for confirmation, or a refusal (asked again).  None may be silently
wrong.  The README quotes this table's size and pass rate (Dates section).

"Now" is Sunday 22 November 2026, 12:00 in Almaty, as in issue 15: yesterday is Saturday the
21st, the day before yesterday Friday the 20th, tomorrow Monday the 23rd; this ISO week is
16-22 November, the last one 9-15 November.

Expected results, written the way a person would check them:
    "D 11-20"            the day, no time
    "T 11-21 18:00"      a moment
    "P 11-20 evening"    a day and a part of it
    "R 11-09 11-15"      an approximate period (first and last day)
    "? ..."              one of two readings: shown to the person to confirm
    "-"                  not understood: the person is asked again
Dates are in 2026 unless a year is written.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.engine.dates import PartOfDay, Prefer, Reading, read_when

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("Asia/Almaty"))
P, F = Prefer.PAST, Prefer.FUTURE

# (language, step direction, typed text, expected)
PHRASES: list[tuple[str, Prefer, str, str]] = [
    # --- Russian, about the past (detentions, searches) -----------------------------------
    ("ru", P, "вчера", "D 11-21"),
    ("ru", P, "сегодня", "D 11-22"),
    ("ru", P, "позавчера", "D 11-20"),
    ("ru", P, "вчера в 18:00", "T 11-21 18:00"),
    ("ru", P, "вчера в 18 00", "T 11-21 18:00"),
    ("ru", P, "вчера около 18:00", "T 11-21 18:00"),
    ("ru", P, "вчера вечером", "P 11-21 evening"),
    ("ru", P, "вчера вечером в 7", "T 11-21 19:00"),
    ("ru", P, "20.11 вечером", "P 11-20 evening"),
    ("ru", P, "20.11 утром", "P 11-20 morning"),
    ("ru", P, "20.11 ночью", "P 11-20 night"),
    ("ru", P, "20.11 днём", "P 11-20 afternoon"),
    ("ru", P, "в ночь на 20 ноября", "P 11-20 night"),
    ("ru", P, "20,11", "D 11-20"),
    ("ru", P, "20.11", "D 11-20"),
    ("ru", P, "20.11.2026", "D 11-20"),
    ("ru", P, "20.11.26", "D 11-20"),
    ("ru", P, "20.11 14:30", "T 11-20 14:30"),
    ("ru", P, "20.11.2026 в 14.30", "T 11-20 14:30"),
    ("ru", P, "20 ноября", "D 11-20"),
    ("ru", P, "20 ноября в 14:30", "T 11-20 14:30"),
    ("ru", P, "20 ноября вечером", "P 11-20 evening"),
    ("ru", P, "двадцатого ноября", "D 11-20"),
    ("ru", P, "двадцатое ноября", "D 11-20"),
    ("ru", P, "первого ноября", "D 11-01"),
    ("ru", P, "двадцать первого ноября", "D 11-21"),
    ("ru", P, "20 числа", "D 11-20"),
    ("ru", P, "20-го", "D 11-20"),
    ("ru", P, "в пятницу", "D 11-20"),
    ("ru", P, "в четверг", "D 11-19"),
    ("ru", P, "в субботу вечером", "P 11-21 evening"),
    ("ru", P, "в прошлую пятницу", "? D 11-20"),
    ("ru", P, "3 дня назад", "D 11-19"),
    ("ru", P, "три дня назад", "D 11-19"),
    ("ru", P, "5 дней назад", "D 11-17"),
    ("ru", P, "неделю назад", "D 11-15"),
    ("ru", P, "2 часа назад", "T 11-22 10:00"),
    ("ru", P, "два часа назад", "T 11-22 10:00"),
    ("ru", P, "час назад", "T 11-22 11:00"),
    ("ru", P, "полчаса назад", "T 11-22 11:30"),
    ("ru", P, "15 минут назад", "T 11-22 11:45"),
    ("ru", P, "только что", "T 11-22 12:00"),
    ("ru", P, "прямо сейчас", "T 11-22 12:00"),
    ("ru", P, "на прошлой неделе", "R 11-09 11-15"),
    ("ru", P, "на этой неделе", "R 11-16 11-22"),
    ("ru", P, "в прошлом месяце", "R 10-01 10-31"),
    ("ru", P, "2-3 дня назад", "R 11-19 11-20"),
    ("ru", P, "2–3 дня назад", "R 11-19 11-20"),
    ("ru", P, "2 или 3 дня назад", "R 11-19 11-20"),
    ("ru", P, "пару дней назад", "R 11-19 11-20"),
    ("ru", P, "сегодня утром", "P 11-22 morning"),
    ("ru", P, "сегодня в 10 утра", "T 11-22 10:00"),
    ("ru", P, "около 10 утра", "T 11-22 10:00"),
    ("ru", P, "в 9:30", "T 11-22 09:30"),
    ("ru", P, "позавчера ночью", "P 11-20 night"),
    ("ru", P, "21.11 в 23:40", "T 11-21 23:40"),
    ("ru", P, "вчера 18.10", "T 11-21 18:10"),
    ("ru", P, "2026-11-20", "D 11-20"),
    ("ru", P, "в 5", "? T 11-22 05:00"),
    ("ru", P, "вчера в 7", "? T 11-21 07:00"),
    ("ru", P, "кеше, 20.11", "? T 11-21 20:11"),
    ("ru", P, "вчера, 21.11", "D 11-21"),
    ("ru", P, "вчера, 20.11", "? T 11-21 20:11"),
    ("ru", P, "вечером", "-"),
    ("ru", P, "его задержали вчера", "-"),
    ("ru", P, "вчера 19 ноября", "-"),
    ("ru", P, "31.02", "-"),
    ("ru", P, "25:00", "-"),
    ("ru", P, "9 утра вечером", "-"),
    ("ru", P, "вчера или сегодня", "-"),
    ("ru", P, "20 вечером", "? T 11-22 20:00"),
    ("ru", P, "вчера в 20.11", "? T 11-21 20:11"),
    ("ru", P, "вчера в 20:11", "T 11-21 20:11"),
    ("ru", F, "к 25.11", "D 11-25"),
    ("ru", F, "к 20.12", "? T 11-22 20:12"),
    # --- Russian, about the future (summonses) --------------------------------------------
    ("ru", F, "завтра к 10", "T 11-23 10:00"),
    ("ru", F, "завтра в 10", "T 11-23 10:00"),
    ("ru", F, "завтра к 10:00", "T 11-23 10:00"),
    ("ru", F, "завтра к десяти", "T 11-23 10:00"),
    ("ru", F, "25.11 к 15:30", "T 11-25 15:30"),
    ("ru", F, "25.11 в 15:30", "T 11-25 15:30"),
    ("ru", F, "25,11 в 10", "T 11-25 10:00"),
    ("ru", F, "25.11 10 00", "T 11-25 10:00"),
    ("ru", F, "25 ноября в 10 утра", "T 11-25 10:00"),
    ("ru", F, "в понедельник в 10", "T 11-23 10:00"),
    ("ru", F, "в среду в 14:00", "T 11-25 14:00"),
    ("ru", F, "послезавтра в 11", "T 11-24 11:00"),
    ("ru", F, "через 2 дня в 10", "T 11-24 10:00"),
    ("ru", F, "через неделю", "D 11-29"),
    ("ru", F, "через 2 часа", "T 11-22 14:00"),
    ("ru", F, "1 декабря в 9:00", "T 12-01 09:00"),
    ("ru", F, "первого декабря", "D 12-01"),
    ("ru", F, "завтра утром", "P 11-23 morning"),
    ("ru", F, "на следующей неделе", "R 11-23 11-29"),
    ("ru", F, "завтра к 3", "? T 11-23 15:00"),
    ("ru", F, "20.11", "D 2027-11-20"),
    # --- Kazakh, Cyrillic -------------------------------------------------------------------
    ("kk", P, "кеше", "D 11-21"),
    ("kk", P, "бүгін", "D 11-22"),
    ("kk", P, "алдыңғы күні", "D 11-20"),
    ("kk", P, "арғы күні", "? D 11-20"),
    ("kk", P, "кеше кешке", "P 11-21 evening"),
    ("kk", P, "кеше сағат 18-де", "T 11-21 18:00"),
    ("kk", P, "кеше сағат 18:00-де", "T 11-21 18:00"),
    ("kk", P, "кеше кешкі 7-де", "T 11-21 19:00"),
    ("kk", P, "20.11 кешке", "P 11-20 evening"),
    ("kk", P, "20.11 таңертең", "P 11-20 morning"),
    ("kk", P, "18.11 түнде", "P 11-18 night"),
    ("kk", P, "20 қараша", "D 11-20"),
    ("kk", P, "20-қараша", "D 11-20"),
    ("kk", P, "20-қарашада", "D 11-20"),
    ("kk", P, "қарашаның 20-сы", "D 11-20"),
    ("kk", P, "2026 жылғы 20 қараша", "D 11-20"),
    ("kk", P, "20 қараша сағат 14:30", "T 11-20 14:30"),
    ("kk", P, "20 қараша кешке", "P 11-20 evening"),
    ("kk", P, "жиырмасыншы қараша", "D 11-20"),
    ("kk", P, "қарашаның жиырмасы", "D 11-20"),
    ("kk", P, "жұма күні", "D 11-20"),
    ("kk", P, "сенбі күні кешке", "P 11-21 evening"),
    ("kk", P, "бүгін таңертең", "P 11-22 morning"),
    ("kk", P, "кеше түнде", "P 11-21 night"),
    ("kk", P, "бүгін сағат 9-да", "T 11-22 09:00"),
    ("kk", P, "сағат онда", "T 11-22 10:00"),
    ("kk", P, "3 күн бұрын", "D 11-19"),
    ("kk", P, "екі күн бұрын", "D 11-20"),
    ("kk", P, "он күн бұрын", "D 11-12"),
    ("kk", P, "бір апта бұрын", "D 11-15"),
    ("kk", P, "2 сағат бұрын", "T 11-22 10:00"),
    ("kk", P, "бір сағат бұрын", "T 11-22 11:00"),
    ("kk", P, "жарты сағат бұрын", "T 11-22 11:30"),
    ("kk", P, "жаңа ғана", "T 11-22 12:00"),
    ("kk", P, "өткен аптада", "R 11-09 11-15"),
    ("kk", P, "осы аптада", "R 11-16 11-22"),
    ("kk", P, "өткен айда", "R 10-01 10-31"),
    ("kk", P, "екі-үш күн бұрын", "R 11-19 11-20"),
    ("kk", P, "2-3 күн бұрын", "R 11-19 11-20"),
    ("kk", P, "кеше, 20.11", "? T 11-21 20:11"),
    ("kk", P, "бугин", "D 11-22"),
    ("kk", P, "кеше сагат 18-де", "T 11-21 18:00"),
    ("kk", P, "20 караша", "D 11-20"),
    ("kk", P, "караша 20", "D 11-20"),
    ("kk", P, "сағат 5-те", "? T 11-22 05:00"),
    ("kk", P, "кешке", "-"),
    ("kk", P, "20 кешке", "? T 11-22 20:00"),
    ("kk", F, "ертең сағат 10-да", "T 11-23 10:00"),
    ("kk", F, "ертең 10:00", "T 11-23 10:00"),
    ("kk", F, "ертең сағат онда", "T 11-23 10:00"),
    ("kk", F, "25-қараша 10:00", "T 11-25 10:00"),
    ("kk", F, "25 қарашада сағат 15:30-да", "T 11-25 15:30"),
    ("kk", F, "дүйсенбі күні сағат 10-да", "T 11-23 10:00"),
    ("kk", F, "бүрсігүні", "D 11-24"),
    ("kk", F, "ертең таңертең", "P 11-23 morning"),
    ("kk", F, "келесі аптада", "R 11-23 11-29"),
    ("kk", F, "1 желтоқсан", "D 12-01"),
    ("kk", F, "арғы күні", "? D 11-24"),
    ("kk", F, "ертең сағат 3-те", "? T 11-23 15:00"),
    # --- Kazakh, Latin script (2021 alphabet, and without diacritics) ---------------------
    ("kk", P, "keshe", "D 11-21"),
    ("kk", P, "bügin", "D 11-22"),
    ("kk", P, "bugin", "D 11-22"),
    ("kk", P, "20 qarasha", "D 11-20"),
    ("kk", P, "20-qarasha", "D 11-20"),
    ("kk", P, "20 karasha", "D 11-20"),
    ("kk", P, "keshe keshke", "P 11-21 evening"),
    ("kk", P, "keşe keşke", "P 11-21 evening"),
    ("kk", P, "keshe saghat 18-de", "T 11-21 18:00"),
    ("kk", P, "keshe sağat 18:00", "T 11-21 18:00"),
    ("kk", P, "20.11 keshke", "P 11-20 evening"),
    ("kk", P, "18.11 tünde", "P 11-18 night"),
    ("kk", P, "qarashanyñ 20-sy", "D 11-20"),
    ("kk", P, "jūma küni", "D 11-20"),
    ("kk", P, "juma kuni", "D 11-20"),
    ("kk", P, "ötken aptada", "R 11-09 11-15"),
    ("kk", P, "3 kün būryn", "D 11-19"),
    ("kk", P, "3 kun buryn", "D 11-19"),
    ("kk", P, "2 sağat būryn", "T 11-22 10:00"),
    ("kk", P, "jaña ğana", "T 11-22 12:00"),
    ("kk", P, "bügin tañerteñ", "P 11-22 morning"),
    ("kk", P, "keshe tünde", "P 11-21 night"),
    ("kk", F, "erteñ", "D 11-23"),
    ("kk", F, "erteng", "D 11-23"),
    ("kk", F, "erteñ sağat 10-da", "T 11-23 10:00"),
    ("kk", F, "erten saghat onda", "T 11-23 10:00"),
    ("kk", F, "25-qarasha 10:00", "T 11-25 10:00"),
    ("kk", P, "kesh", "-"),
    # --- English ---------------------------------------------------------------------------
    ("en", P, "yesterday", "D 11-21"),
    ("en", P, "today", "D 11-22"),
    ("en", P, "yesterday evening", "P 11-21 evening"),
    ("en", P, "yesterday morning", "P 11-21 morning"),
    ("en", P, "last night", "P 11-21 night"),
    ("en", P, "this morning", "P 11-22 morning"),
    ("en", P, "yesterday at 6pm", "T 11-21 18:00"),
    ("en", P, "20 November", "D 11-20"),
    ("en", P, "Nov 20", "D 11-20"),
    ("en", P, "the 20th", "D 11-20"),
    ("en", P, "twentieth of November", "D 11-20"),
    ("en", P, "twenty-first of November", "D 11-21"),
    ("en", P, "20 November at 9pm", "T 11-20 21:00"),
    ("en", P, "Nov 20 in the evening", "P 11-20 evening"),
    ("en", P, "Friday", "D 11-20"),
    ("en", P, "on Friday evening", "P 11-20 evening"),
    ("en", P, "2 hours ago", "T 11-22 10:00"),
    ("en", P, "half an hour ago", "T 11-22 11:30"),
    ("en", P, "just now", "T 11-22 12:00"),
    ("en", P, "3 days ago", "D 11-19"),
    ("en", P, "a week ago", "D 11-15"),
    ("en", P, "last week", "R 11-09 11-15"),
    ("en", P, "last month", "R 10-01 10-31"),
    ("en", P, "2-3 days ago", "R 11-19 11-20"),
    ("en", P, "two or three days ago", "R 11-19 11-20"),
    ("en", P, "20/11/2026", "D 11-20"),
    ("en", P, "2026-11-20 14:30", "T 11-20 14:30"),
    ("en", P, "at 5", "? T 11-22 05:00"),
    ("en", P, "last Friday", "? D 11-20"),
    ("en", P, "hello", "-"),
    ("en", P, "9 in the evening", "T 11-22 21:00"),
    ("en", F, "tomorrow at 10", "T 11-23 10:00"),
    ("en", F, "tomorrow 10am", "T 11-23 10:00"),
    ("en", F, "25.11 at 3pm", "T 11-25 15:00"),
    ("en", F, "Monday at 10", "T 11-23 10:00"),
    ("en", F, "next Monday 10:00", "T 11-23 10:00"),
    ("en", F, "in 2 days", "D 11-24"),
    ("en", F, "25 November 10:30", "T 11-25 10:30"),
    ("en", F, "December 1st at 9", "T 12-01 09:00"),
    ("en", F, "tomorrow morning", "P 11-23 morning"),
    ("en", F, "next week", "R 11-23 11-29"),
    ("en", F, "tomorrow at 3", "? T 11-23 15:00"),
]


def _day(text: str) -> date:
    """ "11-20" (in 2026) or "2027-11-20"."""
    return date.fromisoformat(text if text.count("-") == 2 else f"2026-{text}")


def _expected(spec: str) -> Reading | None:
    if spec == "-":
        return None
    confirm = spec.startswith("? ")
    kind, *rest = spec.removeprefix("? ").split()
    if kind == "D":
        return Reading(_day(rest[0]), confirm=confirm)
    if kind == "T":
        hour, minute = map(int, rest[1].split(":"))
        clock = datetime(2026, 1, 1, hour, minute).time()  # noqa: DTZ001 - a clock time
        return Reading(_day(rest[0]), clock=clock, confirm=confirm)
    if kind == "P":
        return Reading(_day(rest[0]), part=PartOfDay(rest[1]), confirm=confirm)
    assert kind == "R"
    return Reading(_day(rest[0]), until=_day(rest[1]), confirm=confirm)


def test_the_table_is_large_and_covers_every_language() -> None:
    assert len(PHRASES) >= 150
    assert len({row[:3] for row in PHRASES}) == len(PHRASES)  # no row twice
    for lang in ("kk", "ru", "en"):
        assert sum(1 for row in PHRASES if row[0] == lang) >= 40, lang


@pytest.mark.parametrize(("lang", "prefer", "text", "expected"), PHRASES)
def test_phrase(lang: str, prefer: Prefer, text: str, expected: str) -> None:
    assert read_when(text, now=NOW, prefer=prefer) == _expected(expected)


def test_the_readme_quotes_this_table() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    count = len(PHRASES)
    assert f"**{count} phrases**" in readme
    assert f"**all {count} pass**" in readme
