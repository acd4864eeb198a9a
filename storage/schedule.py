"""Periodic jobs shared by several replicas: one row per (kind, period) is the claim.

A timer alone cannot make a weekly job run once: every replica has its own timer, and a restart
forgets what the timer did. The unique (kind, period_key) row in `scheduled_runs` decides who runs
a period's job (whoever inserts it), a lease lets another replica take over from one that died
mid-job, and `done_at` survives restarts.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ScheduledRun


class RunOutcome(enum.StrEnum):
    SENT = "sent"
    # The period was already due when the job first ran on this database (a new installation
    # or an upgrade): it marks where catching up starts and is not sent.
    BASELINE = "baseline"


class ScheduledRuns:
    """Claims and completion of periodic runs. Never commits; each call is one short step."""

    def __init__(self, session: AsyncSession, kind: str) -> None:
        self.session = session
        self.kind = kind

    def _insert(self, values: dict[str, Any]) -> Any:
        module = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        return module.insert(ScheduledRun).values(**values).on_conflict_do_nothing()

    async def known_periods(self) -> dict[str, ScheduledRun]:
        rows = await self.session.execute(
            select(ScheduledRun).where(ScheduledRun.kind == self.kind)
        )
        return {row.period_key: row for row in rows.scalars()}

    async def claim(
        self, period_key: str, *, worker: str, now: dt.datetime, lease: dt.timedelta
    ) -> bool:
        """Take the period's run: True for exactly one caller until it is done or its lease ends."""
        inserted = await self.session.execute(
            self._insert(
                {
                    "kind": self.kind,
                    "period_key": period_key,
                    "claimed_by": worker,
                    "claimed_until": now + lease,
                    "created_at": now,
                }
            )
        )
        if inserted.rowcount:  # type: ignore[attr-defined]
            return True
        # The row exists: take it over only if unfinished and its holder's lease ran out. The
        # condition is in the UPDATE itself, so two replicas cannot both take it over.
        taken = await self.session.execute(
            update(ScheduledRun)
            .where(
                ScheduledRun.kind == self.kind,
                ScheduledRun.period_key == period_key,
                ScheduledRun.done_at.is_(None),
                ScheduledRun.claimed_until < now,
            )
            .values(claimed_by=worker, claimed_until=now + lease)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]

    async def finish(
        self, period_key: str, *, now: dt.datetime, outcome: RunOutcome = RunOutcome.SENT
    ) -> None:
        await self.session.execute(
            update(ScheduledRun)
            .where(ScheduledRun.kind == self.kind, ScheduledRun.period_key == period_key)
            .values(done_at=now, claimed_until=None, outcome=outcome.value)
        )

    async def record_baseline(self, period_key: str, *, now: dt.datetime) -> bool:
        """Mark a period as the starting point (done, not sent); False if it already existed."""
        inserted = await self.session.execute(
            self._insert(
                {
                    "kind": self.kind,
                    "period_key": period_key,
                    "done_at": now,
                    "outcome": RunOutcome.BASELINE.value,
                    "created_at": now,
                }
            )
        )
        return bool(inserted.rowcount)  # type: ignore[attr-defined]
