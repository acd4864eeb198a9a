"""`reportbot export` and `reportbot stats` as a coordinator runs them.

The export opens the sealed archive with the organisation's private key: a canary name and text
sealed by the bot come back in clear, in every format, and only with the right key.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from openpyxl import load_workbook

from bot.cli import main
from bot.reporting.export import Progress, export_columns
from storage.db import create_engine, create_sessionmaker
from storage.models import Report
from storage.sealing import Keyring

CANARY_NAME = "Canary Qanarbekuly"
CANARY_TEXT = '=HYPERLINK("http://evil") they came at dawn, Әсел saw it'
ROOT = Path(__file__).resolve().parent.parent


def _payload(form: str, answers: dict[str, object]) -> dict[str, object]:
    return {
        "version": 1,
        "form": form,
        "answers": answers,
        "language": "ru",
        "channel": "telegram",
        "submitted_at": "2026-11-12T10:00:00+00:00",
    }


@pytest.fixture
async def archive(migrated_url: str, keyring: Keyring) -> str:
    engine = create_engine(migrated_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            detention = Report(
                public_code="D-7K3F",
                channel="telegram",
                incident_type="detention",
                region="almaty",
                incident_date=dt.date(2026, 11, 12),
                urgent=True,
                status="verified",
                language="ru",
                consent="anonymised",
                contact="chat",
                sealed_payload=keyring.seal(
                    _payload(
                        "detention",
                        {
                            "relation": "family",
                            "subject": CANARY_NAME,
                            "when": "2026-11-12T07:30:00+05:00",
                            "region": "almaty",
                            "agency": "knb",
                            "held_where": "ivs",
                            "account": CANARY_TEXT,
                            "media": [{"kind": "photo", "file_id": "AgAD-photo"}],
                            "contact": "chat",
                            "consent": "anonymised",
                        },
                    )
                ),
                key_id=keyring.org_key_id,
                created_at=dt.datetime(2026, 11, 12, 5, tzinfo=dt.UTC),
            )
            session.add(detention)
            await session.flush()
            session.add(
                Report(
                    public_code="S-4M9Q",
                    channel="telegram",
                    source="fbgroup",
                    incident_type="search",
                    region="shymkent",
                    incident_date=dt.date(2026, 11, 13),
                    status="duplicate",
                    duplicate_of_id=detention.id,
                    language="kk",
                    sealed_payload=keyring.seal(
                        _payload(
                            "search",
                            {
                                "subject": "Серік",
                                "when": "2026-11-13",
                                "seized": ["phones", "computers"],
                            },
                        )
                    ),
                    key_id=keyring.org_key_id,
                    created_at=dt.datetime(2026, 11, 13, 5, tzinfo=dt.UTC),
                )
            )
    finally:
        await engine.dispose()
    return migrated_url


@pytest.fixture
def key_file(tmp_path: Path, org_private_key: PrivateKey) -> Path:
    path = tmp_path / "org_private.key"
    path.write_text(base64.b64encode(bytes(org_private_key)).decode() + "\n")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for variable in ("BOT_TOKEN", "MODERATOR_CHAT_ID", "ORG_PUBLIC_KEY", "SERVER_KEY", "ADMIN_IDS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_csv_export_round_trips_the_sealed_canary(
    archive: str, key_file: Path, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    env.setenv("DATABASE_URL", archive)
    output = tmp_path / "reports.csv"
    assert main(["export", "--private-key", str(key_file), "--output", str(output)]) == 0
    assert output.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "reports.csv.partial").exists()
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    assert list(rows[0]) == [column.name for column in export_columns()]
    first, second = rows
    assert first["subject"] == CANARY_NAME
    # Text a spreadsheet would run as a formula is kept, but inert.
    assert first["account"] == "'" + CANARY_TEXT
    assert first["title"] == "D-7K3F Detention 2026-11-12"
    assert first["status"] == "Verified"
    assert first["region"] == "Almaty"
    assert first["agency"] == "National Security (KNB)"
    assert first["when"] == "2026-11-12 07:30"
    assert first["media"] == "photo:AgAD-photo"
    assert first["consent"] == "Only anonymised"
    assert first["urgent"] == "yes"
    assert first["incident_week"] == "2026-W46"
    assert first["received_at"] == "2026-11-12T05:00:00+00:00"
    assert second["duplicate_of"] == "D-7K3F"
    assert second["status"] == "Duplicate"
    assert second["seized"] == "Phones|Computers"
    assert second["source"] == "fbgroup"
    assert second["held_where"] == ""


def test_jsonl_and_xlsx_exports(
    archive: str, key_file: Path, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    env.setenv("DATABASE_URL", archive)
    jsonl = tmp_path / "reports.jsonl"
    args = ["export", "--private-key", str(key_file), "--format", "jsonl", "--output", str(jsonl)]
    assert main(args) == 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert records[0]["answers"]["subject"] == CANARY_NAME
    assert records[0]["answers"]["agency"] == "knb"  # JSONL keeps the stored keys
    assert records[1]["duplicate_of"] == "D-7K3F"

    xlsx = tmp_path / "reports.xlsx"
    args = ["export", "--private-key", str(key_file), "--format", "xlsx", "--output", str(xlsx)]
    assert main([*args, "--language", "ru"]) == 0
    sheet = load_workbook(xlsx).active
    assert sheet is not None
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header = rows[0]
    assert header == [column.name for column in export_columns()]
    first = dict(zip(header, rows[1], strict=True))
    assert first["subject"] == CANARY_NAME
    assert first["account"] == CANARY_TEXT  # a text cell, not a formula
    assert sheet.cell(row=2, column=header.index("account") + 1).data_type == "s"
    assert first["region"] == "Алматы"


def test_a_wrong_key_is_one_clear_line(
    archive: str, tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DATABASE_URL", archive)
    wrong = tmp_path / "other.key"
    wrong.write_text(base64.b64encode(bytes(PrivateKey.generate())).decode())
    output = tmp_path / "reports.csv"
    assert main(["export", "--private-key", str(wrong), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("reportbot: the private key does not open this archive")
    assert "Traceback" not in err
    assert not output.exists()
    assert not (tmp_path / "reports.csv.partial").exists()


@pytest.mark.parametrize("content", [None, "not a key", base64.b64encode(b"short").decode()])
def test_an_unreadable_key_file_is_one_clear_line(
    archive: str,
    tmp_path: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
) -> None:
    env.setenv("DATABASE_URL", archive)
    key = tmp_path / "missing.key"
    if content is not None:
        key.write_text(content)
    assert main(["export", "--private-key", str(key), "--output", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_progress_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(200, stream, enabled=True)
    for _ in range(200):
        progress.advance()
    progress.finish()
    out = stream.getvalue()
    assert out.count("\r") == 101  # one redraw per percent, not per report
    assert out.endswith("export [" + "#" * 30 + "] 100% 200/200\n")
    quiet = io.StringIO()
    Progress(5, quiet).advance()  # not a terminal: nothing
    assert quiet.getvalue() == ""


def test_readme_documents_every_export_column() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Figures and exports", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))
    assert {column.name for column in export_columns()} <= documented


# --- reportbot stats ---------------------------------------------------------------------------


def test_stats_table_csv_xlsx_png(
    archive: str, tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("DATABASE_URL", archive)
    assert main(["stats", "--week", "2026-W46"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Week 46 of 2026")
    assert "Counted: verified reports, duplicates excluded, by incident date." in out
    assert "In total 1 report; the week before: 0 (+1)." in out

    assert main(["stats", "--week", "2026-W46", "--by", "status", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    assert {row["status"]: row["count"] for row in rows} == {"verified": "1", "duplicate": "1"}
    assert {row["statuses"] for row in rows} == {"all"}

    assert main(["stats", "--from", "2026-11-01", "--to", "2026-11-30", "--submitted",
                 "--all-statuses", "--by", "source", "--format", "csv"]) == 0  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    assert [(row["source"], row["count"]) for row in rows] == [("", "1")]  # the duplicate is out
    assert rows[0]["date_basis"] == "submitted_at"

    assert main(["stats", "--week", "2026-W46", "--format", "xlsx"]) == 0
    assert load_workbook(tmp_path / "reportbot-2026-W46.xlsx").worksheets[0]["A1"].value
    png = tmp_path / "chart.png"
    assert main(["stats", "--week", "2026-W46", "--format", "png", "--output", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-W60"], "2026 has no ISO week 60"),
        (["--from", "2026-11-01"], "--from and --to go together"),
        (["--week", "2026-W46", "--from", "2026-11-01", "--to", "2026-11-02"], "either --week"),
    ],
)
def test_stats_argument_errors_are_one_line(
    archive: str,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    env.setenv("DATABASE_URL", archive)
    assert main(["stats", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_stats_without_a_database_says_where_it_looked(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("DATABASE_URL", raising=False)
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reportbot: no database at ")
    assert err.count("\n") == 1
