"""The alert card for the moderator chat (README, "Moderators"), in Telegram HTML.

A card is a header (facets, status, who acted and when) that is re-rendered on every change, and
a body (the answers) rendered once at submission. Every piece of reporter content is escaped.
Answers longer than one message continue in follow-up messages, so nothing is cut.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import html
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.engine.engine import Submitted
from handlers.engine.forms import StepKind
from handlers.engine.render import Translator, format_answer
from handlers.engine.text import N_
from handlers.engine.vocab import INCIDENT_TYPES, REGIONS
from handlers.telegram.keyboards import RowId

# Telegram's limit is 4,096 characters after entity parsing; the header may grow as moderators
# act, so the body's first part leaves it room.
CHUNK_BUDGET = 3900
FIRST_BODY_BUDGET = 2600
LINE_BUDGET = 2400

STATUS_LABELS = {
    "new": N_("new"),
    "in_review": N_("in review"),
    "verified": N_("verified"),
    "needs_info": N_("needs information"),
    "duplicate": N_("duplicate"),
    "rejected": N_("rejected"),
    "closed": N_("closed"),
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

# How a report arrived, when moderators should weigh it (bot/services/flood.py sets them).
FLAG_LINES = {
    "new_reporter": N_("🆕 Sent by someone who first wrote to the bot minutes before."),
    "wave": N_("🌊 Sent during a sudden wave of reports."),
}


CHANNEL_LABELS = {
    "telegram": N_("Telegram"),
    "messenger": N_("Facebook Messenger"),
}


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


def render_card_header(view: CardView, t: Translator, *, now: dt.datetime) -> str:
    lines: list[str] = []
    if view.urgent:
        lines.append("🚨 " + html.bold(html.quote(t(N_("URGENT")))))
    kind = _label(view.incident_type, INCIDENT_TYPES, t)
    lines.append(f"{html.bold(html.quote(view.code))} · {html.quote(kind)}")
    if view.channel == "messenger":
        # Moderators answer these reporters under Messenger's 24-hour rule: make it visible.
        lines.append("💬 " + html.bold(html.quote(t(N_("Via Facebook Messenger")))))
    date = t.date(view.incident_date) if view.incident_date else "—"
    lines.append(html.quote(t(N_("Region: {region}"), region=_label(view.region, REGIONS, t))))
    lines.append(html.quote(t(N_("Date: {date}"), date=date)))
    lines.append(
        html.quote(
            t(
                N_("Received {when} via {channel}, language {language}"),
                when=t.datetime(view.received_at),
                channel=t(CHANNEL_LABELS[view.channel])
                if view.channel in CHANNEL_LABELS
                else view.channel,
                language=view.language,
            )
        )
    )
    status = t(STATUS_LABELS.get(view.status, view.status))
    if view.duplicate_of:
        status = t(N_("duplicate of {code}"), code=view.duplicate_of)
    lines.append(html.bold(html.quote(t(N_("Status: {status}"), status=status))))
    if view.assignee:
        lines.append(html.quote(t(N_("Assigned to: {name}"), name=view.assignee)))
    lines.extend(html.quote(t(FLAG_LINES[flag])) for flag in view.flags if flag in FLAG_LINES)
    lines.extend(_hint_line(hint, t, now) for hint in view.hints[:3])
    lines.extend(html.italic(html.quote(event_line(event, t))) for event in view.events[-3:])
    return "\n".join(lines)


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


def render_card_body(submission: Submitted, t: Translator) -> list[str]:
    """The answers as HTML: the part that goes on the card, then continuation messages."""
    lines: list[str] = []
    for step in submission.form.steps:
        if step.key not in submission.answers:
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
    chunks = _pack(lines, first_budget=FIRST_BODY_BUDGET)
    if len(chunks) > 1:
        marker = html.italic(html.quote(t(N_("(continued)"))))
        chunks = [chunks[0]] + [f"{marker}\n{chunk}" for chunk in chunks[1:]]
    return chunks


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


def render_card(view: CardView, body: str, t: Translator, *, now: dt.datetime) -> str:
    header = render_card_header(view, t, now=now)
    return f"{header}\n\n{body}" if body else header


# Rejections ask first (issue 16): a press asks "Reject as spam?" on the card itself, and only
# the confirming button, whose action carries CONFIRMED, rejects. KEEP puts the buttons back.
REJECTIONS = ("reject_spam", "reject_unfounded", "reject_scope")
CONFIRMED = "_yes"
KEEP = "keep"
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
    rows: list[list[InlineKeyboardButton]] = []
    if status in ("new", "needs_info", "in_review"):
        # Only what this state allows (bot/services/moderation.py TRANSITIONS): a new report is
        # taken before it is verified or sent back for information, so its card offers neither.
        first = [button(N_("Take"), "take")]
        if status != "new":
            first.append(button(N_("Verify"), "verify"))
        rows.append(first)
        second = [button(N_("Duplicate…"), "duplicate")]
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
