"""The flow engine: a draft plus one input gives the new draft and what to say next.

Pure: no I/O, no channel, no clock of its own (`now` is passed in). Telegram and Messenger adapters
turn taps and text into the inputs below and render the replies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from handlers.engine.dates import Prefer, Reading, read_answer, read_when
from handlers.engine.forms import FORMS, Form, Step, StepKind
from handlers.engine.matching import Lexicon
from handlers.engine.text import N_, NP_, DateValue, Msg

REVIEW = "review"
# The oldest incident date accepted: the persecution documented here is recent; anything older
# is almost certainly a typo ("20.11.206").
MAX_PAST_YEARS = 30
# The value of the "Yes, that's right" button under a date read back for confirmation.
CONFIRM = "confirm"


@dataclass
class Draft:
    form: str | None = None
    step: str | None = None  # a step key, REVIEW, or None while the type is being chosen
    answers: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # steps answered or skipped, for Back
    editing: bool = False  # the step was opened from the review screen: return there
    # A date answer read back to the person and not yet confirmed (the stored form of it).
    pending: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "form": self.form,
            "step": self.step,
            "answers": self.answers,
            "path": self.path,
            "editing": self.editing,
        }
        if self.pending is not None:
            data["pending"] = self.pending
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Draft:
        return cls(
            form=data.get("form"),
            step=data.get("step"),
            answers=dict(data.get("answers") or {}),
            path=list(data.get("path") or []),
            editing=bool(data.get("editing")),
            # Absent from drafts saved before dates were asked back: nothing pending.
            pending=data.get("pending") if isinstance(data.get("pending"), str) else None,
        )


# --- inputs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChooseForm:
    form: str


@dataclass(frozen=True)
class Pick:
    value: str
    step: str | None = None  # the step the button belonged to; a mismatch means a stale button


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Media:
    kind: str  # "photo" or "document"
    file_id: str
    name: str | None = None
    mime: str | None = None


@dataclass(frozen=True)
class Done:
    step: str | None = None


@dataclass(frozen=True)
class Skip:
    step: str | None = None
    # Skip this and the optional details after it, up to the next question that is required or
    # asks for files (AskStep.can_skip_details says when that saves a tap).
    details: bool = False


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Edit:
    step: str


@dataclass(frozen=True)
class Submit:
    pass


@dataclass(frozen=True)
class Show:
    """Say again what is being asked (after /start on a draft, or a stale button)."""


Input = ChooseForm | Pick | Text | Media | Done | Skip | Back | Cancel | Edit | Submit | Show


# --- replies -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AskForm:
    error: Msg | None = None


@dataclass(frozen=True)
class AskStep:
    form: Form
    step: Step
    value: Any  # the current answer (a list for multi and media steps), or None
    can_back: bool
    error: Msg | None = None
    # A date answer waiting for "Yes, that's right" (the error says what was understood).
    pending: str | None = None
    # Whether Skip is offered: the step is optional, or optional given the earlier answers.
    can_skip: bool = False
    # Whether "Skip the details" is offered: after the person's own words, at an optional
    # question followed by more optional ones.
    can_skip_details: bool = False
    # A typed answer close to one option: "did you mean …?" offers it (a key of the vocabulary).
    suggestion: str | None = None


@dataclass(frozen=True)
class ReviewItem:
    step: Step
    value: Any


@dataclass(frozen=True)
class ShowReview:
    form: Form
    items: tuple[ReviewItem, ...]
    error: Msg | None = None


@dataclass(frozen=True)
class Submitted:
    form: Form
    answers: dict[str, Any]
    region: str | None
    incident_date: dt.date | None
    subject: str | None


@dataclass(frozen=True)
class Cancelled:
    pass


Reply = AskForm | AskStep | ShowReview | Submitted | Cancelled


@dataclass(frozen=True)
class Result:
    draft: Draft | None
    reply: Reply


# --- the engine --------------------------------------------------------------------------------
def advance(
    draft: Draft | None, event: Input, *, now: dt.datetime, lexicon: Lexicon | None = None
) -> Result:
    """Apply one input. Never raises for any input; every outcome is a reply to render.

    `lexicon`: the vocabularies' names in every language, so that typed text can answer a choice
    question (handlers/engine/matching.py); without it, a choice question takes buttons only.
    """
    if isinstance(event, Cancel):
        return Result(None, Cancelled())
    if isinstance(event, ChooseForm):
        return _start(event.form)
    form = FORMS.get(draft.form) if draft is not None and draft.form else None
    if draft is None or form is None:
        return Result(None, AskForm(None if isinstance(event, Show) else _CHOOSE_FIRST))
    if draft.step == REVIEW or draft.step is None or form.step(draft.step) is None:
        return _on_review(form, draft, event, now)
    step = form.step(draft.step)
    assert step is not None  # checked just above
    return _on_step(form, step, draft, event, now, lexicon)


_CHOOSE_FIRST = Msg(N_("Choose what you want to report."))
_STALE = Msg(N_("That button belongs to an earlier question. Here is the current one."))


def _start(form_key: str) -> Result:
    form = FORMS.get(form_key)
    if form is None:
        return Result(None, AskForm(_CHOOSE_FIRST))
    draft = Draft(form=form.key)
    return _go_to(form, draft, _next_applicable(form, draft.answers, after=None))


def _on_review(form: Form, draft: Draft, event: Input, now: dt.datetime) -> Result:
    draft.step = REVIEW
    if isinstance(event, Submit):
        missing = _first_missing(form, draft.answers)
        if missing is not None:
            draft.editing = True
            return _ask(form, draft, missing, Msg(N_("This question must be answered.")))
        return Result(None, _submission(form, draft.answers))
    if isinstance(event, Edit):
        step = form.step(event.step)
        if step is None or not step.applies(draft.answers):
            return _review(form, draft, _STALE)
        draft.editing = True
        return _ask(form, draft, step)
    if isinstance(event, Back):
        if draft.path:
            last = form.step(draft.path.pop())
            if last is not None:
                draft.editing = False
                return _ask(form, draft, last)
        return _review(form, draft)
    if isinstance(event, Show):
        return _review(form, draft)
    return _review(form, draft, Msg(N_("Check your answers, then press Send or change one.")))


def _on_step(
    form: Form, step: Step, draft: Draft, event: Input, now: dt.datetime, lexicon: Lexicon | None
) -> Result:
    pending, draft.pending = draft.pending, None
    if pending is not None and _confirms(event, step):
        draft.answers[step.key] = pending
        return _proceed(form, draft, step)
    if pending is not None and isinstance(event, Show):
        draft.pending = pending
        return _ask_to_confirm(form, draft, step, pending)
    if isinstance(event, Show):
        return _ask(form, draft, step)
    if isinstance(event, (Pick, Done, Skip)) and event.step not in (None, step.key):
        return _ask(form, draft, step, _STALE)
    if isinstance(event, Back):
        return _back(form, draft)
    if isinstance(event, (Submit, Edit)):
        return _ask(form, draft, step, Msg(N_("Please answer this question first.")))
    if isinstance(event, Skip):
        if step.is_required(draft.answers):
            return _ask(form, draft, step, Msg(N_("This question cannot be skipped.")))
        draft.answers.pop(step.key, None)
        if event.details and not draft.editing:
            return _skip_details(form, draft, step)
        return _proceed(form, draft, step)
    if isinstance(event, Done):
        if step.kind not in (StepKind.MULTI, StepKind.MEDIA):
            return _ask(form, draft, step)
        if step.is_required(draft.answers) and not draft.answers.get(step.key):
            return _ask(form, draft, step, Msg(N_("Choose at least one option.")))
        return _proceed(form, draft, step)
    if isinstance(event, Pick):
        return _pick(form, step, draft, event.value)
    if isinstance(event, Text):
        if lexicon is not None and step.vocabulary is not None:
            return _typed_choice(form, step, draft, event.text, now, lexicon)
        return _text(form, step, draft, event.text, now)
    if isinstance(event, Media):
        return _media(form, step, draft, event)
    return _ask(form, draft, step)


_YES = frozenset(
    {
        *("да", "ага", "верно", "правильно", "точно", "да верно"),
        *("иә", "ия", "дұрыс", "иә дұрыс", "ia", "durys"),
        *("yes", "yep", "y", "ok", "ок", "okay", "correct", "right", "yes thats right"),
    }
)


def _confirms(event: Input, step: Step) -> bool:
    """The button under a date read back, or "да" / "иә" / "yes" typed (Messenger users type)."""
    if isinstance(event, Pick):
        return event.value == CONFIRM and event.step in (None, step.key)
    if isinstance(event, Text):
        text = event.text.lower().replace("'", "").replace("\u2019", "")  # that's -> thats
        letters = "".join(ch if ch.isalpha() else " " for ch in text)
        return " ".join(letters.split()) in _YES
    return False


def _pick(form: Form, step: Step, draft: Draft, value: str) -> Result:
    if step.vocabulary is None or step.vocabulary.get(value) is None:
        return _ask(form, draft, step, _wrong_kind(step))
    if step.kind == StepKind.CHOICE:
        draft.answers[step.key] = value
        return _proceed(form, draft, step)
    selected = list(draft.answers.get(step.key) or [])
    if value in selected:
        selected.remove(value)
    else:
        selected.append(value)
    # Keep the vocabulary's order so the answer reads the same however it was tapped.
    draft.answers[step.key] = [key for key in step.vocabulary.option_keys() if key in selected]
    return _ask(form, draft, step)


_DID_YOU_MEAN = Msg(N_("Did you mean this one? Press it, or choose another below."))


def _typed_choice(
    form: Form, step: Step, draft: Draft, raw: str, now: dt.datetime, lexicon: Lexicon
) -> Result:
    """A choice question answered by typing: the option named, else "did you mean" the closest."""
    assert step.vocabulary is not None  # checked by the caller
    match = lexicon.match(step.vocabulary, raw)
    if match.key is not None:
        return _pick(form, step, draft, match.key)
    if match.suggestion is not None:
        result = _ask(form, draft, step, _DID_YOU_MEAN)
        assert isinstance(result.reply, AskStep)
        return Result(result.draft, replace(result.reply, suggestion=match.suggestion))
    return _ask(
        form,
        draft,
        step,
        Msg(N_("I did not find that among the options. Choose one below, or type it again.")),
    )


def _text(form: Form, step: Step, draft: Draft, raw: str, now: dt.datetime) -> Result:
    text = _clean(raw)
    if step.kind in (StepKind.CHOICE, StepKind.MULTI, StepKind.MEDIA):
        return _ask(form, draft, step, _wrong_kind(step))
    if not text:
        return _ask(form, draft, step, Msg(N_("The answer is empty. Please write something.")))
    if step.kind == StepKind.TEXT:
        if len(text) > step.max_length:
            return _ask(
                form,
                draft,
                step,
                Msg.counted(
                    NP_(
                        "Please keep it under {limit} character.",
                        "Please keep it under {limit} characters.",
                    ),
                    step.max_length,
                    limit=step.max_length,
                ),
            )
        draft.answers[step.key] = text
        return _proceed(form, draft, step)
    return _date_answer(form, step, draft, text, now)


def _date_answer(form: Form, step: Step, draft: Draft, text: str, now: dt.datetime) -> Result:
    # A time alone is today for a date-time question ("в 14:30" in a live conversation), but
    # no answer to a question asking for a day.
    day_required = step.kind == StepKind.DATE
    reading = read_when(text, now=now, prefer=step.prefer, day_required=day_required)
    if reading is None:
        return _ask(form, draft, step, _not_understood(step))
    if reading.until is not None and step.exact_day:
        return _ask(form, draft, step, _EXACT_DAY_NEEDED)
    if step.kind == StepKind.DATE:  # the question asked for a day: a time or part is not kept
        reading = Reading(reading.day, until=reading.until, confirm=reading.confirm)
    today = now.date()
    last = reading.until or reading.day
    if last > today + dt.timedelta(days=step.future_days):
        return _ask(form, draft, step, Msg(N_("That date is in the future. Please check it.")))
    if reading.day < today.replace(year=today.year - MAX_PAST_YEARS, day=min(today.day, 28)):
        return _ask(form, draft, step, Msg(N_("That date is too long ago. Please check it.")))
    value = reading.to_answer(now.tzinfo or dt.UTC)
    if reading.confirm:
        draft.pending = value
        return _ask_to_confirm(form, draft, step, value)
    draft.answers[step.key] = value
    return _proceed(form, draft, step)


def _ask_to_confirm(form: Form, draft: Draft, step: Step, value: str) -> Result:
    message = Msg(
        N_(
            # The date on a line of its own: "20 ноября 2026 г." ends with a dot already.
            "I understood: {when}\nIf that is right, press \u201cYes, that\u2019s right\u201d; "
            "if not, write the date again."
        ),
        {"when": DateValue(value)},
    )
    result = _ask(form, draft, step, message)
    assert isinstance(result.reply, AskStep)
    return Result(result.draft, replace(result.reply, pending=value))


def _not_understood(step: Step) -> Msg:
    """The examples fit the question: a summons is ahead, a detention behind."""
    if step.prefer is Prefer.FUTURE:
        return Msg(
            N_(
                "I could not read that date. Write it like 25.11 10:00, tomorrow at 10 or "
                "Monday 15:30."
            )
        )
    if step.kind == StepKind.DATE:
        return Msg(
            N_(
                "I could not read that date. Write it like 20.11.2026, yesterday, "
                "3 days ago or last week."
            )
        )
    return Msg(
        N_(
            "I could not read that date. Write it like 20.11 14:30, yesterday evening, "
            "2 hours ago or last week."
        )
    )


_EXACT_DAY_NEEDED = Msg(
    N_("Please give the exact day of the appointment, for example 25.11 10:00 or tomorrow at 10.")
)


def _media(form: Form, step: Step, draft: Draft, media: Media) -> Result:
    if step.kind != StepKind.MEDIA:
        return _ask(form, draft, step, _wrong_kind(step))
    items = list(draft.answers.get(step.key) or [])
    if len(items) >= step.max_items:
        return _ask(
            form,
            draft,
            step,
            Msg.counted(
                NP_(
                    "One answer can hold at most {limit} file.",
                    "One answer can hold at most {limit} files.",
                ),
                step.max_items,
                limit=step.max_items,
            ),
        )
    item = {"kind": media.kind, "file_id": media.file_id}
    if media.name:
        item["name"] = _clean(media.name)[:120]
    if media.mime:
        item["mime"] = media.mime[:80]
    items.append(item)
    draft.answers[step.key] = items
    return _ask(form, draft, step)


def _wrong_kind(step: Step) -> Msg:
    if step.kind in (StepKind.CHOICE, StepKind.MULTI):
        return Msg(N_("Please choose one of the buttons below."))
    if step.kind == StepKind.MEDIA:
        return Msg(N_("Send a photo or a document, or press Done."))
    return Msg(N_("Please write your answer as text."))


def _clean(text: str) -> str:
    """Drop control characters (but not line breaks) and surrounding space."""
    kept = "".join(ch for ch in text if ch in "\n\t" or (ch.isprintable() or ch in "\u200e\u200f"))
    return kept.strip()


# --- navigation --------------------------------------------------------------------------------
def _proceed(form: Form, draft: Draft, step: Step) -> Result:
    if draft.editing:
        missing = _first_missing(form, draft.answers)
        if missing is not None:
            return _ask(form, draft, missing)
        draft.editing = False
        return _review(form, draft)
    if step.key not in draft.path:
        draft.path.append(step.key)
    return _go_to(form, draft, _next_applicable(form, draft.answers, after=step.key))


def _skip_details(form: Form, draft: Draft, step: Step) -> Result:
    """Skip the optional questions from `step` on, up to the next one that matters."""
    current: Step | None = step
    while current is not None and _is_detail(current, draft.answers):
        draft.answers.pop(current.key, None)
        if current.key not in draft.path:
            draft.path.append(current.key)
        current = _next_applicable(form, draft.answers, after=current.key)
    return _go_to(form, draft, current)


def _is_detail(step: Step, answers: Mapping[str, Any]) -> bool:
    """An optional question after the person's own words, which the team can do without."""
    return not step.is_required(answers) and step.kind != StepKind.MEDIA


