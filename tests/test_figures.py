"""Rendering figures: the phone table, CSV, XLSX, the PNG chart and the Facebook post."""

from __future__ import annotations

import csv
import io
import struct
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.i18n import create_i18n
from bot.reporting.figures import (
    RULE_SENTENCES,
    defuse,
    file_stem,
    render_csv,
    render_facebook_post,
    render_png,
    render_table,
    render_xlsx,
)
from handlers.engine.render import Translator
from storage.stats import (
    Basis,
    CountRule,
    Counts,
    Dimension,
    Figures,
    Period,
    Scope,
)

W46 = Period.iso_week(2026, 46)
# CLDR's interval pattern puts thin spaces around the dash.
W46_TITLE = "Week 46 of 2026: Nov 9\u2009–\u200915, 2026"
TYPE_REGION = (Dimension.TYPE, Dimension.REGION)


@pytest.fixture(scope="module")
def i18n() -> object:
    return create_i18n()


def tr(i18n: object, language: str) -> Translator:
    return Translator(i18n, language, ZoneInfo("Asia/Almaty"))  # type: ignore[arg-type]


def figures_of(
    now: dict[tuple[str | None, ...], int],
    before: dict[tuple[str | None, ...], int],
    *,
    period: Period = W46,
    dimensions: tuple[Dimension, ...] = TYPE_REGION,
    rule: CountRule | None = None,
) -> Figures:
    rule = rule or CountRule()
    return Figures(
        Counts(period, rule, dimensions, now), Counts(period.previous(), rule, dimensions, before)
    )


WEEK = figures_of(
    {
        ("detention", "almaty"): 3,
        ("search", "almaty"): 1,
        ("detention", "astana"): 12,
        ("account_freeze", None): 2,
        ("summons", "north_kazakhstan"): 1,
    },
    {("detention", "almaty"): 1, ("search", "shymkent"): 4},
)


def test_table_is_narrow_with_totals_and_change(i18n: object) -> None:
    table = render_table(WEEK, tr(i18n, "en"))
    assert table.heading == W46_TITLE
    assert table.rule.startswith("Counted: verified reports, duplicates excluded, by incident")
    assert "Asia/Almaty" in table.rule
    assert table.rows == [
        "Region         D  S  F  C  X  Σ   ±",
        "Astana        12  ·  ·  ·  · 12 +12",
        "Almaty         3  1  ·  ·  ·  4  +3",
        "Region not g…  ·  ·  2  ·  ·  2  +2",
        "North Kazakh…  ·  ·  ·  1  ·  1  +1",
        "Shymkent       ·  ·  ·  ·  ·  ·  -4",
        "Total         15  1  2  1  · 19 +14",
        "Previous       1  4  ·  ·  ·  5",
    ]
    # Fits a phone held upright (Telegram shows about 36 monospaced characters).
    assert max(len(row) for row in table.rows) <= 36
    assert table.legend is not None
    assert "D Detention" in table.legend
    assert table.summary == "In total 19 reports; the week before: 5 (+14)."


def test_table_in_russian_uses_plural_forms_and_translated_labels(i18n: object) -> None:
    t = tr(i18n, "ru")
    table = render_table(WEEK, t)
    assert table.rows[1].startswith("Астана")
    one = figures_of({("detention", "almaty"): 1}, {}, dimensions=TYPE_REGION)
    two = figures_of({("detention", "almaty"): 2}, {})
    five = figures_of({("detention", "almaty"): 5}, {})
    summaries = [render_table(f, t).summary for f in (one, two, five)]
    assert summaries[0] != summaries[1] != summaries[2]
    assert "1 обращение" in summaries[0]
    assert "2 обращения" in summaries[1]
    assert "5 обращений" in summaries[2]


def test_table_html_escapes_values_from_outside(i18n: object) -> None:
    by_source = figures_of({("<b>grp</b>",): 2, (None,): 1}, {}, dimensions=(Dimension.SOURCE,))
    html = render_table(by_source, tr(i18n, "en")).as_html()
    assert "&lt;b&gt;grp&lt;/b&gt;" in html
    assert "<b>grp" not in html
    assert html.count("<pre>") == 1


def test_every_rule_is_stated_in_every_language(i18n: object) -> None:
    for scope in Scope:
        for basis in Basis:
            figures = figures_of({}, {}, rule=CountRule(basis, scope))
            for language in ("kk", "ru", "en"):
                t = tr(i18n, language)
                text = render_table(figures, t).as_text()
                assert t(RULE_SENTENCES[(scope, basis)]) in text


