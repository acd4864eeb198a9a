"""Coordinators' figures as people read them: table, CSV, XLSX, PNG chart, Facebook post.

Everything here is pure rendering of `storage.stats.Figures` (no database, no Telegram), in the
reader's language through a `Translator`. Every output names the counting rule it shows.
Rendering a chart or a workbook takes a moment of CPU: callers in the bot run these functions
in a thread (`asyncio.to_thread`), which is safe because matplotlib is used through its
object-oriented API only (no pyplot and no global state).
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import html
from babel.dates import format_interval

from handlers.engine.forms import FORMS
from handlers.engine.render import Translator
from handlers.engine.text import N_, NP_
from handlers.engine.vocab import INCIDENT_TYPES, REGIONS
from storage.models import ReportStatus
from storage.stats import Basis, Counts, Dimension, Figures, Period, Scope

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.font_manager import FontProperties

# --- labels ----------------------------------------------------------------------------------

DIMENSION_LABELS = {
    Dimension.TYPE: N_("Type"),
    Dimension.REGION: N_("Region"),
    Dimension.STATUS: N_("Status"),
    Dimension.SOURCE: N_("Source"),
}

STATUS_LABELS = {
    ReportStatus.NEW.value: N_("New"),
    ReportStatus.IN_REVIEW.value: N_("In review"),
    ReportStatus.VERIFIED.value: N_("Verified"),
    ReportStatus.NEEDS_INFO.value: N_("Needs information"),
    ReportStatus.DUPLICATE.value: N_("Duplicate"),
    ReportStatus.REJECTED.value: N_("Rejected"),
    ReportStatus.CLOSED.value: N_("Closed"),
}

# In a list of figures "Prefer not to say" (the reporter's answer) reads as a place name; these
# say what the row counts.
REGION_LABELS_IN_FIGURES = {
    None: N_("Region not given"),
    "undisclosed": N_("Region not disclosed"),
}
NO_SOURCE = N_("No link (direct)")

RULE_SENTENCES = {
    (Scope.VERIFIED, Basis.INCIDENT): N_(
        "Counted: verified reports, duplicates excluded, by incident date."
    ),
    (Scope.VERIFIED, Basis.SUBMITTED): N_(
        "Counted: verified reports, duplicates excluded, by the date they were submitted."
    ),
    (Scope.UNVERIFIED_TOO, Basis.INCIDENT): N_(
        "Counted: all reports except rejected ones and duplicates (unverified included), "
        "by incident date."
    ),
    (Scope.UNVERIFIED_TOO, Basis.SUBMITTED): N_(
        "Counted: all reports except rejected ones and duplicates (unverified included), "
        "by the date they were submitted."
    ),
    (Scope.EVERY, Basis.INCIDENT): N_(
        "Counted: all reports in every status, duplicates and rejected included, by incident date."
    ),
    (Scope.EVERY, Basis.SUBMITTED): N_(
        "Counted: all reports in every status, duplicates and rejected included, "
        "by the date they were submitted."
    ),
}
TIME_ZONE_SENTENCE = N_("Days and weeks in {timezone} time.")

# One letter per incident type heads the table's columns: the first letter of the type's public
# report codes (D-7K3F is a detention), which moderators already know.
TYPE_ORDER = INCIDENT_TYPES.option_keys()
TYPE_CODES = {key: FORMS[key].code_prefix for key in TYPE_ORDER if key in FORMS}
STATUS_ORDER = tuple(status.value for status in ReportStatus)
REGION_ORDER = REGIONS.option_keys()

ZERO = "·"


def type_code(key: str | None) -> str:
    return TYPE_CODES.get(
        key or "", "?"
    )  # a zero cell: sparse tables read faster when the zeros recede


def label(dimension: Dimension, key: str | None, t: Translator) -> str:
    """The translated name of one value of a dimension (keys nobody knows are shown as is)."""
    if dimension == Dimension.TYPE:
        option = INCIDENT_TYPES.get(key) if key else None
        return t(option.label) if option else str(key)
    if dimension == Dimension.REGION:
        if key in REGION_LABELS_IN_FIGURES:
            return t(REGION_LABELS_IN_FIGURES[key])
        option = REGIONS.get(key) if key else None
        return t(option.label) if option else str(key)
    if dimension == Dimension.STATUS:
        return t(STATUS_LABELS[key]) if key in STATUS_LABELS else str(key)
    return str(key) if key else t(NO_SOURCE)


def _vocabulary_rank(dimension: Dimension, key: str | None) -> tuple[int, str]:
    order = {
        Dimension.TYPE: TYPE_ORDER,
        Dimension.REGION: REGION_ORDER,
        Dimension.STATUS: STATUS_ORDER,
    }.get(dimension, ())
    if key in order:
        return order.index(key), ""
    return len(order) + (1 if key is None else 0), key or ""


def ordered(
    dimension: Dimension, current: Counter[str | None], previous: Counter[str | None]
) -> list[str | None]:
    """Values with a count now or before: most reports first, then in vocabulary order."""
    keys = {key for key, n in current.items() if n} | {key for key, n in previous.items() if n}
    return sorted(keys, key=lambda k: (-current[k], -previous[k], *_vocabulary_rank(dimension, k)))


def rule_text(figures: Figures, t: Translator) -> str:
    rule = figures.rule
    return " ".join(
        (
            t(RULE_SENTENCES[(rule.scope, rule.basis)]),
            t(TIME_ZONE_SENTENCE, timezone=rule.timezone),
        )
    )


def dates_text(period: Period, t: Translator, *, long: bool = False) -> str:
    """`Nov 9 – 15, 2026` in the reader's language (CLDR interval patterns)."""
    skeleton = "yMMMMd" if long else "yMMMd"
    return format_interval(period.start, period.end, skeleton, locale=t.locale)


