"""Passphrases for the web form's mailbox: random words from a list in the reader's language.

The lists (`words/kk.txt`, `ru.txt`, `en.txt`) are everyday nouns (fruit, animals, things in a
house), nothing that could tie a slip of paper to a report, and distinct even when Kazakh
letters are typed as their Russian look-alikes (storage/web.py `normalise` folds them). Each
passphrase has enough words for at least MIN_BITS bits of entropy: README, "The web form",
gives the figures per language.
"""

from __future__ import annotations

import math
import secrets
from functools import cache
from pathlib import Path

MIN_BITS = 64
_FOLDER = Path(__file__).with_name("words")


@cache
def word_list(language: str) -> tuple[str, ...]:
    text = (_FOLDER / f"{language}.txt").read_text(encoding="utf-8")
    return tuple(dict.fromkeys(text.split()))


def length(language: str) -> int:
    """Words in a passphrase: enough for MIN_BITS bits from this list."""
    return math.ceil(MIN_BITS / math.log2(len(word_list(language))))


def entropy_bits(language: str) -> float:
    return length(language) * math.log2(len(word_list(language)))


def passphrase(language: str) -> str:
    words = word_list(language if language in ("kk", "ru", "en") else "en")
    return " ".join(secrets.choice(words) for _ in range(length(language)))
