"""`reportbot export`: the sealed archive decrypted offline, one row per report.

Runs on the coordinators' machine with the organisation's private key (the bot's host never has
it). The columns are the report's clear facets, its moderation status, then one column per
question of the forms (README.md, "Figures and exports", lists them). CSV and XLSX are shaped
for people and for HURIDOCS Uwazi's CSV import: a `title` column, answers as labels in the
chosen language, several values separated by `|`, dates as ISO dates. JSONL keeps the stored
values (vocabulary keys) for scripts.

The output holds names and accounts in clear text: it is created readable by its owner only,
written to a temporary name and renamed when complete, so an interrupted export leaves no
half-written file behind.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import enum
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nacl.public import PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.reporting.figures import STATUS_LABELS, defuse
from bot.settings import ConfigError
from handlers.engine.engine import answer_as_datetime
from handlers.engine.forms import FORMS, Step, StepKind
from handlers.engine.render import Translator
from handlers.engine.vocab import INCIDENT_TYPES, REGIONS
from storage.models import Report
from storage.sealing import DecryptError, key_id_of, open_sealed


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    XLSX = "xlsx"


@dataclass(frozen=True)
class Column:
    name: str
    description: str  # what README.md says of it, kept beside the code that fills it


FACET_COLUMNS = (
    Column("title", "the report code, type and incident date (Uwazi requires a title)"),
    Column("code", "the report's public code, e.g. D-7K3F"),
    Column("incident_type", "detention, search, frozen bank account, summons or other"),
    Column("status", "moderation status: new, in review, verified, needs information, ..."),
    Column("duplicate_of", "the code of the report this one duplicates"),
    Column("incident_date", "the incident date (Almaty-local), YYYY-MM-DD"),
    Column("incident_week", "the ISO week of the incident date, e.g. 2026-W46"),
    Column("region", "region of the incident"),
    Column("urgent", "yes when the report was marked urgent"),
    Column("channel", "how the report came: telegram, messenger or web (the web form)"),
    Column("source", "the ref tag of the link the reporter came through, if any"),
    Column("language", "the language the reporter used: kk, ru or en"),
    Column("consent", "how the information may be used: named, anonymised, statistics only"),
    Column("contact", "how the team may contact the reporter"),
    Column("received_at", "when the report reached the bot, ISO 8601 in UTC"),
)

# Answers that are also clear facets are exported once, as the facet.
_FACET_ANSWERS = frozenset({"region", "consent", "contact"})

QUESTION_DESCRIPTIONS = {
    "relation": "who the reporter is to the person concerned",
    "subject": "the person concerned (detained, searched, account holder, summoned, affected)",
    "when": "when it happened (detention, search, other), YYYY-MM-DD or YYYY-MM-DD HH:MM",
    "place": "where the detention happened",
    "agency": "the agency involved",
    "held_where": "where the detained person is held",
    "article": "the article of the code, if known",
    "lawyer": "whether a lawyer was allowed to see the detained person",
    "injuries": "whether the detained person is injured",
    "account": "the reporter's own account of what happened (free text)",
    "media": "attachments as Telegram file references (kind:file_id), separated by |",
    "contact_other": "the other way to contact the reporter they gave",
    "sanction": "whether a court sanction for the search was shown",
    "seized": "what was seized in the search, separated by |",
    "seized_other": "what else was seized",
    "present": "whether a lawyer or attesting witnesses were at the search",
    "bank": "the bank of the frozen account",
    "noticed": "when the freeze was noticed, YYYY-MM-DD",
    "how_learned": "how the freeze was learned about",
    "reason": "the reason given for the freeze",
    "donations": "whether the freeze is linked to donations or fundraising",
    "amount": "the amount frozen, as the reporter wrote it",
    "appointment": "date and time of the summons appointment, YYYY-MM-DD HH:MM",
    "case_status": "the status in which the person is summoned",
    "summons_photo": "photos of the written summons (kind:file_id), separated by |",
    "checkin": "whether a safety check-in after the appointment was wanted",
    "other_kind": "what happened (for the type other)",
}


def question_columns() -> list[Column]:
    """Every question of every form, once, in the order the forms ask them."""
    columns: dict[str, Column] = {}
    for form in FORMS.values():
        for step in form.steps:
            if step.key in _FACET_ANSWERS or step.key in columns:
                continue
            columns[step.key] = Column(step.key, QUESTION_DESCRIPTIONS.get(step.key, step.key))
    return list(columns.values())


def export_columns() -> list[Column]:
    return [*FACET_COLUMNS, *question_columns()]


# --- reading the archive ---------------------------------------------------------------------

BATCH = 500


@dataclass(frozen=True)
class ExportedReport:
    code: str
    incident_type: str
    status: str
    duplicate_of: str | None
    incident_date: dt.date | None
    region: str | None
    urgent: bool
    channel: str
    source: str | None
    language: str
    consent: str | None
    contact: str | None
    received_at: dt.datetime
    payload: dict[str, Any]


def match_keys(private_keys: Sequence[PrivateKey]) -> dict[str, PrivateKey]:
    """Private keys by the key id the bot stores beside each sealed payload."""
    return {key_id_of(bytes(key.public_key)): key for key in private_keys}


async def check_keys(session: AsyncSession, keys: dict[str, PrivateKey]) -> int:
    """Fail before writing anything when a report is sealed to a key that was not given.

    Returns how many reports will be exported.
    """
    rows = (
        await session.execute(select(Report.key_id, func.count()).group_by(Report.key_id))
    ).all()
    missing = {key_id: int(count) for key_id, count in rows if key_id not in keys}
    if missing:
        key_id, count = max(missing.items(), key=lambda item: item[1])
        given = ", ".join(sorted(keys)) or "none"
        raise ConfigError(
            f"the private key does not open this archive: {count} report(s) are sealed to key "
            f"{key_id}, the key given is {given} (pass the matching key; repeat --private-key "
            "for reports sealed before a key rotation)."
        )
    return sum(int(count) for _, count in rows)


async def read_reports(
    sessionmaker: async_sessionmaker[AsyncSession], keys: dict[str, PrivateKey]
) -> AsyncIterator[ExportedReport]:
    """Reports in id order, opened; each batch in its own short transaction (keyset pages)."""
    original = aliased(Report)
    last_id = 0
    while True:
        async with sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(Report, original.public_code)
                    .outerjoin(original, Report.duplicate_of_id == original.id)
                    .where(Report.id > last_id)
                    .order_by(Report.id)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return
        for report, duplicate_code in rows:
            last_id = report.id
            try:
                payload = open_sealed(keys[report.key_id], report.sealed_payload)
            except (DecryptError, KeyError, ValueError) as exc:
                raise ConfigError(
                    f"report {report.public_code} cannot be opened with the given key "
                    "(damaged, or sealed to another key)."
                ) from exc
            yield ExportedReport(
                code=report.public_code,
                incident_type=report.incident_type,
                status=report.status,
                duplicate_of=duplicate_code,
                incident_date=report.incident_date,
                region=report.region,
                urgent=report.urgent,
                channel=report.channel,
                source=report.source,
                language=report.language,
                consent=report.consent,
                contact=report.contact,
                received_at=report.created_at,
                payload=payload,
            )


# --- shaping rows ------------------------------------------------------------------------------


def _choice(step: Step | None, value: Any, t: Translator) -> str:
    if step is None or step.vocabulary is None:
        return str(value)
    option = step.vocabulary.get(str(value))
    return t(option.label) if option else str(value)


def answer_cell(step: Step | None, value: Any, t: Translator) -> str:
    """One answer as a spreadsheet cell: labels for choices, `|` between several values."""
    if value in (None, "", []):
        return ""
    kind = step.kind if step is not None else None
    if kind == StepKind.CHOICE:
        return _choice(step, value, t)
    if kind == StepKind.MULTI:
        return "|".join(_choice(step, item, t) for item in value)
    if kind == StepKind.MEDIA:
        return "|".join(f"{item.get('kind', 'file')}:{item.get('file_id', '')}" for item in value)
    if kind in (StepKind.DATE, StepKind.DATETIME):
        local, has_time = answer_as_datetime(str(value), t.tz)
        if has_time:
            return local.strftime("%Y-%m-%d %H:%M")
        # A day ("2026-11-20"), a day and part of it ("2026-11-20 evening") or an approximate
        # period ("2026-11-09/2026-11-15") as stored: one day alone would be made up.
        return str(value)
    if isinstance(value, list):
        return "|".join(str(item) for item in value)
    return str(value)


def _label(vocabulary_get: Callable[[str], Any], key: str | None, t: Translator) -> str:
    if not key:
        return ""
    option = vocabulary_get(key)
    return t(option.label) if option else key


def spreadsheet_row(report: ExportedReport, t: Translator) -> dict[str, str]:
    form = FORMS.get(str(report.payload.get("form") or report.incident_type))
    answers: dict[str, Any] = report.payload.get("answers") or {}
    type_label = _label(INCIDENT_TYPES.get, report.incident_type, t)
    date = report.incident_date.isoformat() if report.incident_date else ""
    week = ""
    if report.incident_date:
        year, number, _ = report.incident_date.isocalendar()
        week = f"{year}-W{number:02d}"
    row = {
        "title": " ".join(part for part in (report.code, type_label, date) if part),
        "code": report.code,
        "incident_type": type_label,
        "status": t(STATUS_LABELS[report.status])
        if report.status in STATUS_LABELS
        else report.status,
        "duplicate_of": report.duplicate_of or "",
        "incident_date": date,
        "incident_week": week,
        "region": _label(REGIONS.get, report.region, t),
        "urgent": "yes" if report.urgent else "no",
        "channel": report.channel,
        "source": report.source or "",
        "language": report.language,
        "consent": answer_cell(form.step("consent") if form else None, report.consent, t),
        "contact": answer_cell(form.step("contact") if form else None, report.contact, t),
        "received_at": report.received_at.astimezone(dt.UTC).isoformat(),
    }
    for column in question_columns():
        step = form.step(column.name) if form else None
        row[column.name] = answer_cell(step, answers.get(column.name), t)
    return row


def json_record(report: ExportedReport) -> dict[str, Any]:
    """The stored values as they are (vocabulary keys, ISO dates), for scripts."""
    return {
        "code": report.code,
        "incident_type": report.incident_type,
        "status": report.status,
        "duplicate_of": report.duplicate_of,
        "incident_date": report.incident_date.isoformat() if report.incident_date else None,
        "region": report.region,
        "urgent": report.urgent,
        "channel": report.channel,
        "source": report.source,
        "language": report.language,
        "consent": report.consent,
        "contact": report.contact,
        "received_at": report.received_at.astimezone(dt.UTC).isoformat(),
        "form": report.payload.get("form"),
        "submitted_at": report.payload.get("submitted_at"),
        "answers": report.payload.get("answers") or {},
    }


# --- writing -----------------------------------------------------------------------------------


class Progress:
    """A progress bar on stderr for long exports; silent when stderr is not a terminal."""

    WIDTH = 30

    def __init__(self, total: int, stream: IO[str] | None = None, *, enabled: bool | None = None):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = 0
        self._shown = -1

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled or self.total <= 0:
            return
        percent = self.done * 100 // self.total
        if percent == self._shown and self.done != self.total:
            return
        self._shown = percent
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\rexport [{bar}] {percent:3d}% {self.done}/{self.total}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.total > 0:
            self.stream.write("\n")
            self.stream.flush()


@contextlib.contextmanager
def private_output(path: Path) -> Iterator[Path]:
    """A temporary file beside `path`, readable by its owner only, renamed over `path` when the
    block ends without error and deleted when it fails."""
    # A fresh name, created exclusively and never through a symbolic link: a file or link left
    # at a predictable name (by a crash, or by another user of a shared directory) is neither
    # truncated nor written through.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


async def write_export(
    sessionmaker: async_sessionmaker[AsyncSession],
    private_keys: Sequence[PrivateKey],
    *,
    fmt: ExportFormat,
    output: Path,
    t: Translator,
    progress_stream: IO[str] | None = None,
) -> int:
    """Decrypt every report into `output`; returns how many were written."""
    keys = match_keys(private_keys)
    async with sessionmaker() as session, session.begin():
        total = await check_keys(session, keys)
    progress = Progress(total, progress_stream)
    with private_output(output) as partial:
        if fmt == ExportFormat.XLSX:
            count = await _write_xlsx(sessionmaker, keys, partial, t, progress)
        else:
            count = await _write_text(sessionmaker, keys, partial, fmt, t, progress)
    progress.finish()
    return count


async def _write_text(
    sessionmaker: async_sessionmaker[AsyncSession],
    keys: dict[str, PrivateKey],
    path: Path,
    fmt: ExportFormat,
    t: Translator,
    progress: Progress,
) -> int:
    count = 0
    # utf-8-sig for CSV: Excel shows Cyrillic correctly only with the byte-order mark.
    encoding = "utf-8-sig" if fmt == ExportFormat.CSV else "utf-8"
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n") if fmt == ExportFormat.CSV else None
        names = [column.name for column in export_columns()]
        if writer is not None:
            writer.writerow(names)
        async for report in read_reports(sessionmaker, keys):
            if writer is not None:
                row = spreadsheet_row(report, t)
                writer.writerow([defuse(row[name]) for name in names])
            else:
                handle.write(json.dumps(json_record(report), ensure_ascii=False) + "\n")
            count += 1
            progress.advance()
    return count


async def _write_xlsx(
    sessionmaker: async_sessionmaker[AsyncSession],
    keys: dict[str, PrivateKey],
    path: Path,
    t: Translator,
    progress: Progress,
) -> int:
    # openpyxl ships no type hints and types-openpyxl is not a dependency.
    from openpyxl import Workbook  # type: ignore[import-untyped]  # noqa: PLC0415
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]  # noqa: PLC0415

    # Write-only mode streams rows to disk: a million reports do not have to fit in memory.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("reports")
    names = [column.name for column in export_columns()]
    sheet.append(names)
    count = 0
    async for report in read_reports(sessionmaker, keys):
        row = spreadsheet_row(report, t)
        cells = []
        for name in names:
            cell = WriteOnlyCell(sheet, value=row[name])
            cell.data_type = "s"  # text, never a formula, whatever it starts with (see defuse)
            cells.append(cell)
        sheet.append(cells)
        count += 1
        progress.advance()
    workbook.save(path)
    return count
