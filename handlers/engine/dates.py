"""Turn what people actually type into dates, parts of the day and approximate periods.

The people using the bot are relatives of someone who has just been detained, searched or
summoned.  They type on a phone, under stress, in Kazakh (Cyrillic, Latin, or Kazakh words in
Russian letters), Russian or English, often mixing them, and they do not care about our
preferred format.  So this module accepts the forms people really use -- "вчера в 18:00",
"кеше сағат 18-де", "20-қараша", "keshe", "завтра к 10", "2 часа назад", "на прошлой неделе",
"двадцатого ноября" -- and refuses everything else by returning ``None``, so the flow can ask
again.

A wrong date in a persecution report is worse than a second question, so the rule is: never
return a moment the person did not say.

* A part of the day ("вечером", "кешке", "таңертең", "түнде") is recorded as such, never turned
  into a clock time; "20.11 вечером" is 20 November, evening, not 20:11.
* A vague period ("на прошлой неделе", "2-3 дня назад") is an approximate range of days, not a
  made-up day.
* Where two readings are both plausible ("арғы күні" is the day after tomorrow for some and the
  day before yesterday for others; "кеше, 20.11" is either yesterday at 20:11 or a mistyped
  date; "в 5" is 05:00 or 17:00) the reading carries ``confirm=True`` and the flow shows it in
  words for the person to confirm or correct.
* Any word that is not part of a date is a reason to refuse rather than something to skip.

The module is pure: no I/O, no aiogram, no global clock.  "Now" is always passed in (an aware
datetime in the display zone, Asia/Almaty in production) so that every result is reproducible
in tests and independent of the server's zone.

Numeric dates are always read day-first ("03.04" is the 3rd of April): that is the only
convention used in Kazakhstan (and in Russian and Kazakh generally), and guessing
month-first for English-speaking users would silently swap day and month for the very
people most likely to type numbers.  ISO "2026-11-20" is recognised by its four-digit first
group, so it is never ambiguous.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

__all__ = [
    "ParsedDateTime",
    "PartOfDay",
    "Prefer",
    "Reading",
    "parse_date",
    "parse_datetime",
    "read_answer",
    "read_when",
]


class Prefer(enum.Enum):
    """Which way to resolve a date that does not say which year/week it is in.

    Reports of detentions and searches are about the past ("20.11" typed on 2 January means
    last December); summonses and hearings are about the future.  The flow step knows which
    one it is asking for, so it passes this instead of us guessing.
    """

    PAST = "past"
    FUTURE = "future"


class PartOfDay(enum.StrEnum):
    """A part of the day said instead of a clock time ("вечером", "кешке", "in the morning")."""

    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    NIGHT = "night"


@dataclass(frozen=True)
class Reading:
    """What a phrase said about when something happened, and nothing more.

    ``day`` is always set; ``clock`` only when a time was said (or follows from "2 часа назад",
    "только что"); ``part`` when a part of the day was said instead of a time; ``until`` when
    the phrase names a period ("на прошлой неделе": ``day`` .. ``until``, both included), which
    is stored as approximate.  ``confirm`` marks a reading that is one of two plausible ones:
    show it to the person before storing it.
    """

    day: date
    clock: time | None = None
    part: PartOfDay | None = None
    until: date | None = None
    confirm: bool = False

    def to_answer(self, tz: tzinfo) -> str:
        """The stored form of an answer; its first ten characters are always an ISO date.

        "2026-11-20" (a day), "2026-11-20T18:00:00+05:00" (a moment), "2026-11-20 evening"
        (a day and a part of it), "2026-11-16/2026-11-22" (an approximate period, ISO 8601
        interval notation).  The first two are the shapes stored before parts of the day and
        periods existed, so older drafts and reports read the same.
        """
        if self.until is not None:
            return f"{self.day.isoformat()}/{self.until.isoformat()}"
        if self.clock is not None:
            return datetime.combine(self.day, self.clock, tzinfo=tz).isoformat()
        if self.part is not None:
            return f"{self.day.isoformat()} {self.part.value}"
        return self.day.isoformat()


def read_answer(value: str, tz: tzinfo) -> Reading:
    """Read back an answer stored by :meth:`Reading.to_answer` (times shown in ``tz``).

    Raises ValueError for a string in none of the shapes.
    """
    if "/" in value:
        start, end = value.split("/", 1)
        return Reading(date.fromisoformat(start), until=date.fromisoformat(end))
    if len(value) > 10 and value[10] == " ":
        return Reading(date.fromisoformat(value[:10]), part=PartOfDay(value[11:]))
    if len(value) == 10:
        return Reading(date.fromisoformat(value))
    moment = datetime.fromisoformat(value).astimezone(tz)
    return Reading(moment.date(), clock=moment.time().replace(tzinfo=None))


@dataclass(frozen=True)
class ParsedDateTime:
    """A parsed moment.

    ``value`` is timezone-aware, in the zone of the ``now`` that was passed in.  When only a
    date was typed, ``has_time`` is False and ``value`` is at local midnight: callers must
    not present that midnight as if the user had said it.
    """

    value: datetime
    has_time: bool


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------

#: Raw input longer than this is refused before any work is done.  Nobody types a date in a
#: thousand characters; this keeps pasted essays and hostile input cheap.
_MAX_RAW_LEN = 1000
#: After normalisation (whitespace collapsed) a date phrase is short; longer text is prose.
_MAX_NORMALISED_LEN = 200
#: Kazakhstan's independence: nothing the bot collects can predate it, and a year like 1920
#: is a typo for 2020 that we must not silently accept.
_MIN_YEAR = 1991
#: Summonses and hearings are weeks or months ahead, never years; further is a typo.
_MAX_YEARS_AHEAD = 2
#: Longest run of digits in one number group; no part of a date or time is longer, and it
#: keeps "N days ago" arithmetic far from overflow.
_MAX_DIGITS = 4
#: "N hours ago" / "через N минут": further than three days is a typo, or not how anyone
#: would say a date.
_MAX_MOMENT_MINUTES = 72 * 60
#: A bare hour in this range ("в 5", "сағат 3-те") is said for both 05:00 and 17:00.
_AMBIGUOUS_HOURS = range(1, 8)
#: A pair like "20.11" next to "кеше" whose date reading lies this close to the day named is
#: as likely a mistyped date as a time: it is asked back.
_NEAR_DAYS = 7


# --------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------


class _K(enum.Enum):
    """Kinds of tokens the grammar works with."""

    NUM = enum.auto()  # a number, possibly with separators and an attached suffix
    REL = enum.auto()  # relative day: value = offset in days (flag: sign unknown, "арғы күні")
    MONTH = enum.auto()  # value = 1..12
    WEEKDAY = enum.auto()  # value = 0 (Monday) .. 6
    WDMOD = enum.auto()  # last / next / this, before a weekday, "week" or "month"
    PERIOD = enum.auto()  # part of the day: am, pm, утра, кешкі ... (flag: said as an adverb)
    TIMEWORD = enum.auto()  # noon / midnight: value = hour
    HOURPREP = enum.auto()  # a word after which a bare number is an hour: at, в, к, сағат ...
    HOURWORD = enum.auto()  # a word before which a bare number is an hour: часов, o'clock ...
    YEARWORD = enum.auto()  # г., года, ж., жылы ...
    DAYWORD = enum.auto()  # числа ("20 числа")
    UNIT = enum.auto()  # day / week for "N days ago": value = days per unit
    MONTHUNIT = enum.auto()  # month, for "last month" / "өткен айда"
    TUNIT = enum.auto()  # minutes per unit, for "N minutes ago", "полчаса назад"
    AGO = enum.auto()  # ago / назад / бұрын
    AFTER = enum.auto()  # in / через / кейін (used before or after the count)
    NOWWORD = enum.auto()  # just now / только что / жаңа ғана
    OR = enum.auto()  # "2 или 3 дня назад"
    NUMWORD = enum.auto()  # a spelled-out number (value; flag: ordinal)
    RANGE = enum.auto()  # "2-3" before a unit: value = low, value2 = high
    MOMENT = enum.auto()  # folded "N hours ago": value = minutes from now
    APPROX = enum.auto()  # folded period: value = start offset, value2 = end offset (days)


class _Period(enum.Enum):
    AM = "am"
    PM = "pm"
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    NIGHT = "night"


_PART_OF = {
    _Period.MORNING: PartOfDay.MORNING,
    _Period.AFTERNOON: PartOfDay.AFTERNOON,
    _Period.EVENING: PartOfDay.EVENING,
    _Period.NIGHT: PartOfDay.NIGHT,
    _Period.AM: PartOfDay.MORNING,
}


class _Mode(enum.Enum):
    LAST = "last"
    NEXT = "next"
    THIS = "this"


@dataclass(frozen=True)
class _Lex:
    kind: _K
    value: int = 0
    period: _Period | None = None
    mode: _Mode | None = None
    flag: bool = False
    value2: int = 0


#: Phrase (space-joined, normalised words) -> the lexemes it stands for.  An empty tuple is a
#: filler word that is allowed and ignored.
_PHRASES: dict[str, tuple[_Lex, ...]] = {}
#: Kazakh stems that may carry case/possessive suffixes ("қарашада", "дүйсенбіде").
_KK_STEMS: dict[str, tuple[_Lex, ...]] = {}
#: Kazakh entries in Latin script, keyed by their skeleton (see _latin_skeleton).
_LATIN: dict[str, tuple[_Lex, ...]] = {}
_LATIN_STEMS: dict[str, tuple[_Lex, ...]] = {}
_MAX_PHRASE_WORDS = 3

#: People without a Kazakh keyboard type Kazakh words with the nearest Russian letters
#: ("бугин", "караша", "ертен").  This is spelling, not homoglyph spoofing, so Kazakh
#: entries are registered in both spellings.
_KK_TO_RU = str.maketrans("әғқңөұүһі", "агкноуухи")

#: Kazakh Cyrillic to the revised Latin alphabet presented in 2021 (Ä, Ğ, I/ı for і, İ/i for
#: и and й, Ñ, Ö, Q, Ş, Ū, Ü, Y for ы): "кеше" -> "keşe", "ертең" -> "erteñ", "бүгін" ->
#: "bügın" (Wikipedia, "Kazakh alphabets": Latin script).  People also write Kazakh in Latin
#: letters without diacritics ("keshe", "erten", "bugin") or in the 2017 apostrophe and 2018
#: acute-accent versions ("kes'e", "saǵat", "maýsym"); _latin_skeleton folds all of these to
#: one key.
_KK_LATIN = {
    "а": "a", "ә": "ä", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "д": "d", "е": "e", "ё": "io",
    "ж": "j", "з": "z", "и": "i", "й": "i", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n",
    "ң": "ñ", "о": "o", "ө": "ö", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ұ": "ū",
    "ү": "ü", "ф": "f", "х": "h", "һ": "h", "ц": "ts", "ч": "ch", "ш": "ş", "щ": "şş", "ъ": "",
    "ы": "y", "і": "ı", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip
_LATIN_LETTERS = (("ş", "sh"), ("ś", "sh"), ("ç", "ch"), ("ć", "ch"), ("ı", "i"), ("ý", "u"))
_LATIN_DIGRAPHS = (("zh", "j"), ("kh", "h"), ("gh", "g"), ("ng", "n"))
_LATIN_FOLD = str.maketrans("qyw", "kiu")
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")


def _to_latin(word: str) -> str:
    return "".join(_KK_LATIN.get(ch, ch) for ch in word)


def _latin_skeleton(word: str) -> str:
    """One key for every Latin spelling of a Kazakh word: "erteñ", "erteng", "erten" -> "erten"."""
    for letter, plain in _LATIN_LETTERS:
        word = word.replace(letter, plain)
    word = "".join(
        ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch)
    )
    for digraph, plain in _LATIN_DIGRAPHS:
        word = word.replace(digraph, plain)
    return word.translate(_LATIN_FOLD)


def _variants(word: str) -> list[str]:
    alt = word.translate(_KK_TO_RU)
    return [word] if alt == word else [word, alt]


def _add(words: Iterable[str], *lexemes: _Lex, kk: bool = False, latin: bool = False) -> None:
    """Register ``words`` (phrases allowed) in every spelling.

    ``kk`` allows Kazakh suffixes on a one-word entry and implies ``latin``: the entry is
    also known in Latin script.
    """
    for raw in words:
        norm = _normalise(raw)
        for phrase in _variants(norm):
            _PHRASES.setdefault(phrase, lexemes)
            if kk and " " not in phrase:
                _KK_STEMS.setdefault(phrase, lexemes)
        if kk or latin:
            skeleton = " ".join(_latin_skeleton(_to_latin(w)) for w in norm.split())
            _LATIN.setdefault(skeleton, lexemes)
            if kk and " " not in skeleton:
                _LATIN_STEMS.setdefault(skeleton, lexemes)


def _w(words: str) -> list[str]:
    """Comma-separated word list (phrases may contain spaces): keeps the tables readable."""
    return [w.strip() for w in words.split(",") if w.strip()]


def _suffix_set(words: str, *, kk: bool = True) -> frozenset[str]:
    """Suffixes in every spelling; Kazakh ones also in Latin ("-да" -> "da")."""
    out: set[str] = set()
    for s in _w(words):
        out.update(_variants(s))
        if kk and _CYRILLIC_RE.search(s):
            out.add(_latin_skeleton(_to_latin(s)))
    return frozenset(out)


def _longest_first(suffixes: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(suffixes, key=lambda x: (-len(x), x)))


# Kazakh suffixes a stem may carry (case, possessive, adjectival), longest first so that
# "сінде" is tried before "де".  Only stripped from registered Kazakh stems, never from
# Russian or English words.
_KK_SUFFIX_LIST = (
    "сында, сінде, ында, інде, дағы, дегі, тағы, тегі, ның, нің, дың, дің, тың, тің,"
    "нда, нде, дан, ден, тан, тен, нан, нен, да, де, та, те, ға, ге, қа, ке, на, не,"
    "ғы, гі, қы, кі, сы, сі, ы, і"
)
_KK_WORD_SUFFIXES = _longest_first(frozenset(v for s in _w(_KK_SUFFIX_LIST) for v in _variants(s)))
_KK_LATIN_SUFFIXES = _longest_first(
    frozenset(_latin_skeleton(_to_latin(s)) for s in _w(_KK_SUFFIX_LIST))
)

# Suffixes glued to a number ("9am", "20th", "20-го", "10-да", "2026г").  They say what the
# number is, which matters because a bare "10" could be a day or an hour.
_AMPM_SUFFIX = {"am": _Period.AM, "pm": _Period.PM}
_CLOCK_SUFFIX = frozenset({"ч", "час", "h"})  # "10ч": unmistakably an hour
# Kazakh locative/dative/ablative after a clock hour: "сағат 10-да", "9-ға", "10-нан".
_HOUR_SUFFIX = _CLOCK_SUFFIX | _suffix_set(
    "да, де, та, те, нда, нде, ға, ге, қа, ке, дан, ден, тан, тен, нан, нен"
)
# Ordinals: English, Russian ("20-го", "20-е"), Kazakh ordinal and possessive
# ("20-шы", "қарашаның 20-сы", "20-сында").
_DAY_SUFFIX = _suffix_set("st, nd, rd, th, го, е, ое, ого, й, ый, ой, ий", kk=False) | _suffix_set(
    "шы, ші, ншы, нші, ыншы, інші, сы, сі, ы, і, сында, сінде, ында, інде"
)
_YEAR_SUFFIX = _suffix_set("г, гг, год, года, году", kk=False) | _suffix_set("ж, жыл, жылы, жылғы")
_COUNT_SUFFIX = frozenset({"", "х", "ух", "ех"})  # "2-х дней назад"
_NUM_SUFFIXES = frozenset(_AMPM_SUFFIX) | _HOUR_SUFFIX | _DAY_SUFFIX | _YEAR_SUFFIX | _COUNT_SUFFIX

# --- spelled-out numbers ----------------------------------------------------------------------
#: word -> (value, ordinal).  Days of the month and hours are said in words too: "двадцатого
#: ноября", "the twentieth", "жиырмасыншы қараша", "к десяти", "сағат онда".
_NUMWORDS: dict[str, tuple[int, bool]] = {}
_NUMWORDS_LATIN: dict[str, tuple[int, bool]] = {}
#: Kazakh cardinals that take a case suffix kept on the number: "онда" = at ten.
_KK_CARDINALS: dict[str, int] = {}
_KK_CARDINALS_LATIN: dict[str, int] = {}


def _build_number_words() -> None:
    en = _w(
        "one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen,"
        "fourteen, fifteen, sixteen, seventeen, eighteen, nineteen"
    )
    en_ord = _w(
        "first, second, third, fourth, fifth, sixth, seventh, eighth, ninth, tenth, eleventh,"
        "twelfth, thirteenth, fourteenth, fifteenth, sixteenth, seventeenth, eighteenth,"
        "nineteenth"
    )
    for i, (card, ordinal) in enumerate(zip(en, en_ord, strict=True)):
        _NUMWORDS[card] = (i + 1, False)
        _NUMWORDS[ordinal] = (i + 1, True)
    _NUMWORDS.update({"a": (1, False), "an": (1, False)})
    _NUMWORDS.update({"twenty": (20, False), "thirty": (30, False)})
    _NUMWORDS.update({"twentieth": (20, True), "thirtieth": (30, True)})
    # Russian cardinals in the cases people use with hours ("к десяти", "в двух").
    ru = _w(
        "один одна одно одну одного, два две двух, три трех, четыре четырех, пять пяти,"
        "шесть шести, семь семи, восемь восьми, девять девяти, десять десяти,"
        "одиннадцать одиннадцати, двенадцать двенадцати, тринадцать тринадцати,"
        "четырнадцать четырнадцати, пятнадцать пятнадцати, шестнадцать шестнадцати,"
        "семнадцать семнадцати, восемнадцать восемнадцати, девятнадцать девятнадцати"
    )
    for i, forms in enumerate(ru):
        for form in forms.split():
            _NUMWORDS[form] = (i + 1, False)
    _NUMWORDS.update({"двадцать": (20, False), "двадцати": (20, False)})
    _NUMWORDS.update({"тридцать": (30, False), "тридцати": (30, False)})
    ru_ord = _w(
        "перв, втор, трет, четверт, пят, шест, седьм, восьм, девят, десят, одиннадцат,"
        "двенадцат, тринадцат, четырнадцат, пятнадцат, шестнадцат, семнадцат, восемнадцат,"
        "девятнадцат"
    )
    stems = [*enumerate(ru_ord, 1), (20, "двадцат"), (30, "тридцат")]
    for value, stem in stems:
        endings = ("ьего", "ье", "ий", "ьему", "ьем") if stem == "трет" else (
            "ого", "ое", "ый", "ой", "ому", "ом"
        )  # fmt: skip
        for ending in endings:
            _NUMWORDS[stem + ending] = (value, True)
    kk = _w("бір, екі, үш, төрт, бес, алты, жеті, сегіз, тоғыз, он")
    kk_ord = _w(
        "бірінші, екінші, үшінші, төртінші, бесінші, алтыншы, жетінші, сегізінші, тоғызыншы,оныншы"
    )
    kk_items = [*enumerate(kk, 1), (20, "жиырма"), (30, "отыз")]
    kk_ord_items = [*enumerate(kk_ord, 1), (20, "жиырмасыншы"), (30, "отызыншы")]
    for value, word in kk_items:
        for form in _variants(word):
            _NUMWORDS[form] = (value, False)
            _KK_CARDINALS[form] = value
        _NUMWORDS_LATIN[_latin_skeleton(_to_latin(word))] = (value, False)
        _KK_CARDINALS_LATIN[_latin_skeleton(_to_latin(word))] = value
    for value, word in kk_ord_items:
        for form in _variants(word):
            _NUMWORDS[form] = (value, True)
        _NUMWORDS_LATIN[_latin_skeleton(_to_latin(word))] = (value, True)


def _build_calendar_words() -> None:
    months_en = _w(
        "january jan, february feb, march mar, april apr, may, june jun, july jul,"
        "august aug, september sep sept, october oct, november nov, december dec"
    )
    # Russian: every case of every month, plus the abbreviations people and CLDR use.
    soft = ("ь", "я", "е", "ю", "ем")
    hard = ("", "а", "е", "у", "ом")
    months_ru = [
        [f"январ{e}" for e in soft] + ["янв"],
        [f"феврал{e}" for e in soft] + ["фев", "февр"],
        [f"март{e}" for e in hard] + ["мар"],
        [f"апрел{e}" for e in soft] + ["апр"],
        ["май", "мая", "мае", "маю", "маем"],
        [f"июн{e}" for e in soft] + ["июн"],
        [f"июл{e}" for e in soft] + ["июл"],
        [f"август{e}" for e in hard] + ["авг"],
        [f"сентябр{e}" for e in soft] + ["сен", "сент"],
        [f"октябр{e}" for e in soft] + ["окт"],
        [f"ноябр{e}" for e in soft] + ["ноя", "нояб"],
        [f"декабр{e}" for e in soft] + ["дек"],
    ]
    months_kk = _w(
        "қаңтар, ақпан, наурыз, сәуір, мамыр, маусым,"
        "шілде, тамыз, қыркүйек, қазан, қараша, желтоқсан"
    )
    months_kk_abbr = _w("қаң, ақп, нау, сәу, мам, мау, шіл, там, қыр, қаз, қар, жел")
    for i in range(12):
        lex = _Lex(_K.MONTH, i + 1)
        _add(months_en[i].split(), lex)
        _add(months_ru[i], lex)
        _add([months_kk_abbr[i]], lex)
        _add([months_kk[i]], lex, kk=True)

    weekdays_en = _w(
        "monday mon, tuesday tue tues, wednesday wed, thursday thu thur thurs,"
        "friday fri, saturday sat, sunday sun"
    )
    weekdays_ru = _w(
        "понедельник понедельника пн, вторник вторника вт, среда среду среды среде ср,"
        "четверг четверга чт, пятница пятницу пятницы пятнице пт,"
        "суббота субботу субботы субботе сб, воскресенье воскресенья вс"
    )
    weekdays_kk = _w("дүйсенбі, сейсенбі, сәрсенбі, бейсенбі, жұма, сенбі, жексенбі")
    weekdays_kk_abbr = _w("дс, сс, ср, бс, жм, сб, жс")
    for i in range(7):
        lex = _Lex(_K.WEEKDAY, i)
        _add(weekdays_en[i].split(), lex)
        _add(weekdays_ru[i].split(), lex)
        _add([weekdays_kk_abbr[i]], lex)
        _add([weekdays_kk[i]], lex, kk=True)

    last, nxt = _Lex(_K.WDMOD, mode=_Mode.LAST), _Lex(_K.WDMOD, mode=_Mode.NEXT)
    _add(_w("last, previous, past, прошлый, прошлую, прошлое, прошлой, прошлом"), last)
    _add(_w("прошедший, прошедшую, прошедшее, прошедшей, прошедшем"), last)
    _add(["өткен"], last, kk=True)
    _add(_w("next, следующий, следующую, следующее, следующей, следующем"), nxt)
    _add(_w("ближайший, ближайшую, ближайшее, ближайшей"), nxt)
    _add(["келесі"], nxt, kk=True)
    this = _Lex(_K.WDMOD, mode=_Mode.THIS)
    _add(_w("this, этот, эту, это, эта, этой, этом"), this)
    _add(["осы"], this, latin=True)


def _build_relative_words() -> None:
    rel = {
        0: "today, сегодня, седня",
        -1: "yesterday, вчера",
        -2: "day before yesterday, позавчера",
        1: "tomorrow, tmrw, tmr, завтра",
        2: "day after tomorrow, послезавтра",
    }
    rel_kk = {
        -2: "алдыңғы күні, бұрнағы күні",
        2: "бүрсігі күні",
    }
    rel_kk_stems = {  # Kazakh stems that take suffixes: бүгінгі, кешегі, ертеңге
        0: "бүгін",
        -1: "кеше",
        1: "ертең",
        # "бүрсігүні" is the day AFTER tomorrow (a frequent mistranslation as "yesterday").
        2: "бүрсігүні, бүрсүгүні, бүрсігүнгі",
    }
    for offset, words in rel.items():
        _add(_w(words), _Lex(_K.REL, offset))
    for offset, words in rel_kk.items():
        _add(_w(words), _Lex(_K.REL, offset), latin=True)
    for offset, words in rel_kk_stems.items():
        _add(_w(words), _Lex(_K.REL, offset), kk=True)
    # "арғы күні" is the day after tomorrow in the literary language, but many people say it
    # for the day before yesterday: the step's direction picks one, and it is asked back.
    _add(_w("арғы күні, арғы күн"), _Lex(_K.REL, 2, flag=True), latin=True)
    today = _Lex(_K.REL, 0)
    _add(["last night"], _Lex(_K.REL, -1), _Lex(_K.PERIOD, period=_Period.NIGHT, flag=True))
    for phrase, period in (
        ("this morning", _Period.MORNING),
        ("this afternoon", _Period.AFTERNOON),
        ("this evening", _Period.EVENING),
        ("tonight", _Period.EVENING),
    ):
        _add([phrase], today, _Lex(_K.PERIOD, period=period, flag=True))

    # A part of the day said with a clock hour ("9 вечера", "кешкі 7", "9 pm") ...
    clock_periods = {
        _Period.AM: "am",
        _Period.PM: "pm",
        _Period.MORNING: "утра",
        _Period.AFTERNOON: "дня, пополудни",
        _Period.EVENING: "вечера",
        _Period.NIGHT: "ночи",
    }
    clock_periods_kk = {
        _Period.MORNING: "таңғы, таңертеңгі",
        _Period.AFTERNOON: "түскі, күндізгі, түстен кейінгі",
        _Period.EVENING: "кешкі",
        _Period.NIGHT: "түнгі",
    }
    # ... and one said instead of an hour ("вечером", "кешке", "in the evening"): after a
    # pair like "20.11" it does not make the pair a time.
    adverbs = {
        _Period.MORNING: "morning, in the morning, утром, утро, с утра",
        _Period.AFTERNOON: "afternoon, in the afternoon, днем, днём, после обеда",
        _Period.EVENING: "evening, in the evening, вечером, вечер",
        _Period.NIGHT: "night, at night, in the night, ночью, ночь",
    }
    adverbs_kk = {
        _Period.MORNING: "таңертең, таңертеңгісін, таңда, таңғы уақытта",
        _Period.AFTERNOON: "түстен кейін, күндіз, түстен соң",
        _Period.EVENING: "кешке, кеште, кешкісін, кешқұрым, кешкі уақытта, кеш",
        _Period.NIGHT: "түнде, түнгісін, түнгі уақытта, түн",
    }
    for period, words in clock_periods.items():
        _add(_w(words), _Lex(_K.PERIOD, period=period))
    for period, words in clock_periods_kk.items():
        _add(_w(words), _Lex(_K.PERIOD, period=period), latin=True)
    for period, words in adverbs.items():
        _add(_w(words), _Lex(_K.PERIOD, period=period, flag=True))
    for period, words in adverbs_kk.items():
        _add(_w(words), _Lex(_K.PERIOD, period=period, flag=True), latin=True)

    _add(_w("day, days, день, дней, сутки, суток"), _Lex(_K.UNIT, 1))
    _add(["күн"], _Lex(_K.UNIT, 1), kk=True)  # күннен кейін
    _add(_w("week, weeks, неделя, неделю, недели, недель, неделе"), _Lex(_K.UNIT, 7))
    _add(["апта"], _Lex(_K.UNIT, 7), kk=True)  # аптадан кейін, өткен аптада
    _add(_w("month, месяц, месяце, месяца"), _Lex(_K.MONTHUNIT))
    _add(["ай"], _Lex(_K.MONTHUNIT), kk=True)  # өткен айда
    _add(_w("minute, minutes, min, mins, минута, минуту, минуты, минут, мин"), _Lex(_K.TUNIT, 1))
    _add(["минут"], _Lex(_K.TUNIT, 1), kk=True)
    _add(_w("полчаса, half an hour, half hour"), _Lex(_K.TUNIT, 30))
    _add(["жарты сағат"], _Lex(_K.TUNIT, 30), latin=True)
    _add(_w("hour, hours, hr, hrs"), _Lex(_K.TUNIT, 60))
    _add(_w("ago, back, назад, тому назад"), _Lex(_K.AGO))
    _add(_w("бұрын, алдында"), _Lex(_K.AGO), latin=True)
    _add(_w("in, after, later, через, спустя"), _Lex(_K.AFTER))
    _add(_w("кейін, соң, өткен соң"), _Lex(_K.AFTER), latin=True)
    _add(_w("just now, now, right now, только что, сейчас, щас, прямо сейчас"), _Lex(_K.NOWWORD))
    _add(_w("жаңа ғана, қазір, қазір ғана, дәл қазір, жаңа"), _Lex(_K.NOWWORD), latin=True)
    _add(_w("or, или, либо"), _Lex(_K.OR))
    # "пару дней назад", "a couple of days ago": two or three, an approximate period.
    _add(_w("пару, пара, couple, a couple, a couple of, couple of"), _Lex(_K.RANGE, 2, value2=3))
    _add(_w("немесе, әлде, не"), _Lex(_K.OR), latin=True)


def _build_marker_words() -> None:
    _add(_w("noon, midday, полдень"), _Lex(_K.TIMEWORD, 12))
    _add(_w("тал түс, талтүс"), _Lex(_K.TIMEWORD, 12), latin=True)
    _add(["түс"], _Lex(_K.TIMEWORD, 12), kk=True)  # түсте
    _add(_w("midnight, полночь"), _Lex(_K.TIMEWORD, 0))
    _add(["түн ортасы"], _Lex(_K.TIMEWORD, 0), latin=True)
    # After these a bare number is an hour: "в 10", "к 10" (a summons: "явиться к 10"),
    # "сағат 10", "около 10".
    _add(
        _w(
            "at, by, в, во, к, ко, около, примерно, приблизительно, где-то, about, around,"
            "approximately, approx"
        ),
        _Lex(_K.HOURPREP),
    )
    _add(_w("сағат, сағ, шамамен"), _Lex(_K.HOURPREP), latin=True)
    # Before these a bare number is an hour: "10 часов", "10 o'clock", "10 сағатта".
    _add(_w("oclock, h, ч, час, часа, часов"), _Lex(_K.HOURWORD))
    _add(_w("сағатта, сағатқа, сағаттан, шамасында"), _Lex(_K.HOURWORD), latin=True)
    _add(_w("г, гг, год, года, году, year"), _Lex(_K.YEARWORD))
    _add(_w("ж, жыл, жылы, жылғы, жылдың"), _Lex(_K.YEARWORD), latin=True)
    _add(_w("числа, число"), _Lex(_K.DAYWORD))
    _add(_w("the, of, on, and, и, на"))  # fillers: allowed and ignored
    _add(["күні"], latin=True)


#: "2 часа назад", "2 сағат бұрын": words that are an hour unit before ago/after, though
#: elsewhere they mark a clock hour ("10 часов", "сағат 10").
_HOUR_UNIT_WORDS = frozenset(
    {"час", "часа", "часов", "сағат", "сағаттан", "сагат", "сагаттан", "sagat", "sagattan"}
)


# --------------------------------------------------------------------------------------------
# Normalisation and tokenising
# --------------------------------------------------------------------------------------------

_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
_APOSTROPHES_RE = re.compile(r"['\u2019\u02bc`\u00b4]")
# The 2017 Kazakh Latin alphabet wrote ш and ч as s' and c' ("kes'e"): kept apart from s and c
# before apostrophes are dropped.
_APOSTROPHE_DIGRAPH_RE = re.compile(r"([sc])['\u2019\u02bc](?=[a-z])")
_AMPM_DOTTED_RE = re.compile(r"(?<![^\W\d_])([ap])\.\s?m\b\.?")
_ISO_T_RE = re.compile(r"(?<=[0-9])t(?=[0-9])")
# A Russian phone keypad puts a comma where the dot is: "20,11" is "20.11".
_DIGIT_COMMA_RE = re.compile(r"(?<=[0-9]),(?=[0-9])")
_TOKEN_RE = re.compile(
    r"(?P<num>[0-9]+(?:[./:-][0-9]+)*)(?:-?(?P<sfx>[^\W\d_]+))?"
    r"|(?P<word>[^\W\d_]+(?:-[^\W\d_]+)*)"
)


def _normalise(text: str) -> str:
    """Lower-case, fold "ё", unify digits/dashes/spaces, and drop invisible characters.

    Invisible format characters (RTL/LTR marks, zero-width spaces, BOM) are removed rather
    than turned into spaces because phone keyboards and copy-paste insert them *inside*
    tokens ("20\u200e.11").  Every other control or space character becomes a plain space.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        if cat[0] in "CZ":
            out.append(" ")
        elif cat == "Nd":
            out.append(str(unicodedata.decimal(ch, 0)))
        elif ch in _DASHES:
            out.append("-")
        else:
            out.append(ch)
    s = "".join(out).lower().replace("ё", "е")
    s = _APOSTROPHE_DIGRAPH_RE.sub(r"\1h", s)  # kes'e -> keshe
    s = _APOSTROPHES_RE.sub("", s)  # o'clock -> oclock
    s = _AMPM_DOTTED_RE.sub(r"\1m", s)  # a.m. -> am
    s = _ISO_T_RE.sub(" ", s)  # 2026-11-20t14:30
    s = _DIGIT_COMMA_RE.sub(".", s)
    return " ".join(s.split())


