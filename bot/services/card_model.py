"""The alert card for the moderator chat (README, "Moderators"), in no channel's format.

What a card says is decided here, once, as data: which lines, which marks, which answers are
folded, which actions a moderator may take in the report's state. The staff transport renders it
(bot/outbox/transports.py, with the renderer the composition root gives it: for the Telegram
moderator chat, handlers/telegram/cards.py makes HTML and inline buttons of it).

A card is written once, at submission, from the answers while they are in memory, and nothing of
its text is kept (README, "What a seized server gives away"): a status change edits only the
buttons, whose first one names the status. The first three lines say what, who, where, when,
how urgent and in which language to answer; the other answers are folded (shown collapsed until
tapped). Answers longer than one message continue in follow-up messages, so nothing is cut.

Stored in the outbox (payload version 2), beside the version 1 messages of cards queued before
the upgrade (Telegram HTML in "html", Telegram buttons in "reply_markup"):
  {"type": "card", "lines": [[span, ...], ...], "folded"?: [[span, ...], ...],
   "card_actions"?: [[action, ...], ...]}
      the card (its lines, then its folded answers) or a continuation (folded lines only);
  {"type": "edit_markup", "card_actions": [[action, ...], ...], "lines": [[span, ...], ...]}
      new buttons on the row's card; `lines` (the stub) are posted with them if the card is gone;
  a version 1 message with "card_actions": a card queued before the upgrade whose buttons
      changed before it was sent (its text as it was, new buttons).
A span is bot/services/messages.py's; an action is {"intent": str, "args": [report, other],
"label": str}: `intent` is the moderator's action (take, verify, reject_spam...), `args` the
report's id and, for "duplicate of", the original's (both as text), `label` the button's text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.services.messages import Message, Span, Style, bold, italic, plain
from bot.services.splitting import utf16_len
from handlers.engine.engine import Submitted
from handlers.engine.forms import Step, StepKind
from handlers.engine.render import Translator, format_answer
from handlers.engine.text import N_
from handlers.engine.vocab import INCIDENT_TYPES, OTHER_KINDS, REGIONS

CARD = "card"
EDIT_MARKUP = "edit_markup"
ACTIONS = "card_actions"

# How much of the reporter's answers one message carries. Telegram, where the moderators work,
# takes 4,096 characters of text after entity parsing (core.telegram.org/bots/api#sendmessage),
# so the markup does not count; the head, the marks and the continuation note take their share.
# A card is split here, not by the transport, so that each part is one stored message: the worker
# records each as it is sent, and a retry never posts the card twice.
CHUNK_BUDGET = 3900
FIRST_BODY_BUDGET = 3300
LINE_BUDGET = 2400
# The name on the card's second line; a longer one is given whole in the folded details.
WHO_BUDGET = 80

STATUS_LABELS = {
    "new": N_("new"),
    "in_review": N_("in review"),
    "verified": N_("verified"),
    "needs_info": N_("needs information"),
    "duplicate": N_("duplicate"),
    "rejected": N_("rejected"),
    "closed": N_("closed"),
}
STATUS_ICONS = {
    "new": "🆕",
    "in_review": "👀",
    "verified": "✅",
    "needs_info": "❓",
    "duplicate": "🔁",
    "rejected": "⛔",
    "closed": "🔒",
}

# The language to answer the reporter in, on the card's third line.
LANGUAGE_LABELS = {
    "kk": N_("writes in Kazakh"),
    "ru": N_("writes in Russian"),
    "en": N_("writes in English"),
}
ACTION_LABELS = {
    "submitted": N_("submitted"),
    "take": N_("taken"),
    "verify": N_("verified"),
    "needs_info": N_("marked as needing information"),
    "duplicate": N_("marked as duplicate"),
    "reject_spam": N_("rejected as spam"),
    "reject_unfounded": N_("rejected as unfounded"),
    "reject_scope": N_("rejected as out of scope"),
    "urgent": N_("marked urgent"),
    "not_urgent": N_("marked not urgent"),
    "reopen": N_("reopened"),
    "close": N_("closed"),
    "ask": N_("asked the reporter"),
    "answer": N_("the reporter answered"),
    "refused": N_("refused a press"),
    "erased": N_("the link to the reporter was erased"),
    "checkin_safe": N_("check-in: safe"),
    "checkin_help": N_("check-in: asked for help"),
    "checkin_missed": N_("check-in: no answer"),
}

# How a report arrived (bot/services/flood.py sets the flags). Most reporters write for the first
# time minutes before they report, so that alone says nothing; during a sudden wave of reports it
# says the report may be part of a flood.
WAVE_LINE = N_("🌊 Sent during a sudden wave of reports.")
WAVE_NEW_REPORTER_LINE = N_(
    "🌊 Sent during a sudden wave of reports, by someone who first wrote to the bot minutes before."
)

# Rejections ask first (issue 16): a press asks "Reject as spam?" on the card itself, and only
# the confirming button, whose action carries CONFIRMED, rejects. KEEP puts the buttons back.
REJECTIONS = ("reject_spam", "reject_unfounded", "reject_scope")
CONFIRMED = "_yes"
KEEP = "keep"
# The status button: pressed, it says who last acted and when.
STATUS = "status"
_CONFIRM_LABELS = {
    "reject_spam": N_("Yes, reject as spam"),
    "reject_unfounded": N_("Yes, reject as unfounded"),
    "reject_scope": N_("Yes, out of scope"),
}


@dataclass(frozen=True)
class CardEvent:
    action: str
    actor_name: str | None
    at: dt.datetime


@dataclass(frozen=True)
class DuplicateHint:
    report_id: int
    code: str
    created_at: dt.datetime


@dataclass(frozen=True)
class CardView:
    report_id: int
    code: str
    incident_type: str
    region: str | None
    incident_date: dt.date | None
    urgent: bool
    status: str
    channel: str
    language: str
    received_at: dt.datetime
    assignee: str | None = None
    duplicate_of: str | None = None
    hints: Sequence[DuplicateHint] = ()
    events: tuple[CardEvent, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardAction:
    """A moderator's action on a report, as a button offers it."""

    intent: str
    report: int
    label: str
    other: int = 0  # the suggested original, for "duplicate of"

    def to_json(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "args": [str(self.report), str(self.other)],
            "label": self.label,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardAction:
        args = [int(arg) for arg in data.get("args") or ()] + [0, 0]
        return cls(str(data["intent"]), args[0], str(data.get("label") or ""), args[1])


Line = list[Span]


def code(text: str) -> Span:
    return Span(text, Style.CODE)


def _label(key: str | None, vocabulary: Any, t: Translator) -> str:
    option = vocabulary.get(key) if key else None
    return t(option.label) if option else "—"


def _ago(then: dt.datetime, now: dt.datetime, t: Translator) -> str:
    days = max((now - then).days, 0)
    if days == 0:
        return t(N_("today"))
    return t.plural("{n} day ago", "{n} days ago", days)


# Codes as bot/services/intake.py makes them: a form's letter and four unambiguous characters.
CODE_PATTERN = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")


def card_code(text: str) -> str | None:
    """The report code a card's text names on its first line (cards from before this layout:
    its second), as the chat shows it; None when there is none."""
    for line in text.split("\n", 2)[:2]:
        found = CODE_PATTERN.search(line)
        if found:
            return found.group(1)
    return None


def _answer(submission: Submitted, step: Step | None, t: Translator) -> str | None:
    if step is None or submission.answers.get(step.key) in (None, "", []):
        return None
    return format_answer(step, submission.answers[step.key], t)


def _facet_step(submission: Submitted, facet: str) -> Step | None:
    return next((step for step in submission.form.steps if step.facet == facet), None)


def _subject_step(submission: Submitted) -> Step | None:
    return next((step for step in submission.form.steps if step.subject), None)


def _kind_line(view: CardView, submission: Submitted, t: Translator) -> Line:
    """What happened and how urgent, with the code a moderator copies with one tap."""
    kind = _label(view.incident_type, INCIDENT_TYPES, t)
    other_kind = submission.answers.get("other_kind")
    if view.incident_type == "other" and other_kind:
        kind = _label(str(other_kind), OTHER_KINDS, t)
    if view.urgent:
        kind = "🚨 " + t(N_("URGENT")) + " · " + kind
    line = [bold(kind), plain(" · "), code(view.code)]
    if view.channel == "messenger":
        # Moderators answer these reporters under Messenger's 24-hour rule: make it visible.
        line.append(plain(" · 💬 " + t(N_("Facebook Messenger"))))
    if view.channel == "web":
        # No chat: the reporter reads a question only when they come back to the mailbox.
        line.append(plain(" · 🌐 " + t(N_("web form"))))
    return line


def _who_line(submission: Submitted, t: Translator) -> tuple[Line, bool]:
    """Who it happened to, and who reports it; and whether the name had to be shortened."""
    subject = _answer(submission, _subject_step(submission), t)
    relation = _answer(submission, submission.form.step("relation"), t)
    parts: list[Span] = []
    shortened = False
    if subject:
        shortened = len(subject) > WHO_BUDGET
        shown = subject[: WHO_BUDGET - 1].rstrip() + "…" if shortened else subject
        parts.append(bold(shown))
    if relation:
        if parts:
            parts.append(plain(" · "))
        parts.append(plain(t(N_("reported by: {relation}"), relation=relation)))
    return [plain("👤 "), *(parts or [plain("—")])], shortened


def _where_line(view: CardView, submission: Submitted, t: Translator) -> Line:
    """Where, when (the answer as the reporter gave it), and the language to answer in."""
    when = _answer(submission, _facet_step(submission, "incident_date"), t)
    if when is None and view.incident_date is not None:
        when = t.date(view.incident_date)
    language = LANGUAGE_LABELS.get(view.language)
    return [
        plain("📍 " + _label(view.region, REGIONS, t) + " · 🗓 " + (when or "—") + " · 🗣 "),
        bold(t(language) if language else view.language),
    ]


def _marks(view: CardView, t: Translator, now: dt.datetime) -> list[Line]:
    """Lines only when they say something: a wave of reports, a possible earlier report."""
    lines: list[Line] = []
    if "wave" in view.flags:
        wave = WAVE_NEW_REPORTER_LINE if "new_reporter" in view.flags else WAVE_LINE
        lines.append([plain(t(wave))])
    lines.extend(_hint_line(hint, t, now) for hint in view.hints[:2])
    return lines


def _hint_line(hint: DuplicateHint, t: Translator, now: dt.datetime) -> Line:
    text = t(
        N_("Possibly the same person as {code} ({ago})"),
        code=hint.code,
        ago=_ago(hint.created_at, now, t),
    )
    return [plain("⚠️ " + text)]


def event_line(event: CardEvent, t: Translator) -> str:
    """'21 Nov 2026, 14:30: verified by Aigerim' in the reader's language (plain text)."""
    return t(
        N_("{when}: {action} by {name}"),
        when=t.datetime(event.at),
        action=t(ACTION_LABELS.get(event.action, event.action)),
        name=event.actor_name or "—",
    )


def _detail_lines(submission: Submitted, t: Translator, *, shown: set[str]) -> list[Line]:
    """The answers the first lines do not give, the reporter's own account first."""
    lines: list[Line] = []
    for step in submission.form.steps:
        if step.key not in submission.answers or step.key in shown:
            continue
        value = submission.answers[step.key]
        label = bold(t(step.label))
        text = format_answer(step, value, t)
        if step.kind == StepKind.MEDIA:
            lines.append([label, plain(": " + text)])
            continue
        pieces = [text[i : i + LINE_BUDGET] for i in range(0, len(text), LINE_BUDGET)] or [""]
        lines.append([label, plain(": " + pieces[0])])
        lines.extend([plain(piece)] for piece in pieces[1:])
    return lines


def _length(line: Sequence[Span]) -> int:
    return utf16_len("".join(span.text for span in line))


def _pack(lines: list[Line], *, first_budget: int) -> list[list[Line]]:
    chunks: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    for line in lines:
        budget = first_budget if not chunks else CHUNK_BUDGET
        length = _length(line)
        if current and size + length + 1 > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(line)
        size += length + 1
    if current or not chunks:
        chunks.append(current)
    return chunks


def lines_json(lines: Iterable[Sequence[Span]]) -> list[list[dict[str, str]]]:
    return [[span.to_json() for span in line] for line in lines]


def card_messages(
    view: CardView, submission: Submitted, t: Translator, *, now: dt.datetime
) -> list[Message]:
    """The card, with its buttons, then continuation messages for answers too long for one.

    Written once, at submission: the bot keeps none of it (README, "What a seized server gives
    away"), so it never changes; the status lives on the buttons (card_actions)."""
    who, shortened = _who_line(submission, t)
    head = [_kind_line(view, submission, t), who, _where_line(view, submission, t)]
    head.extend(_marks(view, t, now))
    shown = {"relation", "region", "other_kind"}
    shown.update(step.key for step in submission.form.steps if step.facet == "incident_date")
    if not shortened:
        shown.update(step.key for step in submission.form.steps if step.subject)
    head_length = sum(_length(line) + 1 for line in head) - 1
    chunks = _pack(
        _detail_lines(submission, t, shown=shown), first_budget=FIRST_BODY_BUDGET - head_length
    )
    card: Message = {"type": CARD, "lines": lines_json(head), "folded": lines_json(chunks[0])}
    card[ACTIONS] = actions_json(card_actions(view, t))
    marker = [italic(t(N_("(continued)")))]
    continued: list[Message] = [
        {"type": CARD, "lines": [], "folded": lines_json([marker, *chunk])} for chunk in chunks[1:]
    ]
    return [card, *continued]


def stub_lines(view: CardView, t: Translator) -> list[Line]:
    """What stands for a card that was deleted from the chat: its buttons need a message, and
    the bot kept no answers to write it again (only the report's clear facets)."""
    kind = _label(view.incident_type, INCIDENT_TYPES, t)
    region = _label(view.region, REGIONS, t)
    date = t.date(view.incident_date) if view.incident_date else "—"
    note = t(
        N_(
            "The card was deleted from the chat; the bot keeps no answers to write it again. "
            "They are in the sealed archive."
        )
    )
    return [
        [bold(kind), plain(" · "), code(view.code)],
        [plain(f"📍 {region} · 🗓 {date}")],
        [italic(note)],
    ]


def edit_buttons(view: CardView, t: Translator, *, confirming: str | None = None) -> Message:
    """New buttons on the row's card (the worker finds the card's message), with the stub to
    post instead if the card is gone."""
    return {
        "type": EDIT_MARKUP,
        ACTIONS: actions_json(card_actions(view, t, confirming=confirming)),
        "lines": lines_json(stub_lines(view, t)),
    }


def status_label(view: CardView, t: Translator) -> str:
    """The status on the card's first button: how urgent, what it is, and who holds it."""
    status = t(STATUS_LABELS.get(view.status, view.status))
    if view.status == "duplicate" and view.duplicate_of:
        status = t(N_("duplicate of {code}"), code=view.duplicate_of)
    label = f"{STATUS_ICONS.get(view.status, '•')} {status[:1].upper()}{status[1:]}"
    if view.urgent:
        # Urgency may change after the card was written (a moderator, a missed check-in).
        label = f"🚨 {label}"
    if view.assignee:
        label += f" · {view.assignee}"
    return label


def card_actions(
    view: CardView, t: Translator, *, confirming: str | None = None
) -> list[list[CardAction]]:
    """The actions that make sense in the report's current state; with `confirming` (one of
    REJECTIONS), only "Yes, reject" and "No"."""

    def action(label: str, intent: str, other: int = 0, **params: str) -> CardAction:
        return CardAction(intent, view.report_id, t(label, **params), other)

    if confirming in _CONFIRM_LABELS:
        return [
            [action(_CONFIRM_LABELS[confirming], confirming + CONFIRMED)],
            [action(N_("No"), KEEP)],
        ]
    status = view.status
    rows: list[list[CardAction]] = [[CardAction(STATUS, view.report_id, status_label(view, t))]]
    if status in ("new", "needs_info", "in_review"):
        # Only what this state allows (bot/services/moderation.py TRANSITIONS): a new report is
        # taken before it is verified or sent back for information, so its card offers neither.
        first = [action(N_("Take"), "take")]
        if status != "new":
            first.append(action(N_("Verify"), "verify"))
        duplicate = action(N_("Duplicate…"), "duplicate")
        if status == "new":
            first.append(duplicate)  # one row fewer on a phone
        rows.append(first)
        if status != "new":
            second = [duplicate]
            if status == "in_review":
                second.insert(0, action(N_("Needs info"), "needs_info"))
            rows.append(second)
        rows.extend(
            [action(N_("Duplicate of {code}"), "dupof", hint.report_id, code=hint.code)]
            for hint in view.hints[:2]
        )
        rows.append(
            [
                action(N_("Spam"), "reject_spam"),
                action(N_("Unfounded"), "reject_unfounded"),
                action(N_("Out of scope"), "reject_scope"),
            ]
        )
    if status in ("verified", "needs_info", "duplicate", "rejected"):
        rows.append([action(N_("Close"), "close")])
    if status in ("verified", "duplicate", "rejected", "closed"):
        rows.append([action(N_("Reopen"), "reopen")])
    if status != "closed":
        rows.append(
            [
                action(N_("Not urgent"), "not_urgent")
                if view.urgent
                else action(N_("Urgent"), "urgent"),
                action(N_("Ask the reporter"), "ask"),
            ]
        )
    return rows


def actions_json(rows: Iterable[Sequence[CardAction]]) -> list[list[dict[str, Any]]]:
    return [[action.to_json() for action in row] for row in rows]


def actions_of(message: Message) -> list[list[CardAction]]:
    return [[CardAction.from_json(a) for a in row] for row in message.get(ACTIONS) or []]


def lines_of(message: Message, key: str = "lines") -> list[list[Span]]:
    return [
        [
            Span(str(span.get("text") or ""), Style(span.get("style") or Style.PLAIN.value))
            for span in line
        ]
        for line in message.get(key) or []
    ]


def is_card(message: Message) -> bool:
    """A neutral card message, or a queued version 1 card with new neutral buttons."""
    return message.get("type") == CARD or ACTIONS in message


def digest_spans(view: CardView, t: Translator) -> Line:
    """One report in a burst digest, short enough for ninety to a message."""
    kind = _label(view.incident_type, INCIDENT_TYPES, t)
    region = _label(view.region, REGIONS, t)
    date = t.day_month(view.incident_date) if view.incident_date else "—"
    mark = "🚨 " if view.urgent else "• "
    return [plain(mark), bold(view.code), plain(f" {kind}, {region}, {date}")]


def attachments_of(submission: Submitted) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for step in submission.form.steps:
        if step.kind == StepKind.MEDIA:
            items.extend(submission.answers.get(step.key) or [])
    return items
