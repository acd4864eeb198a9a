"""At most one refusal per person per window in a group.

Telegram lets a bot post about 20 messages a minute in one group
(core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this); alerts need them. A
member who is not staff (an infiltrator, or anyone in a group the bot was added to) must not be
able to spend them by sending commands the bot refuses (README, Threats): the first refusal is
said, the next ones within the window are dropped. Per process: several replicas may each say
one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

REFUSAL_WINDOW = 10 * 60.0  # seconds
# The refusals of someone who may not act (bot/services/moderation.py, _authorised); a staff
# member's other "no" (a reporter who asked not to be contacted, say) is always said.
NOT_ALLOWED = frozenset(
    {"Sorry, you are not allowed to do this.", "This works only in the moderators' chat."}
)
_MAX_REMEMBERED = 10_000


class RefusalGate:
    def __init__(
        self, window: float = REFUSAL_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.clock = clock
        self._said: dict[int, float] = {}

    def allow(self, user_id: int) -> bool:
        """Whether a refusal may be said to this person now (and remember that it was)."""
        now = self.clock()
        if len(self._said) >= _MAX_REMEMBERED:
            self._said = {k: v for k, v in self._said.items() if now - v < self.window}
        last = self._said.get(user_id)
        if last is not None and now - last < self.window:
            return False
        self._said[user_id] = now
        return True
