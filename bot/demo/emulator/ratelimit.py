"""Telegram's flood limits for bots, as documented in the Bot FAQ.

* private chats: about one message per second, with a small burst (token bucket);
* groups, supergroups and channels: 20 messages per 60 seconds (sliding window);
* all chats together: 30 messages per second (sliding window).

Time comes from an injectable ``clock`` (monotonic seconds) so tests can use a fake clock.
A refused request consumes nothing; ``retry_after`` is the whole number of seconds until a
slot frees (at least 1), as Telegram reports it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class RateLimitConfig:
    """Limits; switch everything off with ``enabled=False`` (or ``emu.rate_limits.enabled``)."""

    enabled: bool = True
    #: messages per second refilled in a private chat.
    private_per_second: float = 1.0
    #: burst allowance in a private chat (bucket capacity).
    private_burst: int = 3
    group_limit: int = 20
    group_window: float = 60.0
    global_limit: int = 30
    global_window: float = 1.0
    #: editMessage* calls count toward the per-chat limit (not the global one).
    count_edits: bool = True


class _Window:
    """Sliding-window counter."""

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()

    def retry_after(self, now: float, limit: int, window: float, cost: int) -> float:
        while self.stamps and self.stamps[0] <= now - window:
            self.stamps.popleft()
        cost = min(cost, limit)
        excess = len(self.stamps) + cost - limit
        if excess <= 0:
            return 0.0
        return self.stamps[excess - 1] + window - now

    def consume(self, now: float, cost: int) -> None:
        self.stamps.extend([now] * cost)


class _Bucket:
    """Token bucket starting full."""

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = capacity
        self.updated = now

    def _refill(self, now: float, rate: float, capacity: float) -> None:
        self.tokens = min(capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now

    def retry_after(self, now: float, rate: float, capacity: float, cost: int) -> float:
        self._refill(now, rate, capacity)
        need = min(float(cost), capacity)
        if self.tokens >= need - 1e-9:
            return 0.0
        return (need - self.tokens) / rate

    def consume(self, now: float, rate: float, capacity: float, cost: int) -> None:
        self._refill(now, rate, capacity)
        self.tokens -= min(float(cost), capacity)


class RateLimiter:
    """Applies :class:`RateLimitConfig` per chat and globally."""

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._windows: dict[int, _Window] = {}
        self._global = _Window()

    def reset(self) -> None:
        """Forget all history (e.g. between phases of a test)."""
        self._buckets.clear()
        self._windows.clear()
        self._global = _Window()

    def acquire(self, chat_id: int, *, private: bool, cost: int = 1, edit: bool = False) -> int:
        """Take ``cost`` message slots; return 0 on success or the retry_after to answer."""
        cfg = self.config
        if not cfg.enabled or (edit and not cfg.count_edits):
            return 0
        now = self.clock()
        waits: list[float] = []
        if private:
            bucket = self._buckets.setdefault(chat_id, _Bucket(cfg.private_burst, now))
            waits.append(bucket.retry_after(now, cfg.private_per_second, cfg.private_burst, cost))
        else:
            window = self._windows.setdefault(chat_id, _Window())
            waits.append(window.retry_after(now, cfg.group_limit, cfg.group_window, cost))
        if not edit:
            waits.append(self._global.retry_after(now, cfg.global_limit, cfg.global_window, cost))
        wait = max(waits)
        if wait > 0:
            return max(1, math.ceil(wait - 1e-9))
        if private:
            self._buckets[chat_id].consume(now, cfg.private_per_second, cfg.private_burst, cost)
        else:
            self._windows[chat_id].consume(now, min(cost, cfg.group_limit))
        if not edit:
            self._global.consume(now, min(cost, cfg.global_limit))
        return 0
