"""Typed text matched to a vocabulary, in any of the three languages, on every channel.

A person at a choice question may type instead of looking for a button among 22 regions: the
name of an option in Kazakh, Russian or English (its label, its short label, or its key) counts as
pressing it; the unique beginning of a name or of one of its words does too ("Karag", "вко");
something close to one name ("Караганда" for "Карагандинская область", a typo) is offered back
as "did you mean …?". The engine stays free of translation: the adapters hand it the catalogs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Protocol

from handlers.engine.vocab import Vocabulary

Translate = Callable[[str], str]
LANGUAGES = ("kk", "ru", "en")
# How alike typed text and a name must be (difflib's ratio) for "did you mean": one or two
# letters off in a word of eight or more ("Караганда" and "Карагандинская" give 0.78).
CLOSE_ENOUGH = 0.75
# A beginning shorter than this names too many things ("к").
MIN_PREFIX = 3


class Gettext(Protocol):
    def gettext(
        self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None
    ) -> str: ...


def normalised(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").strip(" .,!?;:«»\"'()").split())


@dataclass(frozen=True)
class Match:
    key: str | None = None  # the option the text names
    suggestion: str | None = None  # else an option close to it, to offer back


class Lexicon:
    """Every option's names in every language, normalised once per vocabulary."""

    def __init__(self, translators: Sequence[Translate]) -> None:
        self._translators = tuple(translators)
        self._names: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {}

    def names(self, vocabulary: Vocabulary) -> tuple[tuple[str, frozenset[str]], ...]:
        found = self._names.get(vocabulary.name)
        if found is None:
            entries = []
            for option in vocabulary.options:
                names = {normalised(option.key.replace("_", " "))}
                for translate in self._translators:
                    names.add(normalised(translate(option.label)))
                    if option.short_label:
                        names.add(normalised(translate(option.short_label)))
                entries.append((option.key, frozenset(name for name in names if name)))
            found = self._names[vocabulary.name] = tuple(entries)
        return found

    def match(self, vocabulary: Vocabulary, text: str) -> Match:
        wanted = normalised(text)
        if not wanted:
            return Match()
        entries = self.names(vocabulary)
        exact = {key for key, names in entries if wanted in names}
        if len(exact) == 1:
            return Match(key=exact.pop())
        if len(wanted) >= MIN_PREFIX:
            starting = {
                key
                for key, names in entries
                if any(word.startswith(wanted) for name in names for word in (name, *name.split()))
            }
            if len(starting) == 1:
                return Match(key=starting.pop())
        best, score = None, 0.0
        for key, names in entries:
            for name in names:
                for candidate in (name, *name.split()):
                    if len(candidate) < MIN_PREFIX:
                        continue
                    ratio = SequenceMatcher(None, wanted, candidate).ratio()
                    if ratio > score:
                        best, score = key, ratio
        return Match(suggestion=best) if score >= CLOSE_ENOUGH else Match()


# One lexicon per set of catalogs (the application has one), kept with the catalogs it reads.
_LEXICONS: dict[int, tuple[Gettext, Lexicon]] = {}


def lexicon_for(catalogs: Gettext) -> Lexicon:
    kept = _LEXICONS.get(id(catalogs))
    if kept is None or kept[0] is not catalogs:
        lexicon = Lexicon(
            [functools.partial(catalogs.gettext, locale=language) for language in LANGUAGES]
        )
        kept = _LEXICONS[id(catalogs)] = (catalogs, lexicon)
    return kept[1]