@dataclass
class _Tok:
    kind: _K
    value: int = 0
    period: _Period | None = None
    mode: _Mode | None = None
    text: str = ""
    groups: tuple[str, ...] = ()  # NUM: digit groups
    seps: str = ""  # NUM: separators between groups
    suffix: str = ""  # NUM, NUMWORD: letters glued to the number
    flag: bool = False  # PERIOD: an adverb; REL: direction unknown; NUMWORD: ordinal
    value2: int = 0  # RANGE, APPROX: the second bound


def _lookup_word(word: str) -> tuple[_Lex, ...] | None:
    found = _PHRASES.get(word)
    if found is not None:
        return found
    for suffix in _KK_WORD_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            stem = _KK_STEMS.get(word[: -len(suffix)])
            if stem is not None:
                return stem
    if _CYRILLIC_RE.search(word):
        return None
    skeleton = _latin_skeleton(word)
    found = _LATIN.get(skeleton)
    if found is not None:
        return found
    for suffix in _KK_LATIN_SUFFIXES:
        if skeleton.endswith(suffix) and len(skeleton) - len(suffix) >= 2:
            stem = _LATIN_STEMS.get(skeleton[: -len(suffix)])
            if stem is not None:
                return stem
    return None


#: Suffixes a Kazakh cardinal keeps: an hour's case ("онда", "беске") or a day's possessive
#: ("жиырмасы", "бесінде").
_KK_NUMBER_SUFFIXES = _longest_first(_HOUR_SUFFIX | _DAY_SUFFIX)