def _details_follow(form: Form, draft: Draft, step: Step) -> bool:
    if "account" not in draft.path or not _is_detail(step, draft.answers) or draft.editing:
        return False
    following = _next_applicable(form, draft.answers, after=step.key)
    return following is not None and _is_detail(following, draft.answers)


def _back(form: Form, draft: Draft) -> Result:
    if draft.editing:
        draft.editing = False
        return _review(form, draft)
    while draft.path:
        previous = form.step(draft.path.pop())
        if previous is not None and previous.applies(draft.answers):
            return _ask(form, draft, previous)
    return Result(None, AskForm())


def _go_to(form: Form, draft: Draft, step: Step | None) -> Result:
    if step is None:
        return _review(form, draft)
    return _ask(form, draft, step)


def _ask(form: Form, draft: Draft, step: Step, error: Msg | None = None) -> Result:
    draft.step = step.key
    value = draft.answers.get(step.key)
    if step.kind in (StepKind.MULTI, StepKind.MEDIA):
        value = list(value or [])
    reply = AskStep(
        form,
        step,
        value,
        can_back=True,
        error=error,
        can_skip=not step.is_required(draft.answers),
        can_skip_details=_details_follow(form, draft, step),
    )
    return Result(draft, reply)


def _review(form: Form, draft: Draft, error: Msg | None = None) -> Result:
    draft.step = REVIEW
    items = tuple(
        ReviewItem(step, draft.answers.get(step.key))
        for step in form.steps
        if step.applies(draft.answers)
    )
    return Result(draft, ShowReview(form, items, error))


