"""The organisation's private key must not stay on the host: the team is told until it is moved.

`reportbot run` writes a key pair into DATA_DIR on a first start, so that someone trying the bot
needs no preparation; the private key opens every sealed report, and a forgotten copy on a
seized host (or in its backups and disk snapshots) opens the whole archive. While the file
exists, the moderator chat is told at each start and once a day (README, Keys), through the
outbox like every other message: stored and translated, sent when Telegram allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outage import log_pass_failure
from bot.services.context import ServiceContext
from handlers.engine.text import N_
from storage.models import OutboxPriority
from storage.repositories import OutboxRepository

log = logging.getLogger(__name__)

REMIND_EVERY = 24 * 60 * 60.0  # seconds
PRIVATE_KEY_ON_HOST = N_(
    "⚠️ The organisation's private key is still on the bot's server ({path}). Anyone who takes "
    "or copies the server can read every report with it. A coordinator must move it to an "
    "offline computer and delete it from the server. This reminder repeats every day until then."
)


class KeyWatch:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
        private_key_path: Path,
        on_enqueued: Callable[[], None] = lambda: None,
        interval: float = REMIND_EVERY,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.context = context
        self.private_key_path = private_key_path
        self.on_enqueued = on_enqueued
        self.interval = interval

    async def check(self) -> bool:
        """Queue the reminder if the private key is on the host; True when it is."""
        if not self.private_key_path.exists():
            return False
        log.error(
            "the organisation's PRIVATE key is on this host (%s): move it off and delete it",
            self.private_key_path,
        )
        text = self.context.moderators_t(PRIVATE_KEY_ON_HOST, path=str(self.private_key_path))
        now = self.context.now()
        async with self.sessionmaker() as session, session.begin():
            await OutboxRepository(session, self.context.keyring).enqueue(
                kind="private_key_warning",
                target="moderators",
                payload={"messages": [{"type": "text", "html": html.quote(text)}]},
                # One a start and one a day; a restart within the same second is not a new one.
                idempotency_key=f"private-key:{now:%Y%m%dT%H%M%S}",
                priority=OutboxPriority.NORMAL,
            )
        self.on_enqueued()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception as exc:
                log_pass_failure(log, "private-key check failed", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
