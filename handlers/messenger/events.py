"""Webhook deliveries, read into the few events the bot acts on.

A delivery is {"object": "page", "entry": [...]}: Meta may batch several entries, and several
events in each, into one POST (developers.facebook.com/docs/messenger-platform/webhooks); each
entry holds "messaging" events (messages, postbacks, referrals; echoes, reads and deliveries are
ignored), "standby" events (counted only: `count_standby`) or, for the Page's feed, "changes"
(comments). Anything malformed is skipped, never raised: Meta would only retry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Attachment:
    kind: str  # Meta's type: "image", "file", "video", "audio" (others are not evidence)
    url: str
    name: str | None = None


@dataclass(frozen=True)
class MessageEvent:
    psid: str
    timestamp: int
    mid: str
    text: str | None = None
    quick_reply: str | None = None  # the payload of a tapped quick reply
    attachments: tuple[Attachment, ...] = ()
    unsupported: bool = False  # a sticker, a location, a shared post: nothing to read

    @property
    def dedupe(self) -> str:
        return f"m:{self.mid}"


@dataclass(frozen=True)
class PostbackEvent:
    psid: str
    timestamp: int
    payload: str
    mid: str | None = None
    ref: str | None = None  # a new thread opened from an m.me link with ?ref=

    @property
    def dedupe(self) -> str:
        # Older API versions send postbacks without a message id.
        return f"p:{self.mid}" if self.mid else f"p:{self.psid}:{self.timestamp}:{self.payload}"


@dataclass(frozen=True)
class ReferralEvent:
    """An existing thread opened again from an m.me link (messaging_referrals)."""

    psid: str
    timestamp: int
    ref: str | None

    @property
    def dedupe(self) -> str:
        return f"r:{self.psid}:{self.timestamp}:{self.ref}"


@dataclass(frozen=True)
class CommentEvent:
    """Someone commented on one of the Page's posts (the feed webhook field)."""

    comment_id: str
    post_id: str | None
    sender_id: str
    text: str

    @property
    def psid(self) -> str:
        return self.sender_id

    @property
    def dedupe(self) -> str:
        return f"c:{self.comment_id}"


Event = MessageEvent | PostbackEvent | ReferralEvent | CommentEvent


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ref(referral: Any) -> str | None:
    return _str(referral.get("ref")) if isinstance(referral, dict) else None


def _attachments(items: Any) -> tuple[tuple[Attachment, ...], bool]:
    found: list[Attachment] = []
    unsupported = False
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        assert isinstance(payload, dict)
        url = _str(payload.get("url"))
        kind = _str(item.get("type"))
        # Stickers (the thumbs-up too) arrive as images with a sticker_id: not evidence.
        if url and kind in ("image", "file", "video", "audio") and "sticker_id" not in payload:
            found.append(
                Attachment(kind, url, _str(payload.get("title")) or _str(item.get("name")))
            )
        else:
            unsupported = True
    return tuple(found), unsupported and not found


def _messaging(event: Mapping[str, Any]) -> Event | None:
    sender = event.get("sender") if isinstance(event.get("sender"), dict) else None
    psid = _str(sender.get("id")) if sender else None
    timestamp = event.get("timestamp")
    if psid is None or not isinstance(timestamp, int):
        return None
    message = event.get("message")
    if isinstance(message, dict):
        mid = _str(message.get("mid"))
        if mid is None or message.get("is_echo"):
            return None  # the Page's own messages come back as echoes
        quick = message.get("quick_reply")
        attachments, unsupported = _attachments(message.get("attachments"))
        text = message.get("text") if isinstance(message.get("text"), str) else None
        return MessageEvent(
            psid,
            timestamp,
            mid,
            text=text,
            quick_reply=_str(quick.get("payload")) if isinstance(quick, dict) else None,
            attachments=attachments,
            unsupported=unsupported or ("sticker_id" in message and not text),
        )
    postback = event.get("postback")
    if isinstance(postback, dict):
        payload = _str(postback.get("payload"))
        if payload is None:
            return None
        return PostbackEvent(
            psid, timestamp, payload, _str(postback.get("mid")), _ref(postback.get("referral"))
        )
    if isinstance(event.get("referral"), dict):
        return ReferralEvent(psid, timestamp, _ref(event.get("referral")))
    return None


def _comment(change: Mapping[str, Any], page_id: str | None) -> CommentEvent | None:
    value = change.get("value")
    if change.get("field") != "feed" or not isinstance(value, dict):
        return None
    if value.get("item") != "comment" or value.get("verb") != "add":
        return None
    sender = value.get("from") if isinstance(value.get("from"), dict) else None
    sender_id = _str(sender.get("id")) if sender else None
    comment_id = _str(value.get("comment_id"))
    if sender_id is None or comment_id is None or sender_id == page_id:
        return None  # the Page's own comments need no invitation
    text = value.get("message")
    return CommentEvent(
        comment_id, _str(value.get("post_id")), sender_id, text if isinstance(text, str) else ""
    )


def count_standby(body: Mapping[str, Any]) -> int:
    """Events in the entries' "standby" arrays: what a person did while another app (the Page
    inbox, where a human answers) holds the thread under the handover protocol
    (developers.facebook.com/docs/messenger-platform/handover-protocol; the standby webhook
    field, developers.facebook.com/docs/messenger-platform/reference/webhook-events/standby).
    The bot is not the thread's owner then: it must not answer over the human, so they are only
    counted, never read."""
    return sum(
        len(_list(entry.get("standby")))
        for entry in _list(body.get("entry"))
        if isinstance(entry, dict)
    )


def parse_delivery(body: Mapping[str, Any]) -> list[Event]:
    events: list[Event] = []
    for entry in _list(body.get("entry")):
        if not isinstance(entry, dict):
            continue
        page_id = _str(entry.get("id"))
        for item in _list(entry.get("messaging")):
            parsed = _messaging(item) if isinstance(item, dict) else None
            if parsed is not None:
                events.append(parsed)
        for change in _list(entry.get("changes")):
            comment = _comment(change, page_id) if isinstance(change, dict) else None
            if comment is not None:
                events.append(comment)
    return events


# The inbox (storage/inbox.py) keeps events between the webhook and their processing.
_KINDS: dict[str, type[MessageEvent | PostbackEvent | ReferralEvent | CommentEvent]] = {
    "message": MessageEvent,
    "postback": PostbackEvent,
    "referral": ReferralEvent,
    "comment": CommentEvent,
}


def event_to_json(event: Event) -> dict[str, Any]:
    kind = next(name for name, cls in _KINDS.items() if isinstance(event, cls))
    fields = asdict(event)
    if isinstance(event, MessageEvent):
        fields["attachments"] = [asdict(item) for item in event.attachments]
    return {"kind": kind, **fields}


def event_from_json(data: Mapping[str, Any]) -> Event:
    fields = dict(data)
    cls = _KINDS[fields.pop("kind")]
    if cls is MessageEvent:
        fields["attachments"] = tuple(Attachment(**item) for item in fields["attachments"])
    return cls(**fields)