def _next_applicable(form: Form, answers: Mapping[str, Any], after: str | None) -> Step | None:
    started = after is None
    for step in form.steps:
        if not started:
            started = step.key == after
            continue
        if step.applies(answers):
            return step
    return None


def _first_missing(form: Form, answers: Mapping[str, Any]) -> Step | None:
    for step in form.steps:
        if step.is_required(answers) and step.applies(answers) and not answers.get(step.key):
            return step
    return None


def _submission(form: Form, answers: Mapping[str, Any]) -> Submitted:
    kept = {
        step.key: answers[step.key]
        for step in form.steps
        if step.applies(answers) and answers.get(step.key) not in (None, "", [])
    }
    region: str | None = None
    incident_date: dt.date | None = None
    subject: str | None = None
    for step in form.steps:
        value = kept.get(step.key)
        if value is None:
            continue
        if step.facet == "region":
            region = str(value)
        elif step.facet == "incident_date":
            incident_date = dt.date.fromisoformat(str(value)[:10])
        if step.subject:
            subject = str(value)
    return Submitted(form, kept, region, incident_date, subject)


def answer_as_datetime(value: str, tz: dt.tzinfo) -> tuple[dt.datetime, bool]:
    """Read back a stored date or date-time answer: (local datetime, whether a time was given).

    A day with a part of the day, and an approximate period, give the (first) day at midnight
    with no time; `read_answer` gives all of it.
    """
    reading = read_answer(value, tz)
    day = reading.day
    if reading.clock is None:
        return dt.datetime(day.year, day.month, day.day, tzinfo=tz), False
    return dt.datetime.combine(day, reading.clock, tzinfo=tz), True


__all__ = [
    "CONFIRM",
    "REVIEW",
    "AskForm",
    "AskStep",
    "Back",
    "Cancel",
    "Cancelled",
    "ChooseForm",
    "Done",
    "Draft",
    "Edit",
    "Input",
    "Media",
    "Pick",
    "Prefer",
    "Reply",
    "Result",
    "ReviewItem",
    "ShowReview",
    "Show",
    "Skip",
    "Submit",
    "Submitted",
    "Text",
    "advance",
    "answer_as_datetime",
]
