"""The alert card for the moderator chat (README, "Moderators"), in Telegram HTML.

A card is written once, at submission, from the answers while they are in memory, and nothing of
its text is kept (README, "What a seized server gives away"): a status change edits only the
buttons, whose first row names the status. The first three lines say what, who, where, when,
how urgent and in which language to answer; the other answers are folded into an expandable
quote (core.telegram.org/bots/api#formatting-options: `<blockquote expandable>`), which a phone
shows as three lines until tapped. Every piece of reporter content is escaped. Answers longer
than one message continue in follow-up messages, so nothing is cut.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import html
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.engine.engine import Submitted
from handlers.engine.forms import Step, StepKind
from handlers.engine.render import Translator, format_answer
from handlers.engine.text import N_
from handlers.engine.vocab import INCIDENT_TYPES, OTHER_KINDS, REGIONS
from handlers.telegram.keyboards import RowId

# Telegram's limit is 4,096 characters after entity parsing (core.telegram.org/bots/api#
# sendmessage); the head and the quote's markup take their share of the first message.
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


class ModCB(CallbackData, prefix="m1"):
    """Version 1 of the card buttons: which action on which report, nothing else."""

    action: str
    report: RowId
    other: RowId = 0  # the suggested original, for "duplicate of"


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


def _kind_line(view: CardView, submission: Submitted, t: Translator) -> str:
    """What happened and how urgent, with the code a moderator copies with one tap."""
    kind = _label(view.incident_type, INCIDENT_TYPES, t)
    other_kind = submission.answers.get("other_kind")
    if view.incident_type == "other" and other_kind:
        kind = _label(str(other_kind), OTHER_KINDS, t)
    what = html.quote(kind)
    if view.urgent:
        what = "🚨 " + html.quote(t(N_("URGENT"))) + " · " + what
    line = f"{html.bold(what)} · {html.code(html.quote(view.code))}"
    if view.channel == "messenger":
        # Moderators answer these reporters under Messenger's 24-hour rule: make it visible.
        line += " · 💬 " + html.quote(t(N_("Facebook Messenger")))
    if view.channel == "web":
        # No chat: the reporter reads a question only when they come back to the mailbox.
        line += " · 🌐 " + html.quote(t(N_("web form")))
    return line


def _who_line(submission: Submitted, t: Translator) -> tuple[str, bool]:
    """Who it happened to, and who reports it; and whether the name had to be shortened."""
    subject = _answer(submission, _subject_step(submission), t)
    relation = _answer(submission, submission.form.step("relation"), t)
    parts: list[str] = []
    shortened = False
    if subject:
        shortened = len(subject) > WHO_BUDGET
        shown = subject[: WHO_BUDGET - 1].rstrip() + "…" if shortened else subject
        parts.append(html.bold(html.quote(shown)))
    if relation:
        parts.append(html.quote(t(N_("reported by: {relation}"), relation=relation)))
    return "👤 " + (" · ".join(parts) or "—"), shortened


def _where_line(view: CardView, submission: Submitted, t: Translator) -> str:
    """Where, when (the answer as the reporter gave it), and the language to answer in."""
    when = _answer(submission, _facet_step(submission, "incident_date"), t)
    if when is None and view.incident_date is not None:
        when = t.date(view.incident_date)
    language = LANGUAGE_LABELS.get(view.language)
    parts = [
        "📍 " + html.quote(_label(view.region, REGIONS, t)),
        "🗓 " + html.quote(when or "—"),
        "🗣 " + html.bold(html.quote(t(language) if language else view.language)),
    ]
    return " · ".join(parts)


def _marks(view: CardView, t: Translator, now: dt.datetime) -> list[str]:
    """Lines only when they say something: a wave of reports, a possible earlier report."""
    lines: list[str] = []
    if "wave" in view.flags:
        wave = WAVE_NEW_REPORTER_LINE if "new_reporter" in view.flags else WAVE_LINE
        lines.append(html.quote(t(wave)))
    lines.extend(_hint_line(hint, t, now) for hint in view.hints[:2])
    return lines


def _hint_line(hint: DuplicateHint, t: Translator, now: dt.datetime) -> str:
    text = t(
        N_("Possibly the same person as {code} ({ago})"),
        code=hint.code,
        ago=_ago(hint.created_at, now, t),
    )
    return "⚠️ " + html.quote(text)


def event_line(event: CardEvent, t: Translator) -> str:
    """'21 Nov 2026, 14:30: verified by Aigerim' in the reader's language (plain text)."""
    return t(
        N_("{when}: {action} by {name}"),
        when=t.datetime(event.at),
        action=t(ACTION_LABELS.get(event.action, event.action)),
        name=event.actor_name or "—",
    )


def _detail_lines(submission: Submitted, t: Translator, *, shown: set[str]) -> list[str]:
    """The answers the first lines do not give, the reporter's own account first."""
    lines: list[str] = []
    for step in submission.form.steps:
        if step.key not in submission.answers or step.key in shown:
            continue
        value = submission.answers[step.key]
        label = html.bold(html.quote(t(step.label)))
        text = format_answer(step, value, t)
        if step.kind == StepKind.MEDIA:
            lines.append(f"{label}: {html.quote(text)}")
            continue
        pieces = [text[i : i + LINE_BUDGET] for i in range(0, len(text), LINE_BUDGET)] or [""]
        lines.append(f"{label}: {html.quote(pieces[0])}")
        lines.extend(html.quote(piece) for piece in pieces[1:])
    return lines