def period_title(period: Period, t: Translator) -> str:
    if period.is_iso_week:
        year, week, _ = period.start.isocalendar()
        return t(
            N_("Week {week} of {year}: {dates}"), week=week, year=year, dates=dates_text(period, t)
        )
    return t(N_("From {start} to {end}"), start=t.date(period.start), end=t.date(period.end))


def _previous_name(period: Period, t: Translator) -> str:
    return t(N_("Previous week")) if period.is_iso_week else t(N_("Previous period"))


def _current_name(period: Period, t: Translator) -> str:
    return t(N_("This week")) if period.is_iso_week else t(N_("This period"))


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else (str(n) if n < 0 else ZERO)


def _cell(n: int) -> str:
    return str(n) if n else ZERO


# Spreadsheet programs run a cell that starts with one of these as a formula. Text that comes
# from outside (a link's ref tag, a reporter's answers) gets a leading apostrophe: OWASP's advice
# against CSV injection.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- the table ---------------------------------------------------------------------------------

LABEL_WIDTH = 13  # with five type columns the table stays within ~36 characters: a phone's width


@dataclass(frozen=True)
class Table:
    heading: str
    rule: str
    rows: list[str]  # monospaced lines
    legend: str | None
    summary: str

    def as_text(self) -> str:
        parts = [self.heading, self.rule, "", *self.rows]
        if self.legend:
            parts += ["", self.legend]
        return "\n".join([*parts, "", self.summary])

    def as_html(self) -> str:
        parts = [
            html.bold(html.quote(self.heading)),
            html.italic(html.quote(self.rule)),
            "<pre>" + html.quote("\n".join(self.rows)) + "</pre>",
        ]
        if self.legend:
            parts.append(html.quote(self.legend))
        parts.append(html.quote(self.summary))
        return "\n".join(parts)


def _summary(figures: Figures, t: Translator) -> str:
    if figures.current.total == 0 and figures.previous.total == 0:
        return t(N_("No reports counted in this period or the one before."))
    forms = (
        NP_(
            "In total {n} report; the week before: {previous} ({change}).",
            "In total {n} reports; the week before: {previous} ({change}).",
        )
        if figures.period.is_iso_week
        else NP_(
            "In total {n} report; the period before: {previous} ({change}).",
            "In total {n} reports; the period before: {previous} ({change}).",
        )
    )
    change = _signed(figures.change) if figures.change else "±0"
    return t.plural(*forms, figures.current.total, previous=figures.previous.total, change=change)


def _all_types(current: Counts, previous: Counts) -> list[str | None]:
    """Every incident type, so a table's columns are the same from one week to the next."""
    unknown = set(current.by(Dimension.TYPE) | previous.by(Dimension.TYPE)) - set(TYPE_ORDER)
    return [*TYPE_ORDER, *sorted(unknown, key=str)]


