"""The reporter's conversation on Telegram: feed one input to the engine, render its reply.

This is the Telegram adapter's whole job; every rule about what to ask lives in the engine.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup

from handlers import keyboards
from handlers.engine import engine
from handlers.engine.forms import StepKind
from handlers.engine.text import N_
from handlers.render import Translator, format_answer
from storage.models import Reporter

if TYPE_CHECKING:  # the intake service imports the card renderer from this package
    from bot.intake import Intake

log = logging.getLogger(__name__)

CHANNEL = "telegram"
# Message ids remembered per draft (for cleaning the chat up later); older ones are dropped.
MAX_TRACKED_MESSAGES = 200


@dataclass
class Conversation:
    bot: Bot
    chat_id: int
    reporter: Reporter
    intake: Intake
    t: Translator

    async def handle(
        self,
        event: engine.Input,
        *,
        incoming_message_id: int | None = None,
        pressed_message_id: int | None = None,
    ) -> engine.Reply:
        draft, message_ids = await self.intake.load_draft(self.reporter)
        result = engine.advance(draft, event, now=self.intake.now().astimezone(self.t.tz))
        # The bot's reply is always the last id recorded, so this is the question just answered.
        previous_prompt = message_ids[-1] if message_ids else None
        if incoming_message_id is not None:
            message_ids.append(incoming_message_id)
        reply = result.reply
        if isinstance(reply, engine.Submitted):
            await self._submitted(reply, pressed_message_id)
            return reply
        if isinstance(reply, engine.Cancelled):
            await self._close_prompt(pressed_message_id or previous_prompt)
            await self.intake.save_draft(self.reporter, None, [])
            await self.bot.send_message(
                self.chat_id,
                html.quote(
                    self.t(
                        N_("The report was cancelled and nothing was sent. /new starts a new one.")
                    )
                ),
            )
            return reply
        # Toggling an option of a multi-choice step redraws the same message.
        if (
            isinstance(reply, engine.AskStep)
            and reply.step.kind == StepKind.MULTI
            and reply.error is None
            and isinstance(event, engine.Pick)
            and pressed_message_id is not None
        ):
            await self._edit(pressed_message_id, *self._render(reply))
        else:
            await self._close_prompt(pressed_message_id or previous_prompt)
            text, markup = self._render(reply)
            sent = await self.bot.send_message(self.chat_id, text, reply_markup=markup)
            message_ids.append(sent.message_id)
        await self.intake.save_draft(
            self.reporter, result.draft, message_ids[-MAX_TRACKED_MESSAGES:]
        )
        return reply

    async def _submitted(self, reply: engine.Submitted, pressed_message_id: int | None) -> None:
        # Raises SubmissionRefused (flood limits) before anything is stored; the caller answers.
        report = await self.intake.submit(
            self.reporter,
            reply,
            channel=CHANNEL,
            language=self.reporter.language or self.t.locale,
        )
        log.info("report %s submitted (%s)", report.id, report.incident_type)
        if pressed_message_id is not None:
            await self._remove_keyboard(pressed_message_id)

    def _render(self, reply: engine.Reply) -> tuple[str, InlineKeyboardMarkup | None]:
        t = self.t
        lines: list[str] = []
        error = getattr(reply, "error", None)
        if error is not None:
            lines.append(html.italic(html.quote(t.msg(error))))
        if isinstance(reply, engine.AskForm):
            lines.append(html.bold(html.quote(t(N_("What do you want to report?")))))
            return "\n\n".join(lines), keyboards.types_keyboard(t)
        if isinstance(reply, engine.AskStep):
            return self._render_step(reply, lines)
        if isinstance(reply, engine.ShowReview):
            lines.append(html.bold(html.quote(t(N_("Please check your report:")))))
            body = [
                f"{html.bold(html.quote(t(item.step.label)))}: "
                f"{html.quote(_short(format_answer(item.step, item.value, t)))}"
                for item in reply.items
            ]
            lines.append("\n".join(body))
            lines.append(html.quote(t(N_("Press Send, or tap an answer to change it."))))
            return "\n\n".join(lines), keyboards.review_keyboard(reply, t)
        return "\n\n".join(lines) or "…", None

    def _render_step(
        self, reply: engine.AskStep, lines: list[str]
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        t = self.t
        step = reply.step
        lines.append(html.bold(html.quote(t(step.question))))
        if step.kind == StepKind.MEDIA and reply.value:
            lines.append(
                html.quote(t.plural("Received {n} file.", "Received {n} files.", len(reply.value)))
            )
        elif step.kind in (StepKind.TEXT, StepKind.DATE, StepKind.DATETIME):
            hint = (
                N_("Type your answer.") if step.required else N_("Type your answer, or press Skip.")
            )
            lines.append(html.italic(html.quote(t(hint))))
        if reply.value not in (None, "", []) and step.kind not in (StepKind.MEDIA, StepKind.MULTI):
            current = format_answer(step, reply.value, t)
            lines.append(html.quote(t(N_("Current answer: {answer}"), answer=_short(current))))
        return "\n\n".join(lines), keyboards.step_keyboard(reply, t)

    async def _edit(self, message_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=self.chat_id, message_id=message_id, reply_markup=markup
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                raise

    async def _close_prompt(self, message_id: int | None) -> None:
        """Take the buttons off the previous question so old taps cannot be confused."""
        if message_id is not None:
            await self._remove_keyboard(message_id)

    async def _remove_keyboard(self, message_id: int) -> None:
        # Already without buttons, too old, or deleted by the person: nothing to tidy.
        with contextlib.suppress(TelegramBadRequest):
            await self.bot.edit_message_reply_markup(
                chat_id=self.chat_id, message_id=message_id, reply_markup=None
            )


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
