"""Retention: what the bot keeps about reporters, and for how long.

Each pass (every SWEEP_INTERVAL, on every replica) applies these rules:

- The link to a reporter (encrypted chat id, drafts, pending messages to them, open questions,
  check-ins, tracked message ids, a web reporter's mailbox and the messages sealed in it) is
  erased RETENTION_DAYS after their last activity, exactly as /forget does, with one "erased"
  audit row per report (note "retention", no content). A reporter with a check-in still pending
  keeps the link until it is over.
- Drafts are deleted 24 hours after their last answer (drafts.expires_at), and cleaned
  attachments no live draft holds go with them.
- Outbox payloads are erased once sent, alerts included (a card's text is written once and never
  kept: bot/services/cards.py); dead letters keep theirs DEAD_PAYLOAD_DAYS for an operator to
  look into, then lose them too.
- Message ids kept for /wipe are deleted after Telegram's 48 hours, when they are of no use.

Every statement is idempotent and conditional, so replicas sweeping at the same moment do the
work once; reporters to erase are locked with SKIP LOCKED and erased by a conditional UPDATE, so
each erasure is audited once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.outage import log_pass_failure
from bot.services.context import ServiceContext
from bot.services.flood import REPORT_WINDOW
from storage.db import scrub_sqlite
from storage.repositories import ProcessedUpdates
from storage.safety import Attachments, Erasure, FloodCounts, Sweeps, TrackedMessages

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 60.0  # seconds
BATCH = 100  # reporters erased per transaction
DEAD_PAYLOAD_DAYS = 7
ATTACHMENT_GRACE = dt.timedelta(hours=1)
PROCESSED_UPDATES_KEPT = dt.timedelta(days=2)
SCRUB_MARGIN = dt.timedelta(minutes=1)


class Sweeper:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
        interval: float = SWEEP_INTERVAL,
        on_done: Callable[[dict[str, int]], None] = lambda _counts: None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.context = context
        self.interval = interval
        self.on_done = on_done
        # Erasures from before the process started are scrubbed by its first pass.
        self._scrubbed_at = dt.datetime.min.replace(tzinfo=dt.UTC)

    async def run_due(self) -> dict[str, int]:
        """One pass; returns how many rows each rule touched."""
        now = self.context.now()
        retention = self.context.policy.retention
        counts = {"reporters_erased": await self._erase_idle_reporters(now, now - retention)}
        async with self.sessionmaker() as session, session.begin():
            sweeps = Sweeps(session)
            counts["drafts"] = await sweeps.expired_drafts(now)
            counts["attachments"] = await Attachments(session, self.context.keyring).sweep(
                now=now, grace=ATTACHMENT_GRACE
            )
            counts["payloads"] = await sweeps.sent_payloads(
                now=now, dead_kept_for=dt.timedelta(days=DEAD_PAYLOAD_DAYS)
            )
            counts["tracked_messages"] = await TrackedMessages(session).sweep(now)
            # Telegram keeps an undelivered update for at most 24 hours
            # (core.telegram.org/bots/api#getting-updates) and Meta retries a webhook for hours:
            # after two days a record of an update only says when someone wrote.
            counts["processed_updates"] = await ProcessedUpdates(session).sweep(
                now - PROCESSED_UPDATES_KEPT
            )
            # Kept for the hourly report limit only (bot/services/flood.py).
            counts["flood_marks"] = await FloodCounts(session).sweep_marks(now - REPORT_WINDOW)
        await self._scrub_after_erasures(now)
        if any(counts.values()):
            log.info(
                "retention sweep: %s",
                ", ".join(f"{name}={count}" for name, count in counts.items() if count),
            )
        self.on_done(counts)
        return counts

    async def _scrub_after_erasures(self, now: dt.datetime) -> None:
        """What an erasure removed must not stay in SQLite's write-ahead log (README, Storage):
        after a pass that finds a new erasure (by /forget or by retention), the log is
        checkpointed and truncated; until that succeeds, each pass tries again."""
        bind = self.sessionmaker.kw.get("bind")
        if not isinstance(bind, AsyncEngine) or bind.dialect.name != "sqlite":
            return
        async with self.sessionmaker() as session:
            erased = await Erasure(session).erased_since(self._scrubbed_at)
        if erased and await scrub_sqlite(bind):
            # A margin for an erasure stamped just before this pass and committed during it.
            self._scrubbed_at = now - SCRUB_MARGIN

    async def _erase_idle_reporters(self, now: dt.datetime, idle_since: dt.datetime) -> int:
        erased = 0
        while True:
            async with self.sessionmaker() as session, session.begin():
                erasure = Erasure(session)
                ids = await erasure.retention_candidates(idle_since=idle_since, limit=BATCH)
                for reporter_id in ids:
                    before = await erasure.erase(reporter_id, reason="retention", now=now)
                    erased += 1
                    log.info(
                        "reporter %s erased after retention (%d reports)", reporter_id, len(before)
                    )
            if len(ids) < BATCH:
                return erased

    async def run(self, stop: asyncio.Event) -> None:
        log.info("retention sweeper started")
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception as exc:
                # A database outage must not end retention; the next pass retries.
                log_pass_failure(log, "retention sweep failed", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        log.info("retention sweeper stopped")
