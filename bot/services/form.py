"""The report form, channel-neutral: load the draft, feed the engine, save, submit, and say the
engine's reply as messages any channel renders (bot/services/messages.py).

Every channel's adapter (handlers/telegram/conversation.py, handlers/messenger/conversation.py,
handlers/web/routes.py) reads a pressed button back as one of the form's actions (`engine_input`,
`FormDriver.act`), or a message as engine inputs (`FormDriver.advance`). `FormDriver.feed` does
the form's work (load the draft, feed the engine, save, send or cancel) and returns what it did;
`advance` says it for the chats, while the web form, which answers each post with a page, renders
the engine's reply itself (handlers/web/pages.py). What to ask is the engine's business, what is
said here:
the choice of form, each question with its options and buttons, the review, the list of answers
to change, the cancellation. The messages say which
part of the form they are and carry the options apart from the other buttons, so each channel's
renderer lays them out its own way (Telegram in one or two columns under the question, edited in
place; Messenger as pages of quick replies with a legend, a button template and a carousel)
without anything here knowing a platform's format (README, "Architecture").

A press on a button of the form is `Pressed`: on a platform that edits messages the question
pressed keeps the answer chosen on it ("✓ Almaty"), a multi-choice question is redrawn in place
and the review swaps its buttons for the answers to change. These are messages that replace the
pressed one ("edit"); a platform that cannot edit (Messenger: a Page can neither edit nor delete
a message it sent) sends the redrawn question and the answers to change as new messages, and
drops the "✓ Almaty" record, which its chat already shows (a tapped quick reply is posted to the
conversation as the person's own message).

The draft is the reporter's encrypted draft row (storage.repositories.Drafts) with one more
field a channel may fill in: `source`, the tag of the link the person came from (Messenger's
m.me `ref`), kept until the report is submitted and then stored as its source.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.services import messages
from bot.services.flood import SubmissionRefused
from bot.services.intake import DRAFT_TTL, Intake
from bot.services.messages import Action, Intent, Span, bold, italic, plain, shorten
from bot.services.messages import FormPart as Part
from bot.services.session import ReporterSession
from handlers.engine import engine
from handlers.engine.forms import FORMS, Step, StepKind
from handlers.engine.matching import lexicon_for
from handlers.engine.render import Translator, format_answer
from handlers.engine.text import N_, Msg
from handlers.engine.vocab import INCIDENT_TYPES, Option
from storage.models import Report

log = logging.getLogger(__name__)

# How much of one answer the review and a question's "current answer" show; the whole answer is
# kept and sent.
ANSWER_SHOWN = 300

CANCELLED = N_("The report was cancelled and nothing was sent. /new starts a new one.")


@dataclass(frozen=True)
class Pressed:
    """The input came from a button of the form; `message_id`: the platform's id of the message
    it was on, where the platform gives one the bot can edit."""

    message_id: int | None = None


# --- the engine's replies as neutral messages --------------------------------------------------
def _form_message(
    paragraphs: Sequence[Sequence[Span]],
    actions: Sequence[Sequence[Action]],
    hints: dict[str, Any] | None,
    *,
    prompt: bool,
) -> messages.Message:
    message = messages.text(*paragraphs, actions=actions)
    if hints is not None:
        message["form"] = hints
    if prompt:
        message["prompt"] = True
    return message


def _error(reply: engine.AskForm | engine.AskStep | engine.ShowReview, t: Translator) -> list[Any]:
    return [[italic(t.msg(reply.error))]] if reply.error is not None else []


def _option(intent: Intent, args: tuple[str, ...], option: Option, t: Translator) -> Action:
    short = t(option.short_label) if option.short_label is not None else None
    return Action(intent, args, t(option.label), short)


def _labelled(intent: Intent, args: tuple[str, ...], icon: str, words: str) -> Action:
    """A button whose label is an icon and words; the words alone are its short label."""
    return Action(intent, args, icon + words, short=words)


def ask_form(reply: engine.AskForm, t: Translator) -> messages.Message:
    choices = [_option(Intent.CHOOSE_FORM, (o.key,), o, t) for o in INCIDENT_TYPES.options]
    language = _labelled(Intent.LANGUAGES, (), "🌐 ", t(N_("Language")))
    return _form_message(
        [*_error(reply, t), [bold(t(N_("What do you want to report?")))]],
        [[language]],
        {"part": Part.TYPES, "choices": [c.to_json() for c in choices]},
        prompt=True,
    )


def ask_step(reply: engine.AskStep, t: Translator, *, page: int = 0) -> messages.Message:
    step = reply.step
    paragraphs: list[Any] = [*_error(reply, t), [bold(t(step.question))]]
    if step.kind == StepKind.MEDIA and reply.value:
        paragraphs.append(
            [plain(t.plural("Received {n} file.", "Received {n} files.", len(reply.value)))]
        )
    elif step.kind in (StepKind.TEXT, StepKind.DATE, StepKind.DATETIME):
        hint = N_("Type your answer, or press Skip.") if reply.can_skip else N_("Type your answer.")
        paragraphs.append([italic(t(hint))])
    texts: dict[str, str] = {}
    if step.kind == StepKind.MULTI and reply.value:
        # Said in words where the options are paged and the chosen ones may not show.
        texts["selected"] = t(
            N_("Selected: {answers}"), answers=format_answer(step, reply.value, t)
        )
    elif reply.value not in (None, "", []) and step.kind != StepKind.MEDIA:
        current = shorten(format_answer(step, reply.value, t), ANSWER_SHOWN)
        paragraphs.append([plain(t(N_("Current answer: {answer}"), answer=current))])
    hints: dict[str, Any] = {"part": Part.QUESTION, "step": step.key, "can_back": reply.can_back}
    vocabulary = step.vocabulary
    suggested = vocabulary.get(reply.suggestion) if vocabulary and reply.suggestion else None
    if suggested is not None:  # "did you mean": the closest option to what was typed
        hints["suggested"] = _option(Intent.PICK, (step.key, suggested.key), suggested, t).to_json()
    if vocabulary is not None and step.kind in (StepKind.CHOICE, StepKind.MULTI):
        selected = set(reply.value or []) if step.kind == StepKind.MULTI else set()
        hints["choices"] = [
            {
                **_option(Intent.PICK, (step.key, option.key), option, t).to_json(),
                **({"selected": True} if option.key in selected else {}),
            }
            for option in vocabulary.ordered(t, t.locale)  # regions sorted per language
        ]
        hints["page"] = page
        texts["range"] = t(N_("Options {first}–{last} of {total}"))
        texts["more"] = t(N_("More options"))
    if texts:
        hints["texts"] = texts
    rows: list[list[Action]] = []
    if reply.pending is not None:  # a date read back: one tap confirms it
        confirm = t(N_("Yes, that's right"))
        rows.append([_labelled(Intent.PICK, (step.key, engine.CONFIRM), "✅ ", confirm)])
    if step.kind in (StepKind.MULTI, StepKind.MEDIA):
        rows.append([_labelled(Intent.DONE, (step.key,), "✔ ", t(N_("Done")))])
    nav = [_labelled(Intent.BACK, (), "« ", t(N_("Back")))]
    if reply.can_skip:
        skip = t(N_("Skip"))
        nav.append(Action(Intent.SKIP, (step.key,), skip + " »", short=skip))
    nav.append(_labelled(Intent.CANCEL, (), "✕ ", t(N_("Cancel"))))
    rows.append(nav)
    if reply.can_skip_details:
        details = t(N_("Skip the details"))
        rows.append([_labelled(Intent.SKIP_DETAILS, (step.key,), "⏭ ", details)])
    return _form_message(paragraphs, rows, hints, prompt=True)


def _review_paragraphs(reply: engine.ShowReview, t: Translator) -> list[Any]:
    items: list[Span] = []
    for item in reply.items:
        if items:
            items.append(plain("\n"))
        answer = shorten(format_answer(item.step, item.value, t), ANSWER_SHOWN)
        items += [bold(t(item.step.label)), plain(": " + answer)]
    # The last paragraph says what to press (Messenger puts it on its button template).
    return [
        *_error(reply, t),
        [bold(t(N_("Please check your report:")))],
        items,
        [plain(t(N_("Press Send, or Change an answer to correct one.")))],
    ]


def _send_action(t: Translator) -> Action:
    return _labelled(Intent.SUBMIT, (), "✅ ", t(N_("Send the report")))


def review(reply: engine.ShowReview, t: Translator) -> messages.Message:
    """Send first, where a thumb lands; changing an answer one button below it opens the list
    of answers (`answers_to_change`), so fourteen buttons don't crowd out Send."""
    rows = [
        [_send_action(t)],
        [_labelled(Intent.EDIT_MENU, (), "✏️ ", t(N_("Change an answer")))],
        [
            _labelled(Intent.BACK, (), "« ", t(N_("Back"))),
            _labelled(Intent.CANCEL, (), "✕ ", t(N_("Cancel"))),
        ],
    ]
    # Where the buttons come on a card of their own (Messenger's button template), its words.
    hints = {
        "part": Part.REVIEW,
        "texts": {"buttons": t(N_("Press Send, or change an answer first."))},
    }
    return _form_message(_review_paragraphs(reply, t), rows, hints, prompt=True)


