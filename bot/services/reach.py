"""Who can still be written to, and until when: Messenger's messaging window, as time rules.

Pure rules on times and a channel's name, so the services (moderation's "until when", the
check-ins' planning) and the Messenger channel (handlers/messenger/delivery.py, the tag and the
last check before sending) ask the same ones without the services naming a channel's module.

A Page may message a person freely within 24 hours of the person's last message, postback or
referral (developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window).
After that only a message tag may be used; the HUMAN_AGENT tag (a feature the Page applies for)
lets a human answer within 7 days. `Reporter.last_seen` is updated on every inbound event.
"""

from __future__ import annotations

import datetime as dt
import enum

# The Messenger channel's name as the services know it (a reporter's `channel`, a report's);
# handlers/messenger's CHANNEL is the same name (tests/test_layers.py checks it).
MESSENGER = "messenger"

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


# An automated message due at a time must reach Meta a little later (the outbox's pace, a retry):
# it is planned only if the window is still open this long after it is due.
SEND_MARGIN = dt.timedelta(minutes=15)


def may_send(last_seen: dt.datetime, now: dt.datetime, *, tag: str | None) -> bool:
    """Whether Meta lets the Page send now: within 24 hours, or 7 with HUMAN_AGENT (which is
    only ever set where the Page has the feature: FACEBOOK_HUMAN_AGENT)."""
    since = now - last_seen
    return since < (HUMAN_AGENT_WINDOW if tag == HUMAN_AGENT_TAG else STANDARD_WINDOW)


def may_write_unasked(channel: str, last_seen: dt.datetime, at: dt.datetime) -> bool:
    """Whether an automated message (a status notice, a safety check-in) due at `at` can still
    reach the person: on Messenger only inside the 24-hour window, since automated messages may
    not use the HUMAN_AGENT tag (developers.facebook.com/docs/messenger-platform/send-messages/
    message-tags). Telegram has no such window."""
    if channel != MESSENGER:
        return True
    return at + SEND_MARGIN < last_seen + STANDARD_WINDOW


def reachable_until(last_seen: dt.datetime, *, human_agent: bool) -> dt.datetime:
    """Until when the team can write to a Messenger reporter, unless they write again."""
    return last_seen + (HUMAN_AGENT_WINDOW if human_agent else STANDARD_WINDOW)


def reply_tag(last_seen: dt.datetime, now: dt.datetime, *, human_agent: bool) -> str | None:
    """The tag a team member's answer goes with now: none within 24 hours, HUMAN_AGENT after,
    within 7 days, where the Page has the feature (message-tags page); none when it is too late
    either way (the window check then stops it)."""
    window = messaging_window(last_seen, now, human_agent=human_agent)
    return HUMAN_AGENT_TAG if window == Window.HUMAN_AGENT else None
