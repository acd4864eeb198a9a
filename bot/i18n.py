"""Translations: aiogram's I18n fed straight from the Babel catalogs in locales/.

The .po files are the single source: they are compiled in memory at start-up, so there is no
build step and no compiled .mo file that can drift from its source.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.settings import LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


class CatalogI18n(I18n):
    """I18n that reads locales/<lang>/LC_MESSAGES/messages.po directly."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for lang in LANGUAGES:
            po_path = self.path / lang / "LC_MESSAGES" / f"{self.domain}.po"
            if not po_path.exists():
                continue
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=lang, domain=self.domain)
            buffer = io.BytesIO()
            write_mo(buffer, catalog, use_fuzzy=False)
            buffer.seek(0)
            translations[lang] = gettext.GNUTranslations(buffer)
        return translations


def create_i18n(path: Path = LOCALES_DIR) -> CatalogI18n:
    return CatalogI18n(path=path, default_locale="en", domain=DOMAIN)


# Telegram clients send an IETF tag. People in Kazakhstan whose phone is set to another
# post-Soviet language almost always read Russian; everyone else gets English.
_RUSSIAN_READERS = ("ru", "uk", "be", "ky", "uz", "tg", "tk", "az", "hy", "ka")


def language_for(code: str | None) -> str:
    base = (code or "").split("-")[0].split("_")[0].lower()
    if base == "kk":
        return "kk"
    if base in _RUSSIAN_READERS:
        return "ru"
    return "en"