def _cross_rows(figures: Figures, t: Translator) -> tuple[list[str], str]:
    current, previous = figures.current, figures.previous
    rows_dim = next(d for d in figures.dimensions if d != Dimension.TYPE)
    types = _all_types(current, previous)
    now_rows, before_rows = current.by(rows_dim), previous.by(rows_dim)
    keys = ordered(rows_dim, now_rows, before_rows)

    def count(counts: Counts, type_key: str | None, row_key: str | None) -> int:
        key = (type_key, row_key) if counts.dimensions[0] == Dimension.TYPE else (row_key, type_key)
        return counts.get(*key)

    type_now, type_before = current.by(Dimension.TYPE), previous.by(Dimension.TYPE)
    widths = [
        max(2, len(type_code(k)), len(str(type_now[k])), len(str(type_before[k]))) for k in types
    ]
    total_width = max(1, len(str(current.total)), len(str(previous.total)))
    change_width = max(2, *(len(_signed(now_rows[k] - before_rows[k])) for k in keys or [None]))
    change_width = max(change_width, len(_signed(figures.change)))
    labels = [label(rows_dim, k, t) for k in keys]
    extra = [t(DIMENSION_LABELS[rows_dim]), t(N_("Total")), t(N_("Previous"))]
    width = min(LABEL_WIDTH, max(len(x) for x in [*labels, *extra]))

    def line(name: str, cells: Sequence[str], total: str, change: str) -> str:
        body = " ".join(cell.rjust(w) for cell, w in zip(cells, widths, strict=True))
        return (
            f"{_fit(name, width).ljust(width)} {body} "
            f"{total.rjust(total_width)} {change.rjust(change_width)}"
        ).rstrip()

    rows = [line(extra[0], [type_code(k) for k in types], "Σ", "±")]
    for key, name in zip(keys, labels, strict=True):
        rows.append(
            line(
                name,
                [_cell(count(current, k, key)) for k in types],
                _cell(now_rows[key]),
                _signed(now_rows[key] - before_rows[key]),
            )
        )
    rows.append(
        line(
            extra[1],
            [_cell(type_now[k]) for k in types],
            _cell(current.total),
            _signed(figures.change),
        )
    )
    rows.append(line(extra[2], [_cell(type_before[k]) for k in types], _cell(previous.total), ""))
    legend = " · ".join(f"{type_code(k)} {label(Dimension.TYPE, k, t)}" for k in types)
    return rows, legend


def _single_rows(figures: Figures, t: Translator) -> list[str]:
    (dimension,) = figures.dimensions
    now, before = figures.current.by(dimension), figures.previous.by(dimension)
    keys = ordered(dimension, now, before)
    labels = [label(dimension, k, t) for k in keys]
    head = [t(DIMENSION_LABELS[dimension]), "Σ", t(N_("Previous")), "±"]
    total = [t(N_("Total")), _cell(figures.current.total), _cell(figures.previous.total)]
    body = [
        [name, _cell(now[k]), _cell(before[k]), _signed(now[k] - before[k])]
        for k, name in zip(keys, labels, strict=True)
    ]
    table = [head, *body, [*total, _signed(figures.change)]]
    width = min(2 * LABEL_WIDTH, max(len(row[0]) for row in table))
    widths = [max(len(row[i]) for row in table) for i in range(1, 4)]
    return [
        " ".join(
            [_fit(row[0], width).ljust(width)]
            + [cell.rjust(w) for cell, w in zip(row[1:], widths, strict=True)]
        ).rstrip()
        for row in table
    ]


def render_table(figures: Figures, t: Translator) -> Table:
    """The compact table: type x region (or one breakdown), totals, change on the period before."""
    if len(figures.dimensions) == 2 and Dimension.TYPE in figures.dimensions:
        rows, legend = _cross_rows(figures, t)
    elif len(figures.dimensions) == 1:
        rows, legend = _single_rows(figures, t), None
    else:
        raise ValueError(f"no table layout for {figures.dimensions}")
    return Table(
        heading=period_title(figures.period, t),
        rule=rule_text(figures, t),
        rows=rows,
        legend=legend,
        summary=_summary(figures, t),
    )


# --- CSV and XLSX ------------------------------------------------------------------------------