def test_csv_is_tidy_and_names_the_rule(i18n: object) -> None:
    data = render_csv(WEEK, tr(i18n, "ru"))
    assert data.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read Cyrillic
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == [
        "period",
        "period_start",
        "period_end",
        "date_basis",
        "statuses",
        "incident_type",
        "region",
        "incident_type_label",
        "region_label",
        "count",
        "previous_count",
        "change",
        "rule",
    ]
    by_cell = {(row["incident_type"], row["region"]): row for row in rows}
    assert len(rows) == 6
    almaty = by_cell[("detention", "almaty")]
    assert (almaty["count"], almaty["previous_count"], almaty["change"]) == ("3", "1", "2")
    assert almaty["region_label"] == "Алматы"
    assert almaty["period"] == "2026-W46"
    assert almaty["date_basis"] == "incident_date"
    assert almaty["statuses"] == "verified (no duplicates)"
    assert by_cell[("search", "shymkent")]["count"] == "0"
    assert by_cell[("account_freeze", "")]["region"] == ""
    assert sum(int(row["count"]) for row in rows) == 19


def test_csv_cells_cannot_become_formulas(i18n: object) -> None:
    by_source = figures_of({("=HYPERLINK(1)",): 1}, {}, dimensions=(Dimension.SOURCE,))
    data = render_csv(by_source, tr(i18n, "en")).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in data
    assert defuse("-1") == "'-1"
    assert defuse("Almaty") == "Almaty"


def test_xlsx_opens_with_table_and_data_sheets(i18n: object) -> None:
    workbook = load_workbook(io.BytesIO(render_xlsx(WEEK, tr(i18n, "en"))))
    table, data = workbook.worksheets
    assert table["A1"].value == W46_TITLE
    assert str(table["A2"].value).startswith("Counted: verified reports")
    header = [cell.value for cell in table[4]]
    assert header == [
        "Region",
        "Detention",
        "Search",
        "Frozen bank account",
        "Summons for questioning",
        "Other persecution",
        "Total",
        "Previous week",
        "Change",
    ]
    rows = [[cell.value for cell in row] for row in table.iter_rows(min_row=5)]
    assert rows[0] == ["Astana", 12, 0, 0, 0, 0, 12, 0, 12]
    assert rows[-2] == ["Total", 15, 1, 2, 1, 0, 19, 5, 14]
    assert rows[-1][:6] == ["Previous week", 1, 4, 0, 0, 0]
    data_rows = [[cell.value for cell in row] for row in data.iter_rows()]
    assert data_rows[0][:5] == ["period", "period_start", "period_end", "date_basis", "statuses"]
    assert len(data_rows) == 7


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_png_chart_renders_for_a_phone(i18n: object, language: str) -> None:
    from matplotlib.image import imread  # noqa: PLC0415

    data = render_png(WEEK, tr(i18n, language))
    width, height = _png_size(data)
    assert width == 1080  # a phone screen's width, so nothing is scaled down
    assert height > width
    assert len(data) > 30_000
    pixels = imread(io.BytesIO(data))
    ink = (pixels[:, :, :3].mean(axis=2) < 0.9).mean()
    assert 0.03 < ink < 0.6  # bars and words, neither blank nor a solid block


def test_png_of_an_empty_period_still_renders(i18n: object) -> None:
    data = render_png(figures_of({}, {}), tr(i18n, "en"))
    assert _png_size(data)[0] == 1080
    assert len(data) > 10_000


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_facebook_post_has_figures_only(i18n: object, language: str) -> None:
    t = tr(i18n, language)
    post = render_facebook_post(WEEK, t)
    assert "19" in post
    assert f"— {t('Detention')}: 15" in post
    assert f"— {t('Astana')}: 12" in post
    assert t(RULE_SENTENCES[(Scope.VERIFIED, Basis.INCIDENT)]) in post
    assert "<" not in post


def test_file_names_say_what_they_hold() -> None:
    assert file_stem(WEEK) == "reportbot-2026-W46"
    month = figures_of(
        {},
        {},
        period=Period.parse_range("2026-11-01", "2026-11-30"),
        dimensions=(Dimension.STATUS,),
        rule=CountRule(Basis.SUBMITTED, Scope.EVERY),
    )
    assert file_stem(month) == "reportbot-2026-11-01_to_2026-11-30-by-status-submitted"
