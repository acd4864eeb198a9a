"""The delivery worker: sends outbox rows at least once, paced to Telegram's limits.

A row's payload is {"messages": [...]}, each message one of:
  {"type": "text", "html": ..., "reply_markup"?: {...}}
  {"type": "photo" | "document", "file_id": ..., "caption_html"?: ...}
  {"type": "photo_upload" | "document_upload", "data": base64, "filename": ..., "caption_html"?}
The first message is the row's main message (an alert card); the others reply to it.
Targets: "moderators", "coordinators" (COORDINATOR_CHAT_ID) or "reporter" (by reporter_id).

Rows are claimed in a short transaction, sent outside it, and their outcome recorded in another,
so a slow Telegram never holds a database lock. A card with attachments is sent message by message
and its progress recorded after each, so a retry resumes instead of repeating the card.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import random
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, LinkPreviewOptions, Message
from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories import ClaimedRow, OutboxRepository, Reporters
from storage.sealing import Keyring

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_CAP = 300.0  # seconds
CLAIM_LEASE = dt.timedelta(minutes=2)
BATCH = 20
# Telegram's documented guidance (core.telegram.org/bots/faq, "hitting limits"):
# about 30 messages a second overall, 20 a minute into one group, about one a second per chat.
GLOBAL_RATE = (30, 1.0)
GROUP_RATE = (20, 60.0)
PRIVATE_RATE = (1, 1.0)


class PermanentFailure(Exception):
    """Sending can never succeed (the chat is gone, the reporter was erased)."""


def backoff_delay(attempts: int, rng: random.Random) -> float:
    """Capped exponential backoff with full jitter (0.5x to 1.5x)."""
    base: float = min(2.0 ** max(attempts, 0), BACKOFF_CAP)
    return float(min(base * rng.uniform(0.5, 1.5), BACKOFF_CAP))


class OutboxWorker:
    def __init__(
        self,
        *,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        moderator_chat_id: int,
        coordinator_chat_id: int | None = None,
        clock: Callable[[], dt.datetime],
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.moderator_chat_id = moderator_chat_id
        self.coordinator_chat_id = coordinator_chat_id or moderator_chat_id
        self.clock = clock
        self.poll_interval = poll_interval
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._wake = asyncio.Event()
        self._global = AsyncLimiter(*GLOBAL_RATE)
        self._chat_limits: dict[int | str, AsyncLimiter] = {}

    def notify(self) -> None:
        """Wake the worker now (called after a transaction that queued messages commits)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox worker started")
        while not stop.is_set():
            try:
                sent = await self.deliver_due()
            except Exception:
                # A database outage must not kill the worker; it retries on the next tick.
                log.exception("outbox pass failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
        log.info("outbox worker stopped")

    async def deliver_due(self) -> int:
        """One pass: claim due rows and try each once. Returns how many were handled."""
        async with self.sessionmaker() as session, session.begin():
            rows = await OutboxRepository(session, self.keyring).claim_due(
                now=self.clock(), limit=BATCH, lease=CLAIM_LEASE
            )
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def _deliver(self, row: ClaimedRow) -> None:
        try:
            chat_id = await self._chat_for(row)
            await self._send_messages(row, chat_id)
        except TelegramRetryAfter as exc:
            await self._retry(row, exc.retry_after, "retry_after", count=False)
        except (TelegramServerError, TelegramNetworkError) as exc:
            await self._retry(row, None, type(exc).__name__)
        except (
            PermanentFailure,
            TelegramForbiddenError,
            TelegramNotFound,
            TelegramUnauthorizedError,
        ) as exc:
            await self._dead(row, type(exc).__name__)
        except TelegramBadRequest as exc:
            # Telegram's description can quote the offending text; store only the kind.
            await self._dead(row, f"TelegramBadRequest: {_error_kind(exc.message)}")
        else:
            async with self.sessionmaker() as session, session.begin():
                await OutboxRepository(session, self.keyring).mark_sent(
                    row.id, now=self.clock(), keep_payload=row.kind == "alert"
                )

    async def _chat_for(self, row: ClaimedRow) -> int | str:
        if row.target == "moderators":
            return self.moderator_chat_id
        if row.target == "coordinators":
            return self.coordinator_chat_id
        if row.target == "reporter" and row.reporter_id is not None:
            async with self.sessionmaker() as session, session.begin():
                reporters = Reporters(session, self.keyring)
                reporter = await reporters.get(row.reporter_id)
                chat_id = reporters.chat_id(reporter) if reporter is not None else None
            if chat_id is None:
                raise PermanentFailure("reporter erased")
            return int(chat_id)
        raise PermanentFailure(f"unknown target {row.target}")

    def _limiter(self, chat_id: int | str) -> AsyncLimiter:
        limiter = self._chat_limits.get(chat_id)
        if limiter is None:
            group = isinstance(chat_id, int) and chat_id < 0
            limiter = AsyncLimiter(*(GROUP_RATE if group else PRIVATE_RATE))
            self._chat_limits[chat_id] = limiter
        return limiter

    async def _send_messages(self, row: ClaimedRow, chat_id: int | str) -> None:
        messages: list[dict[str, Any]] = list(row.payload.get("messages") or [])
        card_id = row.sent_message_id
        for index in range(row.progress, len(messages)):
            async with self._limiter(chat_id), self._global:
                sent = await self._send_one(chat_id, messages[index], reply_to=card_id)
            if card_id is None:
                card_id = sent.message_id
            async with self.sessionmaker() as session, session.begin():
                await OutboxRepository(session, self.keyring).record_progress(
                    row.id, index + 1, card_id if index == 0 else None
                )

    async def _send_one(
        self, chat_id: int | str, message: dict[str, Any], *, reply_to: int | None
    ) -> Message:
        kind = message.get("type")
        reply: dict[str, Any] = {}
        if reply_to is not None:
            reply["reply_to_message_id"] = reply_to
        if message.get("reply_markup"):
            reply["reply_markup"] = InlineKeyboardMarkup.model_validate(message["reply_markup"])
        caption = message.get("caption_html")
        if kind == "text":
            return await self.bot.send_message(
                chat_id,
                message["html"],
                parse_mode="HTML",
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **reply,
            )
        if kind == "photo":
            return await self.bot.send_photo(chat_id, message["file_id"], caption=caption, **reply)
        if kind == "document":
            return await self.bot.send_document(
                chat_id, message["file_id"], caption=caption, **reply
            )
        if kind in ("photo_upload", "document_upload"):
            upload = BufferedInputFile(base64.b64decode(message["data"]), message["filename"])
            if kind == "photo_upload":
                return await self.bot.send_photo(chat_id, upload, caption=caption, **reply)
            return await self.bot.send_document(chat_id, upload, caption=caption, **reply)
        raise PermanentFailure(f"unknown message type {kind!r}")

    async def _retry(
        self, row: ClaimedRow, after: float | None, error: str, *, count: bool = True
    ) -> None:
        attempts = row.attempts + (1 if count else 0)
        if count and attempts >= MAX_ATTEMPTS:
            await self._dead(row, f"gave up after {attempts} attempts: {error}")
            return
        delay = float(after) if after is not None else backoff_delay(attempts, self.rng)
        log.warning("outbox row %s: %s, retrying in %.1fs", row.id, error, delay)
        async with self.sessionmaker() as session, session.begin():
            await OutboxRepository(session, self.keyring).retry_later(
                row.id,
                at=self.clock() + dt.timedelta(seconds=delay),
                error=error,
                count_attempt=count,
            )

    async def _dead(self, row: ClaimedRow, error: str) -> None:
        log.error("outbox row %s is a dead letter: %s", row.id, error)
        async with self.sessionmaker() as session, session.begin():
            await OutboxRepository(session, self.keyring).mark_dead(
                row.id, now=self.clock(), error=error
            )


def _error_kind(description: str) -> str:
    """The stable part of a Telegram error description, before any quoted detail."""
    kind = description.removeprefix("Bad Request: ").split(":")[0]
    return kind[:80]
