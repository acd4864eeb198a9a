"""The reporter-safety background jobs, started beside the outbox worker by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.sweeper import Sweeper
from bot.services.checkins import CheckinScheduler
from bot.services.context import ServiceContext


@dataclass(frozen=True)
class SafetyJobs:
    checkins: CheckinScheduler
    sweeper: Sweeper

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(self.checkins.run(stop), self.sweeper.run(stop))


def create_safety_jobs(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    context: ServiceContext,
    on_enqueued: Callable[[], None],
) -> SafetyJobs:
    return SafetyJobs(
        checkins=CheckinScheduler(
            sessionmaker=sessionmaker, context=context, on_enqueued=on_enqueued
        ),
        sweeper=Sweeper(sessionmaker=sessionmaker, context=context),
    )


def start_safety_jobs(jobs: SafetyJobs, stop: asyncio.Event) -> asyncio.Task[None]:
    """Check-ins, re-announcements and retention until `stop` is set."""
    return asyncio.create_task(jobs.run(stop), name="reporter-safety")
