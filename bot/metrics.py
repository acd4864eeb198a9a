"""Prometheus metrics of one bot process, served at /metrics (bot/web.py).

Each App has its own registry: several bots run in one test process, and a module-level registry
would mix their counts. Counters count what this process did; Prometheus sums replicas
(`sum by (kind) (rate(reportbot_updates_total[5m]))`). The outbox gauges are read from the shared
database when scraped, so every replica reports the same queue: aggregate them with max(), not
sum().
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import TelegramObject, Update
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from storage.models import Report
from storage.repositories import OutboxBacklog

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Handling one update is a few database round trips and one or two Bot API calls.
UPDATE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DUPLICATE_KEY = "reportbot_duplicate_update"  # set in the handler data by the update middleware


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter(
            "reportbot_updates",
            "Telegram updates by kind and outcome: handled, ignored (no handler wanted it), "
            "duplicate (a redelivery of one handled before), unavailable (the database was "
            "unreachable), telegram_error (a Bot API call failed mid-way), failed (a bug).",
            ["kind", "outcome"],
            registry=r,
        )
        self.update_seconds = Histogram(
            "reportbot_update_seconds",
            "Time to handle one update, its database commit included.",
            ["kind"],
            buckets=UPDATE_BUCKETS,
            registry=r,
        )
        self.reports = Counter(
            "reportbot_reports_submitted",
            "Reports stored, counted when the transaction that stored them commits.",
            ["type", "channel"],
            registry=r,
        )
        self.sent = Counter(
            "reportbot_outbox_sent",
            "Outbox rows delivered by this process, by kind (alert, receipt, card_edit...).",
            ["kind"],
            registry=r,
        )
        self.send_errors = Counter(
            "reportbot_outbox_send_errors",
            "Failed Bot API calls of the outbox worker, by kind of error.",
            ["error"],
            registry=r,
        )
        self.dead_letters = Counter(
            "reportbot_outbox_dead_letters",
            "Outbox rows given up on by this process (moderators see them in /outbox).",
            registry=r,
        )
        self.outbox_pending = Gauge(
            "reportbot_outbox_pending",
            "Messages waiting in the shared outbox, by target (read from the database).",
            ["target"],
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "reportbot_outbox_oldest_pending_seconds",
            "Age of the oldest message waiting in the outbox (0 when none waits).",
            registry=r,
        )
        self.outbox_dead = Gauge(
            "reportbot_outbox_dead",
            "Dead letters in the outbox (read from the database).",
            registry=r,
        )
        self.outbox_waiting_for_chat = Gauge(
            "reportbot_outbox_waiting_for_chat",
            "Messages (alerts among them) waiting because their group refuses the bot's messages.",
            registry=r,
        )
        self.database_up = Gauge(
            "reportbot_database_up",
            "1 when the database answered the last health check or scrape, else 0.",
            registry=r,
        )
        self.database_unavailable = Counter(
            "reportbot_database_unavailable",
            "Updates that met an unreachable database (answered 503, Telegram redelivers).",
            registry=r,
        )
        self.webhook_rejected = Counter(
            "reportbot_webhook_rejected",
            "Webhook requests refused before handling, by reason (secret, draining, body).",
            ["reason"],
            registry=r,
        )
        self.updates_in_flight = Gauge(
            "reportbot_updates_in_flight",
            "Updates being handled by this process right now.",
            registry=r,
        )
        # The tasks handling them: shutting down waits for these (run_polling; aiogram runs
        # each polled update as a task of its own and does not wait for them when it stops).
        self.in_flight: set[asyncio.Task[Any]] = set()
        for target in ("moderators", "coordinators", "reporter"):
            self.outbox_pending.labels(target).set(0)

    async def wait_for_updates_in_flight(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until no update is being handled; False if some still were after `timeout`."""
        pending = {task for task in self.in_flight if not task.done()}
        if not pending:
            return True
        _, still = await asyncio.wait(pending, timeout=timeout)
        return not still

    def observe_backlog(self, backlog: OutboxBacklog, now: dt.datetime) -> None:
        for target, count in backlog.pending.items():
            self.outbox_pending.labels(target).set(count)
        for target in ("moderators", "coordinators", "reporter"):
            if target not in backlog.pending:
                self.outbox_pending.labels(target).set(0)
        self.outbox_oldest.set(backlog_age(backlog, now))
        self.outbox_dead.set(backlog.dead)
        self.outbox_waiting_for_chat.set(backlog.waiting_for_chat)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def backlog_age(backlog: OutboxBacklog, now: dt.datetime) -> float:
    """Seconds the oldest waiting message has waited (0.0 when none waits)."""
    if backlog.oldest_pending_at is None:
        return 0.0
    return max((now - backlog.oldest_pending_at).total_seconds(), 0.0)


def count_submitted_reports(
    sessionmaker: async_sessionmaker[AsyncSession], metrics: Metrics
) -> None:
    """Count reports when the transaction that stored them commits, whatever the channel.

    Counting in the intake service would count reports whose transaction later rolled back (a
    failed commit, a crash before it), and every channel would have to remember to do it.
    """

    class CountingSession(Session):
        """This app's sessions, so that the listeners below see no other app's."""

    sessionmaker.configure(sync_session_class=CountingSession)

    @event.listens_for(CountingSession, "after_flush")
    def _remember(session: Session, _context: Any) -> None:
        for obj in session.new:
            if isinstance(obj, Report):
                session.info.setdefault("new_reports", []).append((obj.incident_type, obj.channel))

    @event.listens_for(CountingSession, "after_commit")
    def _count(session: Session) -> None:
        for incident_type, channel in session.info.pop("new_reports", ()):
            metrics.reports.labels(incident_type, channel).inc()

    @event.listens_for(CountingSession, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop("new_reports", None)


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateMetricsMiddleware(BaseMiddleware):
    """Outermost update middleware: counts every update by kind and outcome, and times it."""

    def __init__(self, metrics: Metrics, *, unavailable: type[BaseException]) -> None:
        self.metrics = metrics
        self.unavailable = unavailable

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        kind = update_kind(event)
        started = time.perf_counter()
        outcome = "failed"
        task = asyncio.current_task()
        if task is not None:
            self.metrics.in_flight.add(task)
        self.metrics.updates_in_flight.inc()
        try:
            result = await handler(event, data)
            if data.get(DUPLICATE_KEY):
                outcome = "duplicate"
            elif result is UNHANDLED:
                outcome = "ignored"
            else:
                outcome = "handled"
            return result
        except self.unavailable:
            outcome = "unavailable"
            self.metrics.database_unavailable.inc()
            raise
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter):
            outcome = "telegram_error"
            raise
        finally:
            if task is not None:
                self.metrics.in_flight.discard(task)
            self.metrics.updates_in_flight.dec()
            self.metrics.updates.labels(kind, outcome).inc()
            self.metrics.update_seconds.labels(kind).observe(time.perf_counter() - started)


def update_kind(update: Update) -> str:
    """ "message", "callback_query"... or "unknown" for a kind this aiogram does not know."""
    try:
        return str(update.event_type)
    except Exception:  # aiogram raises UpdateTypeLookupError for kinds newer than itself
        return "unknown"
