"""Request parameter decoding and Bot API errors for the emulator.

aiogram sends every method as multipart/form-data in which scalars are strings and complex
values (reply_markup, entities, media...) are JSON strings. Other clients may send JSON or
urlencoded bodies. :func:`normalize_params` turns all of them into plain Python values so
handlers and recorded calls see ``{"chat_id": 5, "reply_markup": {...}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

#: Parameters whose value is JSON when sent as a form field.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "media",
        "commands",
        "allowed_updates",
        "message_ids",
        "scope",
        "menu_button",
        "reply_parameters",
        "link_preview_options",
        "results",
    }
)
#: Parameters that are integers (chat_id may also be an "@username" string).
INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "message_thread_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "icon_color",
        "until_date",
    }
)
#: Boolean parameters ("true"/"false" in forms).
BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "has_spoiler",
        "disable_content_type_detection",
        "show_caption_above_media",
        "remove_caption",
        "allow_paid_broadcast",
    }
)

_INT_RE = re.compile(r"-?\d{1,20}")


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        # ResponseParameters (core.telegram.org/bots/api#responseparameters).
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return body


def bad_request(message: str) -> ApiError:
    """400 "Bad Request: <message>"."""
    return ApiError(400, f"Bad Request: {message}")


def forbidden(message: str) -> ApiError:
    """403 "Forbidden: <message>"."""
    return ApiError(403, f"Forbidden: {message}")


def too_many_requests(retry_after: int) -> ApiError:
    """429 with ``parameters.retry_after``."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


@dataclass(frozen=True)
class Upload:
    """A file uploaded in a multipart request."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def __repr__(self) -> str:
        return f"Upload({self.filename!r}, {len(self.data)} bytes, {self.content_type!r})"


async def read_request_params(request: web.Request) -> dict[str, Any]:
    """Collect query-string and body parameters (multipart, urlencoded or JSON)."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON request body") from exc
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        params.update(body)
        return params
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                try:
                    data = value.file.read()
                finally:
                    value.file.close()
                params[key] = Upload(data, value.filename, value.content_type)
            else:
                params[key] = value
    return params


def normalize_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Decode JSON fields, integers and booleans that arrived as strings.

    Values that don't decode are kept as they are; the handlers report them as errors.
    """
    result: dict[str, Any] = {}
    for key, value in raw.items():
        result[key] = _decode_field(key, value)
    return result


def _decode_field(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    stripped = value.strip()
    if key in INT_FIELDS and _INT_RE.fullmatch(stripped):
        return int(stripped)
    if key in BOOL_FIELDS and stripped.lower() in ("true", "false", "1", "0"):
        return stripped.lower() in ("true", "1")
    return value


class Params:
    """Typed accessors over normalized parameters, raising Telegram-style 400s."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def text(self, name: str, *, required: bool = False, message: str | None = None) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise bad_request(message or f'parameter "{name}" is required')
            return None
        if isinstance(value, Upload):
            raise bad_request(f'parameter "{name}" must be a string')
        return value if isinstance(value, str) else str(value)

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"invalid {name} specified")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        raise bad_request(f"invalid {name} specified")

    def json_value(self, name: str) -> Any:
        value = self.data.get(name)
        if isinstance(value, str):
            raise bad_request(f"can't parse {name} JSON object")
        return value

    def chat_ref(self, name: str = "chat_id", *, required: bool = True) -> int | str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.startswith("@"):
            return value
        raise bad_request("chat not found")

    def upload(self, name: str) -> Upload | None:
        value = self.data.get(name)
        return value if isinstance(value, Upload) else None
