"""Messages to a web reporter: into their mailbox, sealed to it (README, "The web form").

The outbox worker routes a row for a reporter whose channel is "web" here instead of to a chat:
a team question, a status notice, the receipt. Each text message is stored as plain text, sealed
to the mailbox's public key (storage/web.py), so only the holder of the passphrase reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox.transports import Chat, Sending, StoredMessage, TransportError
from bot.services import messages
from storage.repositories import ClaimedRow
from storage.sealing import Keyring
from storage.web import WebMailboxes


def text_of(message: StoredMessage) -> str | None:
    """What a mailbox shows of one outbox message: its text; buttons, edits and files are
    chat things a web page has no use for (the mailbox page offers its own answers)."""
    if messages.is_neutral(message):
        return messages.plain_text(message)
    if message.get("type") == "text" and message.get("html"):
        return messages.html_to_text(str(message["html"]))  # the page escapes it again
    return None


class WebTransport:
    """The outbox's transport for web reporters (bot/outbox/transports.py): a message "sent" is
    a message sealed into the reporter's mailbox, read when they come back with the passphrase."""

    paced = False  # no platform to pace for
    address_key = "web_chat"  # never named in a row: an erased web reporter has no mailbox

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.clock = clock

    def address(self, stored: Chat) -> Chat:
        return stored

    async def send(
        self,
        chat: Chat,
        message: StoredMessage,
        sending: Sending,
    ) -> int | None:
        """Store the message in the reporter's mailbox, once per row and place in it; nothing to
        store is no failure (a report sent without asking for a mailbox has none)."""
        text = text_of(message)
        if text is None or sending.reporter_id is None:
            return None
        async with self.sessionmaker() as session, session.begin():
            mailboxes = WebMailboxes(session, self.keyring)
            mailbox = await mailboxes.of_reporter(sending.reporter_id)
            if mailbox is not None:
                key = f"{sending.row_id}:{sending.index}"
                now = self.clock()
                await mailboxes.deliver(
                    mailbox.id, mailbox.public_key, key, sending.kind, text, now
                )
        return None

    async def undeliverable(self, row: ClaimedRow, error: TransportError) -> None:
        """Nothing to tell: storing in the database either works or is retried."""