def _folded(chunk: str) -> str:
    return f"<blockquote expandable>{chunk}</blockquote>" if chunk else ""


def render_card(
    view: CardView, submission: Submitted, t: Translator, *, now: dt.datetime
) -> list[str]:
    """The card's text, then continuation messages for answers too long for one message.

    Written once, at submission: the bot keeps none of it (README, "What a seized server gives
    away"), so it never changes; the status lives on the buttons (card_keyboard)."""
    who, shortened = _who_line(submission, t)
    head = [_kind_line(view, submission, t), who, _where_line(view, submission, t)]
    head.extend(_marks(view, t, now))
    shown = {"relation", "region", "other_kind"}
    shown.update(step.key for step in submission.form.steps if step.facet == "incident_date")
    if not shortened:
        shown.update(step.key for step in submission.form.steps if step.subject)
    head_text = "\n".join(head)
    chunks = _pack(
        _detail_lines(submission, t, shown=shown),
        first_budget=FIRST_BODY_BUDGET - len(head_text),
    )
    card = "\n".join(part for part in (head_text, _folded(chunks[0])) if part)
    marker = html.italic(html.quote(t(N_("(continued)"))))
    return [card] + [_folded(f"{marker}\n{chunk}") for chunk in chunks[1:]]


def _pack(lines: list[str], *, first_budget: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        budget = first_budget if not chunks else CHUNK_BUDGET
        if current and size + len(line) + 1 > budget:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current or not chunks:
        chunks.append("\n".join(current))
    return chunks


def card_stub(view: CardView, t: Translator) -> str:
    """What stands for a card that was deleted from the chat: its buttons need a message, and
    the bot kept no answers to write it again (only the report's clear facets)."""
    kind = _label(view.incident_type, INCIDENT_TYPES, t)
    region = _label(view.region, REGIONS, t)
    date = t.date(view.incident_date) if view.incident_date else "—"
    first = f"{html.bold(html.quote(kind))} · {html.code(html.quote(view.code))}"
    second = html.quote(f"📍 {region} · 🗓 {date}")
    note = t(
        N_(
            "The card was deleted from the chat; the bot keeps no answers to write it again. "
            "They are in the sealed archive."
        )
    )
    return f"{first}\n{second}\n{html.italic(html.quote(note))}"


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


def card_keyboard(
    view: CardView, t: Translator, *, confirming: str | None = None
) -> InlineKeyboardMarkup:
    """The actions that make sense in the report's current state; with `confirming` (one of
    REJECTIONS), only "Yes, reject" and "No"."""

    def button(label: str, action: str, other: int = 0, **params: str) -> InlineKeyboardButton:
        data = ModCB(action=action, report=view.report_id, other=other).pack()
        return InlineKeyboardButton(text=t(label, **params), callback_data=data)

    if confirming in _CONFIRM_LABELS:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [button(_CONFIRM_LABELS[confirming], confirming + CONFIRMED)],
                [button(N_("No"), KEEP)],
            ]
        )
    status = view.status
    rows: list[list[InlineKeyboardButton]] = [
        [
            InlineKeyboardButton(
                text=status_label(view, t),
                callback_data=ModCB(action=STATUS, report=view.report_id).pack(),
            )
        ]
    ]
    if status in ("new", "needs_info", "in_review"):
        # Only what this state allows (bot/services/moderation.py TRANSITIONS): a new report is
        # taken before it is verified or sent back for information, so its card offers neither.
        first = [button(N_("Take"), "take")]
        if status != "new":
            first.append(button(N_("Verify"), "verify"))
        duplicate = button(N_("Duplicate…"), "duplicate")
        if status == "new":
            first.append(duplicate)  # one row fewer on a phone
        rows.append(first)
        if status != "new":
            second = [duplicate]
            if status == "in_review":
                second.insert(0, button(N_("Needs info"), "needs_info"))
            rows.append(second)
        rows.extend(
            [button(N_("Duplicate of {code}"), "dupof", hint.report_id, code=hint.code)]
            for hint in view.hints[:2]
        )
        rows.append(
            [
                button(N_("Spam"), "reject_spam"),
                button(N_("Unfounded"), "reject_unfounded"),
                button(N_("Out of scope"), "reject_scope"),
            ]
        )
    if status in ("verified", "needs_info", "duplicate", "rejected"):
        rows.append([button(N_("Close"), "close")])
    if status in ("verified", "duplicate", "rejected", "closed"):
        rows.append([button(N_("Reopen"), "reopen")])
    if status != "closed":
        rows.append(
            [
                button(N_("Not urgent"), "not_urgent")
                if view.urgent
                else button(N_("Urgent"), "urgent"),
                button(N_("Ask the reporter"), "ask"),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def digest_line(view: CardView, t: Translator) -> str:
    """One report in a burst digest, short enough for ninety to a message."""
    kind = _label(view.incident_type, INCIDENT_TYPES, t)
    region = _label(view.region, REGIONS, t)
    date = t.day_month(view.incident_date) if view.incident_date else "—"
    mark = "🚨 " if view.urgent else "• "
    details = html.quote(f"{kind}, {region}, {date}")
    return f"{mark}{html.bold(html.quote(view.code))} {details}"


def attachments_of(submission: Submitted) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for step in submission.form.steps:
        if step.kind == StepKind.MEDIA:
            items.extend(submission.answers.get(step.key) or [])
    return items
