"""The outbox's transport for Messenger reporters (bot/outbox/transports.py).

Version 2 texts are rendered by handlers/messenger/render.py (`from_neutral`). Version 1 messages
(Telegram HTML, and Send API messages the Messenger conversation rendered) go through
`MessengerDelivery.send` as before. The Send API's errors are sorted into `TransportError`s for
the worker; a message given up is said plainly in the moderator chat.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from bot.outbox.transports import Chat, Origin, StoredMessage, TransportError
from bot.services import messages
from handlers.messenger import CHANNEL
from handlers.messenger.delivery import MessengerDelivery, MessengerRecipient, is_attachment_link
from handlers.messenger.graph import MAYBE_BLOCKED_ATTEMPTS, ErrorKind, GraphError
from handlers.messenger.render import from_neutral
from handlers.messenger.window import HUMAN_AGENT_TAG, Window, messaging_window
from storage.repositories import ClaimedRow

log = logging.getLogger(__name__)


class GraphFailure(TransportError):
    def __init__(self, error: GraphError) -> None:
        super().__init__(
            error.describe(),
            label=f"{CHANNEL}_{error.kind.value}",
            retryable=error.retryable,
            retry_after=error.retry_after,
            # A rate limit is Meta asking for a pause, not a failed attempt.
            counted=error.kind != ErrorKind.RATE_LIMITED,
            # Code 2 may mean the person blocked the Page: a few tries, then the team is told.
            attempts=MAYBE_BLOCKED_ATTEMPTS if error.kind == ErrorKind.MAYBE_BLOCKED else None,
        )
        self.error = error


class MessengerTransport:
    paced = False  # Meta paces per Page, not per chat; its rate limits come back as errors
    address_key = "messenger_psid"

    def __init__(self, delivery: MessengerDelivery) -> None:
        self.delivery = delivery

    def address(self, stored: Chat) -> Chat:
        return str(stored)

    async def send(
        self,
        chat: Chat,
        message: StoredMessage,
        *,
        reply_to: int | None,
        envelope: Mapping[str, Any],
        seen: dt.datetime | None = None,
        origin: Origin | None = None,
    ) -> int | None:
        tag = self._tag(envelope, seen)
        recipient = MessengerRecipient(str(chat), seen)
        try:
            if messages.is_neutral(message):
                await self.delivery.send_parts(recipient, from_neutral(message), tag=tag)
            else:
                await self.delivery.send(recipient, message, tag=tag)
        except GraphError as exc:
            raise GraphFailure(exc) from None
        return None  # Messenger's messages cannot be edited or deleted by the Page

    def _tag(self, envelope: Mapping[str, Any], seen: dt.datetime | None) -> str | None:
        """Meta's message tag for a row: a human's answer (`human_reply`) past the 24-hour
        window goes with HUMAN_AGENT when the Page has that feature
        (developers.facebook.com/docs/messenger-platform/send-messages/message-tags). Rows
        queued before payloads were neutral name the tag themselves (`messenger_tag`)."""
        named = envelope.get("messenger_tag")
        if isinstance(named, str):
            return named
        if envelope.get("human_reply") is not True or seen is None:
            return None
        context = self.delivery.context
        window = messaging_window(seen, context.now(), human_agent=context.messenger_human_agent)
        return HUMAN_AGENT_TAG if window == Window.HUMAN_AGENT else None

    async def undeliverable(self, row: ClaimedRow, error: TransportError) -> None:
        if isinstance(error, GraphFailure):
            await self.delivery.tell_moderators(row.id, row.report_id, error.error)


class MessengerFiles:
    """Messenger attachments on a card: downloaded, checked and uploaded to Telegram."""

    def __init__(self, delivery: MessengerDelivery) -> None:
        self.delivery = delivery

    def holds(self, file_id: str) -> bool:
        return is_attachment_link(file_id)

    async def as_upload(self, message: StoredMessage) -> StoredMessage:
        try:
            return await self.delivery.for_telegram(message)
        except GraphError as exc:
            raise GraphFailure(exc) from None