def tidy_rows(figures: Figures, t: Translator) -> tuple[list[str], list[list[Any]]]:
    """One row per combination counted now or before: the shape spreadsheets pivot best.

    Column names are stable English identifiers (for scripts and imports); the label columns
    are in the reader's language; every row names the period and the counting rule.
    """
    dims = figures.dimensions
    header = [
        "period",
        "period_start",
        "period_end",
        "date_basis",
        "statuses",
        *(d.value for d in dims),
        *(f"{d.value}_label" for d in dims),
        "count",
        "previous_count",
        "change",
        "rule",
    ]
    rule = figures.rule
    statuses = ",".join(rule.statuses) if rule.statuses is not None else "all"
    if rule.excludes_duplicates:
        statuses += " (no duplicates)"
    keys = set(figures.current.cells) | set(figures.previous.cells)

    def rank(key: tuple[str | None, ...]) -> tuple[Any, ...]:
        return tuple(_vocabulary_rank(d, k) for d, k in zip(dims, key, strict=True))

    description = rule_text(figures, t)
    rows: list[list[Any]] = []
    for key in sorted(keys, key=rank):
        now, before = figures.current.cells.get(key, 0), figures.previous.cells.get(key, 0)
        if not now and not before:
            continue
        rows.append(
            [
                figures.period.key,
                figures.period.start.isoformat(),
                figures.period.end.isoformat(),
                rule.basis.value,
                statuses,
                *(defuse(k or "") for k in key),
                *(defuse(label(d, k, t)) for d, k in zip(dims, key, strict=True)),
                now,
                before,
                now - before,
                description,
            ]
        )
    return header, rows


def render_csv(figures: Figures, t: Translator) -> bytes:
    """UTF-8 with a byte-order mark: Excel, which most coordinators open CSV files with, reads
    Cyrillic text as mojibake without it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header, rows = tidy_rows(figures, t)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def render_xlsx(figures: Figures, t: Translator) -> bytes:
    """A workbook with the readable table (translated headers, totals) and the tidy data."""
    # openpyxl ships no type hints and types-openpyxl is not a dependency.
    from openpyxl import Workbook  # type: ignore[import-untyped]  # noqa: PLC0415
    from openpyxl.styles import Font  # type: ignore[import-untyped]  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]  # noqa: PLC0415

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _fit(t(N_("Figures")), 31)
    sheet.append([period_title(figures.period, t)])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([rule_text(figures, t)])
    sheet.append([])
    bold = Font(bold=True)
    for row in _wide_rows(figures, t):
        sheet.append(row)
    for cell in sheet[4]:
        cell.font = bold
    for cell in sheet[sheet.max_row - 1]:
        cell.font = bold
    sheet.column_dimensions["A"].width = 32
    for index in range(2, sheet.max_column + 1):
        sheet.column_dimensions[get_column_letter(index)].width = 14
    sheet.freeze_panes = "B5"

    data = workbook.create_sheet("data")
    header, rows = tidy_rows(figures, t)
    data.append(header)
    for row in rows:
        data.append(row)
    for cell in data[1]:
        cell.font = bold
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _wide_rows(figures: Figures, t: Translator) -> list[list[Any]]:
    """Header, one row per value, then the totals and the previous period's totals."""
    current, previous = figures.current, figures.previous
    if len(figures.dimensions) == 1:
        (dimension,) = figures.dimensions
        now, before = current.by(dimension), previous.by(dimension)
        keys = ordered(dimension, now, before)
        head = [
            t(DIMENSION_LABELS[dimension]),
            _current_name(figures.period, t),
            _previous_name(figures.period, t),
            t(N_("Change")),
        ]
        body = [
            [defuse(label(dimension, k, t)), now[k], before[k], now[k] - before[k]] for k in keys
        ]
        return [
            head,
            *body,
            [t(N_("Total")), current.total, previous.total, figures.change],
            [],
        ]
    rows_dim = next(d for d in figures.dimensions if d != Dimension.TYPE)
    now_rows, before_rows = current.by(rows_dim), previous.by(rows_dim)
    types = _all_types(current, previous)
    type_first = figures.dimensions[0] == Dimension.TYPE

    def count(counts: Counts, type_key: str | None, row_key: str | None) -> int:
        return counts.get(type_key, row_key) if type_first else counts.get(row_key, type_key)

    head = [
        t(DIMENSION_LABELS[rows_dim]),
        *(label(Dimension.TYPE, k, t) for k in types),
        t(N_("Total")),
        _previous_name(figures.period, t),
        t(N_("Change")),
    ]
    body = [
        [
            defuse(label(rows_dim, key, t)),
            *(count(current, k, key) for k in types),
            now_rows[key],
            before_rows[key],
            now_rows[key] - before_rows[key],
        ]
        for key in ordered(rows_dim, now_rows, before_rows)
    ]
    type_now, type_before = current.by(Dimension.TYPE), previous.by(Dimension.TYPE)
    totals = [
        t(N_("Total")),
        *(type_now[k] for k in types),
        current.total,
        previous.total,
        figures.change,
    ]
    before_row = [_previous_name(figures.period, t), *(type_before[k] for k in types)]
    return [head, *body, totals, before_row]


