"""The reporter-safety background jobs, started beside the outbox worker by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.keywatch import KeyWatch
from bot.jobs.sweeper import Sweeper
from bot.services.checkins import CheckinScheduler
from bot.services.context import ServiceContext


@dataclass(frozen=True)
class SafetyJobs:
    checkins: CheckinScheduler
    sweeper: Sweeper
    keywatch: KeyWatch | None = None

    async def run(self, stop: asyncio.Event) -> None:
        jobs = [self.checkins.run(stop), self.sweeper.run(stop)]
        if self.keywatch is not None:
            jobs.append(self.keywatch.run(stop))
        await asyncio.gather(*jobs)


def create_safety_jobs(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    context: ServiceContext,
    on_enqueued: Callable[[], None],
    private_key_path: Path | None = None,
) -> SafetyJobs:
    return SafetyJobs(
        checkins=CheckinScheduler(
            sessionmaker=sessionmaker, context=context, on_enqueued=on_enqueued
        ),
        sweeper=Sweeper(sessionmaker=sessionmaker, context=context),
        keywatch=None
        if private_key_path is None
        else KeyWatch(
            sessionmaker=sessionmaker,
            context=context,
            private_key_path=private_key_path,
            on_enqueued=on_enqueued,
        ),
    )


def start_safety_jobs(jobs: SafetyJobs, stop: asyncio.Event) -> asyncio.Task[None]:
    """Check-ins, re-announcements and retention until `stop` is set."""
    return asyncio.create_task(jobs.run(stop), name="reporter-safety")
