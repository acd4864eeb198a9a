"""Message ids for the engine.

The engine is pure: it never translates. It returns message ids (English source strings) that the
channel adapters translate in the reader's language. `N_` marks a string for extraction by Babel
(see babel.cfg) without translating it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext_noop name
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - ngettext_noop
    return singular, plural


@dataclass(frozen=True)
class Msg:
    """A message id plus the values to format into it after translation.

    With `plural`, the message is chosen by `count` in the reader's plural rules (Russian has
    three forms: 1 символ, 2 символа, 5 символов).
    """

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)
    plural: str | None = None
    count: int = 1

    @classmethod
    def counted(cls, forms: tuple[str, str], count: int, **params: Any) -> Msg:
        return cls(forms[0], params, plural=forms[1], count=count)


@dataclass(frozen=True)
class DateValue:
    """A stored date answer as a message parameter: the channel writes it out in words in the
    reader's language (Babel), so the engine stays free of translation."""

    answer: str
