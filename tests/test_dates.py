"""Tests for handlers.engine.dates: what people type -> dates and date-times.

The fixed "now" is Saturday 2026-11-21 15:00 in Asia/Almaty, so "20.11" is yesterday (a
Friday), "22.11" is tomorrow, and PAST/FUTURE differ for every date that is not today.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import get_day_names, get_month_names
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.engine.dates import (
    ParsedDateTime,
    PartOfDay,
    Prefer,
    Reading,
    parse_date,
    parse_datetime,
    read_answer,
    read_when,
)

TZ = ZoneInfo("Asia/Almaty")
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=TZ)  # a Saturday
NEW_YEAR = datetime(2026, 1, 2, 10, 0, tzinfo=TZ)  # a Friday, just after the year boundary

SAME = object()  # "FUTURE gives the same answer as PAST"


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


# (text, Prefer.PAST result, Prefer.FUTURE result or SAME)
DATE_CASES: list[tuple[str, date | None, object]] = [
    # --- relative days, all three languages -----------------------------------------------
    ("today", d(11, 21), SAME),
    ("сегодня", d(11, 21), SAME),
    ("бүгін", d(11, 21), SAME),
    ("бугин", d(11, 21), SAME),  # Kazakh typed with Russian letters
    ("yesterday", d(11, 20), SAME),
    ("вчера", d(11, 20), SAME),
    ("кеше", d(11, 20), SAME),
    ("кешегі", d(11, 20), SAME),
    ("day before yesterday", d(11, 19), SAME),
    ("the day before yesterday", d(11, 19), SAME),
    ("позавчера", d(11, 19), SAME),
    ("алдыңғы күні", d(11, 19), SAME),
    ("tomorrow", d(11, 22), SAME),
    ("завтра", d(11, 22), SAME),
    ("ертең", d(11, 22), SAME),
    ("ертен", d(11, 22), SAME),
    ("day after tomorrow", d(11, 23), SAME),
    ("послезавтра", d(11, 23), SAME),
    ("бүрсігүні", d(11, 23), SAME),
    ("бүрсүгүні", d(11, 23), SAME),  # the day AFTER tomorrow, not yesterday
    # --- N days / weeks ago, in N days ----------------------------------------------------
    ("3 days ago", d(11, 18), SAME),
    ("two days ago", d(11, 19), SAME),
    ("a week ago", d(11, 14), SAME),
    ("1 день назад", d(11, 20), SAME),
    ("3 дня назад", d(11, 18), SAME),
    ("5 дней назад", d(11, 16), SAME),
    ("21 день назад", d(10, 31), SAME),
    ("2-х дней назад", d(11, 19), SAME),
    ("неделю назад", d(11, 14), SAME),
    ("2 недели назад", d(11, 7), SAME),
    ("3 күн бұрын", d(11, 18), SAME),
    ("екі күн бұрын", d(11, 19), SAME),
    ("бір апта бұрын", d(11, 14), SAME),
    ("in 2 days", d(11, 23), SAME),
    ("через 3 дня", d(11, 24), SAME),
    ("через неделю", d(11, 28), SAME),
    ("3 күннен кейін", d(11, 24), SAME),
    # --- weekdays: most recent (PAST) or next (FUTURE), today included --------------------
    ("monday", d(11, 16), d(11, 23)),
    ("понедельник", d(11, 16), d(11, 23)),
    ("дүйсенбі", d(11, 16), d(11, 23)),
    ("дүйсенбіде", d(11, 16), d(11, 23)),
    ("friday", d(11, 20), d(11, 27)),
    ("в пятницу", d(11, 20), d(11, 27)),
    ("жұма күні", d(11, 20), d(11, 27)),
    ("sunday", d(11, 15), d(11, 22)),
    ("в воскресенье", d(11, 15), d(11, 22)),
    ("жексенбі", d(11, 15), d(11, 22)),
    ("saturday", d(11, 21), SAME),
    ("суббота", d(11, 21), SAME),
    ("сенбі", d(11, 21), SAME),
    ("сб", d(11, 21), SAME),
    ("Wed", d(11, 18), d(11, 25)),
    ("this friday", d(11, 20), d(11, 27)),
    ("last saturday", d(11, 14), SAME),  # "last" never means today
    ("next friday", d(11, 27), SAME),
    ("в следующую пятницу", d(11, 27), SAME),
    ("келесі жұма", d(11, 27), SAME),
    ("next saturday", d(11, 28), SAME),
    # --- numeric, day first -----------------------------------------------------------------
    ("20.11", d(11, 20), d(11, 20, 2027)),
    ("21.11", d(11, 21), SAME),
    ("22.11", d(11, 22, 2025), d(11, 22)),
    ("20/11", d(11, 20), d(11, 20, 2027)),
    ("20-11", d(11, 20), d(11, 20, 2027)),
    ("5.1", d(1, 5), d(1, 5, 2027)),
    ("03.04", d(4, 3), d(4, 3, 2027)),  # 3 April, never 4 March
    ("20.11.2026", d(11, 20), SAME),
    ("20.11.26", d(11, 20), SAME),
    ("20/11/2026", d(11, 20), SAME),
    ("20-11-2026", d(11, 20), SAME),
    ("2026-11-20", d(11, 20), SAME),
    ("2026/11/20", d(11, 20), SAME),
    ("1.5.2026", d(5, 1), SAME),
    ("01.05.26", d(5, 1), SAME),
    ("20.11.2028", d(11, 20, 2028), SAME),  # within two years ahead
    ("20.11.1991", d(11, 20, 1991), SAME),
    ("29.02", d(2, 29, 2024), d(2, 29, 2028)),  # nearest leap year either way
    ("20.11.2026 14:30", d(11, 20), SAME),  # parse_date ignores the time
    ("14:30 20.11", d(11, 20), d(11, 20, 2027)),
    ("20.11.2026г.", d(11, 20), SAME),
    ("20.11.2026 ж.", d(11, 20), SAME),
    # --- month names ------------------------------------------------------------------------
    ("20 November", d(11, 20), d(11, 20, 2027)),
    ("November 20", d(11, 20), d(11, 20, 2027)),
    ("Nov 20", d(11, 20), d(11, 20, 2027)),
    ("Nov 20th", d(11, 20), d(11, 20, 2027)),
    ("the 20th of November", d(11, 20), d(11, 20, 2027)),
    ("November 20, 2026", d(11, 20), SAME),
    ("20 nov 2026", d(11, 20), SAME),
    ("5 March", d(3, 5), d(3, 5, 2027)),
    ("December 31 2025", d(12, 31, 2025), SAME),
    ("20 ноября", d(11, 20), d(11, 20, 2027)),
    ("20 ноябрь", d(11, 20), d(11, 20, 2027)),
    ("ноябрь 20", d(11, 20), d(11, 20, 2027)),
    ("20 нояб.", d(11, 20), d(11, 20, 2027)),
    ("20 ноя", d(11, 20), d(11, 20, 2027)),
    ("20-го ноября", d(11, 20), d(11, 20, 2027)),
    ("20 ноября 2026", d(11, 20), SAME),
    ("20 ноября 2026 года", d(11, 20), SAME),
    ("20 ноября 2026 г.", d(11, 20), SAME),
    ("5 марта", d(3, 5), d(3, 5, 2027)),
    ("1 мая", d(5, 1), d(5, 1, 2027)),
    ("31 декабря 2025", d(12, 31, 2025), SAME),
    ("20 қараша", d(11, 20), d(11, 20, 2027)),
    ("20 қараша 2026", d(11, 20), SAME),
    ("20 қараша 2026 ж.", d(11, 20), SAME),
    ("2026 жылғы 20 қараша", d(11, 20), SAME),
    ("2026 жылы 20 қарашада", d(11, 20), SAME),
    ("қарашаның 20-сы", d(11, 20), d(11, 20, 2027)),
    ("20 караша", d(11, 20), d(11, 20, 2027)),
    ("5 наурыз", d(3, 5), d(3, 5, 2027)),
    ("1 мамыр", d(5, 1), d(5, 1, 2027)),
    ("10 қыркүйек", d(9, 10), d(9, 10, 2027)),
    ("31 желтоқсан 2025 жылы", d(12, 31, 2025), SAME),
    ("3 қаңтар 2026", d(1, 3), SAME),
    # --- a day of the month alone -------------------------------------------------------------
    ("20-го", d(11, 20), d(12, 20)),
    ("20 числа", d(11, 20), d(12, 20)),
    ("the 22nd", d(10, 22), d(11, 22)),
    # --- combined ways of naming the same day must agree ---------------------------------
    ("вчера, 20 ноября", d(11, 20), SAME),
    ("вчера 20.11.2026", d(11, 20), SAME),
    ("20-го, вчера", d(11, 20), SAME),
    ("friday 20 november", d(11, 20), None),  # next 20 Nov (2027) is no Friday
    ("пятница, 20.11.2026", d(11, 20), SAME),
    # --- case, spacing, punctuation and invisible characters -----------------------------
    ("ВЧЕРА", d(11, 20), SAME),
    ("  вчера!!! ", d(11, 20), SAME),
    ("Вчера.", d(11, 20), SAME),
    ("\u200fвчера\u200f", d(11, 20), SAME),  # RTL marks
    ("20\u200e.11.2026", d(11, 20), SAME),  # LTR mark inside the number
    ("20\u00a0ноября\n2026", d(11, 20), SAME),
    ("20   НОЯБРЯ   2026   Г.", d(11, 20), SAME),
    ("２０.１１.２０２６", d(11, 20), SAME),  # full-width digits
    ("20\u201311\u20132026", d(11, 20), SAME),  # en dashes
    ("Бүгін", d(11, 21), SAME),
    ("сёдня", d(11, 21), SAME),  # "ё" is "е"
]


@pytest.mark.parametrize(("text", "past", "future"), DATE_CASES)
def test_parse_date(text: str, past: date | None, future: object) -> None:
    expected_future = past if future is SAME else future
    assert parse_date(text, now=NOW) == past
    assert parse_date(text, now=NOW, prefer=Prefer.PAST) == past
    assert parse_date(text, now=NOW, prefer=Prefer.FUTURE) == expected_future


@pytest.mark.parametrize(
    ("text", "past", "future"),
    [
        ("30.12", date(2025, 12, 30), date(2026, 12, 30)),
        ("31 декабря", date(2025, 12, 31), date(2026, 12, 31)),
        ("31 желтоқсан", date(2025, 12, 31), date(2026, 12, 31)),
        ("Dec 31", date(2025, 12, 31), date(2026, 12, 31)),
        ("2.1", date(2026, 1, 2), date(2026, 1, 2)),
        ("3.1", date(2025, 1, 3), date(2026, 1, 3)),
        ("вчера", date(2026, 1, 1), date(2026, 1, 1)),
        ("позавчера", date(2025, 12, 31), date(2025, 12, 31)),
        ("thursday", date(2026, 1, 1), date(2026, 1, 8)),
        ("friday", date(2026, 1, 2), date(2026, 1, 2)),
        ("30-го", date(2025, 12, 30), date(2026, 1, 30)),
    ],
)
def test_year_boundary(text: str, past: date, future: date) -> None:
    assert parse_date(text, now=NEW_YEAR, prefer=Prefer.PAST) == past
    assert parse_date(text, now=NEW_YEAR, prefer=Prefer.FUTURE) == future


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TZ)


# (text, expected value, has_time) with Prefer.PAST
DATETIME_CASES: list[tuple[str, datetime, bool]] = [
    # --- date and time together ---------------------------------------------------------------
    ("20.11.2026 14:30", at(11, 20, 14, 30), True),
    ("20.11 14:30", at(11, 20, 14, 30), True),
    ("14:30 20.11", at(11, 20, 14, 30), True),
    ("20.11.2026, 14:30", at(11, 20, 14, 30), True),
    ("20.11.2026 14.30", at(11, 20, 14, 30), True),
    ("20.11.2026 14.11", at(11, 20, 14, 11), True),  # HH.MM right after a date is a time
    ("20.11 14.30", at(11, 20, 14, 30), True),
    ("20.11 14.11", at(11, 20, 14, 11), True),
    ("2026-11-20T14:30", at(11, 20, 14, 30), True),
    ("2026-11-20 14:30:15", at(11, 20, 14, 30, 15), True),
    ("20 ноября в 14:30", at(11, 20, 14, 30), True),
    ("20 ноября 2026 года в 9 утра", at(11, 20, 9), True),
    ("20 November at 9pm", at(11, 20, 21), True),
    ("Nov 20 9:15pm", at(11, 20, 21, 15), True),
    ("2026 жылғы 20 қараша сағат 14:30", at(11, 20, 14, 30), True),
    ("20 қараша кешкі 7-де", at(11, 20, 19), True),
    # --- relative day + time ----------------------------------------------------------------------
    ("today 9am", at(11, 21, 9), True),
    ("yesterday at 6pm", at(11, 20, 18), True),
    ("tomorrow at 10am", at(11, 22, 10), True),
    ("вчера в 18:00", at(11, 20, 18), True),
    ("вчера 18.10", at(11, 20, 18, 10), True),
    ("вчера вечером в 7", at(11, 20, 19), True),
    ("сегодня утром в 9", at(11, 21, 9), True),
    ("завтра в 10", at(11, 22, 10), True),
    ("завтра в 10 часов", at(11, 22, 10), True),
    ("кеше 18:00", at(11, 20, 18), True),
    ("кеше сағат 18:00-де", at(11, 20, 18), True),
    ("ертең сағат 10-да", at(11, 22, 10), True),
    ("ертең 10-да", at(11, 22, 10), True),
    ("бүгін таңғы 9-да", at(11, 21, 9), True),
    ("monday 9am", at(11, 16, 9), True),
    ("в понедельник в 9:30", at(11, 16, 9, 30), True),
    ("3 дня назад в 14:00", at(11, 18, 14), True),
    ("this morning at 8", at(11, 21, 8), True),
    ("tonight at 11", at(11, 21, 23), True),
    # --- a time alone means today -----------------------------------------------------------
    ("14:30", at(11, 21, 14, 30), True),
    ("14.30", at(11, 21, 14, 30), True),  # 30 is no month, so it is a time
    ("в 14.30", at(11, 21, 14, 30), True),
    ("14:30:15", at(11, 21, 14, 30, 15), True),
    ("в 14:30", at(11, 21, 14, 30), True),
    ("at 14:30", at(11, 21, 14, 30), True),
    ("сағат 14:30", at(11, 21, 14, 30), True),
    ("сағ. 14:30", at(11, 21, 14, 30), True),
    ("14:30-да", at(11, 21, 14, 30), True),
    ("сағат 10-да", at(11, 21, 10), True),
    ("9am", at(11, 21, 9), True),
    ("9 am", at(11, 21, 9), True),
    ("9 a.m.", at(11, 21, 9), True),
    ("9:15pm", at(11, 21, 21, 15), True),
    ("9:15 PM", at(11, 21, 21, 15), True),
    ("12am", at(11, 21, 0), True),
    ("12:30am", at(11, 21, 0, 30), True),
    ("12pm", at(11, 21, 12), True),
    ("9 o'clock", at(11, 21, 9), True),
    ("9 in the evening", at(11, 21, 21), True),
    ("9 утра", at(11, 21, 9), True),
    ("9 вечера", at(11, 21, 21), True),
    ("7:30 вечера", at(11, 21, 19, 30), True),
    ("в 3 дня", at(11, 21, 15), True),
    ("в 2 ночи", at(11, 21, 2), True),
    ("в 11 ночи", at(11, 21, 23), True),
    ("вечером в 7", at(11, 21, 19), True),
    ("в 9 часов вечера", at(11, 21, 21), True),
    ("10ч", at(11, 21, 10), True),
    ("таңғы 9", at(11, 21, 9), True),
    ("кешкі 7", at(11, 21, 19), True),
    ("кешки 7", at(11, 21, 19), True),
    ("түнгі 2", at(11, 21, 2), True),
    ("түскі 2-де", at(11, 21, 14), True),
    ("noon", at(11, 21, 12), True),
    ("midnight", at(11, 21, 0), True),
    ("полдень", at(11, 21, 12), True),
    ("в полдень", at(11, 21, 12), True),
    ("полночь", at(11, 21, 0), True),
    ("түс", at(11, 21, 12), True),
    ("түсте", at(11, 21, 12), True),
    # --- a date alone has no time -----------------------------------------------------------
    ("20.11.2026", at(11, 20, 0), False),
    ("14.11", at(11, 14, 0), False),  # could be 14:11, but a date is preferred
    ("вчера", at(11, 20, 0), False),
    ("вчера вечером", at(11, 20, 0), False),  # a part of the day is not a time
    ("кеше", at(11, 20, 0), False),
    ("20 қараша", at(11, 20, 0), False),
]


@pytest.mark.parametrize(("text", "expected", "has_time"), DATETIME_CASES)
def test_parse_datetime(text: str, expected: datetime, has_time: bool) -> None:
    result = parse_datetime(text, now=NOW)
    assert result == ParsedDateTime(value=expected, has_time=has_time)
    assert result is not None
    assert result.value.tzinfo is TZ
    assert result.value.utcoffset() == timedelta(hours=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday 9am", at(11, 23, 9)),
        ("20.11 14:30", datetime(2027, 11, 20, 14, 30, tzinfo=TZ)),
        ("14:30", at(11, 21, 14, 30)),  # a time alone is today either way
        ("ертең 10-да", at(11, 22, 10)),
    ],
)
def test_parse_datetime_future(text: str, expected: datetime) -> None:
    result = parse_datetime(text, now=NOW, prefer=Prefer.FUTURE)
    assert result is not None
    assert result.value == expected


def test_require_time() -> None:
    assert parse_datetime("вчера", now=NOW, require_time=True) is None
    assert parse_datetime("20.11.2026", now=NOW, require_time=True) is None
    result = parse_datetime("вчера в 18:00", now=NOW, require_time=True)
    assert result == ParsedDateTime(at(11, 20, 18), has_time=True)


def test_value_is_in_the_zone_of_now() -> None:
    now_utc = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    result = parse_datetime("вчера в 18:00", now=now_utc)
    assert result is not None
    assert result.value == datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    assert result.value.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["14:30", "9am", "в 10", "полдень", "кешкі 7", "сағат 10-да"],
)
def test_parse_date_rejects_time_only(text: str) -> None:
    assert parse_date(text, now=NOW) is None
    assert parse_datetime(text, now=NOW) is not None


INVALID = [
    "",
    "   ",
    "\n\t",
    ".",
    "-",
    ":",
    "😢",
    "\u200f",
    "\x00",
    "hello",
    "вчера hello",
    "его задержали вчера",
    # impossible dates
    "31.02",
    "31.02.2026",
    "30.02",
    "29.02.2026",
    "32.11",
    "0.0",
    "31 ноября",
    "30 ақпан",
    # out of range years
    "20.11.1990",
    "01.01.1900",
    "20.11.90",  # two-digit years are 20xx, and 2090 is too far ahead
    "20.11.2029",
    "2099-01-01",
    "через 1000 дней",
    "99999 дней назад",
    # impossible times
    "25:00",
    "24:00",
    "14:60",
    "20.11.2026 25:00",
    "13pm",
    "0am",
    "14 утра",
    "12 вечера",
    "в 99",
    # incomplete or ambiguous
    "ноябрь",
    "ноябрь 2026",
    "November",
    "2026",
    "20",
    "20 21 ноября",
    "20 ноября 9",
    "3 days",
    "in",
    "next",
    "ago",
    "1.2.3.4",
    "12345",
    "20.11.2026.5",
    # contradictions
    "сегодня завтра",
    "вчера 19 ноября",
    "суббота 20.11.2026",
    "20.11.2026 21.11.2026",
    "14:30 15:00",
    "9 утра вечера",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_inputs(text: str) -> None:
    for prefer in Prefer:
        assert parse_date(text, now=NOW, prefer=prefer) is None
        assert parse_datetime(text, now=NOW, prefer=prefer) is None


@pytest.mark.parametrize(
    ("text", "clock"),
    [("00.11", time(0, 11)), ("20.13", time(20, 13)), ("23.59", time(23, 59))],
)
def test_impossible_dates_that_are_times(text: str, clock: time) -> None:
    """A pair like "20.13" is no date, so parse_date refuses it, but it is a good time."""
    assert parse_date(text, now=NOW) is None
    result = parse_datetime(text, now=NOW)
    assert result is not None
    assert result.value.timetz() == clock.replace(tzinfo=TZ)


@pytest.mark.parametrize("locale", ["en", "ru", "kk"])
def test_cldr_month_names_are_understood(locale: str) -> None:
    """Every month name babel/CLDR knows, in every width and context, must parse."""
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            for month, name in get_month_names(width, context, locale).items():
                text = f"5 {name} 2026"
                assert parse_date(text, now=NOW) == date(2026, month, 5), text


@pytest.mark.parametrize("locale", ["en", "ru", "kk"])
def test_cldr_weekday_names_are_understood(locale: str) -> None:
    for width in ("wide", "abbreviated"):
        for weekday, name in get_day_names(width, "format", locale).items():
            result = parse_date(name, now=NOW)
            assert result is not None, name
            assert result.weekday() == weekday, name
            assert timedelta(0) <= NOW.date() - result < timedelta(days=7), name


@pytest.mark.parametrize(
    "text",
    ["вчера" + " " * 10_000, "1" * 10_000, "1." * 5_000, "в " * 5_000, "\u200f" * 10_000],
)
def test_huge_input_is_refused_quickly(text: str) -> None:
    assert parse_date(text, now=NOW) is None
    assert parse_datetime(text, now=NOW) is None


# --- property tests -------------------------------------------------------------------------

NOWS = st.datetimes(
    min_value=datetime(1995, 1, 1),  # noqa: DTZ001 - hypothesis bounds must be naive
    max_value=datetime(2090, 12, 31),  # noqa: DTZ001
    timezones=st.just(TZ),
)
FRAGMENTS = st.sampled_from(
    [
        "20.11", "14:30", "2026", "10-да", "9am", "pm", "20th", "31", "0", "00.00", "29.02",
        "вчера", "кеше", "today", "ноября", "қараша", "nov", "в", "at", "сағат", "назад",
        "бұрын", "ago", "дня", "3", "через", "last", "келесі", "пятницу", "дүйсенбі", "утра",
        "кешкі", "г.", "жылы", "-", ".", ":", "/", "\u200f", "\x00", "😢", "ё", "Ә",
        # issue 15: parts of the day, periods, Latin Kazakh, number words, relative hours
        "вечером", "кешке", "түнде", "keshe", "qarasha", "erteñ", "sağat", "2-3", "или",
        "пару", "часа", "минут", "только что", "арғы күні", "двадцатого", "жиырма", "бес",
        "онда", "неделе", "week", "өткен", "айда", "к", "20,11", "18 00", "twenty", "first",
    ]
)  # fmt: skip


def _check(text: str, now: datetime) -> None:
    for prefer in Prefer:
        day = parse_date(text, now=now, prefer=prefer)
        assert day is None or type(day) is date
        for require_time in (False, True):
            result = parse_datetime(text, now=now, prefer=prefer, require_time=require_time)
            assert result is None or isinstance(result, ParsedDateTime)
            if result is not None:
                assert result.value.tzinfo is now.tzinfo
                assert result.has_time or not require_time


@settings(max_examples=300, database=None)
@given(text=st.text(), now=NOWS)
def test_never_raises_on_any_text(text: str, now: datetime) -> None:
    _check(text, now)


@settings(max_examples=300, database=None)
@given(parts=st.lists(FRAGMENTS, max_size=6), sep=st.sampled_from([" ", "", "-", "."]))
def test_never_raises_on_near_miss_phrases(parts: list[str], sep: str) -> None:
    _check(sep.join(parts), NOW)


@settings(max_examples=200, database=None)
@given(
    day=st.dates(min_value=date(1991, 1, 1), max_value=date(2028, 11, 21)),
    fmt=st.sampled_from(["%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d", "%d.%m.%y"]),
)
def test_numeric_dates_round_trip(day: date, fmt: str) -> None:
    text = day.strftime(fmt)
    expected = day if fmt != "%d.%m.%y" or day.year >= 2000 else None
    assert parse_date(text, now=NOW) == expected


@settings(max_examples=200, database=None)
@given(clock=st.times().map(lambda t: t.replace(second=0, microsecond=0)))
def test_times_round_trip(clock: time) -> None:
    result = parse_datetime(clock.strftime("%H:%M"), now=NOW)
    assert result == ParsedDateTime(datetime.combine(NOW.date(), clock, tzinfo=TZ), True)


# --- readings the old date/date-time results cannot carry (issue 15) ---------------------------


@pytest.mark.parametrize("text", ["last monday", "в прошлый понедельник", "өткен дүйсенбі"])
def test_last_weekday_naming_two_weeks_is_asked_back(text: str) -> None:
    """Said on a Saturday, "last Monday" is the 16th for some and the 9th for others."""
    assert read_when(text, now=NOW) == Reading(d(11, 16), confirm=True)
    assert parse_date(text, now=NOW) is None  # never a silent guess


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("20.11 вечером", Reading(d(11, 20), part=PartOfDay.EVENING)),
        ("20.11 кешке", Reading(d(11, 20), part=PartOfDay.EVENING)),
        ("на прошлой неделе", Reading(d(11, 9), until=d(11, 15))),
        ("last week", Reading(d(11, 9), until=d(11, 15))),
        ("арғы күні", Reading(d(11, 19), confirm=True)),
    ],
)
def test_readings_beyond_a_date_and_time(text: str, reading: Reading) -> None:
    assert read_when(text, now=NOW) == reading
    # The old interface cannot say "evening" or "a week": it says the date without a time,
    # or nothing, but never 20:11.
    result = parse_datetime(text, now=NOW)
    assert result is None or not result.has_time


@pytest.mark.parametrize(
    ("reading", "stored"),
    [
        (Reading(d(11, 20)), "2026-11-20"),
        (Reading(d(11, 20), clock=time(18, 0)), "2026-11-20T18:00:00+05:00"),
        (Reading(d(11, 20), part=PartOfDay.EVENING), "2026-11-20 evening"),
        (Reading(d(11, 9), until=d(11, 15)), "2026-11-09/2026-11-15"),
    ],
)
def test_stored_answers_round_trip(reading: Reading, stored: str) -> None:
    assert reading.to_answer(TZ) == stored
    assert read_answer(stored, TZ) == reading
    assert date.fromisoformat(stored[:10]) == reading.day  # what older code reads


ADVERBS = ["вечером", "утром", "ночью", "днём", "кешке", "таңертең", "түнде", "кеште",
           "in the evening", "in the morning", "keshke", "tünde"]  # fmt: skip


@settings(max_examples=200, database=None)
@given(
    day=st.dates(min_value=date(2025, 11, 22), max_value=date(2026, 11, 21)),
    adverb=st.sampled_from(ADVERBS),
    before=st.booleans(),
    sep=st.sampled_from([".", ",", "/"]),
)
def test_a_date_with_a_part_of_the_day_never_becomes_a_clock_time(
    day: date, adverb: str, before: bool, sep: str
) -> None:
    """ "20.11 вечером" is 20 November in the evening, never 20:11 (issue 15)."""
    numbers = f"{day.day:02d}{sep}{day.month:02d}"
    text = f"{adverb} {numbers}" if before else f"{numbers} {adverb}"
    reading = read_when(text, now=NOW)
    assert reading is not None, text
    assert reading.clock is None, text
    assert reading.part is not None, text
    assert (reading.day.month, reading.day.day) == (day.month, day.day), text


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("keşe", d(11, 20)),  # 2021 alphabet
        ("keshe", d(11, 20)),  # no diacritics
        ("kes'e", d(11, 20)),  # 2017 apostrophe alphabet
        ("bu'gin", d(11, 21)),
        ("5 maýsym", d(6, 5)),  # 2018 acute-accent alphabet
        ("20 qarashada", d(11, 20)),  # a case suffix in Latin letters
        ("20-shy qarasha", d(11, 20)),
        ("qarashanyñ 20-sy", d(11, 20)),
        ("jūma küni", d(11, 20)),
        ("keshegi", d(11, 20)),
    ],
)
def test_kazakh_in_latin_letters(text: str, day: date) -> None:
    assert parse_date(text, now=NOW) == day
