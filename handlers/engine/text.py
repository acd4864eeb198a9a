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


@dataclass(frozen=True)
class Msg:
    """A message id plus the values to format into it after translation."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)
