"""`reportbot stats` and `reportbot export`: coordinators' figures and the decrypted archive.

Both read the database directly (DATABASE_URL, or the embedded one under DATA_DIR) and need no
bot token. `export` runs where the organisation's private key is, never on the bot's host.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.settings import LANGUAGES, ConfigError, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from handlers.engine.render import Translator
    from storage.stats import Figures, Period

# The rest is imported inside the commands: `reportbot run`, `migrate` and `keygen` should not
# pay for aiogram, SQLAlchemy's dialects and matplotlib at every start.

BREAKDOWNS = ("type", "region", "status", "source")


def _print(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _database_url(settings: Settings) -> str:
    from storage.db import is_sqlite  # noqa: PLC0415

    url = settings.effective_database_url
    if is_sqlite(url) and settings.database_url is None:
        path = (settings.data_dir / "reportbot.db").resolve()
        if not path.exists():
            # Opening it would create an empty database and then fail on a missing table.
            raise ConfigError(
                f"no database at {path}: set DATABASE_URL, or DATA_DIR to the bot's data folder."
            )
    return url


T = TypeVar("T")


async def _with_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from storage.db import create_engine, create_sessionmaker  # noqa: PLC0415

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    except DBAPIError as exc:
        raise ConfigError(
            f"cannot read the database ({type(exc.orig).__name__}); is it migrated "
            "(`reportbot migrate`) and is DATABASE_URL right?"
        ) from None
    finally:
        await engine.dispose()


def _period(settings: Settings, args: argparse.Namespace) -> Period:
    from storage.models import utcnow  # noqa: PLC0415
    from storage.stats import Period, PeriodError  # noqa: PLC0415

    try:
        if args.week:
            if args.date_from or args.date_to:
                raise ConfigError("use either --week or --from/--to, not both.")
            return Period.parse_week(args.week)
        if args.date_from or args.date_to:
            if not (args.date_from and args.date_to):
                raise ConfigError(
                    "--from and --to go together (e.g. --from 2026-11-01 --to 2026-11-30)."
                )
            return Period.parse_range(args.date_from, args.date_to)
    except PeriodError as exc:
        raise ConfigError(f"{exc}.") from None
    return Period.last_complete_week(utcnow(), settings.tz)


def _translator(settings: Settings, language: str) -> Translator:
    from bot.i18n import create_i18n  # noqa: PLC0415
    from handlers.engine.render import Translator  # noqa: PLC0415

    return Translator(create_i18n(), language, settings.tz)


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from bot.reporting import figures as render  # noqa: PLC0415
    from storage.stats import (  # noqa: PLC0415
        DEFAULT_DIMENSIONS,
        CountRule,
        Dimension,
        StatsRepository,
        rule_for,
    )

    period = _period(settings, args)
    dimensions = (Dimension[args.by.upper()],) if args.by else DEFAULT_DIMENSIONS
    basis, scope = rule_for(
        dimensions, submitted=args.submitted, include_unverified=args.all_statuses
    )
    rule = CountRule(basis, scope, settings.timezone)

    async def load(session: AsyncSession) -> Figures:
        return await StatsRepository(session).figures(period, rule, dimensions)

    figures = asyncio.run(_with_session(_database_url(settings), load))
    t = _translator(settings, args.language)
    fmt = args.format
    if fmt == "table":
        data = (render.render_table(figures, t).as_text() + "\n").encode()
    elif fmt == "csv":
        data = render.render_csv(figures, t)
    elif fmt == "xlsx":
        data = render.render_xlsx(figures, t)
    else:
        data = render.render_png(figures, t)
    output: Path | None = args.output
    if output is None and fmt in ("xlsx", "png"):
        output = Path(f"{render.file_stem(figures)}.{fmt}")
    if output is None or str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}.") from None
    _print(f"wrote {output} ({rule.describe()})", err=True)
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from bot.keys import load_private_key  # noqa: PLC0415
    from bot.reporting.export import ExportFormat, write_export  # noqa: PLC0415
    from storage.db import create_engine, create_sessionmaker  # noqa: PLC0415

    keys = [load_private_key(path) for path in args.private_key]
    output: Path = args.output
    if not output.parent.exists():
        raise ConfigError(f"cannot write {output}: the folder {output.parent} does not exist.")
    t = _translator(settings, args.language)
    url = _database_url(settings)

    async def run() -> int:
        engine = create_engine(url)
        try:
            return await write_export(
                create_sessionmaker(engine),
                keys,
                fmt=ExportFormat(args.format),
                output=output,
                t=t,
            )
        except DBAPIError as exc:
            raise ConfigError(
                f"cannot read the database ({type(exc.orig).__name__}); is DATABASE_URL right?"
            ) from None
        finally:
            await engine.dispose()

    count = asyncio.run(run())
    _print(
        f"exported {count} report(s) to {output}; it holds personal data: keep it safe.", err=True
    )
    return 0


def add_figure_commands(sub: Any) -> None:
    """The `stats` and `export` subcommands (`sub` is build_parser's subparsers object)."""
    stats = sub.add_parser(
        "stats",
        help="counts by type, region, status or source for a week or a date range",
        description=(
            "By default: the last complete ISO week, verified reports without duplicates, "
            "by incident date, in TIMEZONE (Asia/Almaty)."
        ),
    )
    stats.add_argument("--week", help="an ISO week, e.g. 2026-W46")
    stats.add_argument("--from", dest="date_from", metavar="DATE", help="first day, 2026-11-01")
    stats.add_argument("--to", dest="date_to", metavar="DATE", help="last day (included)")
    stats.add_argument(
        "--by",
        choices=BREAKDOWNS,
        help="one breakdown instead of the type x region table (status counts every report)",
    )
    stats.add_argument(
        "--format", choices=("table", "csv", "xlsx", "png"), default="table", help="(table)"
    )
    stats.add_argument(
        "--output", type=Path, help="file to write (default: stdout; xlsx/png: a named file)"
    )
    stats.add_argument(
        "--submitted", action="store_true", help="count by submission date, not incident date"
    )
    stats.add_argument(
        "--all-statuses",
        action="store_true",
        help="include unverified reports (still without rejected reports and duplicates)",
    )
    stats.add_argument("--language", choices=LANGUAGES, default="en", help="labels (en)")
    stats.set_defaults(func=cmd_stats)

    export = sub.add_parser(
        "export",
        help="decrypt every report offline into CSV, JSONL or XLSX (needs the private key)",
        description="Columns are listed in README.md, section 'Figures and exports'.",
    )
    export.add_argument(
        "--private-key",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="the organisation's private key (repeat for keys used before a rotation)",
    )
    export.add_argument("--format", choices=("csv", "jsonl", "xlsx"), default="csv")
    export.add_argument("--output", type=Path, required=True, help="file to write")
    export.add_argument("--language", choices=LANGUAGES, default="en", help="labels (en)")
    export.set_defaults(func=cmd_export)