def _number_word(word: str) -> tuple[int, bool, str] | None:
    """(value, ordinal, suffix) of a spelled-out number, if ``word`` is one."""
    found = _NUMWORDS.get(word)
    if found is not None:
        return found[0], found[1], ""
    latin = not _CYRILLIC_RE.search(word)
    key = _latin_skeleton(word) if latin else word
    if latin and key in _NUMWORDS_LATIN:
        value, ordinal = _NUMWORDS_LATIN[key]
        return value, ordinal, ""
    cardinals = _KK_CARDINALS_LATIN if latin else _KK_CARDINALS
    for suffix in _KK_NUMBER_SUFFIXES:
        if key.endswith(suffix) and key[: -len(suffix)] in cardinals:
            return cardinals[key[: -len(suffix)]], False, suffix
    return None


def _word_tokens(words: list[str], i: int) -> tuple[list[_Tok], int] | None:
    """The tokens of the phrase starting at ``words[i]`` and how many words it took."""
    for length in range(min(_MAX_PHRASE_WORDS, len(words) - i), 1, -1):
        chunk = words[i : i + length]
        phrase = " ".join(chunk)
        lexemes = _PHRASES.get(phrase)
        if lexemes is None and not _CYRILLIC_RE.search(phrase):
            lexemes = _LATIN.get(" ".join(_latin_skeleton(w) for w in chunk))
        if lexemes is not None:
            return [_lex_tok(lx, phrase) for lx in lexemes], length
    word = words[i]
    number = _NUMWORDS.get(word)
    if number is not None:
        return [_Tok(_K.NUMWORD, number[0], text=word, flag=number[1])], 1
    lexemes = _lookup_word(word)
    if lexemes is not None:
        return [_lex_tok(lx, word) for lx in lexemes], 1
    spelled = _number_word(word)
    if spelled is not None:
        value, ordinal, suffix = spelled
        return [_Tok(_K.NUMWORD, value, text=word, suffix=suffix, flag=ordinal)], 1
    if "-" in word:  # "twenty-first", "екі-үш", "где-то" (known whole, so not here)
        parts: list[_Tok] = []
        pieces = word.split("-")
        for piece in pieces:
            found = _word_tokens([piece], 0)
            if found is None:
                return None
            parts.extend(found[0])
        numbers = len(parts) == 2 and all(p.kind is _K.NUMWORD for p in parts)
        if numbers and not _is_compound(parts[0], parts[1]):
            parts.insert(1, _Tok(_K.OR, text="-"))
        return parts, 1
    return None


