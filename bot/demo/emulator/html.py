"""Telegram-flavoured HTML parsing and message-entity helpers.

The parser follows the rules of the Bot API "HTML style" (and the behaviour of the
server-side parser) closely enough that a bot which passes here is very likely to pass on
real Telegram:

* supported tags: ``b strong i em u ins s strike del span class="tg-spoiler" tg-spoiler
  a href code pre (with nested ``code class="language-x"``) blockquote [expandable] tg-emoji``;
  tag names are case-insensitive, unknown attributes are ignored;
* entities ``&lt; &gt; &amp; &quot;`` and numeric ones (``&#60;`` / ``&#x3C;``);
* errors use Telegram's wording: ``Unsupported start tag "br" at byte offset 5``,
  ``Can't find end tag corresponding to start tag "b"``, ``Unmatched end tag at byte offset
  N, expected "</b>", found "</i>"``, ``Unexpected end tag at byte offset N``, ``Unclosed
  start tag at byte offset N``. Byte offsets count UTF-8 bytes of the source, like Telegram.

One deliberate difference: real Telegram keeps a lone ``&`` that does not start a valid
entity literally; with ``strict_ampersand=True`` (the emulator default) it is an error, so a
bot that forgets to escape user input is caught by tests that use ``&`` as well as ``<``.

Entity offsets and lengths are in UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Whitespace Telegram trims from both ends of a message text or caption.
TRIM_CHARS = " \t\r\n"

#: Entity types Telegram knows (explicitly given entities of other types are rejected).
KNOWN_ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)

_TAG_TYPES: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[a-zA-Z]{1,10});")
_USER_LINK_RE = re.compile(r"tg://user\?id=(\d{1,20})")
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

#: Looks a user id up for ``<a href="tg://user?id=N">``; returns a User dict or None.
MentionLookup = Callable[[int], dict[str, Any] | None]


class EntityParseError(ValueError):
    """Malformed markup; ``str(exc)`` is the text Telegram puts after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how Telegram measures entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of ``text`` an entity with UTF-16 ``offset``/``length`` covers."""
    data = text.encode("utf-16-le")
    return data[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def _decode_entity(source: str, index: int) -> tuple[str, int] | None:
    """Decode the HTML entity starting at ``source[index] == '&'``: (char, end) or None."""
    match = _ENTITY_RE.match(source, index)
    if match is None:
        return None
    body = match.group(1)
    if body[0] == "#":
        code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), match.end()
    named = _NAMED_ENTITIES.get(body)
    if named is None:
        return None
    return named, match.end()


def _decode_lenient(value: str) -> str:
    """Decode entities inside an attribute value, keeping anything undecodable literally."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            decoded = _decode_entity(value, i)
            if decoded is not None:
                out.append(decoded[0])
                i = decoded[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start16: int
    start_index: int
    byte_offset: int


@dataclass
class _Parser:
    source: str
    strict_ampersand: bool
    mention_lookup: MentionLookup | None
    out: list[str] = field(default_factory=list)
    pos16: int = 0
    stack: list[_OpenTag] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8"))

    def fail(self, message: str) -> EntityParseError:
        return EntityParseError(message)

    def emit(self, chars: str) -> None:
        self.out.append(chars)
        self.pos16 += utf16_len(chars)

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        src = self.source
        i = 0
        n = len(src)
        while i < n:
            char = src[i]
            if char == "&":
                decoded = _decode_entity(src, i)
                if decoded is not None:
                    self.emit(decoded[0])
                    i = decoded[1]
                    continue
                if self.strict_ampersand:
                    raise self.fail(
                        f'Unescaped "&" at byte offset {self.byte_offset(i)}: write &amp; '
                        "(emulator strict mode; real Telegram would keep a lone & literally)"
                    )
                self.emit("&")
                i += 1
                continue
            if char != "<":
                self.emit(char)
                i += 1
                continue
            is_end = i + 1 < n and src[i + 1] == "/"
            i = self.end_tag(i) if is_end else self.start_tag(i)
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        return "".join(self.out), self.entities

    def start_tag(self, begin: int) -> int:
        src = self.source
        n = len(src)
        j = begin + 1
        while j < n and src[j] not in TRIM_CHARS and src[j] != ">":
            j += 1
        if j >= n:
            raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        name = src[begin + 1 : j].lower()
        if name not in _TAG_TYPES:
            raise self.fail(
                f'Unsupported start tag "{name}" at byte offset {self.byte_offset(begin)}'
            )
        attrs: dict[str, str] = {}
        while True:
            while j < n and src[j] in TRIM_CHARS:
                j += 1
            if j >= n:
                raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            if src[j] == ">":
                j += 1
                break
            k = j
            while k < n and src[k] not in TRIM_CHARS and src[k] not in "=>":
                k += 1
            attr_name = src[j:k].lower()
            j = k
            while j < n and src[j] in TRIM_CHARS:
                j += 1
            value = ""
            if j < n and src[j] == "=":
                j += 1
                while j < n and src[j] in TRIM_CHARS:
                    j += 1
                if j >= n:
                    raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
                if src[j] in "\"'":
                    end = src.find(src[j], j + 1)
                    if end < 0:
                        raise self.fail(
                            f"Unclosed start tag at byte offset {self.byte_offset(begin)}"
                        )
                    value = _decode_lenient(src[j + 1 : end])
                    j = end + 1
                else:
                    k = j
                    while k < n and src[k] not in TRIM_CHARS and src[k] != ">":
                        k += 1
                    value = _decode_lenient(src[j:k])
                    j = k
            if attr_name:
                attrs.setdefault(attr_name, value)
        offset = self.byte_offset(begin)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise self.fail(
                f'Tag "tg-emoji" must have a numeric "emoji-id" at byte offset {offset}'
            )
        self.stack.append(_OpenTag(name, attrs, self.pos16, len(self.out), offset))
        return j

    def end_tag(self, begin: int) -> int:
        src = self.source
        end = src.find(">", begin + 2)
        if end < 0:
            raise self.fail(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        name = src[begin + 2 : end].strip(TRIM_CHARS).lower()
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        top = self.stack[-1]
        if name != top.name:
            raise self.fail(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{top.name}>", found "</{name}>"'
            )
        self.stack.pop()
        self.close(top)
        return end + 1

    def close(self, tag: _OpenTag) -> None:
        length = self.pos16 - tag.start16
        if length <= 0:
            return
        entity: dict[str, Any] = {
            "type": _TAG_TYPES[tag.name],
            "offset": tag.start16,
            "length": length,
        }
        if tag.name == "a":
            url = tag.attrs.get("href", "").strip() or "".join(self.out[tag.start_index :])
            mention = _USER_LINK_RE.fullmatch(url)
            if mention is not None:
                user = self.mention_lookup(int(mention.group(1))) if self.mention_lookup else None
                if user is None:
                    return  # Telegram drops mentions of users it can't resolve
                entity = {**entity, "type": "text_mention", "user": user}
            else:
                if not url or any(ch in url for ch in TRIM_CHARS):
                    return  # invalid URL: Telegram silently drops the link
                if _SCHEME_RE.match(url) is None:
                    url = "http://" + url
                entity["url"] = url
        elif tag.name == "code":
            css = tag.attrs.get("class", "")
            if css.startswith("language-") and len(css) > len("language-"):
                entity["_language"] = css[len("language-") :]
        elif tag.name == "pre":
            end = tag.start16 + length
            language: str | None = None
            kept: list[dict[str, Any]] = []
            for inner in self.entities:
                inside = inner["offset"] >= tag.start16 and inner["offset"] + inner["length"] <= end
                if inside and inner["type"] == "code":
                    if inner["offset"] == tag.start16 and inner["length"] == length:
                        language = inner.get("_language")
                    continue  # code can't live inside pre; the pair becomes one pre entity
                kept.append(inner)
            self.entities = kept
            if language:
                entity["language"] = language
        elif tag.name == "blockquote" and "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attrs["emoji-id"]
        self.entities.append(entity)


def parse_html(
    source: str,
    *,
    strict_ampersand: bool = True,
    mention_lookup: MentionLookup | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into ``(plain_text, entities)``.

    The text is not trimmed here; :func:`trim_text` does what the server does afterwards.
    Raises :class:`EntityParseError` with Telegram's wording on malformed markup.
    """
    text, entities = _Parser(source, strict_ampersand, mention_lookup).run()
    for entity in entities:
        entity.pop("_language", None)
    return text, sort_entities(entities)


def sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Telegram's order: by offset, longer (outer) entities first."""
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def trim_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace like Telegram, shifting and clipping entities."""
    left_stripped = text.lstrip(TRIM_CHARS)
    shift = len(text) - len(left_stripped)  # trimmed chars are all BMP: 1 UTF-16 unit each
    result = left_stripped.rstrip(TRIM_CHARS)
    total = utf16_len(result)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] - shift + entity["length"], total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, sort_entities(kept)


def validate_entities(text: str, raw: Any) -> list[dict[str, Any]]:
    """Check explicitly given entities (``entities``/``caption_entities`` parameters).

    Returns cleaned copies (only Telegram's fields kept); entities reaching beyond the text
    are clipped and empty ones dropped, as Telegram does. Raises EntityParseError on entities
    that are not objects or have an unknown type / missing required field.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise EntityParseError("entities must be an array")
    total = utf16_len(text)
    cleaned: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise EntityParseError("entity must be an object")
        kind = item.get("type")
        if kind not in KNOWN_ENTITY_TYPES:
            raise EntityParseError(f"unsupported entity type {kind!r}")
        offset = item.get("offset")
        length = item.get("length")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0:
            raise EntityParseError(f"entity {kind} has a bad offset/length")
        end = min(offset + length, total)
        if end <= offset:
            continue
        entity: dict[str, Any] = {"type": kind, "offset": offset, "length": end - offset}
        for key in ("url", "user", "language", "custom_emoji_id", "unix_time", "date_time_format"):
            if item.get(key) is not None:
                entity[key] = item[key]
        if kind == "text_link" and not entity.get("url"):
            raise EntityParseError("text_link entity needs a url")
        if kind == "text_mention" and not isinstance(entity.get("user"), dict):
            raise EntityParseError("text_mention entity needs a user")
        if kind == "custom_emoji" and not entity.get("custom_emoji_id"):
            raise EntityParseError("custom_emoji entity needs a custom_emoji_id")
        cleaned.append(entity)
    return sort_entities(cleaned)
