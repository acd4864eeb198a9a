"""Messenger's messaging window: when the Page may still write to a person.

A Page may message a person freely within 24 hours of the person's last message, postback or
referral (developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window).
After that only a message tag may be used; the HUMAN_AGENT tag (a feature the Page applies for)
lets a human answer within 7 days. `Reporter.last_seen` is updated on every inbound event.
"""

from __future__ import annotations

import datetime as dt
import enum

STANDARD_WINDOW = dt.timedelta(hours=24)
HUMAN_AGENT_WINDOW = dt.timedelta(days=7)
HUMAN_AGENT_TAG = "HUMAN_AGENT"


class Window(enum.Enum):
    OPEN = "open"
    HUMAN_AGENT = "human_agent"  # closed, but a human may still answer with the tag
    CLOSED = "closed"


def messaging_window(last_seen: dt.datetime, now: dt.datetime, *, human_agent: bool) -> Window:
    since = now - last_seen
    if since < STANDARD_WINDOW:
        return Window.OPEN
    if human_agent and since < HUMAN_AGENT_WINDOW:
        return Window.HUMAN_AGENT
    return Window.CLOSED
