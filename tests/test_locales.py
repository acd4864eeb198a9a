"""The catalogs: complete, not fuzzy, in step with the code, plurals and placeholders right."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, create_i18n, language_for
from handlers.engine.forms import FORMS
from handlers.engine.vocab import ALL_VOCABULARIES, BANKS

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("kk", "ru", "en")
KEYWORDS = {"N_": None, "NP_": (1, 2), "plural": (1, 2)}
KAZAKH_LETTERS = set("әғқңөұүһі")
BRANDS = {option.label for option in BANKS.options if option.key != "other"}


def _catalog(lang: str) -> Catalog:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def _ids_in_code() -> set[str]:
    ids: set[str] = set()
    for folder in ("bot", "handlers", "storage"):
        for _name, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_complete_and_not_fuzzy(lang: str) -> None:
    catalog = _catalog(lang)
    bad = [
        message.id
        for message in catalog
        if message.id
        and (
            message.fuzzy
            or not message.string
            or (isinstance(message.string, tuple) and not all(message.string))
        )
    ]
    assert bad == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_covers_every_string_in_the_code(lang: str) -> None:
    catalog_ids = {
        message.id[0] if isinstance(message.id, tuple) else message.id
        for message in _catalog(lang)
        if message.id
    }
    missing = _ids_in_code() - catalog_ids
    assert missing == set(), "run pybabel extract/update (README, Translations)"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_survive_translation(lang: str) -> None:
    for message in _catalog(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = _placeholders(ids[0]) | _placeholders(ids[-1])
        for text in strings:
            assert _placeholders(text) <= expected, (message.id, text)
            assert _placeholders(text) >= _placeholders(ids[0]) - {"n"}, (message.id, text)


def test_russian_has_three_plural_forms() -> None:
    catalog = _catalog("ru")
    assert catalog.num_plurals == 3
    i18n = create_i18n()
    forms = [
        i18n.gettext("{n} file", "{n} files", n, locale="ru").format(n=n) for n in (1, 3, 5, 21)
    ]
    assert forms == ["1 файл", "3 файла", "5 файлов", "21 файл"]


def test_kazakh_is_written_in_kazakh_cyrillic() -> None:
    catalog = _catalog("kk")
    texts = [m.string for m in catalog if m.id and isinstance(m.string, str)]
    cyrillic = [t for t in texts if re.search("[а-яәғқңөұүһі]", t.lower())]
    assert len(cyrillic) > 0.8 * len(texts)
    assert sum(1 for t in texts if KAZAKH_LETTERS & set(t.lower())) > 0.5 * len(texts)
    i18n = create_i18n()
    assert i18n.gettext("Detention", locale="kk") != i18n.gettext("Detention", locale="ru")


def test_every_label_and_question_is_translated_in_every_language() -> None:
    i18n = create_i18n()
    msgids = [option.label for vocabulary in ALL_VOCABULARIES for option in vocabulary.options]
    msgids += [step.question for form in FORMS.values() for step in form.steps]
    msgids += [step.label for form in FORMS.values() for step in form.steps]
    for lang in ("kk", "ru"):
        same = {m for m in msgids if i18n.gettext(m, locale=lang) == m}
        # Bank brand names (Kaspi, Halyk, ...) are the only labels that stay the same.
        assert same <= BRANDS, same - BRANDS


def test_language_from_the_telegram_client() -> None:
    assert language_for("kk") == "kk"
    assert language_for("ru-RU") == "ru"
    assert language_for("uk") == "ru"
    assert language_for("en-GB") == "en"
    assert language_for("de") == "en"
    assert language_for(None) == "en"
