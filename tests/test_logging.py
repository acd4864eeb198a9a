"""The logging filter: tokens, people's ids and content never reach a log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logging import (
    REDACTED,
    Content,
    configure_logging,
    mark_sensitive,
    redact,
    register_secrets,
)

TOKEN = "7012345678:AAHc-canary_token_0123456789abcdefXYZ"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    configure_logging(level="DEBUG", stream=out)
    try:
        yield out
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_tokens_ids_and_marked_content_are_redacted(stream: io.StringIO) -> None:
    log = logging.getLogger("reportbot.test")
    log.info("GET https://api.telegram.org/bot%s/getUpdates", TOKEN)
    log.info("sending to chat_id=%s and {'user_id': 731000555}", 731000555)
    log.info("subject %s said %s", Content("Canaryname Zhanbolatuly"), "ok")
    log.warning("with extra", extra={"subject": Content("Canaryname"), "report": 12})
    text = stream.getvalue()
    assert TOKEN not in text
    assert "731000555" not in text
    assert "Canaryname" not in text
    assert "report=12" in text  # what is not personal stays readable
    assert text.count(REDACTED) >= 5


def test_values_of_the_current_update_are_redacted_in_messages_and_tracebacks(
    stream: io.StringIO,
) -> None:
    async def handle_update() -> None:
        mark_sensitive([731000555, "Canary Person", "we live at Abai 10, flat 4"])
        try:
            raise ValueError("could not parse 'we live at Abai 10, flat 4' from 731000555")
        except ValueError:
            logging.getLogger("aiogram.event").exception("Cause exception while process update")

    async def other_update() -> None:
        logging.getLogger("aiogram.event").info("update 731000556 handled")

    async def main() -> None:
        # Each update is its own task: its marks do not spill into another's lines.
        await asyncio.gather(asyncio.create_task(handle_update()), other_update())

    asyncio.run(main())
    text = stream.getvalue()
    assert "Abai 10" not in text
    assert "731000555" not in text
    assert "ValueError" in text  # the traceback itself is kept
    assert "731000556" in text


def test_registered_secrets_and_json_lines() -> None:
    register_secrets(["abc", "s3cr3t-webhook-value"])  # too short to redact: ignored
    assert redact("secret_token=s3cr3t-webhook-value") == f"secret_token={REDACTED}"
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(level="INFO", fmt="json", stream=out)
    try:
        logging.getLogger("bot.outbox.worker").info("row %s sent", 5, extra={"kind": "alert"})
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    line = json.loads(out.getvalue())
    assert line["msg"] == "row 5 sent"
    assert line["kind"] == "alert"
    assert line["logger"] == "bot.outbox.worker"
