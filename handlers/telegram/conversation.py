"""The report form on Telegram: a message or a pressed flow button as the form's input.

What to ask is the engine's, what is said is the channel-neutral form driver's
(bot/services/form.py); its messages are stored as they are and rendered by the outbox's
Telegram transport (HTML, and the flow buttons of handlers/telegram/keyboards.py, in one or two
columns, edited in place where a button was pressed). What is left here is Telegram's own: the
pressed message's id, and the answer to the press.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.services.form import FormDriver, Pressed
from handlers.engine import engine
from handlers.engine.text import N_

if TYPE_CHECKING:  # the intake service imports the card renderer from this package
    from bot.services.replies import Replies
    from bot.services.session import ReporterSession

CHANNEL = "telegram"


@dataclass
class Conversation:
    replies: Replies
    session: ReporterSession

    @property
    def form(self) -> FormDriver:
        return FormDriver(self.session, CHANNEL)

    async def handle(
        self, event: engine.Input, *, pressed_message_id: int | None = None
    ) -> engine.Reply:
        form = self.form
        pressed = Pressed(pressed_message_id) if pressed_message_id is not None else None
        reply = await form.advance([event], pressed=pressed)
        if form.report is not None and pressed is not None:
            self.replies.answer(self.session.t(N_("Sending…")))
        self.replies.take(self.session)
        return reply

    async def new(self) -> None:
        await self.form.new()
        self.replies.take(self.session)

    async def review(self, pressed_message_id: int, *, edit_list: bool) -> None:
        """Swap the review's buttons for the list of answers to change, or back, in place."""
        await self.form.review(pressed=Pressed(pressed_message_id), edit_list=edit_list)
        self.replies.take(self.session)
