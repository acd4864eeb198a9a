"""The counting rules behind every figure coordinators publish, in one place.

What is counted (README, "Figures and exports"):

- Reports are grouped into periods of Almaty-local days (the display time zone, `TIMEZONE`);
  a week is an ISO week, Monday to Sunday.
- By default a report counts in the period of its *incident date* (the date the detention,
  search, freeze or summons happened, as the reporter gave it). With `Basis.SUBMITTED` it
  counts in the period in which it reached the bot instead (`created_at`, converted to the
  local day). Reports without an incident date can only be counted by submission date.
- By default only *verified* reports count, and never a duplicate (status `duplicate`, or a
  `duplicate_of` link). `Scope.UNVERIFIED_TOO` adds reports still waiting for or under review
  (`new`, `in_review`, `needs_info`) and `closed` ones, still without duplicates or rejected
  reports. `Scope.EVERY` counts every report whatever its status, duplicates and rejected
  included: it is the basis of the breakdown by status, where nothing is hidden.
- A `closed` report does not count as verified: a report can be closed after verification,
  but also after a request for information that was never answered, or after rejection.

Queries read only the clear facet columns (never the sealed payload) and are served by the
covering indexes created in migration 0002: `ix_reports_stats_incident` (status, incident date,
then the facets) and `ix_reports_stats_submitted` (submission time, status, then the facets). A
week's query reads that week's index entries and never the table (bench/README.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import Report, ReportStatus


class Basis(enum.StrEnum):
    """Which date places a report in a period."""

    INCIDENT = "incident_date"
    SUBMITTED = "submitted_at"


class Scope(enum.StrEnum):
    """Which reports count, by triage status."""

    VERIFIED = "verified"
    UNVERIFIED_TOO = "not_rejected"
    EVERY = "every"


class Dimension(enum.StrEnum):
    """A clear facet figures can be broken down by (the value is the column name)."""

    TYPE = "incident_type"
    REGION = "region"
    STATUS = "status"
    SOURCE = "source"


# The single place that says which statuses each scope counts; None means no status filter.
SCOPE_STATUSES: dict[Scope, tuple[str, ...] | None] = {
    Scope.VERIFIED: (ReportStatus.VERIFIED.value,),
    Scope.UNVERIFIED_TOO: (
        ReportStatus.NEW.value,
        ReportStatus.IN_REVIEW.value,
        ReportStatus.NEEDS_INFO.value,
        ReportStatus.VERIFIED.value,
        ReportStatus.CLOSED.value,
    ),
    Scope.EVERY: None,
}

# Longest range /stats and the command line accept: one year and a day covers any calendar
# year, leap or not, and keeps a careless range from scanning the whole archive.
MAX_PERIOD_DAYS = 367

_WEEK_KEY = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


class PeriodError(ValueError):
    """A week or date range that cannot be used (malformed, reversed or too long)."""


@dataclass(frozen=True, order=True)
class Period:
    """Almaty-local days from `start` to `end`, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError("the period ends before it starts")
        if self.days > MAX_PERIOD_DAYS:
            raise PeriodError(f"the period is longer than {MAX_PERIOD_DAYS} days")

    @classmethod
    def iso_week(cls, year: int, week: int) -> Period:
        try:
            monday = dt.date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise PeriodError(f"{year} has no ISO week {week}") from exc
        return cls(monday, monday + dt.timedelta(days=6))

    @classmethod
    def week_of(cls, day: dt.date) -> Period:
        year, week, _ = day.isocalendar()
        return cls.iso_week(year, week)

    @classmethod
    def parse_week(cls, text: str) -> Period:
        """`2026-W46` (also `2026W46`, `2026-w46`)."""
        match = _WEEK_KEY.match(text.strip())
        if match is None:
            raise PeriodError(f"not an ISO week like 2026-W46: {text!r}")
        return cls.iso_week(int(match.group(1)), int(match.group(2)))

    @classmethod
    def parse_range(cls, start: str, end: str) -> Period:
        """Two ISO dates, `2026-11-01 2026-11-30`, both days included."""
        try:
            first, last = dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip())
        except ValueError as exc:
            raise PeriodError("dates must look like 2026-11-01") from exc
        return cls(first, last)

    @classmethod
    def last_complete_week(cls, now: dt.datetime, tz: dt.tzinfo) -> Period:
        """The ISO week before the one `now` falls in, in local time."""
        today = now.astimezone(tz).date()
        return cls.week_of(today - dt.timedelta(days=today.isoweekday()))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def is_iso_week(self) -> bool:
        return self.start.isoweekday() == 1 and self.days == 7

    @property
    def key(self) -> str:
        """`2026-W46` for an ISO week, else `2026-11-01..2026-11-30`."""
        if self.is_iso_week:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def previous(self) -> Period:
        """The period of the same length right before this one (the previous week for a week)."""
        length = dt.timedelta(days=self.days)
        return Period(self.start - length, self.end - length)

    def following(self) -> Period:
        """The period of the same length right after this one."""
        length = dt.timedelta(days=self.days)
        return Period(self.start + length, self.end + length)

    def utc_bounds(self, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
        """[from, to) in UTC covering the local days, for comparing with UTC timestamps.

        Computed here rather than with SQL time zone functions, which SQLite lacks: the same
        comparison then runs on both backends and can use the index on created_at.
        """
        first = dt.datetime.combine(self.start, dt.time(0), tzinfo=tz)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        return first.astimezone(dt.UTC), after.astimezone(dt.UTC)


def parse_period(text: str | None, *, now: dt.datetime, tz: dt.tzinfo) -> Period:
    """What `/stats` accepts: nothing (the last complete week), `2026-W46`, or two dates."""
    words = (text or "").split()
    if not words:
        return Period.last_complete_week(now, tz)
    if len(words) == 1:
        return Period.parse_week(words[0])
    if len(words) == 2:
        return Period.parse_range(*words)
    raise PeriodError("expected a week like 2026-W46 or two dates")


@dataclass(frozen=True)
class CountRule:
    """Which reports count and which date places them in a period."""

    basis: Basis = Basis.INCIDENT
    scope: Scope = Scope.VERIFIED
    timezone: str = "Asia/Almaty"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def statuses(self) -> tuple[str, ...] | None:
        return SCOPE_STATUSES[self.scope]

    @property
    def excludes_duplicates(self) -> bool:
        return self.scope != Scope.EVERY

    def describe(self) -> str:
        """The rule in one English sentence, for files and logs (the bot translates its own)."""
        what = {
            Scope.VERIFIED: "verified reports, duplicates excluded",
            Scope.UNVERIFIED_TOO: (
                "all reports except rejected ones and duplicates (unverified included)"
            ),
            Scope.EVERY: "all reports in every status, duplicates and rejected included",
        }[self.scope]
        when = {
            Basis.INCIDENT: "by incident date",
            Basis.SUBMITTED: "by submission date",
        }[self.basis]
        return f"{what}; {when}; days and ISO weeks in {self.timezone} time"

    def conditions(self, period: Period) -> list[ColumnElement[bool]]:
        """The WHERE clause of this rule for one period."""
        where: list[ColumnElement[bool]] = []
        if self.basis == Basis.INCIDENT:
            where += [Report.incident_date >= period.start, Report.incident_date <= period.end]
        else:
            first, after = period.utc_bounds(self.tz)
            where += [Report.created_at >= first, Report.created_at < after]
        # Every status is still named in the query: the statistics index leads with the status,
        # and a list of seven values lets both backends read seven narrow ranges of it instead
        # of all of it (PostgreSQL 15 has no skip scan). A status added to ReportStatus is
        # included automatically.
        statuses = self.statuses or tuple(status.value for status in ReportStatus)
        where.append(
            Report.status == statuses[0] if len(statuses) == 1 else Report.status.in_(statuses)
        )
        if self.excludes_duplicates:
            where.append(Report.duplicate_of_id.is_(None))
        return where


Key = tuple[str | None, ...]


@dataclass(frozen=True)
class Counts:
    """Counts of one period under one rule, by the given dimensions (absent keys are zero)."""

    period: Period
    rule: CountRule
    dimensions: tuple[Dimension, ...]
    cells: Mapping[Key, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.cells.values())

    def get(self, *key: str | None) -> int:
        return self.cells.get(tuple(key), 0)

    def by(self, dimension: Dimension) -> Counter[str | None]:
        """Totals along one dimension (summing over the others)."""
        index = self.dimensions.index(dimension)
        totals: Counter[str | None] = Counter()
        for key, count in self.cells.items():
            totals[key[index]] += count
        return totals


@dataclass(frozen=True)
class Figures:
    """A period's counts with the previous period's, under the same rule."""

    current: Counts
    previous: Counts

    @property
    def period(self) -> Period:
        return self.current.period

    @property
    def rule(self) -> CountRule:
        return self.current.rule

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return self.current.dimensions

    @property
    def change(self) -> int:
        return self.current.total - self.previous.total


DEFAULT_DIMENSIONS = (Dimension.TYPE, Dimension.REGION)


def count_query(
    period: Period, rule: CountRule, dimensions: Sequence[Dimension] = DEFAULT_DIMENSIONS
) -> Select[Any]:
    """SELECT <dimensions>, count(*) ... GROUP BY <dimensions> for one period."""
    columns = [Report.__table__.c[dimension.value] for dimension in dimensions]
    return (
        select(*columns, func.count().label("n"))
        .select_from(Report)
        .where(*rule.conditions(period))
        .group_by(*columns)
    )


class StatsRepository:
    """Counting queries; like every repository it never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def count(
        self,
        period: Period,
        rule: CountRule,
        dimensions: Sequence[Dimension] = DEFAULT_DIMENSIONS,
    ) -> Counts:
        result = await self.session.execute(count_query(period, rule, dimensions))
        cells = {tuple(row[:-1]): int(row[-1]) for row in result.all()}
        return Counts(period, rule, tuple(dimensions), cells)

    async def figures(
        self,
        period: Period,
        rule: CountRule,
        dimensions: Sequence[Dimension] = DEFAULT_DIMENSIONS,
    ) -> Figures:
        return Figures(
            await self.count(period, rule, dimensions),
            await self.count(period.previous(), rule, dimensions),
        )


def rule_for(
    dimensions: Iterable[Dimension], *, submitted: bool = False, include_unverified: bool = False
) -> tuple[Basis, Scope]:
    """The basis and scope a request asks for.

    A breakdown by status shows every status side by side, so it counts every report (a
    status breakdown of verified reports alone would be one line).
    """
    basis = Basis.SUBMITTED if submitted else Basis.INCIDENT
    if Dimension.STATUS in tuple(dimensions):
        return basis, Scope.EVERY
    return basis, Scope.UNVERIFIED_TOO if include_unverified else Scope.VERIFIED
