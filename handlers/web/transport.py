"""Messages to a web reporter: into their mailbox, sealed to it (README, "The web form").

The outbox worker routes a row for a reporter whose channel is "web" here instead of to a chat:
a team question, a status notice, the receipt. Each text message is stored as plain text, sealed
to the mailbox's public key (storage/web.py), so only the holder of the passphrase reads it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.web import CHANNEL
from storage.repositories import ClaimedRow
from storage.sealing import Keyring
from storage.web import WebMailboxes

_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class WebRecipient:
    reporter_id: int


def plain_text(telegram_html: str) -> str:
    """A payload's Telegram HTML as the text it shows (the page escapes it again)."""
    return html.unescape(_TAG.sub("", telegram_html))


def texts_of(payload: dict[str, Any]) -> list[str]:
    return [
        plain_text(str(message.get("html", "")))
        for message in payload.get("messages", [])
        if isinstance(message, dict) and message.get("type") == "text" and message.get("html")
    ]


class WebTransport:
    channel = CHANNEL  # the reporters it delivers to

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.clock = clock

    async def deliver(self, row: ClaimedRow, recipient: WebRecipient) -> None:
        """Store the row's messages in the reporter's mailbox; nothing to store is no failure
        (a report sent without asking for a mailbox has none)."""
        texts = texts_of(row.payload)
        async with self.sessionmaker() as session, session.begin():
            mailboxes = WebMailboxes(session, self.keyring)
            mailbox = await mailboxes.of_reporter(recipient.reporter_id)
            if mailbox is None:
                return
            for index, text in enumerate(texts):
                await mailboxes.deliver(
                    mailbox.id,
                    mailbox.public_key,
                    f"{row.id}:{index}",
                    row.kind,
                    text,
                    self.clock(),
                )
