"""The weekly digest: every Monday 09:00 (TIMEZONE, Asia/Almaty by default) the previous ISO
week's figures go to COORDINATOR_CHAT_ID, once.

"Once" holds across replicas and restarts because the database decides, not a timer: each week
is a `scheduled_runs` row (storage/schedule.py) claimed by one replica, and the digest is queued
through the outbox with the idempotency key `digest:<week>` in the same transaction that marks
the week done. A replica that dies between the claim and the queueing leaves an expired lease
that another replica (or the restarted one) takes over.

A missed Monday (the bot was down) is sent late when the bot is back, up to MAX_CATCH_UP weeks.
On the very first run against a database, the week already due is only recorded as the starting
point: a new installation does not greet coordinators with last week's figures at a random hour.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outage import log_pass_failure
from bot.reporting.figures import (
    file_stem,
    period_title,
    render_csv,
    render_facebook_post,
    render_png,
    render_table,
)
from handlers.engine.render import Catalogs, Translator
from handlers.engine.text import N_
from storage.repositories import OutboxRepository
from storage.schedule import RunOutcome, ScheduledRuns
from storage.sealing import Keyring
from storage.stats import CountRule, Figures, Period, PeriodError, StatsRepository

log = logging.getLogger(__name__)

DIGEST_KIND = "weekly_digest"
DUE_WEEKDAY = 1  # ISO weekday: Monday
DUE_TIME = dt.time(9, 0)
MAX_CATCH_UP = 8  # weeks; after a longer outage the oldest missed digests are logged, not sent
LEASE = dt.timedelta(minutes=10)
CHECK_INTERVAL = 60.0  # seconds between checks; the digest goes out within a minute of 09:00

FACEBOOK_HEADERS = {
    "kk": N_("Text for the Facebook group, in Kazakh:"),
    "ru": N_("Text for the Facebook group, in Russian:"),
    "en": N_("Text for the Facebook group, in English:"),
}


def due_week(now: dt.datetime, tz: dt.tzinfo) -> Period:
    """The week whose digest fell due most recently, at or before `now`."""
    local = now.astimezone(tz)
    monday = local.date() - dt.timedelta(days=local.isoweekday() - DUE_WEEKDAY)
    if local < dt.datetime.combine(monday, DUE_TIME, tzinfo=tz):
        monday -= dt.timedelta(days=7)
    return Period.week_of(monday - dt.timedelta(days=1))


def digest_messages(
    figures: Figures, t: Translator, posts: Mapping[str, Translator]
) -> list[dict[str, Any]]:
    """The outbox messages of one digest: table, chart, CSV, then one Facebook post per language.

    CPU work (the chart): call it in a thread from async code.
    """
    stem = file_stem(figures)
    title = html.quote(period_title(figures.period, t))
    messages: list[dict[str, Any]] = [
        {
            "type": "text",
            "html": html.bold(html.quote(t(N_("Weekly digest"))))
            + "\n"
            + render_table(figures, t).as_html(),
        },
        {
            "type": "photo_upload",
            "data": base64.b64encode(render_png(figures, t)).decode(),
            "filename": f"{stem}.png",
            "caption_html": title,
        },
        {
            "type": "document_upload",
            "data": base64.b64encode(render_csv(figures, t)).decode(),
            "filename": f"{stem}.csv",
            "caption_html": title,
        },
    ]
    for language, post_t in posts.items():
        header = html.quote(t(FACEBOOK_HEADERS[language]))
        # <pre> gives a one-tap "copy" in Telegram's apps: coordinators paste it as plain text.
        post = html.quote(render_facebook_post(figures, post_t))
        messages.append({"type": "text", "html": f"{header}\n<pre>{post}</pre>"})
    return messages


class DigestScheduler:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        catalogs: Catalogs,
        timezone: str,
        language: str,
        clock: Callable[[], dt.datetime],
        on_enqueued: Callable[[], None] = lambda: None,
        interval: float = CHECK_INTERVAL,
        lease: dt.timedelta = LEASE,
        worker_id: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.catalogs = catalogs
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self.language = language
        self.clock = clock
        self.on_enqueued = on_enqueued
        self.interval = interval
        self.lease = lease
        # Names the claim holder in the table; not secret and not personal.
        self.worker_id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def run(self, stop: asyncio.Event) -> None:
        log.info("weekly digest scheduler started")
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception as exc:
                # A database outage must not end the schedule; the next check retries.
                log_pass_failure(log, "weekly digest check failed", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        log.info("weekly digest scheduler stopped")

    async def run_due(self) -> list[str]:
        """Queue every digest that is due and not yet done; returns the weeks queued here."""
        now = self.clock()
        latest = due_week(now, self.tz)
        async with self.sessionmaker() as session, session.begin():
            runs = ScheduledRuns(session, DIGEST_KIND)
            known = await runs.known_periods()
            if not known:
                await runs.record_baseline(latest.key, now=now)
                log.info("weekly digest: first run, next digest after %s", latest.key)
                return []
        # Oldest first, one after another: coordinators read late digests in order.
        return [
            period.key for period in self._pending(known, latest, now) if await self._send(period)
        ]

    def _pending(self, known: Mapping[str, Any], latest: Period, now: dt.datetime) -> list[Period]:
        periods: dict[str, Period] = {}
        for key in known:
            with contextlib.suppress(PeriodError):
                periods[key] = Period.parse_week(key)
        due: list[Period] = []
        newest = max(periods.values(), default=None)
        week = newest.following() if newest is not None else latest
        while week <= latest:
            due.append(week)
            week = week.following()
        if len(due) > MAX_CATCH_UP:
            log.warning(
                "weekly digest: %d weeks missed; sending the last %d", len(due), MAX_CATCH_UP
            )
            due = due[-MAX_CATCH_UP:]
        # Claimed but never finished (a replica died mid-way): retried once the lease is over.
        stalled = [
            periods[key]
            for key, run in known.items()
            if key in periods
            and run.done_at is None
            and (run.claimed_until is None or run.claimed_until < now)
        ]
        return sorted({*due, *stalled})

    async def _send(self, period: Period) -> bool:
        async with self.sessionmaker() as session, session.begin():
            claimed = await ScheduledRuns(session, DIGEST_KIND).claim(
                period.key, worker=self.worker_id, now=self.clock(), lease=self.lease
            )
        if not claimed:
            return False
        async with self.sessionmaker() as session, session.begin():
            figures = await StatsRepository(session).figures(
                period, CountRule(timezone=self.timezone)
            )
        posts = {language: self._translator(language) for language in ("kk", "ru", "en")}
        messages = await asyncio.to_thread(
            digest_messages, figures, self._translator(self.language), posts
        )
        async with self.sessionmaker() as session, session.begin():
            # The idempotency key makes a second copy impossible even if another replica took
            # over an expired lease and got this far too.
            await OutboxRepository(session, self.keyring).enqueue(
                kind="digest",
                target="coordinators",
                payload={"messages": messages},
                idempotency_key=f"digest:{period.key}",
            )
            await ScheduledRuns(session, DIGEST_KIND).finish(
                period.key, now=self.clock(), outcome=RunOutcome.SENT
            )
        log.info("weekly digest for %s queued", period.key)
        self.on_enqueued()
        return True

    def _translator(self, language: str) -> Translator:
        return Translator(self.catalogs, language, self.tz)


def start_weekly_digest(scheduler: DigestScheduler, stop: asyncio.Event) -> asyncio.Task[None]:
    """Run the digest schedule beside the outbox worker until `stop` is set."""
    return asyncio.create_task(scheduler.run(stop), name="weekly-digest")