def answers_to_change(reply: engine.ShowReview, t: Translator) -> messages.Message:
    """The review with the answers as options to change, each with what it says now."""
    choices = [
        Action(
            Intent.EDIT,
            (item.step.key,),
            "✏️ " + t(item.step.label),
            short=t(item.step.label),
            detail=format_answer(item.step, item.value, t),
        ).to_json()
        for item in reply.items
    ]
    hints = {
        "part": Part.EDIT_LIST,
        "choices": choices,
        "texts": {"change": t(N_("Change this answer"))},
    }
    rows = [[_send_action(t)], [_labelled(Intent.SHOW, (), "« ", t(N_("Back")))]]
    return _form_message(_review_paragraphs(reply, t), rows, hints, prompt=True)


def cancelled(t: Translator) -> messages.Message:
    return messages.text(
        plain(t(CANCELLED)), actions=[[Action(Intent.NEW, (), t(N_("New report")))]]
    )


def answered(step: Step, answer: str, t: Translator) -> messages.Message:
    """A question as it reads once answered: its answer under it, no buttons."""
    return messages.text([bold(t(step.question))], [plain(answer)])


def render(reply: engine.Reply, t: Translator, *, page: int = 0) -> messages.Message | None:
    if isinstance(reply, engine.AskForm):
        return ask_form(reply, t)
    if isinstance(reply, engine.AskStep):
        return ask_step(reply, t, page=page)
    if isinstance(reply, engine.ShowReview):
        return review(reply, t)
    return None


