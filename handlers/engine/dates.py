"""Turn what people actually type into dates and date-times.

The people using the bot are relatives of someone who has just been detained, searched or
summoned.  They type on a phone, under stress, in Kazakh, Russian or English (often mixing
them), and they do not care about our preferred format.  So this module accepts the forms
people really use -- "вчера в 18:00", "кеше сағат 18-де", "20 қараша", "20.11", "last monday",
"9 вечера" -- and refuses everything else by returning ``None``, so the flow can simply ask
again.  A wrong date in a persecution report is worse than a second question, which is why
the grammar is deliberately closed: any word that is not part of a date is a reason to
refuse rather than something to skip over.

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
from datetime import date, datetime, time, timedelta

__all__ = ["ParsedDateTime", "Prefer", "parse_date", "parse_datetime"]


class Prefer(enum.Enum):
    """Which way to resolve a date that does not say which year/week it is in.

    Reports of detentions and searches are about the past ("20.11" typed on 2 January means
    last December); summonses and hearings are about the future.  The flow step knows which
    one it is asking for, so it passes this instead of us guessing.
    """

    PAST = "past"
    FUTURE = "future"


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


# --------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------


class _K(enum.Enum):
    """Kinds of tokens the grammar works with."""

    NUM = enum.auto()  # a number, possibly with separators and an attached suffix
    REL = enum.auto()  # relative day: value = offset in days
    MONTH = enum.auto()  # value = 1..12
    WEEKDAY = enum.auto()  # value = 0 (Monday) .. 6
    WDMOD = enum.auto()  # last / next / this, before a weekday
    PERIOD = enum.auto()  # part of the day: am, pm, утра, кешкі ...
    TIMEWORD = enum.auto()  # noon / midnight: value = hour
    HOURPREP = enum.auto()  # a word after which a bare number is an hour: at, в, сағат ...
    HOURWORD = enum.auto()  # a word before which a bare number is an hour: часов, o'clock ...
    YEARWORD = enum.auto()  # г., года, ж., жылы ...
    DAYWORD = enum.auto()  # числа ("20 числа")
    UNIT = enum.auto()  # day / week for "N days ago": value = days per unit
    AGO = enum.auto()  # ago / назад / бұрын
    AFTER = enum.auto()  # in / через / кейін (used before or after the count)
    NUMWORD = enum.auto()  # a spelled-out count: value


class _Period(enum.Enum):
    AM = "am"
    PM = "pm"
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    NIGHT = "night"


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


#: Phrase (space-joined, normalised words) -> the lexemes it stands for.  An empty tuple is a
#: filler word that is allowed and ignored.
_PHRASES: dict[str, tuple[_Lex, ...]] = {}
#: Kazakh stems that may carry case/possessive suffixes ("қарашада", "дүйсенбіде", "кешкі").
_KK_STEMS: dict[str, tuple[_Lex, ...]] = {}
_MAX_PHRASE_WORDS = 3

#: People without a Kazakh keyboard type Kazakh words with the nearest Russian letters
#: ("бугин", "караша", "ертен").  This is spelling, not homoglyph spoofing, so Kazakh
#: entries are registered in both spellings.
_KK_TO_RU = str.maketrans("әғқңөұүһі", "агкноуухи")


def _variants(word: str) -> list[str]:
    alt = word.translate(_KK_TO_RU)
    return [word] if alt == word else [word, alt]


def _add(words: Iterable[str], *lexemes: _Lex, kk: bool = False) -> None:
    """Register ``words`` (phrases allowed) in both spellings; ``kk`` allows Kazakh suffixes."""
    for raw in words:
        for phrase in _variants(_normalise(raw)):
            _PHRASES.setdefault(phrase, lexemes)
            if kk and " " not in phrase:
                _KK_STEMS.setdefault(phrase, lexemes)


def _w(words: str) -> list[str]:
    """Comma-separated word list (phrases may contain spaces): keeps the tables readable."""
    return [w.strip() for w in words.split(",") if w.strip()]


def _suffix_set(words: str) -> frozenset[str]:
    return frozenset(v for s in _w(words) for v in _variants(s))


# Kazakh suffixes a stem may carry (case, possessive, adjectival), longest first so that
# "сінде" is tried before "де".  Only stripped from registered Kazakh stems, never from
# Russian or English words.
_KK_WORD_SUFFIXES: tuple[str, ...] = tuple(
    sorted(
        _suffix_set(
            "сында, сінде, ында, інде, дағы, дегі, тағы, тегі, ның, нің, дың, дің, тың, тің,"
            "нда, нде, дан, ден, тан, тен, нан, нен, да, де, та, те, ға, ге, қа, ке, на, не,"
            "ғы, гі, қы, кі, сы, сі, ы, і"
        ),
        key=len,
        reverse=True,
    )
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
_DAY_SUFFIX = _suffix_set(
    "st, nd, rd, th, го, е, ое, ого, й, ый, ой, ий,"
    "шы, ші, ншы, нші, ыншы, інші, сы, сі, ы, і, сында, сінде, ында, інде"
)
_YEAR_SUFFIX = _suffix_set("г, гг, год, года, году, ж, жыл, жылы, жылғы")
_COUNT_SUFFIX = frozenset({"", "х", "ух", "ех"})  # "2-х дней назад"


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
    _add(_w("прошедший, прошедшую, прошедшее, прошедшей"), last)
    _add(["өткен"], last, kk=True)
    _add(_w("next, следующий, следующую, следующее, следующей"), nxt)
    _add(_w("ближайший, ближайшую, ближайшее, ближайшей"), nxt)
    _add(["келесі"], nxt, kk=True)
    _add(_w("this, этот, эту, это, эта, этой, осы"), _Lex(_K.WDMOD, mode=_Mode.THIS))


def _build_relative_words() -> None:
    rel = {
        0: "today, сегодня, седня",
        -1: "yesterday, вчера",
        -2: "day before yesterday, позавчера, алдыңғы күні, бұрнағы күні",
        1: "tomorrow, tmrw, tmr, завтра",
        2: "day after tomorrow, послезавтра, бүрсігі күні, арғы күні",
    }
    rel_kk = {  # Kazakh stems that take suffixes: бүгінгі, кешегі, ертеңге
        0: "бүгін",
        -1: "кеше",
        1: "ертең",
        # "бүрсігүні" is the day AFTER tomorrow (a frequent mistranslation as "yesterday").
        2: "бүрсігүні, бүрсүгүні, бүрсігүнгі",
    }
    for offset, words in rel.items():
        _add(_w(words), _Lex(_K.REL, offset))
    for offset, words in rel_kk.items():
        _add(_w(words), _Lex(_K.REL, offset), kk=True)
    today = _Lex(_K.REL, 0)
    for phrase, period in (
        ("this morning", _Period.MORNING),
        ("this afternoon", _Period.AFTERNOON),
        ("this evening", _Period.EVENING),
        ("tonight", _Period.EVENING),
    ):
        _add([phrase], today, _Lex(_K.PERIOD, period=period))

    periods = {
        _Period.AM: "am",
        _Period.PM: "pm",
        _Period.MORNING: "morning, in the morning, утра, утром, утро, таңертең, таңертеңгі",
        _Period.AFTERNOON: "afternoon, in the afternoon, дня, днем, пополудни, түскі,"
        "түстен кейін, күндіз, күндізгі",
        _Period.EVENING: "evening, in the evening, вечера, вечером, вечер, кешқұрым",
        _Period.NIGHT: "night, at night, ночи, ночью, ночь",
    }
    periods_kk = {
        _Period.MORNING: "таң",  # таңғы, таңда
        _Period.EVENING: "кеш",  # кешкі, кеште, кешке (but "кеше" = yesterday, exact match)
        _Period.NIGHT: "түн",  # түнгі, түнде
    }
    for period, words in periods.items():
        _add(_w(words), _Lex(_K.PERIOD, period=period))
    for period, words in periods_kk.items():
        _add(_w(words), _Lex(_K.PERIOD, period=period), kk=True)

    _add(_w("day, days, день, дней, сутки, суток"), _Lex(_K.UNIT, 1))
    _add(["күн"], _Lex(_K.UNIT, 1), kk=True)  # күннен кейін
    _add(_w("week, weeks, неделя, неделю, недели, недель"), _Lex(_K.UNIT, 7))
    _add(["апта"], _Lex(_K.UNIT, 7), kk=True)  # аптадан кейін
    _add(_w("ago, back, назад, тому назад, бұрын, алдында"), _Lex(_K.AGO))
    _add(_w("in, after, later, через, спустя, кейін, соң, өткен соң"), _Lex(_K.AFTER))
    numwords = _w(
        "a an one один одна одну одни бір, two два две екі, three три үш,"
        "four четыре төрт, five пять бес, six шесть алты, seven семь жеті,"
        "eight восемь сегіз, nine девять тоғыз, ten десять он"
    )
    for i, words in enumerate(numwords):
        _add(words.split(), _Lex(_K.NUMWORD, i + 1))


def _build_marker_words() -> None:
    _add(_w("noon, midday, полдень, тал түс, талтүс"), _Lex(_K.TIMEWORD, 12))
    _add(["түс"], _Lex(_K.TIMEWORD, 12), kk=True)  # түсте
    _add(_w("midnight, полночь, түн ортасы"), _Lex(_K.TIMEWORD, 0))
    # After these a bare number is an hour: "в 10", "сағат 10", "около 10".
    _add(
        _w(
            "at, в, во, сағат, сағ, около, примерно, приблизительно, где-то, about, around,"
            "approximately, approx, шамамен"
        ),
        _Lex(_K.HOURPREP),
    )
    # Before these a bare number is an hour: "10 часов", "10 o'clock", "10 сағатта".
    _add(
        _w("oclock, h, ч, час, часа, часов, сағатта, сағатқа, сағаттан, шамасында"),
        _Lex(_K.HOURWORD),
    )
    _add(_w("г, гг, год, года, году, year, ж, жыл, жылы, жылғы, жылдың"), _Lex(_K.YEARWORD))
    _add(_w("числа, число"), _Lex(_K.DAYWORD))
    _add(_w("the, of, on, and, и, на, күні"))  # fillers: allowed and ignored


# --------------------------------------------------------------------------------------------
# Normalisation and tokenising
# --------------------------------------------------------------------------------------------

_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
_APOSTROPHES_RE = re.compile(r"['\u2019\u02bc`\u00b4]")
_AMPM_DOTTED_RE = re.compile(r"(?<![^\W\d_])([ap])\.\s?m\b\.?")
_ISO_T_RE = re.compile(r"(?<=[0-9])t(?=[0-9])")
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
    s = _APOSTROPHES_RE.sub("", s)  # o'clock -> oclock
    s = _AMPM_DOTTED_RE.sub(r"\1m", s)  # a.m. -> am
    s = _ISO_T_RE.sub(" ", s)  # 2026-11-20t14:30
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
    suffix: str = ""  # NUM: letters glued to the number


def _lookup_word(word: str) -> tuple[_Lex, ...] | None:
    found = _PHRASES.get(word)
    if found is not None:
        return found
    for suffix in _KK_WORD_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = _KK_STEMS.get(word[: -len(suffix)])
            if stem is not None:
                return stem
    return None


def _tokenise(text: str) -> list[_Tok] | None:
    """Split into number and word tokens; None if any word is not part of the grammar."""
    raw: list[re.Match[str]] = list(_TOKEN_RE.finditer(text))
    toks: list[_Tok] = []
    i = 0
    while i < len(raw):
        m = raw[i]
        num = m.group("num")
        if num is not None:
            groups = tuple(re.split(r"[./:-]", num))
            if any(len(g) > _MAX_DIGITS for g in groups):
                return None
            seps = "".join(c for c in num if not c.isdigit())
            toks.append(
                _Tok(_K.NUM, text=num, groups=groups, seps=seps, suffix=m.group("sfx") or "")
            )
            i += 1
            continue
        # Longest phrase first, over consecutive words only.
        for length in range(_MAX_PHRASE_WORDS, 0, -1):
            chunk = raw[i : i + length]
            if len(chunk) < length or any(c.group("word") is None for c in chunk):
                continue
            phrase = " ".join(c.group("word") for c in chunk)
            lexemes = _PHRASES.get(phrase) if length > 1 else _lookup_word(phrase)
            if lexemes is not None:
                toks.extend(
                    _Tok(lx.kind, lx.value, lx.period, lx.mode, text=phrase) for lx in lexemes
                )
                i += length
                break
        else:
            return None
    return toks


# --------------------------------------------------------------------------------------------
# Grammar
# --------------------------------------------------------------------------------------------


def _count_of(tok: _Tok) -> int | None:
    """The count in "3 дня назад" / "екі күн бұрын" / "a week ago", if ``tok`` is one."""
    if tok.kind is _K.NUMWORD:
        return tok.value
    if tok.kind is _K.NUM and len(tok.groups) == 1 and tok.suffix in _COUNT_SUFFIX:
        return int(tok.groups[0])
    return None


def _unit_of(tok: _Tok) -> int | None:
    if tok.kind is _K.UNIT:
        return tok.value
    if tok.kind is _K.PERIOD and tok.text == "дня":  # "3 дня назад", not "3 дня" = 15:00
        return 1
    return None


def _fold_offsets(toks: list[_Tok]) -> list[_Tok] | None:
    """Replace "N days ago" / "через N дней" / "N күннен кейін" with a REL token."""
    out: list[_Tok] = []
    i = 0
    n = len(toks)
    while i < n:
        # AFTER [count] unit
        if toks[i].kind is _K.AFTER:
            count = _count_of(toks[i + 1]) if i + 1 < n else None
            j = i + 2 if count is not None else i + 1
            unit = _unit_of(toks[j]) if j < n else None
            if unit is None:
                return None
            days = (1 if count is None else count) * unit
            out.append(_Tok(_K.REL, days))
            i = j + 1
            continue
        # [count] unit (AGO | AFTER)
        count = _count_of(toks[i])
        j = i + 1 if count is not None else i
        unit = _unit_of(toks[j]) if j < n else None
        if unit is not None and j + 1 < n and toks[j + 1].kind in (_K.AGO, _K.AFTER):
            sign = -1 if toks[j + 1].kind is _K.AGO else 1
            out.append(_Tok(_K.REL, sign * (1 if count is None else count) * unit))
            i = j + 2
            continue
        out.append(toks[i])
        i += 1
    # Counts are at most four digits (see _tokenise), so offsets stay far from overflow.
    if any(t.kind in (_K.AGO, _K.AFTER, _K.UNIT, _K.NUMWORD) for t in out):
        return None
    return out


def _fold_weekday_modifiers(toks: list[_Tok]) -> list[_Tok] | None:
    out: list[_Tok] = []
    for tok in toks:
        if out and out[-1].kind is _K.WDMOD:
            if tok.kind is not _K.WEEKDAY:
                return None
            out[-1] = _Tok(_K.WEEKDAY, tok.value, mode=out[-1].mode)
        else:
            out.append(tok)
    if out and out[-1].kind is _K.WDMOD:
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
    days: list[int] = field(default_factory=list)
    months: list[int] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    rels: list[int] = field(default_factory=list)
    weekdays: list[tuple[int, _Mode | None]] = field(default_factory=list)
    times: list[tuple[int, int, int]] = field(default_factory=list)  # h, m, s
    periods: set[_Period] = field(default_factory=set)


def _classify_number(tok: _Tok, prev: _Tok | None, nxt: _Tok | None, parts: _Parts) -> bool:
    """Decide what one number token is; False if it cannot be part of a date/time."""
    sfx = tok.suffix
    prev_k = prev.kind if prev else None
    next_k = nxt.kind if nxt else None
    known_sfx = (
        sfx == "" or sfx in _AMPM_SUFFIX or sfx in _HOUR_SUFFIX or sfx in _DAY_SUFFIX
        or sfx in _YEAR_SUFFIX
    )  # fmt: skip
    if not known_sfx:
        return False
    if sfx in _AMPM_SUFFIX:
        parts.periods.add(_AMPM_SUFFIX[sfx])
    if len(tok.groups) == 1:
        return _classify_single(tok.groups[0], sfx, prev_k, next_k, parts)
    return _classify_grouped(tok, prev_k, next_k, parts)


def _classify_single(
    digits: str, sfx: str, prev_k: _K | None, next_k: _K | None, parts: _Parts
) -> bool:
    """A lone number: day ("20 ноября"), year ("2026 ж."), or hour ("в 10", "10-да")."""
    value = int(digits)
    if sfx in _AMPM_SUFFIX or sfx in _CLOCK_SUFFIX:
        kind = "hour"
    elif sfx in _YEAR_SUFFIX:
        kind = "year"
    elif sfx in _DAY_SUFFIX or next_k in (_K.MONTH, _K.DAYWORD):
        kind = "day"
    elif len(digits) == 4 or next_k is _K.YEARWORD:
        kind = "year"
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
    return True


def _classify_grouped(tok: _Tok, prev_k: _K | None, next_k: _K | None, parts: _Parts) -> bool:
    """A number with separators: a time ("14:30"), a full date, or "20.11" vs "14.30"."""
    g, sfx, seps = tok.groups, tok.suffix, tok.seps
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
    time_cue = (
        sfx in _AMPM_SUFFIX
        or sfx in _CLOCK_SUFFIX
        or next_k in (_K.PERIOD, _K.HOURWORD)
        or prev_k in (_K.HOURPREP, _K.PERIOD)
    )
    date_cue = sfx in _DAY_SUFFIX or sfx in _YEAR_SUFFIX or next_k is _K.YEARWORD
    if could_be_time and (time_cue or not could_be_date):
        parts.times.append((a, b, 0))
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
        elif tok.kind is _K.PERIOD and tok.period is not None:
            parts.periods.add(tok.period)
        elif tok.kind is _K.TIMEWORD:
            parts.times.append((tok.value, 0, 0))
        # HOURPREP / HOURWORD / YEARWORD / DAYWORD only steer classification.

    # A month name needs exactly one day number next to it: "20 ноября", "Nov 20th".
    if len(parts.months) > 1 or len(parts.days) > 1:
        return None
    if parts.months:
        if not parts.days:
            return None
        parts.partial.append((parts.months.pop(), parts.days.pop()))

    # "20.11" vs "14.30": a pair that could be either is the date, unless the phrase already
    # has a date, in which case it is the time ("20.11.2026 14.11", "вчера 18.10").
    has_date = bool(parts.full or parts.partial or parts.days or parts.rels or parts.weekdays)
    for a, b in parts.ambiguous:
        if has_date:
            parts.times.append((a, b, 0))
        else:
            parts.partial.append((b, a))
            has_date = True
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
    if len(parts.rels) > 1 or len(parts.weekdays) > 1 or len(parts.times) > 1:
        return None
    if len(parts.periods) > 1:
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

    # Several ways of naming the day must agree ("вчера, 20.11", "пятница 20 ноября"):
    # a contradiction means the user mistyped something, and guessing which part is wrong
    # would put a wrong date into a report.
    if parts.rels:
        rel_date = today + timedelta(days=parts.rels[0])
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

    if result is not None:
        try:
            latest = today.replace(year=today.year + _MAX_YEARS_AHEAD)
        except ValueError:  # 29 February
            latest = today.replace(year=today.year + _MAX_YEARS_AHEAD, day=28)
        if result.year < _MIN_YEAR or result > latest:
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


def _resolve_time(parts: _Parts) -> tuple[bool, time | None]:
    if not parts.times:
        return True, None
    h, m, s = parts.times[0]
    period = next(iter(parts.periods)) if parts.periods else None
    hour = _apply_period(h, period)
    if hour is None or not (0 <= hour <= 23 and 0 <= m <= 59 and 0 <= s <= 59):
        return False, None
    return True, time(hour, m, s)


def _parse(text: str, now: datetime, prefer: Prefer) -> tuple[date | None, time | None] | None:
    """Parse into (date or None, time or None); None when not understood at all."""
    if not isinstance(text, str) or len(text) > _MAX_RAW_LEN:
        return None
    norm = _normalise(text)
    if not norm or len(norm) > _MAX_NORMALISED_LEN:
        return None
    toks = _tokenise(norm)
    if toks is None:
        return None
    toks = _fold_offsets(toks)
    if toks is None:
        return None
    toks = _fold_weekday_modifiers(toks)
    if toks is None:
        return None
    parts = _collect(toks)
    if parts is None:
        return None
    ok, day = _resolve_date(parts, now.date(), prefer)
    if not ok:
        return None
    ok, clock = _resolve_time(parts)
    if not ok or (day is None and clock is None):
        return None
    return day, clock


def parse_date(text: str, *, now: datetime, prefer: Prefer = Prefer.PAST) -> date | None:
    """The calendar date named by ``text`` (a time in it is allowed and ignored).

    A time on its own ("14:30") is not a date and gives None: a step asking for a date
    should not silently turn "14:30" into today.
    """
    try:
        parsed = _parse(text, now, prefer)
    except (ValueError, OverflowError):  # date arithmetic at the edges of the calendar
        return None
    if parsed is None or parsed[0] is None:
        return None
    return parsed[0]


def parse_datetime(
    text: str,
    *,
    now: datetime,
    prefer: Prefer = Prefer.PAST,
    require_time: bool = False,
) -> ParsedDateTime | None:
    """The moment named by ``text``, in the zone of ``now``.

    A date alone gives ``has_time=False`` (or None when ``require_time``); a time alone
    means today, because that is what people mean by "в 14:30" in a live conversation.
    """
    try:
        parsed = _parse(text, now, prefer)
    except (ValueError, OverflowError):
        return None
    if parsed is None:
        return None
    day, clock = parsed
    if clock is None and require_time:
        return None
    value = datetime.combine(
        day if day is not None else now.date(),
        clock if clock is not None else time(0, 0),
        tzinfo=now.tzinfo,
    )
    return ParsedDateTime(value=value, has_time=clock is not None)


_build_calendar_words()
_build_relative_words()
_build_marker_words()
