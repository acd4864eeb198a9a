"""The catalogs use the glossary's word for each term (locales/GLOSSARY.md), never a variant a
review found wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR

GLOSSARY = (LOCALES_DIR / "GLOSSARY.md").read_text(encoding="utf-8")

# (language, wrong variant as a regular expression, the glossary's word)
WRONG: list[tuple[str, str, str]] = [
    ("kk", r"құқық қорғау\s+тоб", "құқық қорғаушылар тобы"),
    ("kk", r"«Өткізу»|^Өткізу$", "Өткізіп жіберу"),
    ("kk", r"(?i)қорғауға құқылы", "қорғалу құқығы бар куә"),
    ("kk", r"(?i)экстремизм бөлімі", "экстремизмге қарсы бөлім"),
    ("kk", r"(?i)менімен болды", "Бұл өзіме қатысты"),
    ("kk", r"(?i)тексерілді|тексерілген|тексерілмеген|расталды деп белгіленді", "расталды"),
    ("kk", r"(?i)\bкүйі\b", "мәртебе"),
    ("kk", r"(?i)қайталау\b|қайталауы", "қайталама"),
    ("kk", r"(?i)мәлімет қажет|ақпарат керек|мәлімет керек", "ақпарат қажет"),
    ("kk", r"(?i)батырма", "түйме"),
    ("kk", r"(?i)жауапқа шақыру", "жауап алуға шақыру"),
    ("kk", r"(?i)арнаулы қабылдау\b(?! орны)", "арнаулы қабылдағыш"),
    ("kk", r"(?i)команда тізім|командадан|команданы басқару", "топ мүшелері"),
    ("kk", r"«экстремистік» ұйым", "тыйым салынған ұйым"),
    ("ru", r"(?i)правозащитн\w+ команд", "команда правозащитников"),
    ("ru", r"(?i)свидетель с защитой", "свидетель с правом на защиту"),
    ("ru", r"(?i)заморозк", "блокировка счёта"),
    ("ru", r"(?i)нужны сведения|нужна инфо\b|больше сведений", "нужна информация"),
    ("ru", r"«экстремистская» организация", "запрещённая организация"),
    ("ru", r"(?i)чтобы ответить, ответьте", "нажмите «Ответить»"),
    ("ru", r"(?i)которое дублирует", "дубликатом которого является"),
    ("ru", r"(?i)восточный казахстан|северный казахстан|западный казахстан", "ВКО"),
]


def _catalog(lang: str) -> Catalog:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def _entries(lang: str) -> list[tuple[str, str]]:
    """(English msgid, translation) for every translation of every entry."""
    out: list[tuple[str, str]] = []
    for message in _catalog(lang):
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        out.extend((msgid, text) for text in texts)
    return out


@pytest.mark.parametrize(("lang", "wrong", "right"), WRONG)
def test_no_known_wrong_variant(lang: str, wrong: str, right: str) -> None:
    found = [text for _, text in _entries(lang) if re.search(wrong, text, re.MULTILINE)]
    assert found == [], f"use {right!r} (locales/GLOSSARY.md)"


@pytest.mark.parametrize(("lang", "wrong", "right"), WRONG)
def test_every_rule_is_in_the_glossary(lang: str, wrong: str, right: str) -> None:
    assert right.lower() in GLOSSARY.lower(), right


def _mentions(msgid: str, word: str) -> bool:
    return re.search(rf"\b{word}", msgid, re.IGNORECASE) is not None


def test_russian_calls_a_report_an_obrashchenie() -> None:
    """ "Сообщение" is a chat message; a report is "обращение" (figures included)."""
    wrong = [
        (msgid, text)
        for msgid, text in _entries("ru")
        if _mentions(msgid, "report") and not _mentions(msgid, "message") and "сообщени" in text
    ]
    assert wrong == []


def test_kazakh_does_not_call_a_message_a_report() -> None:
    """ "Хабарлама" is the report: "your last message" must not read "your last report"."""
    wrong = [
        (msgid, text)
        for msgid, text in _entries("kk")
        if _mentions(msgid, "message") and not _mentions(msgid, "report") and "хабарлама" in text
    ]
    assert wrong == []


def test_kazakh_polite_you_is_lowercase_inside_a_sentence() -> None:
    inside = re.compile(r"(?<![.!?]\s)(?<![.!?\n])(?<!^)(?<!• )Сіз", re.MULTILINE)
    assert [text for _, text in _entries("kk") if inside.search(text)] == []


def test_one_name_per_status() -> None:
    """The statuses a moderator sees on cards, in figures and in the audit trail."""
    kk = dict(_entries("kk"))
    assert kk["Verified"].lower() == kk["verified"] == "расталды"
    assert kk["Needs information"].lower() == kk["needs information"] == "ақпарат қажет"
    assert kk["Needs info"] == kk["Needs information"]
    assert kk["Duplicate"].lower() == kk["duplicate"] == "қайталама"
    ru = dict(_entries("ru"))
    assert ru["Needs info"] == ru["Needs information"] == "Нужна информация"


def test_glossary_file_is_where_the_readme_says() -> None:
    assert Path(LOCALES_DIR, "GLOSSARY.md").is_file()
