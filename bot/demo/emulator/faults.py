"""Fault injection for the emulator's Bot API (``emu.faults``).

Rules are consumed in the order they were added; each answers (or slows down) the next
``n`` matching calls. ``method=None`` matches every method except ``getUpdates`` (the long
poll is always in flight, so hitting it by accident would make tests flaky) and file
downloads; name ``"getUpdates"`` or ``"file"`` (downloads) explicitly to target those.
Method names are case-insensitive.

Examples::

    emu.faults.fail_next(method="sendMessage")            # next sendMessage -> 500
    emu.faults.fail_next(2, status=502)                    # next 2 calls -> 502 Bad Gateway
    emu.faults.slow_next(3.0, method="sendPhoto")          # answers after 3 s
    emu.faults.retry_after_next(7, method="sendMessage")   # 429 retry_after=7
    emu.faults.lose_answer_next(method="sendMessage")      # message is sent, answer is 500
    emu.faults.set_random_failures(0.2, seed=42)           # 20 % of calls fail with 500
    emu.faults.set_random_failures(                        # 10 %: 5xx, 429, lost, too slow
        0.1, kinds=("error", "retry_after", "lose_answer", "slow"), retry_after=2, delay=4.0
    )
    emu.faults.set_latency(0.2)                            # every call: a 200 ms round trip

The latency is not a rule: it holds back every request the bot makes over HTTP, getUpdates
and file downloads included, until switched off with ``set_latency(0)`` or :meth:`clear`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

_DESCRIPTIONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_UNTARGETED = frozenset({"getupdates", "file"})


@dataclass
class FaultRule:
    """One injected fault; ``remaining`` counts down as calls match."""

    kind: str  # "error" | "slow" | "retry_after" | "lose_answer"
    remaining: int
    method: str | None = None
    status: int = 500
    description: str | None = None
    #: answer with an HTML page instead of JSON (as a real proxy error does).
    html: bool = False
    delay: float = 0.0
    retry_after: int = 1

    def matches(self, method: str) -> bool:
        key = method.lower()
        if self.method is None:
            return key not in _UNTARGETED
        return self.method.lower() == key

    @property
    def error_description(self) -> str:
        return self.description or _DESCRIPTIONS.get(self.status, "Internal Server Error")


class Faults:
    """Holds fault rules and the optional seeded random failure rate."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._rate = 0.0
        self._rng = random.Random(0)
        self._rate_status = 500
        self._rate_methods: frozenset[str] | None = None
        self._rate_kinds: tuple[str, ...] = ("error",)
        self._rate_retry_after = 1
        self._rate_delay = 0.0
        self._latency = 0.0

    def _add(self, rule: FaultRule) -> FaultRule:
        if rule.remaining < 1:
            raise ValueError("n must be at least 1")
        self.rules.append(rule)
        return rule

    def fail_next(
        self,
        n: int = 1,
        *,
        method: str | None = None,
        status: int = 500,
        description: str | None = None,
        html: bool = False,
    ) -> FaultRule:
        """Answer the next ``n`` matching calls with ``status`` (500/502/...) without acting.

        aiogram raises TelegramServerError for these (ClientDecodeError with ``html=True``).
        """
        return self._add(FaultRule("error", n, method, status, description, html))

    def slow_next(self, seconds: float, n: int = 1, *, method: str | None = None) -> FaultRule:
        """Delay the next ``n`` matching calls by ``seconds`` (real time), then answer normally."""
        return self._add(FaultRule("slow", n, method, delay=seconds))

    def retry_after_next(
        self, retry_after: int, n: int = 1, *, method: str | None = None
    ) -> FaultRule:
        """Answer the next ``n`` matching calls with 429 and ``retry_after`` seconds."""
        return self._add(FaultRule("retry_after", n, method, status=429, retry_after=retry_after))

    def lose_answer_next(self, n: int = 1, *, method: str | None = None) -> FaultRule:
        """Perform the next ``n`` matching calls but answer 500 (a lost response)."""
        return self._add(FaultRule("lose_answer", n, method))

    def set_random_failures(
        self,
        rate: float,
        *,
        seed: int = 0,
        status: int = 500,
        methods: list[str] | None = None,
        kinds: Sequence[str] = ("error",),
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Fail a fraction ``rate`` of calls (seeded, reproducible). ``rate=0`` switches off.

        ``methods`` limits it to those method names; by default every method except
        getUpdates and downloads. ``kinds`` mixes fault kinds, one picked at random per hit:
        "error" (``status``), "retry_after" (429 with ``retry_after``), "lose_answer" (the
        call is performed, its answer is a 500) and "slow" (answered after ``delay`` s).
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        unknown = set(kinds) - {"error", "retry_after", "lose_answer", "slow"}
        if not kinds or unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self._rate_kinds = tuple(kinds)
        self._rate_retry_after = retry_after
        self._rate_delay = delay
        self._rate = rate
        self._rng = random.Random(seed)
        self._rate_status = status
        self._rate_methods = frozenset(m.lower() for m in methods) if methods else None

    def set_latency(self, seconds: float) -> None:
        """Hold every Bot API call and file download for ``seconds`` (real time) before serving it.

        A network round trip between the bot and Telegram (from a server in Europe, 50 to 300
        ms), so that benchmarks see what the bot does while it waits for answers. The whole
        round trip comes before the call takes effect: a message the bot sends appears a full
        round trip after the request, and the answer follows at once. It applies to requests
        over HTTP only: updates delivered to a webhook and a method returned in a webhook's
        response are not delayed. ``0`` switches it off; it adds to a ``slow`` fault.
        """
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        self._latency = float(seconds)

    @property
    def latency(self) -> float:
        """The round trip every call is held for (seconds, 0 = none); see :meth:`set_latency`."""
        return self._latency

    def clear(self) -> None:
        """Remove all rules, the random failure rate and the latency."""
        self.rules.clear()
        self._rate = 0.0
        self._latency = 0.0

    @property
    def pending(self) -> int:
        """How many injected faults are still waiting to fire (random ones not counted)."""
        return sum(rule.remaining for rule in self.rules)

    def take(self, method: str) -> FaultRule | None:
        """Consume and return the fault for this call, if any (used by the emulator)."""
        for rule in self.rules:
            if rule.remaining > 0 and rule.matches(method):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self.rules.remove(rule)
                return rule
        if self._rate > 0:
            key = method.lower()
            eligible = (
                key in self._rate_methods
                if self._rate_methods is not None
                else key not in _UNTARGETED
            )
            if eligible and self._rng.random() < self._rate:
                kinds = self._rate_kinds
                # One kind only: no draw, so seeded runs give the same faults as before kinds.
                kind = kinds[0] if len(kinds) == 1 else self._rng.choice(kinds)
                return FaultRule(
                    kind,
                    1,
                    method,
                    429 if kind == "retry_after" else self._rate_status,
                    delay=self._rate_delay,
                    retry_after=self._rate_retry_after,
                )
        return None