def _lex_tok(lx: _Lex, text: str) -> _Tok:
    return _Tok(lx.kind, lx.value, lx.period, lx.mode, text=text, flag=lx.flag, value2=lx.value2)


def _tokenise(text: str) -> list[_Tok] | None:
    """Split into number and word tokens; None if any word is not part of the grammar."""
    toks: list[_Tok] = []
    words: list[str] = []

    def flush() -> bool:
        i = 0
        while i < len(words):
            found = _word_tokens(words, i)
            if found is None:
                return False
            toks.extend(found[0])
            i += found[1]
        words.clear()
        return True

    for m in _TOKEN_RE.finditer(text):
        num = m.group("num")
        if num is None:
            words.append(m.group("word"))
            continue
        if not flush():
            return None
        groups = tuple(re.split(r"[./:-]", num))
        if any(len(g) > _MAX_DIGITS for g in groups):
            return None
        seps = "".join(c for c in num if not c.isdigit())
        sfx = m.group("sfx") or ""
        if sfx and sfx not in _NUM_SUFFIXES and _latin_skeleton(sfx) not in _NUM_SUFFIXES:
            # "20-қараша", "25-қарашада", "20ноября": a word glued to the number.
            toks.append(_Tok(_K.NUM, text=num, groups=groups, seps=seps))
            words.append(sfx)
            continue
        if sfx and sfx not in _NUM_SUFFIXES:
            sfx = _latin_skeleton(sfx)
        toks.append(_Tok(_K.NUM, text=num, groups=groups, seps=seps, suffix=sfx))
    if not flush():
        return None
    return toks


