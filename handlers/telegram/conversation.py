"""The report form on Telegram: a message or a pressed flow button as the form's input.

What to ask is the engine's, what is said is the channel-neutral form driver's
(bot/services/form.py); its messages are stored as they are and rendered by the outbox's
Telegram transport (HTML, and the flow buttons of handlers/telegram/keyboards.py, in one or two
columns, edited in place where a button was pressed). What is left here is Telegram's own: the
pressed message's id, and the answer to the press.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.form import FormDriver, Pressed
from bot.services.messages import Intent
from bot.services.replies import Replies
from bot.services.session import ReporterSession
from handlers.engine import engine
from handlers.engine.text import N_
from handlers.telegram.keyboards import FlowCB, flow_action

CHANNEL = "telegram"


@dataclass
class Conversation:
    replies: Replies
    session: ReporterSession

    @property
    def form(self) -> FormDriver:
        return FormDriver(self.session, CHANNEL)

    async def handle(self, event: engine.Input) -> engine.Reply:
        """A message (text, a file) or a command as the form's input."""
        reply = await self.form.advance([event])
        self.replies.take(self.session)
        return reply

    async def new(self) -> None:
        await self.form.new()
        self.replies.take(self.session)

    async def press(self, data: FlowCB, message_id: int) -> None:
        """A flow button pressed on message `message_id`. A report refused for flood limits is
        the press's answer (an alert), and the review stays for a later Send."""
        action = flow_action(data)
        intent, args = action if action is not None else (Intent.SHOW, ())
        form = self.form
        await form.act(intent, args, pressed=Pressed(message_id))
        if form.report is not None:
            self.replies.answer(self.session.t(N_("Sending…")))
        self.replies.take(self.session)