def in_place(
    message: messages.Message, pressed: Pressed, *, otherwise_send: bool
) -> messages.Message:
    """The message as a replacement of the pressed one (bot/services/messages.py, "edit")."""
    edit: dict[str, Any] = {"otherwise": "send" if otherwise_send else "skip"}
    if pressed.message_id is not None:
        edit["message_id"] = pressed.message_id
    return {**message, "edit": edit}


# --- the form's actions as engine inputs ------------------------------------------------------
_SIMPLE: dict[Intent, engine.Input] = {
    Intent.BACK: engine.Back(),
    Intent.CANCEL: engine.Cancel(),
    Intent.SUBMIT: engine.Submit(),
    Intent.SHOW: engine.Show(),
}


def engine_input(intent: Intent, args: Sequence[str]) -> engine.Input:
    """A form's action (bot/services/messages.py, `Intent`) as the engine's input; the step in
    it is checked against the draft by the engine, so a stale or forged one changes nothing."""
    simple = _SIMPLE.get(intent)
    if simple is not None:
        return simple
    first = args[0] if args else ""
    step = first or None
    if intent is Intent.CHOOSE_FORM:
        return engine.ChooseForm(first)
    if intent is Intent.PICK:
        return engine.Pick(args[1] if len(args) > 1 else "", step=step)
    if intent is Intent.DONE:
        return engine.Done(step=step)
    if intent is Intent.SKIP:
        return engine.Skip(step=step)
    if intent is Intent.SKIP_DETAILS:
        return engine.Skip(step=step, details=True)
    if intent is Intent.EDIT:
        return engine.Edit(first)
    return engine.Show()


def small_number(text: str) -> int:
    """A page or a row id from a button; 0 for anything else (button data can be forged, and a
    row id is a 32-bit integer in the database)."""
    return int(text) if text.isdecimal() and len(text) <= 9 else 0


@dataclass(frozen=True)
class Fed:
    """What one update's inputs did to the form (`FormDriver.feed`)."""

    before: engine.Draft | None  # the draft they were fed to
    result: engine.Result  # the engine's reply to the last one, and the draft after it
    last: engine.Input  # the last input fed (a sending or a cancellation ends the feed)
    report: Report | None = None  # the report sent
    # Why sending was refused (a flood limit, bot/services/flood.py): nothing was stored and
    # the draft is as it was (`before`).
    refused: Msg | None = None


