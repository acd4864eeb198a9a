"""The Messenger inbox worker: processes the events the webhook stored, after Meta had its 200.

Meta retries a delivery that is not answered 200 within a few seconds
(developers.facebook.com/docs/messenger-platform/webhooks: "Your webhook should respond with a
200 OK within 5 seconds"), so the webhook only stores each event (storage/inbox.py) and answers;
this worker does the rest. Each pass claims, with a lease, the oldest waiting event of each
person and processes those events side by side, each in its own transaction (the callback given
here, `MessengerChannel.process`), which also deletes the row. The worker is woken by the webhook
and also looks on its own every few seconds, which picks up rows left by a crash (once their
lease has run out), rows waiting for a retry, and rows another replica stored.

An event whose processing fails is tried again with a capped backoff. Meta's outages and rate
limits and database outages are waited out; anything else (a bug) counts, and after
MAX_ATTEMPTS the event is given up: the row is deleted and an ERROR line says so, naming where it
failed and never what the person wrote.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outage import is_database_outage, log_pass_failure
from handlers.messenger.events import Event, event_to_json
from handlers.messenger.graph import GraphError
from storage.inbox import ClaimedEvent, MessengerInbox
from storage.sealing import Keyring

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # failures of one event (a bug, not an outage) before it is given up
BATCH = 20  # people whose next event one pass processes side by side
# Longer than one event can take (an attachment download of up to DOWNLOAD_LIMIT with the Graph
# client's timeout, then cleaning the picture); after it another process may take the event over.
LEASE = dt.timedelta(minutes=2)
OUTAGE_RETRY = 5.0  # seconds: Meta or the database is down; nothing is counted
BACKOFF_CAP = 60.0  # seconds

Process = Callable[[ClaimedEvent], Awaitable[None]]


def event_key(keyring: Keyring, event: Event) -> str:
    """The event's id for the inbox and processed updates: Meta's message ids are longer than
    the column and need not be kept, so a keyed hash of it."""
    digest = keyring.lookup_hash("messenger-event", event.dedupe)
    return f"{event.dedupe[0]}:{digest}"


async def store_events(
    session: AsyncSession, keyring: Keyring, events: Sequence[Event], now: dt.datetime
) -> None:
    """What the webhook does with a delivery before answering it (in the caller's transaction)."""
    inbox = MessengerInbox(session, keyring)
    for event in events:
        stored = await inbox.store(
            event_key=event_key(keyring, event),
            # Keyed, and under another purpose than the reporter's lookup hash.
            sender=keyring.lookup_hash("messenger-sender", event.psid),
            event=event_to_json(event),
            now=now,
        )
        if not stored:
            log.info("a Messenger event delivered again is already waiting; ignored")


class InboxWorker:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        process: Process,
        clock: Callable[[], dt.datetime],
        poll_interval: float = 2.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.process = process
        self.clock = clock
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Wake the worker now (the webhook stored events)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("Messenger inbox worker started")
        while not stop.is_set():
            self._wake.clear()
            try:
                progressed = await self.drain()
            except Exception as exc:
                log_pass_failure(log, "Messenger inbox pass failed", exc)
                progressed = 0
            if progressed:
                continue
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
        log.info("Messenger inbox worker stopped")

    async def drain(self) -> int:
        """One pass: the next event of up to BATCH people; returns how many were claimed."""
        async with self.sessionmaker() as session, session.begin():
            claimed = await MessengerInbox(session, self.keyring).claim(
                now=self.clock(), limit=BATCH, lease=LEASE
            )
        # One task per event: each gets its own logging context (bot.logging.mark_sensitive).
        await asyncio.gather(*(asyncio.create_task(self._one(event)) for event in claimed))
        return len(claimed)

    async def _one(self, event: ClaimedEvent) -> None:
        try:
            await self.process(event)
        except asyncio.CancelledError:
            # Stopping (after the grace period): its transaction rolled back, or had committed
            # and deleted the row. Either way the event is free at once for the next start or
            # another replica, instead of when the lease runs out.
            await asyncio.shield(self._release(event))
            raise
        except Exception as exc:
            try:
                await self._failed(event, exc)
            except Exception as second:
                # The database is gone too: the claim runs out and the event is taken again.
                log_pass_failure(log, "Messenger inbox: a failure could not be recorded", second)

    async def _release(self, event: ClaimedEvent) -> None:
        async with self.sessionmaker() as session, session.begin():
            await MessengerInbox(session, self.keyring).retry_later(
                event.id, at=self.clock(), count_attempt=False
            )

    async def _failed(self, event: ClaimedEvent, exc: Exception) -> None:
        outage = (isinstance(exc, GraphError) and exc.retryable) or is_database_outage(exc)
        attempts = event.attempts + (0 if outage else 1)
        where = _where(exc)
        async with self.sessionmaker() as session, session.begin():
            inbox = MessengerInbox(session, self.keyring)
            if attempts >= MAX_ATTEMPTS:
                await inbox.remove(event.id)
                log.error(
                    "Messenger inbox: event %s given up after %d failed attempts (%s at %s)",
                    event.id,
                    attempts,
                    type(exc).__name__,
                    where,
                )
                return
            delay = OUTAGE_RETRY if outage else min(2.0**attempts, BACKOFF_CAP)
            await inbox.retry_later(
                event.id, at=self.clock() + dt.timedelta(seconds=delay), count_attempt=not outage
            )
        # The exception's text may quote content; its kind and place are enough to find it.
        log.warning(
            "Messenger inbox: event %s failed (%s at %s); trying again in %.0f s",
            event.id,
            type(exc).__name__,
            where,
            delay,
        )


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame: where it failed, without any value from it."""
    frames: list[Any] = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