# --- the chart ---------------------------------------------------------------------------------

CURRENT_COLOUR = "#1f5a96"
PREVIOUS_COLOUR = "#b9c6d3"
MAX_BARS = 10  # a phone shows ten labelled bars legibly; the rest are summed into one


def _bars(
    dimension: Dimension, figures: Figures, t: Translator
) -> tuple[list[str], list[int], list[int]]:
    now, before = figures.current.by(dimension), figures.previous.by(dimension)
    keys: list[str | None]
    if dimension == Dimension.TYPE:
        keys = [*TYPE_ORDER, *(k for k in ordered(dimension, now, before) if k not in TYPE_ORDER)]
    else:
        keys = ordered(dimension, now, before)
    labels = [label(dimension, k, t) for k in keys]
    current = [now[k] for k in keys]
    previous = [before[k] for k in keys]
    if len(keys) > MAX_BARS:
        keep = MAX_BARS - 1
        name = t(N_("Other regions")) if dimension == Dimension.REGION else t(N_("Other"))
        labels = [*labels[:keep], name]
        current = [*current[:keep], sum(current[keep:])]
        previous = [*previous[:keep], sum(previous[keep:])]
    return labels, current, previous


def _draw_panel(
    axes: Axes,
    title: str,
    bars: tuple[list[str], list[int], list[int]],
    names: tuple[str, str],
    font: FontProperties,
) -> None:
    labels, current, previous = bars
    positions = list(range(len(labels)))
    height = 0.38
    axes.barh(
        [p - height / 2 for p in positions], current, height, color=CURRENT_COLOUR, label=names[0]
    )
    axes.barh(
        [p + height / 2 for p in positions],
        previous,
        height,
        color=PREVIOUS_COLOUR,
        label=names[1],
    )
    top = max([*current, *previous, 1])
    for position, value in zip(positions, current, strict=True):
        axes.text(
            value + top * 0.01,
            position - height / 2,
            str(value),
            va="center",
            fontproperties=font,
            fontsize=13,
            fontweight="bold",
            color=CURRENT_COLOUR,
        )
    for position, value in zip(positions, previous, strict=True):
        axes.text(
            value + top * 0.01,
            position + height / 2,
            str(value),
            va="center",
            fontproperties=font,
            fontsize=11,
            color="#5b6b7b",
        )
    axes.set_yticks(positions)
    axes.set_yticklabels(
        [textwrap.fill(name, 22) for name in labels], fontproperties=font, fontsize=13
    )
    axes.invert_yaxis()
    axes.set_xlim(0, top * 1.15)
    axes.xaxis.set_visible(False)
    for side in ("top", "right", "bottom"):
        axes.spines[side].set_visible(False)
    axes.set_title(title, loc="left", fontproperties=font, fontsize=16, fontweight="bold")


