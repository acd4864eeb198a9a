"""The reporter-safety background jobs, started beside the outbox worker by the composition root."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.checkins import CheckinScheduler
from bot.sweeper import Sweeper

if TYPE_CHECKING:
    from bot.app import App


@dataclass(frozen=True)
class SafetyJobs:
    checkins: CheckinScheduler
    sweeper: Sweeper

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(self.checkins.run(stop), self.sweeper.run(stop))


def create_safety_jobs(app: App) -> SafetyJobs:
    return SafetyJobs(
        checkins=CheckinScheduler(
            sessionmaker=app.sessionmaker, context=app.context, on_enqueued=app.worker.notify
        ),
        sweeper=Sweeper(sessionmaker=app.sessionmaker, context=app.context),
    )


def start_safety_jobs(app: App, stop: asyncio.Event) -> asyncio.Task[None]:
    """Check-ins, re-announcements and retention until `stop` is set."""
    return asyncio.create_task(create_safety_jobs(app).run(stop), name="reporter-safety")