# --- the driver --------------------------------------------------------------------------------
@dataclass
class FormDriver:
    """One reporter's form for one update; what `advance` says goes to the session's `said`,
    the refusal of a report to its acknowledgement (an alert on Telegram, a message on
    Messenger); `feed` says nothing and returns what the inputs did (the web form's pages)."""

    session: ReporterSession
    channel: str
    # The report the update submitted, if it did.
    report: Report | None = None

    @property
    def intake(self) -> Intake:
        return self.session.intake

    @property
    def t(self) -> Translator:
        return self.session.t

    def _say(self, message: messages.Message) -> None:
        self.session.said.append(message)

    def _clear_buttons(self, message_id: int | None = None) -> None:
        message: messages.Message = {"type": "clear_buttons"}
        if message_id is not None:
            message["message_id"] = message_id
        self._say(message)

    def _now(self) -> dt.datetime:
        return self.intake.now().astimezone(self.t.tz)

    # --- the draft -----------------------------------------------------------------------------
    async def load(self) -> tuple[engine.Draft | None, str | None]:
        """The report being written, if any, and where the person came from, if known."""
        reporter = self.session.reporter
        stored = await self.intake.drafts.load(reporter.id, self.intake.now())
        if stored is None:
            return None, None
        source = stored.state.get("source")
        # A row without a form holds only messages waiting to be added to a sent report
        # (bot.services.followups), or the source alone: no report is being written.
        draft = engine.Draft.from_json(stored.state) if stored.state.get("form") else None
        return draft, source if isinstance(source, str) else None

    async def save(self, draft: engine.Draft | None, source: str | None) -> None:
        reporter = self.session.reporter
        if draft is None:
            # Drops the draft and the pictures kept for it (bot.services.intake).
            await self.intake.save_draft(reporter, None, [])
            if source is None:
                return
        state: dict[str, Any] = (draft or engine.Draft()).to_json()
        if source is not None:
            state["source"] = source
        await self.intake.drafts.save(
            reporter.id,
            form=draft.form if draft else None,
            step=draft.step if draft else None,
            state=state,
            message_ids=[],
            expires_at=self.intake.now() + DRAFT_TTL,
        )

    async def remember_source(self, source: str) -> None:
        draft, _ = await self.load()
        await self.save(draft, source)

    # --- inputs --------------------------------------------------------------------------------
    async def act(
        self, intent: Intent, args: Sequence[str], *, pressed: Pressed | None = None
    ) -> engine.Reply | None:
        """One of the form's actions (messages.FORM_INTENTS), pressed or typed as a command."""
        if intent is Intent.NEW:
            await self.new()
            return None
        if intent is Intent.MORE:
            step = args[0] if args else ""
            page = small_number(args[1]) if len(args) > 1 else 0
            await self.more(step, page, pressed=pressed)
            return None
        if intent in (Intent.EDIT_MENU, Intent.SHOW) and pressed is not None:
            await self.review(pressed=pressed, edit_list=intent is Intent.EDIT_MENU)
            return None
        return await self.advance([engine_input(intent, args)], pressed=pressed)

    async def new(self) -> None:
        """A new report: the one being written is dropped (the source is kept)."""
        _, source = await self.load()
        await self.save(None, source)
        await self.advance([engine.Show()])

    async def more(self, step: str, page: int, *, pressed: Pressed | None = None) -> None:
        """Another page of a question's options, on a channel that pages them."""
        draft, _ = await self.load()
        same_step = draft is not None and draft.step == step
        await self.advance([engine.Show()], pressed=pressed, page=page if same_step else 0)

    async def review(self, *, pressed: Pressed, edit_list: bool) -> None:
        """The review's buttons swapped for the answers to change (`edit_list`), or back."""
        result = await self.current()
        if not isinstance(result.reply, engine.ShowReview):
            await self.advance([engine.Show()], pressed=pressed)
            return
        t = self.t
        shown = answers_to_change(result.reply, t) if edit_list else review(result.reply, t)
        self._say(in_place(shown, pressed, otherwise_send=True))

    def shown(self, draft: engine.Draft | None) -> engine.Result:
        """What `draft` is asking, unchanged: the type menu, a question or the review."""
        return engine.advance(draft, engine.Show(), now=self._now())

    async def current(self) -> engine.Result:
        """What the stored draft is asking; nothing is stored."""
        draft, _ = await self.load()
        return self.shown(draft)

    async def feed(
        self,
        inputs: Sequence[engine.Input],
        *,
        loaded: tuple[engine.Draft | None, str | None] | None = None,
    ) -> Fed:
        """Feed the inputs in order (an album is several files at once, a page's ticked boxes
        several taps), up to a sending or a cancellation, and store what they did: the draft, or
        the report. Nothing is said: a channel that renders the engine's replies itself (the web
        form's pages) renders `Fed`, and `advance` says it for the chats. `loaded`: what `load`
        returned in this transaction, where the caller read it already."""
        draft, source = loaded if loaded is not None else await self.load()
        # The engine changes the draft it is given: `before` is a copy.
        before = engine.Draft.from_json(draft.to_json()) if draft is not None else None
        result = engine.Result(draft, engine.AskForm())
        lexicon = lexicon_for(self.t.catalogs)
        event: engine.Input = engine.Show()
        for event in inputs:
            result = engine.advance(result.draft, event, now=self._now(), lexicon=lexicon)
            if isinstance(result.reply, engine.Submitted | engine.Cancelled):
                break
        reply = result.reply
        if isinstance(reply, engine.Submitted):
            return await self._submit(Fed(before, result, event), reply, source)
        # A cancelled report is dropped; a new one keeps the source: the person still came
        # from that link.
        await self.save(None if isinstance(reply, engine.Cancelled) else result.draft, source)
        return Fed(before, result, event)

    async def advance(
        self, inputs: Sequence[engine.Input], *, pressed: Pressed | None = None, page: int = 0
    ) -> engine.Reply:
        """Feed the inputs in order (`feed`); say the reply to the last one."""
        fed = await self.feed(inputs)
        draft, result, event = fed.before, fed.result, fed.last
        asked = _asked_step(draft)
        reply = result.reply
        if isinstance(reply, engine.Submitted):
            if fed.refused is not None:
                self.session.acknowledge(self.t.msg(fed.refused), alert=True)
            elif pressed is not None:
                self._clear_buttons(pressed.message_id)
            return reply
        answered_in_place = False
        if pressed is not None and asked is not None:
            shown = self._chosen(asked, event, result)
            if shown is not None:
                # The question keeps the answer chosen on it ("✓ Almaty") instead of only
                # losing its buttons: the chat reads as the conversation it was.
                self._say(in_place(shown, pressed, otherwise_send=False))
                answered_in_place = True
        if isinstance(reply, engine.Cancelled):
            self._close_prompt(pressed, had_draft=draft is not None)
            self._say(cancelled(self.t))
            return reply
        message = render(reply, self.t, page=page)
        if message is None:
            return reply
        if (
            isinstance(reply, engine.AskStep)
            and reply.step.kind == StepKind.MULTI
            and reply.error is None
            and isinstance(event, engine.Pick)
            and pressed is not None
            and asked is not None
            and asked.key == reply.step.key
        ):
            # Toggling an option of a multi-choice question redraws the same question (a tap
            # that leads to one is an answer to the question before: that one keeps it).
            self._say(in_place(message, pressed, otherwise_send=True))
        else:
            if not answered_in_place:
                self._close_prompt(pressed, had_draft=draft is not None)
            self._say(message)
        return reply

    async def _submit(self, fed: Fed, reply: engine.Submitted, source: str | None) -> Fed:
        reporter = self.session.reporter
        try:
            report = await self.intake.submit(
                reporter,
                reply,
                channel=self.channel,
                language=reporter.language or self.t.locale,
                source=source,
            )
        except SubmissionRefused as refused:
            # Nothing was stored and the draft is as it was: Send works again later.
            return replace(fed, refused=refused.message)
        log.info("report %s submitted (%s, %s)", report.id, report.incident_type, self.channel)
        self.report = report
        return replace(fed, report=report)

    def _chosen(
        self, asked: Step, event: engine.Input, result: engine.Result
    ) -> messages.Message | None:
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
            answer = "✓ " + shorten(format_answer(asked, value, self.t), ANSWER_SHOWN)
        return answered(asked, answer, self.t)

    def _close_prompt(self, pressed: Pressed | None, *, had_draft: bool) -> None:
        """Take the buttons off the question just answered so old taps cannot be confused: the
        one pressed, else the last one asked (its id is known only once it was sent)."""
        if pressed is not None:
            self._clear_buttons(pressed.message_id)
        elif had_draft:
            self._clear_buttons()


def _asked_step(draft: engine.Draft | None) -> Step | None:
    form = FORMS.get(draft.form) if draft is not None and draft.form else None
    return form.step(draft.step) if form is not None and draft and draft.step else None