def render_png(figures: Figures, t: Translator) -> bytes:
    """A bar chart for a phone screen: 1080 px wide, large type, this period against the last.

    DejaVu Sans ships with matplotlib and has every Kazakh and Russian letter, so the chart
    needs no system or network fonts.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.font_manager import FontProperties  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    font = FontProperties(family="DejaVu Sans")
    dimensions: list[Dimension] = [
        d for d in (Dimension.TYPE, Dimension.REGION) if d in figures.dimensions
    ]
    dimensions += [d for d in figures.dimensions if d not in dimensions]
    panels = [(d, _bars(d, figures, t)) for d in dimensions]
    names = (_current_name(figures.period, t), _previous_name(figures.period, t))
    bar_counts = [max(len(bars[0]), 1) for _, bars in panels]
    figure = Figure(figsize=(7.2, 2.6 + sum(0.62 * n + 0.9 for n in bar_counts)), dpi=150)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(len(panels), 1, height_ratios=bar_counts, hspace=0.35)
    figure.suptitle(
        period_title(figures.period, t),
        x=0.03,
        ha="left",
        fontproperties=font,
        fontsize=18,
        fontweight="bold",
    )
    figure.text(
        0.03,
        0.005,
        textwrap.fill(rule_text(figures, t), 80),
        fontproperties=font,
        fontsize=10,
        color="#333333",
        va="bottom",
    )
    panel_titles = {
        Dimension.TYPE: N_("By type"),
        Dimension.REGION: N_("By region"),
        Dimension.STATUS: N_("By status"),
        Dimension.SOURCE: N_("By source"),
    }
    for index, (dimension, bars) in enumerate(panels):
        axes = figure.add_subplot(grid[index])
        if not bars[0]:
            axes.axis("off")
            axes.text(
                0.5,
                0.5,
                t(N_("No reports counted in this period or the one before.")),
                ha="center",
                va="center",
                fontproperties=font,
                fontsize=14,
            )
            continue
        _draw_panel(axes, t(panel_titles[dimension]), bars, names, font)
    inches = figure.get_figheight()
    handles = [
        Patch(color=CURRENT_COLOUR, label=names[0]),
        Patch(color=PREVIOUS_COLOUR, label=names[1]),
    ]
    figure.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.02, 1 - 0.55 / inches),
        ncol=2,
        frameon=False,
        prop=FontProperties(family="DejaVu Sans", size=13),
    )
    # Fixed margins in inches (not fractions) so the title and the rule note never overlap the
    # bars however many rows the chart has.
    figure.subplots_adjust(left=0.36, right=0.97, top=1 - 1.35 / inches, bottom=0.55 / inches)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


# --- the Facebook group post ------------------------------------------------------------------

FACEBOOK_TOP_REGIONS = 5


def render_facebook_post(figures: Figures, t: Translator) -> str:
    """Ready-to-post text for the coalition's Facebook group: figures only, no personal data."""
    week = figures.period.is_iso_week
    current, previous = figures.current, figures.previous
    lines = [
        t(
            N_("Persecution in Kazakhstan: documented cases, {dates}"),
            dates=dates_text(figures.period, t, long=True),
        ),
        "",
        t.plural(
            *(
                NP_(
                    "Over the week the monitoring group documented {n} case of persecution.",
                    "Over the week the monitoring group documented {n} cases of persecution.",
                )
                if week
                else NP_(
                    "Over the period the monitoring group documented {n} case of persecution.",
                    "Over the period the monitoring group documented {n} cases of persecution.",
                )
            ),
            current.total,
        ),
        t(N_("The week before: {n}."), n=previous.total)
        if week
        else t(N_("The period before: {n}."), n=previous.total),
    ]
    by_type = current.by(Dimension.TYPE)
    type_lines = [
        f"— {label(Dimension.TYPE, key, t)}: {by_type[key]}"
        for key in sorted(by_type, key=lambda k: _vocabulary_rank(Dimension.TYPE, k))
        if by_type[key]
    ]
    if type_lines:
        lines += ["", t(N_("By type of persecution:")), *type_lines]
    by_region = current.by(Dimension.REGION) if Dimension.REGION in figures.dimensions else None
    if by_region:
        keys = ordered(Dimension.REGION, by_region, Counter())
        shown = keys[:FACEBOOK_TOP_REGIONS]
        lines += ["", t(N_("By region:"))]
        lines += [f"— {label(Dimension.REGION, key, t)}: {by_region[key]}" for key in shown]
        rest = sum(by_region[key] for key in keys[FACEBOOK_TOP_REGIONS:])
        if rest:
            lines.append(f"— {t(N_('Other regions'))}: {rest}")
    lines += ["", rule_text(figures, t)]
    return "\n".join(lines)


# --- what /stats sends -------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedFigures:
    html: str
    png: bytes
    csv: bytes
    stem: str  # file name without extension


def file_stem(figures: Figures) -> str:
    stem = f"reportbot-{figures.period.key.replace('..', '_to_')}"
    if figures.dimensions != (Dimension.TYPE, Dimension.REGION):
        stem += "-by-" + "-".join(d.name.lower() for d in figures.dimensions)
    if figures.rule.basis == Basis.SUBMITTED:
        stem += "-submitted"
    return stem


def render_all(figures: Figures, t: Translator) -> RenderedFigures:
    """Table, chart and CSV together (CPU work: run it in a thread from async code)."""
    return RenderedFigures(
        html=render_table(figures, t).as_html(),
        png=render_png(figures, t),
        csv=render_csv(figures, t),
        stem=file_stem(figures),
    )