# --------------------------------------------------------------------------------------------
# Grammar
# --------------------------------------------------------------------------------------------

_TENS = frozenset({20, 30})
_KK_TEN = frozenset({"он", "on"})  # "он бір" = 11: Kazakh forms 11..19 like 21..29


def _is_compound(tens: _Tok, unit: _Tok) -> bool:
    return (
        not tens.flag
        and not tens.suffix
        and (tens.value in _TENS or tens.text in _KK_TEN)
        and 1 <= unit.value <= 9
    )


def _fold_numbers(toks: list[_Tok]) -> list[_Tok] | None:
    """Spelled-out numbers become NUM tokens; "H MM" becomes "H.MM"; "2 или 3" a RANGE."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok.kind is _K.NUMWORD:
            if nxt is not None and nxt.kind is _K.NUMWORD and _is_compound(tok, nxt):
                tok = _Tok(
                    _K.NUMWORD, tok.value + nxt.value, text=nxt.text, suffix=nxt.suffix,
                    flag=nxt.flag,
                )  # fmt: skip
                i += 1
            # An ordinal word is a day of the month, like "20-го".
            suffix = "го" if tok.flag and not tok.suffix else tok.suffix
            out.append(_Tok(_K.NUM, text=tok.text, groups=(str(tok.value),), suffix=suffix))
            i += 1
            continue
        if (
            tok.kind is _K.NUM
            and nxt is not None
            and nxt.kind is _K.NUM
            and len(tok.groups) == 1
            and len(nxt.groups) == 1
            and not tok.suffix
            and tok.text.isdigit()
            and nxt.text.isdigit()
            and len(tok.groups[0]) <= 2
            and len(nxt.groups[0]) == 2
            and (nxt.suffix == "" or nxt.suffix in _HOUR_SUFFIX)
        ):
            # "в 18 00": a time typed with a space.  As "18.00" it goes through the same
            # rules as any pair, so "20 11" is still a date and "кеше 20 11" is asked back.
            out.append(
                _Tok(
                    _K.NUM,
                    text=f"{tok.text}.{nxt.text}",
                    groups=(tok.groups[0], nxt.groups[0]),
                    seps=".",
                    suffix=nxt.suffix,
                )  # fmt: skip
            )
            i += 2
            continue
        out.append(tok)
        i += 1
    # "2 или 3", "two or three", "екі-үш" before a unit: a range.
    ranged: list[_Tok] = []
    i = 0
    while i < len(out):
        tok = out[i]
        if (
            i + 2 < len(out)
            and out[i + 1].kind is _K.OR
            and _count_of(tok) is not None
            and _count_of(out[i + 2]) is not None
        ):
            ranged.append(_Tok(_K.RANGE, _count_of(tok) or 0, value2=_count_of(out[i + 2]) or 0))
            i += 3
            continue
        if (
            tok.kind is _K.NUM
            and tok.seps == "-"
            and len(tok.groups) == 2
            and tok.suffix in _COUNT_SUFFIX
            and i + 1 < len(out)
            and (_unit_of(out[i + 1]) is not None or _tunit_of(out[i + 1]) is not None)
        ):
            ranged.append(_Tok(_K.RANGE, int(tok.groups[0]), value2=int(tok.groups[1])))
            i += 1
            continue
        ranged.append(tok)
        i += 1
    if any(t.kind is _K.OR for t in ranged):
        return None
    for t in ranged:
        if t.kind is _K.RANGE and not 0 < t.value < t.value2:
            return None
    return ranged


def _count_of(tok: _Tok) -> int | None:
    """The count in "3 дня назад" / "екі күн бұрын" / "a week ago", if ``tok`` is one."""
    if tok.kind is _K.NUM and len(tok.groups) == 1 and tok.suffix in _COUNT_SUFFIX:
        return int(tok.groups[0])
    return None


def _unit_of(tok: _Tok) -> int | None:
    """Days per unit: "день" 1, "неделя" 7."""
    if tok.kind is _K.UNIT:
        return tok.value
    if tok.kind is _K.PERIOD and tok.text == "дня":  # "3 дня назад", not "3 дня" = 15:00
        return 1
    return None


def _tunit_of(tok: _Tok) -> int | None:
    """Minutes per unit: "минут" 1, "час" 60, "полчаса" 30."""
    if tok.kind is _K.TUNIT:
        return tok.value
    if tok.kind in (_K.HOURWORD, _K.HOURPREP) and (
        tok.text in _HOUR_UNIT_WORDS or _latin_skeleton(tok.text) in _HOUR_UNIT_WORDS
    ):
        return 60
    return None


def _offset_tok(count: _Tok | None, unit: _Tok, sign: int) -> _Tok | None:
    """REL / MOMENT / APPROX for "[count] unit" said with ago (-1) or after (+1)."""
    days, minutes = _unit_of(unit), _tunit_of(unit)
    per = days if days is not None else minutes
    assert per is not None
    if count is not None and count.kind is _K.RANGE:
        lo, hi = count.value * per, count.value2 * per
        if days is not None:
            start, end = (-hi, -lo) if sign < 0 else (lo, hi)
            return _Tok(_K.APPROX, start, value2=end, text="days")
        start, end = (-hi, -lo) if sign < 0 else (lo, hi)
        return _Tok(_K.APPROX, start, value2=end, text="minutes")
    n = 1 if count is None else _count_of(count)
    if n is None:
        return None
    if days is not None:
        return _Tok(_K.REL, sign * n * per)
    return _Tok(_K.MOMENT, sign * n * per)


def _is_count(tok: _Tok) -> bool:
    return tok.kind is _K.RANGE or _count_of(tok) is not None


def _is_unit(tok: _Tok) -> bool:
    return _unit_of(tok) is not None or _tunit_of(tok) is not None


def _fold_offsets(toks: list[_Tok]) -> list[_Tok] | None:
    """ "N days ago" / "через N дней" / "2 часа назад" / "2-3 күн бұрын" -> one token."""
    out: list[_Tok] = []
    i = 0
    n = len(toks)
    while i < n:
        tok = toks[i]
        if tok.kind is _K.NOWWORD:
            out.append(_Tok(_K.MOMENT, 0))
            i += 1
            continue
        # AFTER [count] unit
        if tok.kind is _K.AFTER:
            count = toks[i + 1] if i + 1 < n and _is_count(toks[i + 1]) else None
            j = i + 2 if count is not None else i + 1
            if j >= n or not _is_unit(toks[j]):
                return None
            folded = _offset_tok(count, toks[j], 1)
            if folded is None:
                return None
            out.append(folded)
            i = j + 1
            continue
        # [count] unit (AGO | AFTER)
        count = tok if _is_count(tok) else None
        j = i + 1 if count is not None else i
        if (
            j + 1 < n
            and _is_unit(toks[j])
            and toks[j + 1].kind in (_K.AGO, _K.AFTER)
            and not (count is None and toks[j].kind is _K.HOURPREP)
        ):
            folded = _offset_tok(count, toks[j], -1 if toks[j + 1].kind is _K.AGO else 1)
            if folded is None:
                return None
            out.append(folded)
            i = j + 2
            continue
        out.append(tok)
        i += 1
    # Counts are at most four digits (see _tokenise), so offsets stay far from overflow.
    leftover = (_K.AGO, _K.AFTER, _K.UNIT, _K.TUNIT, _K.NUMWORD, _K.RANGE, _K.MONTHUNIT)
    if any(t.kind in leftover and not (t.kind is _K.UNIT or t.kind is _K.MONTHUNIT) for t in out):
        return None
    return out


def _fold_weekday_modifiers(toks: list[_Tok]) -> list[_Tok] | None:
    """ "last friday" -> a weekday; "на прошлой неделе", "өткен айда" -> an approximate period."""
    out: list[_Tok] = []
    for tok in toks:
        if out and out[-1].kind is _K.WDMOD:
            mode = out[-1].mode
            if tok.kind is _K.WEEKDAY:
                out[-1] = _Tok(_K.WEEKDAY, tok.value, mode=mode)
            elif tok.kind is _K.UNIT and tok.value == 7:
                out[-1] = _Tok(_K.APPROX, mode=mode, text="week")
            elif tok.kind is _K.MONTHUNIT:
                out[-1] = _Tok(_K.APPROX, mode=mode, text="month")
            else:
                return None
        else:
            out.append(tok)
    if any(t.kind in (_K.WDMOD, _K.UNIT, _K.MONTHUNIT) for t in out):
        return None
    return out


def _year_of(digits: str) -> int | None:
    """Four digits as is; two digits are 20xx ("20.11.26").

    Everything the bot records happened after 1991, and "90" is far likelier to be a typo
    than a report about 1990, so 19xx is never inferred (2090 is later refused as too far).
    """
    if len(digits) == 4:
        return int(digits)
    if len(digits) == 2:
        return 2000 + int(digits)
    return None


def _is_day_month(d: int, m: int) -> bool:
    return 1 <= d <= 31 and 1 <= m <= 12


@dataclass
class _Parts:
    """Everything a phrase said, before it is resolved against "now"."""

    full: list[tuple[int, int, int]] = field(default_factory=list)  # y, m, d
    partial: list[tuple[int, int]] = field(default_factory=list)  # m, d
    ambiguous: list[tuple[int, int]] = field(default_factory=list)  # "20.11" / "14.30"
    # A pair like "20.11" next to "кеше" / "пятница": which reading is decided against that day.
    beside_named_day: list[tuple[int, int]] = field(default_factory=list)
    days: list[int] = field(default_factory=list)
    months: list[int] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    rels: list[int] = field(default_factory=list)
    rel_unsure: bool = False
    weekdays: list[tuple[int, _Mode | None]] = field(default_factory=list)
    times: list[tuple[int, int, int]] = field(default_factory=list)  # h, m, s
    bare_hour: bool = False  # the time is a lone hour ("в 5"), no minutes, no am/pm
    # The number was read as a time, but reads as a date just as well: "20 вечером" (the
    # 20th, evening?), "к 20.11" (by 20 November?).
    time_or_date: bool = False
    periods: set[_Period] = field(default_factory=set)
    moments: list[int] = field(default_factory=list)  # minutes from now
    approx: list[_Tok] = field(default_factory=list)

    def says_day(self) -> bool:
        return bool(
            self.full or self.partial or self.days or self.rels or self.weekdays
            or self.beside_named_day
        )  # fmt: skip


def _is_clock_period(tok: _Tok | None) -> bool:
    """ "вечера", "кешкі", "pm" go with a clock time; "вечером", "кешке" may stand alone."""
    return tok is not None and tok.kind is _K.PERIOD and not tok.flag


def _classify_number(tok: _Tok, prev: _Tok | None, nxt: _Tok | None, parts: _Parts) -> bool:
    """Decide what one number token is; False if it cannot be part of a date/time."""
    sfx = tok.suffix
    known_sfx = (
        sfx == "" or sfx in _AMPM_SUFFIX or sfx in _HOUR_SUFFIX or sfx in _DAY_SUFFIX
        or sfx in _YEAR_SUFFIX
    )  # fmt: skip
    if not known_sfx:
        return False
    if sfx in _AMPM_SUFFIX:
        parts.periods.add(_AMPM_SUFFIX[sfx])
    if len(tok.groups) == 1:
        return _classify_single(tok.groups[0], sfx, prev, nxt, parts)
    return _classify_grouped(tok, prev, nxt, parts)


def _classify_single(
    digits: str, sfx: str, prev: _Tok | None, nxt: _Tok | None, parts: _Parts
) -> bool:
    """A lone number: day ("20 ноября"), year ("2026 ж."), or hour ("в 10", "10-да")."""
    value = int(digits)
    prev_k = prev.kind if prev else None
    next_k = nxt.kind if nxt else None
    if sfx in _AMPM_SUFFIX or sfx in _CLOCK_SUFFIX:
        kind = "hour"
    elif sfx in _YEAR_SUFFIX:
        kind = "year"
    elif sfx in _DAY_SUFFIX or next_k in (_K.MONTH, _K.DAYWORD):
        kind = "day"
    elif len(digits) == 4 or next_k is _K.YEARWORD:
        kind = "year"
    elif prev_k is _K.MONTH and not (
        next_k is _K.HOURWORD or _is_clock_period(nxt) or sfx in _HOUR_SUFFIX
    ):
        kind = "day"  # "Nov 20 in the evening"
    elif (
        next_k in (_K.PERIOD, _K.HOURWORD)
        or prev_k in (_K.HOURPREP, _K.PERIOD)
        or sfx in _HOUR_SUFFIX
    ):
        kind = "hour"
    elif prev_k is _K.MONTH:
        kind = "day"
    else:
        return False
    if kind == "year":
        year = _year_of(digits)
        if year is None:
            return False
        parts.years.append(year)
    elif len(digits) > 2:
        return False
    elif kind == "day":
        parts.days.append(value)
    else:
        parts.times.append((value, 0, 0))
        parts.bare_hour = sfx not in _AMPM_SUFFIX and not (
            _is_clock_period(nxt) or _is_clock_period(prev)
        )
        # Only "вечером" beside it made it an hour; nothing says it is not the day.  English
        # "9 in the evening" is only ever a clock time.
        english_clock = nxt is not None and nxt.text.startswith(("in ", "at "))
        parts.time_or_date = (
            not sfx
            and value <= 31
            and not english_clock
            and prev_k is not _K.HOURPREP
            and next_k is not _K.HOURWORD
            and not (_is_clock_period(nxt) or _is_clock_period(prev))
        )
    return True


def _classify_grouped(tok: _Tok, prev: _Tok | None, nxt: _Tok | None, parts: _Parts) -> bool:
    """A number with separators: a time ("14:30"), a full date, or "20.11" vs "14.30"."""
    g, sfx, seps = tok.groups, tok.suffix, tok.seps
    prev_k = prev.kind if prev else None
    next_k = nxt.kind if nxt else None
    if set(seps) == {":"}:  # 14:30, 14:30:15
        if len(g) > 3 or len(g[0]) > 2 or any(len(x) != 2 for x in g[1:]):
            return False
        parts.times.append((int(g[0]), int(g[1]), int(g[2]) if len(g) == 3 else 0))
        return True
    if ":" in seps or len(g) > 3 or any(len(x) > 2 for x in g[1:-1]):
        return False
    if len(g) == 3:
        if len(g[0]) == 4:  # ISO order: 2026-11-20
            if len(g[2]) > 2:
                return False
            y, m, d = int(g[0]), int(g[1]), int(g[2])
        else:  # day first: 20.11.2026, 20/11/26
            year = _year_of(g[2])
            if year is None or len(g[0]) > 2:
                return False
            y, m, d = year, int(g[1]), int(g[0])
        parts.full.append((y, m, d))
        return True
    if len(g[0]) > 2 or len(g[1]) > 2:
        return False
    # Two groups: "20.11" (a date) or "14.30" (a time); "20/11" is only ever a date.
    a, b = int(g[0]), int(g[1])
    could_be_date = _is_day_month(a, b)
    could_be_time = seps != "/" and len(g[1]) == 2 and a <= 23 and b <= 59
    # Only a word that goes with a clock ("вечера", "pm", "в", "часов") makes the pair a
    # time; "20.11 вечером" / "20.11 кешке" is a date said with a part of the day.
    time_cue = (
        sfx in _AMPM_SUFFIX
        or sfx in _CLOCK_SUFFIX
        or next_k is _K.HOURWORD
        or prev_k is _K.HOURPREP
        or _is_clock_period(nxt)
        or _is_clock_period(prev)
    )
    date_cue = sfx in _DAY_SUFFIX or sfx in _YEAR_SUFFIX or next_k is _K.YEARWORD
    if could_be_time and (time_cue or not could_be_date):
        parts.times.append((a, b, 0))
        # "в 20.11" / "к 20.11": a preposition alone is a weak cue ("к 20.11" may be "by
        # 20 November"), so a pair that is also a date is asked back.
        parts.time_or_date = could_be_date and not (
            sfx in _AMPM_SUFFIX
            or sfx in _CLOCK_SUFFIX
            or next_k is _K.HOURWORD
            or _is_clock_period(nxt)
            or _is_clock_period(prev)
        )
    elif could_be_date and (date_cue or not could_be_time):
        parts.partial.append((b, a))
    elif could_be_date and could_be_time:
        parts.ambiguous.append((a, b))
    else:
        return False
    return True


def _collect(toks: list[_Tok]) -> _Parts | None:
    parts = _Parts()
    for i, tok in enumerate(toks):
        prev = toks[i - 1] if i > 0 else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok.kind is _K.NUM:
            if not _classify_number(tok, prev, nxt, parts):
                return None
        elif tok.kind is _K.MONTH:
            parts.months.append(tok.value)
        elif tok.kind is _K.WEEKDAY:
            parts.weekdays.append((tok.value, tok.mode))
        elif tok.kind is _K.REL:
            parts.rels.append(tok.value)
            parts.rel_unsure = parts.rel_unsure or tok.flag
        elif tok.kind is _K.PERIOD and tok.period is not None:
            parts.periods.add(tok.period)
        elif tok.kind is _K.TIMEWORD:
            parts.times.append((tok.value, 0, 0))
        elif tok.kind is _K.MOMENT:
            parts.moments.append(tok.value)
        elif tok.kind is _K.APPROX:
            parts.approx.append(tok)
        # HOURPREP / HOURWORD / YEARWORD / DAYWORD only steer classification.

    # A month name needs exactly one day number next to it: "20 ноября", "Nov 20th".
    if len(parts.months) > 1 or len(parts.days) > 1:
        return None
    if parts.months:
        if not parts.days:
            return None
        parts.partial.append((parts.months.pop(), parts.days.pop()))

    # "20.11" vs "14.30": a pair that could be either is the date, unless the phrase already
    # has a numeric date, in which case it is the time ("20.11.2026 14.11").  Beside a named
    # day ("вчера 18.10", "кеше, 20.11") it is decided against that day in _resolve.
    numeric_date = bool(parts.full or parts.partial or parts.days)
    for a, b in parts.ambiguous:
        if numeric_date:
            parts.times.append((a, b, 0))
        elif parts.rels or parts.weekdays:
            parts.beside_named_day.append((a, b))
        else:
            parts.partial.append((b, a))
            numeric_date = True
    parts.ambiguous.clear()

    if len(parts.years) > 1:
        return None
    if parts.years:
        if len(parts.partial) != 1 or parts.full:
            return None
        m, d = parts.partial.pop()
        parts.full.append((parts.years.pop(), m, d))

    if len(parts.full) + len(parts.partial) + len(parts.days) > 1:
        return None
    if len(parts.rels) > 1 or len(parts.weekdays) > 1:
        return None
    if len(parts.times) + len(parts.beside_named_day) > 1:
        return None
    if len(parts.periods) > 1:
        return None
    if parts.moments or parts.approx:
        # "2 часа назад", "на прошлой неделе" say everything there is; anything beside them
        # is a contradiction or a second date.
        alone = len(parts.moments) + len(parts.approx) == 1
        if not alone or parts.says_day() or parts.times or parts.periods:
            return None
    return parts


# --------------------------------------------------------------------------------------------
# Resolution against "now"
# --------------------------------------------------------------------------------------------


def _resolve_month_day(m: int, d: int, today: date, prefer: Prefer) -> date | None:
    """The most recent (PAST) or next (FUTURE) m/d, counting today; None if it never exists.

    Several years are tried so that "29.02" finds the nearest leap year.
    """
    step = -1 if prefer is Prefer.PAST else 1
    for k in range(9):
        try:
            cand = date(today.year + step * k, m, d)
        except ValueError:
            continue
        if (cand <= today) if prefer is Prefer.PAST else (cand >= today):
            return cand
    return None


def _nearest_month_day(m: int, d: int, around: date) -> date | None:
    """The m/d closest to ``around`` (either side), or None if it is no date."""
    found: list[date] = []
    for year in (around.year - 1, around.year, around.year + 1):
        try:
            found.append(date(year, m, d))
        except ValueError:
            continue
    return min(found, key=lambda c: abs((c - around).days)) if found else None


def _resolve_day(d: int, today: date, prefer: Prefer) -> date | None:
    """ "20-го" / "the 20th": that day of the current month, or the nearest month with it."""
    step = -1 if prefer is Prefer.PAST else 1
    for k in range(13):
        months = today.year * 12 + today.month - 1 + step * k
        try:
            cand = date(months // 12, months % 12 + 1, d)
        except ValueError:
            continue
        if (cand <= today) if prefer is Prefer.PAST else (cand >= today):
            return cand
    return None


def _resolve_weekday(idx: int, mode: _Mode | None, today: date, prefer: Prefer) -> date:
    back = (today.weekday() - idx) % 7
    ahead = (idx - today.weekday()) % 7
    if mode is _Mode.LAST:
        return today - timedelta(days=back or 7)
    if mode is _Mode.NEXT:
        return today + timedelta(days=ahead or 7)
    # A bare weekday (or "this ...") includes today: "в субботу" said on a Saturday is today.
    return today - timedelta(days=back) if prefer is Prefer.PAST else today + timedelta(ahead)


def _weekday_is_unsure(idx: int, mode: _Mode | None, today: date) -> bool:
    """Whether "last/next <weekday>" names two days: the nearest one, or the one in the
    previous/next ISO week ("в прошлую пятницу" said on a Sunday: the 20th or the 13th?)."""
    if mode not in (_Mode.LAST, _Mode.NEXT):
        return False
    monday = today - timedelta(days=today.weekday())
    week = -7 if mode is _Mode.LAST else 7
    return _resolve_weekday(idx, mode, today, Prefer.PAST) != monday + timedelta(days=week + idx)


def _in_range(day: date, today: date) -> bool:
    try:
        latest = today.replace(year=today.year + _MAX_YEARS_AHEAD)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + _MAX_YEARS_AHEAD, day=28)
    return day.year >= _MIN_YEAR and day <= latest


def _resolve_date(parts: _Parts, today: date, prefer: Prefer) -> tuple[bool, date | None]:
    """(ok, date); ok is False when the phrase contradicts itself or names no real date."""
    result: date | None = None
    if parts.full:
        y, m, d = parts.full[0]
        try:
            result = date(y, m, d)
        except ValueError:
            return False, None
    elif parts.partial:
        result = _resolve_month_day(*parts.partial[0], today, prefer)
        if result is None:
            return False, None
    elif parts.days:
        result = _resolve_day(parts.days[0], today, prefer)
        if result is None:
            return False, None

    # Several ways of naming the day must agree ("вчера, 20 ноября", "пятница 20 ноября"):
    # a contradiction means the user mistyped something, and guessing which part is wrong
    # would put a wrong date into a report.
    if parts.rels:
        offset = parts.rels[0]
        if parts.rel_unsure:
            offset = -abs(offset) if prefer is Prefer.PAST else abs(offset)
        rel_date = today + timedelta(days=offset)
        if result is not None:
            # The relative day fixes the year, so "вчера, 20 ноября" only has to agree on
            # what was actually typed (day and month), whichever way ``prefer`` points.
            if parts.full:
                agree = result == rel_date
            elif parts.partial:
                agree = (result.month, result.day) == (rel_date.month, rel_date.day)
            else:
                agree = result.day == rel_date.day
            if not agree:
                return False, None
        result = rel_date
    if parts.weekdays:
        idx, mode = parts.weekdays[0]
        if result is not None:
            if result.weekday() != idx:
                return False, None
        else:
            result = _resolve_weekday(idx, mode, today, prefer)

    if result is not None and not _in_range(result, today):
        return False, None
    return True, result


def _apply_period(hour: int, period: _Period | None) -> int | None:
    """Turn a 12-hour-ish clock reading plus a part of the day into 0..23.

    Russian and Kazakh speakers say "9 вечера"/"кешкі 9" the way English speakers say
    "9 pm"; "3 дня" is 15:00, "2 ночи"/"түнгі 2" is 02:00 but "11 ночи" is 23:00.  A
    combination that makes no sense ("14 утра", "15pm") is refused rather than guessed.
    """
    if period is None:
        return hour
    if period is _Period.AM:
        return hour % 12 if 1 <= hour <= 12 else None
    if period is _Period.PM:
        return hour % 12 + 12 if 1 <= hour <= 12 else None
    if period is _Period.MORNING:
        return hour if 0 <= hour <= 11 else None
    if period is _Period.AFTERNOON:
        if 1 <= hour <= 7:
            return hour + 12
        return hour if 10 <= hour <= 19 else None
    if period is _Period.EVENING:
        if 1 <= hour <= 11:
            return hour + 12
        return hour if 13 <= hour <= 23 else None
    # Night.
    if hour == 12:
        return 0
    if 0 <= hour <= 5 or 21 <= hour <= 23:
        return hour
    return hour + 12 if 9 <= hour <= 11 else None


def _approx_range(tok: _Tok, now: datetime, prefer: Prefer) -> tuple[date, date]:
    today = now.date()
    if tok.text == "days":
        return today + timedelta(days=tok.value), today + timedelta(days=tok.value2)
    if tok.text == "minutes":
        return (now + timedelta(minutes=tok.value)).date(), (
            now + timedelta(minutes=tok.value2)
        ).date()
    if tok.text == "week":  # ISO weeks, Monday to Sunday
        monday = today - timedelta(days=today.weekday())
        shift = {_Mode.LAST: -7, _Mode.NEXT: 7}.get(tok.mode, 0) if tok.mode else 0
        start, end = monday + timedelta(days=shift), monday + timedelta(days=shift + 6)
    else:  # month
        first = today.replace(day=1)
        if tok.mode is _Mode.LAST:
            end = first - timedelta(days=1)
            start = end.replace(day=1)
        else:
            if tok.mode is _Mode.NEXT:
                first = (first + timedelta(days=32)).replace(day=1)
            start = first
            end = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if tok.mode is _Mode.THIS:  # "на этой неделе": the part of it on the step's side of today
        start, end = (start, today) if prefer is Prefer.PAST else (today, end)
    return start, end


def _resolve(parts: _Parts, now: datetime, prefer: Prefer) -> Reading | None:
    today = now.date()
    if parts.moments:
        minutes = parts.moments[0]
        if abs(minutes) > _MAX_MOMENT_MINUTES:
            return None
        moment = (now + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
        return Reading(moment.date(), clock=moment.time().replace(tzinfo=None))
    if parts.approx:
        start, end = _approx_range(parts.approx[0], now, prefer)
        if not (_in_range(start, today) and _in_range(end, today)):
            return None
        return Reading(start) if start == end else Reading(start, until=end)

    confirm = (
        parts.rel_unsure
        or parts.time_or_date
        or any(_weekday_is_unsure(idx, mode, today) for idx, mode in parts.weekdays)
    )
    ok, day = _resolve_date(parts, today, prefer)
    if not ok:
        return None
    times = list(parts.times)
    bare_hour = parts.bare_hour
    for a, b in parts.beside_named_day:
        assert day is not None  # a named day is there, or the pair would be a date
        as_date = _nearest_month_day(b, a, day)
        if as_date == day:  # "кеше, 21.11" said on the 22nd: both name the same day
            continue
        # Otherwise it is the time; a date reading close to the named day ("кеше, 20.11")
        # may be a mistyped date, so it is asked back.
        times.append((a, b, 0))
        bare_hour = False
        if as_date is not None and abs((as_date - day).days) <= _NEAR_DAYS:
            confirm = True
    if len(times) > 1:
        return None

    period = next(iter(parts.periods)) if parts.periods else None
    clock: time | None = None
    part: PartOfDay | None = None
    if times:
        h, m, s = times[0]
        hour = _apply_period(h, period)
        if hour is None or not (0 <= hour <= 23 and 0 <= m <= 59 and 0 <= s <= 59):
            return None
        if bare_hour and period is None and hour in _AMBIGUOUS_HOURS:
            # "в 5" is 05:00 or 17:00; an appointment ("завтра к 3") is in office hours.
            confirm = True
            if prefer is Prefer.FUTURE and hour <= 6:
                hour += 12
        clock = time(hour, m, s)
    elif period is not None:
        part = _PART_OF.get(period)
        if day is None:  # "вечером" alone: which evening?
            return None
    if day is None:
        if clock is None:
            return None
        day = today  # a time alone means today: "в 14:30" in a live conversation
    return Reading(day, clock=clock, part=part, confirm=confirm)


def _read(text: str, now: datetime, prefer: Prefer) -> tuple[Reading, bool] | None:
    """The reading, and whether the phrase named a day (not just a time); None if not read."""
    if not isinstance(text, str) or len(text) > _MAX_RAW_LEN:
        return None
    norm = _normalise(text)
    if not norm or len(norm) > _MAX_NORMALISED_LEN:
        return None
    toks = _tokenise(norm)
    if toks is None:
        return None
    for fold in (_fold_numbers, _fold_offsets, _fold_weekday_modifiers):
        folded = fold(toks)
        if folded is None:
            return None
        toks = folded
    parts = _collect(toks)
    if parts is None:
        return None
    try:
        reading = _resolve(parts, now, prefer)
    except (ValueError, OverflowError):  # date arithmetic at the edges of the calendar
        return None
    if reading is None:
        return None
    return reading, parts.says_day() or bool(parts.moments or parts.approx)


def read_when(
    text: str, *, now: datetime, prefer: Prefer = Prefer.PAST, day_required: bool = False
) -> Reading | None:
    """What ``text`` says about when, against ``now`` (aware, in the display zone).

    With ``day_required``, a time alone ("14:30") gives None: a step asking for a date should
    not silently turn it into today.
    """
    read = _read(text, now, prefer)
    if read is None or (day_required and not read[1]):
        return None
    return read[0]


def parse_date(text: str, *, now: datetime, prefer: Prefer = Prefer.PAST) -> date | None:
    """The calendar date named by ``text`` (a time in it is allowed and ignored).

    None for a time alone, an approximate period and a reading that must be confirmed:
    callers that can handle those use :func:`read_when`.
    """
    reading = read_when(text, now=now, prefer=prefer, day_required=True)
    if reading is None or reading.confirm or reading.until is not None:
        return None
    return reading.day


def parse_datetime(
    text: str,
    *,
    now: datetime,
    prefer: Prefer = Prefer.PAST,
    require_time: bool = False,
) -> ParsedDateTime | None:
    """The moment named by ``text``, in the zone of ``now``.

    A date alone (or with a part of the day) gives ``has_time=False`` (or None when
    ``require_time``); a time alone means today.  None for an approximate period and for a
    reading that must be confirmed (see :func:`read_when`).
    """
    reading = read_when(text, now=now, prefer=prefer)
    if reading is None or reading.confirm or reading.until is not None:
        return None
    if reading.clock is None and require_time:
        return None
    value = datetime.combine(reading.day, reading.clock or time(0, 0), tzinfo=now.tzinfo)
    return ParsedDateTime(value=value, has_time=reading.clock is not None)


_build_number_words()
_build_calendar_words()
_build_relative_words()
_build_marker_words()
