"""What one update says back, stored with its state change and said after the commit.

Handlers never call the Bot API themselves. They tell the update's `Replies` what to say (a
message, an edit, buttons to take off, messages to delete) and, for a button press, how to answer
the press. The update middleware (handlers/telegram/middlewares.py) writes the messages as one
outbox row in the update's own transaction; after the commit it answers the press and has the
outbox worker send that row at once (bot/outbox/worker.py, `deliver_now`), still in the person's
turn, so their next update sees the conversation as they left it.

So a reply is never sent for a state that did not commit, a committed reply is sent at least once
(the worker retries it), and no database lock is held across a network call: the measured cost
of the old way, where every update's Bot API calls ran inside its transaction, was SQLite's one
write lock held for every person's round trips to Telegram (README, "Architecture").

What the reporter's session and the report form say is stored channel-neutral (`say`, `take`:
bot/services/messages.py, bot/services/form.py), the form's in-place edits included, and rendered
by the outbox's transport when sent; the team's chats still get Telegram HTML (`send`).

A press answer (answerCallbackQuery) is not stored: it only stops the spinner on the person's
button, Telegram accepts it for a short while only, and losing one loses nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram.types import InlineKeyboardMarkup

from bot.services import messages as neutral
from storage.repositories import OutboxRepository, QueuedRow

if TYPE_CHECKING:
    from bot.services.session import ReporterSession

# The outbox row kind of an update's replies (bot/outbox/worker.py).
REPLY_KIND = "reply"


@dataclass(frozen=True)
class PressAnswer:
    text: str | None = None
    show_alert: bool = False


@dataclass
class Replies:
    """The messages of one update, in the order said, for one chat.

    `target` is the outbox target: "reporter" (a private chat, found through `reporter_id`) or
    "moderators". `update_key` makes the row idempotent: an update handled twice (a redelivery
    after a crash between commit and acknowledgement) stores its replies once.
    """

    target: str | None
    update_key: str
    reporter_id: int | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    press: PressAnswer | None = None
    # A private chat whose reporter was just erased (/forget): the row carries the chat id itself
    # and its channel, encrypted like every payload and deleted once sent, since the reporter no
    # longer has one (bot/services/pipeline.py sets them).
    direct_chat_id: int | str | None = None
    channel: str | None = None

    # --- what handlers say ---------------------------------------------------------------------
    def send(
        self,
        html: str,
        *,
        reply_markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
        prompt: bool = False,
    ) -> None:
        """A message in HTML (every user value in it already escaped).

        `prompt`: a question whose buttons the next answer takes off (see `clear_buttons`).
        """
        message: dict[str, Any] = {"type": "text", "html": html}
        if reply_markup is not None:
            message["reply_markup"] = reply_markup.model_dump(exclude_none=True)
        if reply_to is not None:
            message["reply_to_message_id"] = reply_to
        if prompt:
            message["prompt"] = True
        self.messages.append(message)

    def say(self, message: neutral.Message, *, prompt: bool = False) -> None:
        """A channel-neutral message (bot/services/messages.py), rendered when it is sent."""
        self.messages.append({**message, "prompt": True} if prompt else dict(message))

    def say_plain(self, text: str, actions: Iterable[Sequence[neutral.Action]] = ()) -> None:
        """A plain text (escaped when it is rendered), with neutral actions under it."""
        self.say(neutral.text(neutral.plain(text), actions=actions))

    def take(self, session: ReporterSession) -> None:
        """What the reporter's session said: its messages, and its acknowledgement of the press
        as the press's answer."""
        alert = session.alert
        said, ack = session.take()
        for message in said:
            self.say(message)
        if ack is not None:
            self.answer(ack, show_alert=alert)

    def clear_buttons(self, message_id: int | None = None) -> None:
        """Take the buttons off a message; None means the last question asked in this chat,
        whose id is known only once it was sent (the outbox looks it up)."""
        message: dict[str, Any] = {"type": "clear_buttons"}
        if message_id is not None:
            message["message_id"] = message_id
        self.messages.append(message)

    def delete(self, message_ids: list[int]) -> None:
        if message_ids:
            self.messages.append({"type": "delete", "message_ids": list(message_ids)})

    def upload(self, kind: str, data: bytes, filename: str) -> None:
        """A photo or document made by the bot (a chart, a CSV), uploaded as a new file."""
        self.messages.append(
            {
                "type": f"{kind}_upload",
                "data": base64.b64encode(data).decode(),
                "filename": filename,
            }
        )

    def answer(self, text: str | None = None, *, show_alert: bool = False) -> None:
        """How to answer the button press this update carries (the last call counts)."""
        self.press = PressAnswer(text, show_alert)

    # --- the middleware's side -----------------------------------------------------------------
    def owns(self, row: QueuedRow) -> bool:
        """Whether a row queued by this update goes into this update's chat (and is sent at
        once, in the person's turn): its replies, and a receipt or notice to the same reporter."""
        if row.kind == REPLY_KIND:
            return True
        if self.reporter_id is None:
            return False
        return row.target == "reporter" and row.reporter_id == self.reporter_id

    async def store(self, outbox: OutboxRepository) -> int | None:
        """Queue the messages as one row in the current transaction; the row's id, if any."""
        if not self.messages or self.target is None:
            return None
        # Version 2 once a channel-neutral text is among them (the others are as in version 1).
        version = 2 if any(neutral.is_neutral(m) for m in self.messages) else 1
        payload: dict[str, Any] = {"version": version, "messages": self.messages}
        reporter_id = self.reporter_id
        if self.direct_chat_id is not None:
            # Erased: the row must not lead back to the reporter (storage.safety.Erasure).
            payload["chat_id"] = self.direct_chat_id
            if self.channel is not None:
                payload["channel"] = self.channel
            reporter_id = None
        return await outbox.enqueue(
            kind=REPLY_KIND,
            target=self.target,
            payload=payload,
            idempotency_key=f"reply:{self.update_key}",
            reporter_id=reporter_id,
        )
