"""Long texts cut into messages Telegram accepts, on paragraph or sentence boundaries.

A message's text may be 4,096 characters after entity parsing (core.telegram.org/bots/api#
sendmessage), counted in UTF-16 code units as all of Telegram's offsets are
(core.telegram.org/api/entities). A reporter's answer or a team question can be that long
before the bot adds its header and footer; then it goes as several messages, never dropped.
"""

from __future__ import annotations

import re

TEXT_LIMIT = 4096
# Where a cut reads best, in order: between paragraphs, lines, sentences, words.
_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?…。])[\"»)\]]*\s+"),
    re.compile(r"\s+"),
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fitting(text: str, budget: int) -> int:
    """The longest prefix of `text` (in characters) whose UTF-16 length is within `budget`."""
    if utf16_len(text) <= budget:
        return len(text)
    low, high = 0, min(len(text), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if utf16_len(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def split_text(text: str, budget: int) -> list[str]:
    """Cut plain `text` into pieces of at most `budget` UTF-16 units, at the best boundary in
    the second half of each piece (a hard cut only for a run with no space at all)."""
    budget = max(budget, 1)
    pieces: list[str] = []
    rest = text.strip()
    while utf16_len(rest) > budget:
        limit = _fitting(rest, budget)
        window = rest[:limit]
        cut = end = limit
        for boundary in _BOUNDARIES:
            found = [m for m in boundary.finditer(window) if m.start() >= limit // 2]
            if found:
                cut, end = found[-1].start(), found[-1].end()
                break
        pieces.append(rest[:cut].rstrip())
        rest = rest[end:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
