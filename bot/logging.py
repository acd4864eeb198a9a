"""Logging without content: structured lines, and a filter that redacts what must never be logged.

Logs end up in places nobody audits (journald, a hosting panel, an error tracker), so they are
treated as public. The filter, on every handler `configure_logging` installs, rewrites each record
before it is formatted:

- bot tokens (`123456:AA...`, also inside Bot API URLs) and every secret the settings hold;
- the values of the update being handled: the reporter's user and chat id, their names and
  username, the text, caption and file names they sent (registered per update by the middleware
  with `mark_sensitive`; the context variable follows the update's task, so aiogram's own
  "Cause exception while process update" line is covered too);
- anything passed as `Content(...)` in a log call's arguments or `extra`;
- numbers after keys that name a person's chat or user (`chat_id=`, `"user_id": ...`).

Exception text and tracebacks are rendered and redacted too. The output is one line per record,
`key=value` (default) or JSON (`LOG_FORMAT=json`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

REDACTED = "[redacted]"
TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
# "chat_id=123", "'user_id': 123", '"chat": {"id": 123' and the like.
ID_RE = re.compile(
    r"""(?ix)
    (\b(?:chat_id|user_id|from_id|sender_id|reporter_chat|chat\W+id|from\W+id|user\W+id)
     ["']?\s*[:=]\s*["']?)
    -?\d{5,}
    """
)
_KEPT_VALUES = 64
_SHORTEST = 4  # shorter values ("ok", "да") would redact half of every line

_sensitive: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "reportbot_sensitive", default=()
)
_secrets: list[str] = []

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class Content(str):
    """A string that is content (a name, free text): logged as [redacted], never as itself."""

    __slots__ = ()


def mark_sensitive(values: Iterable[object]) -> None:
    """Redact these values from every log line written in the current context (one update).

    Deliberately not reset when the middleware returns: aiogram logs an update's exception after
    the middleware has unwound, in the same task.
    """
    kept = [str(value) for value in values if value is not None]
    kept = [value for value in kept if len(value) >= _SHORTEST]
    if kept:
        # Bounded: a context that lives long (updates fed one after another in one task) keeps
        # only the latest values, which are the ones its next lines can mention.
        merged = tuple(dict.fromkeys([*_sensitive.get(), *kept]))
        _sensitive.set(merged[-_KEPT_VALUES:])


def register_secrets(values: Iterable[str | None]) -> None:
    """Secrets from the settings (tokens, keys): redacted everywhere, for the process' life."""
    for value in values:
        if value and len(value) >= _SHORTEST and value not in _secrets:
            _secrets.append(value)


def redact(text: str) -> str:
    if not text:
        return text
    text = TOKEN_RE.sub(REDACTED, text)
    # Longest first, so a name is not half-redacted by a shorter value inside it.
    for value in sorted([*_secrets, *_sensitive.get()], key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return ID_RE.sub(lambda match: match.group(1) + REDACTED, text)


def _clean_arg(value: Any) -> Any:
    if isinstance(value, Content):
        return REDACTED
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites the record in place: message, arguments, extras, exception and stack text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage() if not record.args else None
        except (TypeError, ValueError):
            message = str(record.msg)
        if record.args:
            if isinstance(record.args, dict):
                record.args = {key: _clean_arg(value) for key, value in record.args.items()}
            else:
                record.args = tuple(_clean_arg(value) for value in record.args)
            try:
                message = str(record.msg) % record.args
            except (TypeError, ValueError, KeyError):
                message = f"{record.msg} {record.args!r}"
        if isinstance(record.msg, Content):
            message = REDACTED
        record.msg = redact(message if message is not None else str(record.msg))
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, REDACTED if isinstance(value, Content) else redact(value))
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _time(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=INFO logger=bot.outbox.worker msg="..." key=value`: one line, grep-friendly."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_text:
            fields["exc"] = record.exc_text
        return " ".join(f"{key}={_quote(value)}" for key, value in fields.items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **{key: _jsonable(value) for key, value in _extras(record).items()},
        }
        if record.exc_text:
            fields["exc"] = record.exc_text
        return json.dumps(fields, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _quote(value: Any) -> str:
    text = str(value)
    if text and not any(ch in text for ch in ' "=\n\t\\'):
        return text
    return json.dumps(text, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of each record, not at configuration."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(
    *, level: str | int = "INFO", fmt: str = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Install one redacting, structured handler on the root logger (replacing an earlier one
    installed here; handlers others installed, a test runner's, stay)."""
    handler: logging.StreamHandler = (  # type: ignore[type-arg]
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _OURS, False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


_OURS = "_reportbot_handler"
