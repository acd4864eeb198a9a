"""The reporter's conversation on Telegram: feed one input to the engine, render its reply.

This is the Telegram adapter's whole job; every rule about what to ask lives in the engine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import html
from aiogram.types import InlineKeyboardMarkup

from handlers.engine import engine
from handlers.engine.forms import StepKind
from handlers.engine.render import Translator, format_answer
from handlers.engine.text import N_
from handlers.telegram import keyboards
from storage.models import Reporter

if TYPE_CHECKING:  # the intake service imports the card renderer from this package
    from bot.services.intake import Intake
    from bot.services.replies import Replies

log = logging.getLogger(__name__)

CHANNEL = "telegram"


@dataclass
class Conversation:
    replies: Replies
    reporter: Reporter
    intake: Intake
    t: Translator

    async def handle(
        self, event: engine.Input, *, pressed_message_id: int | None = None
    ) -> engine.Reply:
        draft, _ = await self.intake.load_draft(self.reporter)
        result = engine.advance(draft, event, now=self.intake.now().astimezone(self.t.tz))
        reply = result.reply
        if isinstance(reply, engine.Submitted):
            await self._submitted(reply, pressed_message_id)
            return reply
        if isinstance(reply, engine.Cancelled):
            self._close_prompt(pressed_message_id, had_draft=draft is not None)
            await self.intake.save_draft(self.reporter, None, [])
            self.replies.send(
                html.quote(
                    self.t(
                        N_("The report was cancelled and nothing was sent. /new starts a new one.")
                    )
                )
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
            text, markup = self._render(reply)
            self.replies.edit(pressed_message_id, text, reply_markup=markup)
        else:
            self._close_prompt(pressed_message_id, had_draft=draft is not None)
            text, markup = self._render(reply)
            self.replies.send(text, reply_markup=markup, prompt=True)
        await self.intake.save_draft(self.reporter, result.draft, [])
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
            self.replies.clear_buttons(pressed_message_id)

    def _close_prompt(self, pressed_message_id: int | None, *, had_draft: bool) -> None:
        """Take the buttons off the question just answered so old taps cannot be confused: the
        one pressed, else the last one asked (its id is known only once it was sent)."""
        if pressed_message_id is not None:
            self.replies.clear_buttons(pressed_message_id)
        elif had_draft:
            self.replies.clear_buttons()

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


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
