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
from handlers.engine.forms import FORMS, Step, StepKind
from handlers.engine.matching import lexicon_for
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
        asked = _asked_step(draft)
        answered_in_place = False
        result = engine.advance(
            draft,
            event,
            now=self.intake.now().astimezone(self.t.tz),
            lexicon=lexicon_for(self.t.catalogs),
        )
        reply = result.reply
        if isinstance(reply, engine.Submitted):
            await self._submitted(reply, pressed_message_id)
            return reply
        if pressed_message_id is not None and asked is not None:
            shown = self._chosen(asked, event, result)
            if shown is not None:
                # The question keeps the answer chosen on it ("✓ Almaty") instead of only
                # losing its buttons: the chat reads as the conversation it was.
                self.replies.edit(pressed_message_id, shown)
                answered_in_place = True
        if isinstance(reply, engine.Cancelled):
            self._close_prompt(pressed_message_id, had_draft=draft is not None)
            await self.intake.save_draft(self.reporter, None, [])
            self.replies.say_plain(
                self.t(N_("The report was cancelled and nothing was sent. /new starts a new one."))
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
            if not answered_in_place:
                self._close_prompt(pressed_message_id, had_draft=draft is not None)
            text, markup = self._render(reply)
            self.replies.send(text, reply_markup=markup, prompt=True)
        await self.intake.save_draft(self.reporter, result.draft, [])
        return reply

    async def review_in_place(self, pressed_message_id: int, *, edit_list: bool) -> None:
        """Swap the review's buttons for the list of answers to change, or back, in place."""
        draft, _ = await self.intake.load_draft(self.reporter)
        result = engine.advance(draft, engine.Show(), now=self.intake.now().astimezone(self.t.tz))
        if not isinstance(result.reply, engine.ShowReview):
            await self.handle(engine.Show(), pressed_message_id=pressed_message_id)
            return
        text, markup = self._render(result.reply)
        if edit_list:
            markup = keyboards.edit_list_keyboard(result.reply, self.t)
        self.replies.edit(pressed_message_id, text, reply_markup=markup)

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

    def _chosen(self, asked: Step, event: engine.Input, result: engine.Result) -> str | None:
        """The answered question with its answer under it, when a tap answered or skipped it."""
        reply = result.reply
        if isinstance(reply, engine.AskStep) and reply.step.key == asked.key:
            return None  # still on this question: a multi-choice toggle, or an error
        if not isinstance(event, engine.Pick | engine.Skip) or result.draft is None:
            return None
        value = result.draft.answers.get(asked.key)
        if isinstance(event, engine.Skip) or value in (None, "", []):
            answer = "» " + self.t(N_("Skipped"))
        else:
            answer = "✓ " + _short(format_answer(asked, value, self.t))
        return f"{html.bold(html.quote(self.t(asked.question)))}\n\n{html.quote(answer)}"

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
            lines.append(html.quote(t(N_("Press Send, or Change an answer to correct one."))))
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
                N_("Type your answer, or press Skip.")
                if reply.can_skip
                else N_("Type your answer.")
            )
            lines.append(html.italic(html.quote(t(hint))))
        if reply.value not in (None, "", []) and step.kind not in (StepKind.MEDIA, StepKind.MULTI):
            current = format_answer(step, reply.value, t)
            lines.append(html.quote(t(N_("Current answer: {answer}"), answer=_short(current))))
        return "\n\n".join(lines), keyboards.step_keyboard(reply, t)


def _asked_step(draft: engine.Draft | None) -> Step | None:
    form = FORMS.get(draft.form) if draft is not None and draft.form else None
    return form.step(draft.step) if form is not None and draft and draft.step else None


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
