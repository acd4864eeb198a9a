"""Passphrase derivations, a few at a time (README, "The web form").

Each argon2id derivation (storage/web.py) takes 64 MiB and a core for a moment, on purpose. A
flood of "Send the report" presses or of mailbox logins must not exhaust the host's memory or
stall the event loop: derivations run in threads, at most AT_ONCE together, and when more than
WAITING are already queued the next is refused at once (the page says to try again in a minute)
instead of piling up requests in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

AT_ONCE = 2
WAITING = 16

T = TypeVar("T")


class Busy(Exception):
    """Too many derivations queued: refuse this one now."""


class Derivations:
    def __init__(self, *, at_once: int = AT_ONCE, waiting: int = WAITING) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._limit = at_once + waiting
        self._queued = 0
        self.running = 0
        self.most_running = 0  # the most that ever ran together (for tests and figures)

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` in a thread once a slot is free; Busy when too many are queued."""
        if self._queued >= self._limit:
            raise Busy
        self._queued += 1
        try:
            async with self._slots:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
                try:
                    return await asyncio.to_thread(work, *args)
                finally:
                    self.running -= 1
        finally:
            self._queued -= 1
