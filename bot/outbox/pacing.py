"""Sliding-window pacing, the shape of Telegram's flood limits.

Telegram counts messages in a window (20 a minute into one group); a token bucket that refills
steadily would allow a 21st message three seconds after a burst of 20 and be answered 429.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._stamps: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()

    def available(self) -> int:
        self._expire(self.clock())
        return self.limit - len(self._stamps)

    def free_in(self) -> float:
        """Seconds until one more message may go (0.0 when one may go now)."""
        now = self.clock()
        self._expire(now)
        if len(self._stamps) < self.limit:
            return 0.0
        return self._stamps[0] + self.window - now

    def take(self) -> None:
        self._stamps.append(self.clock())

    def give_back(self) -> None:
        """The last message taken was not posted (the chat refused it): its slot is free again."""
        if self._stamps:
            self._stamps.pop()

    async def acquire(self) -> None:
        # The wait is computed exactly from the window; nothing else can free a slot earlier.
        while (wait := self.free_in()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        self.take()
