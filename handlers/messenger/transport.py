"""The outbox's transport for Messenger reporters (bot/outbox/transports.py).

Version 2 texts, the form's questions and review among them, are rendered by
handlers/messenger/render.py (`from_neutral`). Version 1 messages (Telegram HTML, and Send API
messages the Messenger conversation rendered before the form was neutral) go through
`MessengerDelivery.send` as before, so rows queued before an upgrade still arrive. The Send
API's errors are sorted into `TransportError`s for the worker; a message given up is said plainly
in the moderator chat.
"""

from __future__ import annotations

import logging

from bot.outbox.transports import Chat, Sending, StoredMessage, TransportError
from bot.services import messages
from handlers.messenger import CHANNEL
from handlers.messenger.delivery import MessengerDelivery, MessengerRecipient, is_attachment_link
from handlers.messenger.graph import MAYBE_BLOCKED_ATTEMPTS, ErrorKind, GraphError
from handlers.messenger.render import from_neutral
from storage.repositories import ClaimedRow

log = logging.getLogger(__name__)


class GraphFailure(TransportError):
    def __init__(self, error: GraphError) -> None:
        super().__init__(
            error.describe(),
            label=f"{CHANNEL}_{error.kind.value}",
            retryable=error.retryable,
            retry_after=error.retry_after,
            # A rate limit is Meta asking for a pause, not a failed attempt; nor is a thread the
            # Page inbox holds (it waits, bounded by the messaging window).
            counted=error.kind not in (ErrorKind.RATE_LIMITED, ErrorKind.THREAD_HELD),
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
        sending: Sending,
    ) -> int | None:
        if message.get("type") == "clear_buttons":
            # Quick replies go away by themselves once the person answers, and a template's
            # buttons cannot be taken off: a Page edits no message it sent
            # (developers.facebook.com/docs/messenger-platform/send-messages/quick-replies).
            return None
        tag = sending.envelope.get("messenger_tag")
        tag = tag if isinstance(tag, str) else None
        human = sending.envelope.get("human_reply") is True  # a team member's answer
        recipient = MessengerRecipient(str(chat), sending.seen)
        try:
            if messages.is_neutral(message):
                parts = from_neutral(message)
                if parts:  # none for an answer recorded in place, which the chat already shows
                    await self.delivery.send_parts(recipient, parts, tag=tag, human_reply=human)
            else:
                await self.delivery.send(recipient, message, tag=tag, human_reply=human)
        except GraphError as exc:
            if exc.kind == ErrorKind.THREAD_HELD:
                await self.delivery.tell_held(sending.row_id)
            raise GraphFailure(exc) from None
        return None  # Messenger's messages cannot be edited or deleted by the Page

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
