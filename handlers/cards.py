"""The alert card for the moderator chat (DESIGN.md section 6), in Telegram HTML.

Every piece of reporter content is escaped; the card is split into a card message plus
continuation messages when the answers exceed Telegram's 4,096-character limit, so nothing is cut.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aiogram import html

from handlers.engine.engine import Submitted
from handlers.engine.forms import StepKind
from handlers.engine.text import N_
from handlers.engine.vocab import INCIDENT_TYPES, REGIONS
from handlers.render import Translator, format_answer

# Telegram counts the limit after entity parsing; staying under it with the markup counted keeps
# the arithmetic simple and safe.
MESSAGE_LIMIT = 4096
CHUNK_BUDGET = 3900
LINE_BUDGET = 3000


@dataclass(frozen=True)
class CardFacts:
    code: str
    channel: str
    language: str
    submitted_at: dt.datetime
    urgent: bool


def _label(vocabulary_key: str | None, vocabulary: Any, t: Translator) -> str:
    option = vocabulary.get(vocabulary_key) if vocabulary_key else None
    return t(option.label) if option else "—"


def render_alert_card(facts: CardFacts, submission: Submitted, t: Translator) -> list[str]:
    """The card as one or more HTML messages; the first is the card itself."""
    header: list[str] = []
    if facts.urgent:
        header.append("🚨 " + html.bold(html.quote(t(N_("URGENT")))))
    kind = _label(submission.form.key, INCIDENT_TYPES, t)
    header.append(f"{html.bold(html.quote(facts.code))} · {html.quote(kind)}")
    region = _label(submission.region, REGIONS, t)
    date = t.date(submission.incident_date) if submission.incident_date else "—"
    header.append(html.quote(t(N_("Region: {region}"), region=region)))
    header.append(html.quote(t(N_("Date: {date}"), date=date)))
    header.append(
        html.quote(
            t(
                N_("Received {when} via {channel}, language {language}"),
                when=t.datetime(facts.submitted_at),
                channel=facts.channel,
                language=facts.language,
            )
        )
    )
    header.append(html.quote(t(N_("Status: {status}"), status=t(N_("new")))))
    header.append("")

    lines: list[str] = []
    for step in submission.form.steps:
        if step.key not in submission.answers:
            continue
        value = submission.answers[step.key]
        label = html.bold(html.quote(t(step.label)))
        if step.kind == StepKind.MEDIA:
            lines.append(f"{label}: {html.quote(format_answer(step, value, t))}")
            continue
        text = format_answer(step, value, t)
        pieces = [text[i : i + LINE_BUDGET] for i in range(0, len(text), LINE_BUDGET)] or [""]
        lines.append(f"{label}: {html.quote(pieces[0])}")
        lines.extend(html.quote(piece) for piece in pieces[1:])
    return _pack(header + lines, t)


def _pack(lines: list[str], t: Translator) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + len(line) + 1 > CHUNK_BUDGET:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current).rstrip())
    if len(chunks) > 1:
        marker = html.italic(html.quote(t(N_("(continued)"))))
        chunks = [chunks[0]] + [f"{marker}\n{chunk}" for chunk in chunks[1:]]
    return chunks


def attachments_of(submission: Submitted) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for step in submission.form.steps:
        if step.kind == StepKind.MEDIA:
            items.extend(submission.answers.get(step.key) or [])
    return items
