"""Hostile and odd input through the Messenger adapter: the webhook's parser, then the whole bot.

Meta signs every delivery, but what it carries is shaped by a person's app: stickers and likes,
locations, shared posts and reels, files of any type, 4,096-character texts, control and
right-to-left characters, HTML-like text, taps on quick replies and buttons of old conversations,
receipts and the Page's own echoes. The parser reads any JSON into events or skips it on purpose
and never raises; the bot answers every message, tap and postback a person sends with a
translated reply, ignores receipts and echoes on purpose, acknowledges every delivery with 200 and
logs nothing at ERROR. The Telegram counterpart is tests/test_hostile.py; the engine is fuzzed on
its own in tests/test_engine.py.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.demo.emulator.files import make_png
from bot.demo.emulator.graph import GraphEmulator, MessengerUser, PageMessage
from bot.i18n import language_for
from handlers.messenger.events import (
    Attachment,
    CommentEvent,
    Event,
    MessageEvent,
    PostbackEvent,
    ReferralEvent,
    parse_delivery,
)
from handlers.messenger.render import GET_STARTED, PREFIX, Action, Payload
from storage.db import migrate
from storage.sealing import Keyring
from tests.messenger_e2e import Messenger, fill_report, messenger_bot, payload, submit

LANGUAGES = ("kk", "ru", "en")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
LATIN = re.compile(r"[A-Za-z]")
# Markup as Telegram's HTML would read it: tags and character references.
MARKUP = re.compile(r"</?[A-Za-z][^<>]*>|&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);")
PAGE_ID = "101000000000001"
EVIDENCE = ("image", "file", "video", "audio")  # what the parser keeps as attachments
HTML_LIKE = "<b>не</b> &amp; <a href='tg://user?id=1'>x</a> &lt;i&gt;"
ODD_TEXTS = [
    "\u202eزوجي اعتقل\u202c",  # a right-to-left override around Arabic
    "עצור \u200f10:00",  # Hebrew with a right-to-left mark
    "Нұрлан\u200b\u200d\u2060 Ахметов",  # zero-width characters inside a name
    "name\x07\x1b[31m\x7f\u0085\x00",  # terminal escapes, C0/C1 controls, a NUL
    HTML_LIKE,
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "👍🏽👨‍👩‍👧\ufe0f🇰🇿",
    "ب" * 4096,  # the longest message Telegram allows, and more
    "Ы" * 5000,
    "слово " * 1000,
    "",
    " \n\t ",
    "\u200b",
    "/new",
    "/NEW please",
    "/forget",
    "/wipe",
    "/language",
    "/help",
    "/cancel",
    "/start",
    "/unknown",
]
# Payloads the bot itself hands out, whole: the menu, Get Started, consent, a pick.
VALID_PAYLOADS = [
    GET_STARTED,
    *(Payload(action).encode() for action in (Action.NEW, Action.CANCEL, Action.HELP)),
    Payload(Action.LANGUAGES).encode(),
    Payload(Action.CONSENT, value="yes").encode(),
    Payload(Action.PICK, "region", "almaty").encode(),
    Payload(Action.MORE, "region", "1").encode(),
    Payload(Action.CHECKIN, "1", "safe").encode(),
    Payload(Action.EDIT, "subject").encode(),
]
# Fields that look right and are not: odd digits, huge numbers, other steps, separators.
_FIELDS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "region",
            "subject",
            "almaty",
            "yes",
            "no",
            "safe",
            "help",
            "kk",
            "xx",
            "42",
            "²",  # a digit to str.isdigit(), not to int()
            "١٢",  # Arabic-Indic digits, which int() reads
            "-1",
            "9" * 30,
            "1:2:3",
            "\u202e",
        ]
    ),
)
_ACTIONS = st.sampled_from([*(action.value for action in Action), "zz", ""])
FORGED_PAYLOADS = st.one_of(
    st.text(max_size=40),  # random
    st.sampled_from(["GET_STARTED", "get_started", "rb1", "rb1:", "RB1:p:region:almaty"]),
    # The current version with forged fields.
    st.builds(lambda a, s, v: f"{PREFIX}:{a}:{s}:{v}", _ACTIONS, _FIELDS, _FIELDS),
    # Other versions, older and newer.
    st.builds(lambda a, s, v: f"rb0:{a}:{s}:{v}", _ACTIONS, _FIELDS, _FIELDS),
    st.builds(lambda a, s, v: f"rb2:{a}:{s}:{v}", _ACTIONS, _FIELDS, _FIELDS),
    # Truncated somewhere.
    st.sampled_from(VALID_PAYLOADS).flatmap(
        lambda whole: st.integers(0, len(whole)).map(lambda cut: whole[:cut])
    ),
)


# --- the parser, on its own ----------------------------------------------------------------------
_KEYS = [
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "changes",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "mid",
    "text",
    "quick_reply",
    "payload",
    "attachments",
    "type",
    "url",
    "title",
    "name",
    "sticker_id",
    "is_echo",
    "postback",
    "referral",
    "ref",
    "delivery",
    "read",
    "field",
    "value",
    "item",
    "verb",
    "comment_id",
    "post_id",
    "from",
]
_STRINGS = st.one_of(
    st.text(max_size=30),
    st.sampled_from([*ODD_TEXTS, "x" * 10_000, "rb1:p:region:almaty", "image", "42"]),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    _STRINGS,
)
JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)


def _or_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes any JSON at all in its place."""
    return st.one_of(strategy, strategy, JSON)


def _some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object whose every field may be missing or junk."""
    return st.fixed_dictionaries({}, optional={k: _or_junk(v) for k, v in fields.items()})


_IDS = st.one_of(st.text(min_size=1, max_size=20), st.integers(0, 10**17), st.just(PAGE_ID))
_URLS = st.one_of(
    st.just("https://scontent.xx.fbcdn.net/v/t1.15752-9/1.jpg?_nc_sig=x"),
    st.just("https://cdn.fbsbx.com/v/t59.2708-21/report.pdf?dl=1"),
    st.text(max_size=20),
)
_KINDS = st.sampled_from(
    [*EVIDENCE, "location", "fallback", "template", "reel", "ig_reel", "story_mention", "x"]
)
_ATTACHMENT = _some(
    type=_KINDS,
    payload=_some(
        url=_URLS,
        title=_STRINGS,
        sticker_id=st.integers(),
        coordinates=st.fixed_dictionaries({"lat": st.floats(-90, 90), "long": st.floats(0, 90)}),
        reel_video_id=st.integers(),
    ),
    title=_STRINGS,
    name=_STRINGS,
    URL=_URLS,
)
_MESSAGE = _some(
    mid=_IDS,
    text=_STRINGS,
    quick_reply=_some(payload=FORGED_PAYLOADS | st.sampled_from(VALID_PAYLOADS)),
    attachments=st.lists(_or_junk(_ATTACHMENT), max_size=3),
    is_echo=st.booleans(),
    app_id=st.integers(),
    sticker_id=st.integers(),
    reply_to=_some(mid=_IDS),
)
_MESSAGING = _some(
    sender=_some(id=_IDS),
    recipient=_some(id=_IDS),
    timestamp=st.integers(),
    message=_MESSAGE,
    postback=_some(
        title=_STRINGS,
        payload=FORGED_PAYLOADS,
        mid=_IDS,
        referral=_some(ref=_STRINGS, source=_STRINGS, type=_STRINGS),
    ),
    referral=_some(ref=_STRINGS, source=_STRINGS, type=_STRINGS),
    delivery=_some(mids=st.lists(_IDS, max_size=2), watermark=st.integers()),
    read=_some(watermark=st.integers()),
    reaction=_some(mid=_IDS, action=_STRINGS, reaction=_STRINGS, emoji=_STRINGS),
    message_edit=_some(mid=_IDS, text=_STRINGS, num_edit=st.integers()),
    optin=_some(ref=_STRINGS),
)
_CHANGE = _some(
    field=st.sampled_from(["feed", "messages", "x"]),
    value=_some(
        item=st.sampled_from(["comment", "reaction", "post"]),
        verb=st.sampled_from(["add", "edited", "remove"]),
        comment_id=_IDS,
        post_id=_IDS,
        message=_STRINGS,
        **{"from": _some(id=_IDS, name=_STRINGS)},
    ),
)
_ENTRY = _some(
    id=st.just(PAGE_ID),
    time=st.integers(),
    messaging=st.lists(_or_junk(_MESSAGING), max_size=4),
    changes=st.lists(_or_junk(_CHANGE), max_size=3),
    standby=st.lists(JSON, max_size=2),
)
DELIVERIES = st.fixed_dictionaries(
    {"object": st.just("page")},
    optional={"entry": _or_junk(st.lists(_or_junk(_ENTRY), max_size=3))},
)


def _through_json(value: Any) -> Any:
    """What the webhook's json.loads makes of what Meta sent."""
    return json.loads(json.dumps(value))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _assert_well_formed(event: Event) -> None:
    assert isinstance(event.psid, str) and event.psid
    assert isinstance(event.dedupe, str) and event.dedupe
    if isinstance(event, CommentEvent):
        assert event.comment_id and event.sender_id != PAGE_ID
        assert isinstance(event.text, str)
        return
    assert isinstance(event.timestamp, int)
    if isinstance(event, MessageEvent):
        assert isinstance(event.mid, str) and event.mid
        assert event.text is None or isinstance(event.text, str)
        assert event.quick_reply is None or (
            isinstance(event.quick_reply, str) and event.quick_reply
        )
        for item in event.attachments:
            assert item.kind in EVIDENCE and isinstance(item.url, str) and item.url
        assert not (event.unsupported and event.attachments)
    elif isinstance(event, PostbackEvent):
        assert isinstance(event.payload, str) and event.payload
        assert event.ref is None or isinstance(event.ref, str)
    else:
        assert isinstance(event, ReferralEvent)


@settings(max_examples=400, deadline=None)
@given(body=DELIVERIES)
def test_any_delivery_is_read_or_skipped_and_never_raises(body: dict[str, Any]) -> None:
    body = _through_json(body)
    events = parse_delivery(body)
    for event in events:
        _assert_well_formed(event)
    # Events are read one by one: a broken neighbour takes nothing with it, receipts, echoes
    # and unknown kinds are nothing, and what a person sent keeps its order.
    one_by_one: list[Event] = []
    for entry in _listed(body.get("entry")):
        if not isinstance(entry, dict):
            continue
        for item in _listed(entry.get("messaging")):
            alone = parse_delivery({"entry": [{"id": entry.get("id"), "messaging": [item]}]})
            assert len(alone) <= 1
            acts = isinstance(item, dict) and (
                (isinstance(item.get("message"), dict) and not item["message"].get("is_echo"))
                or isinstance(item.get("postback"), dict)
                or isinstance(item.get("referral"), dict)
            )
            assert acts or alone == [], item
            one_by_one += alone
        for change in _listed(entry.get("changes")):
            one_by_one += parse_delivery({"entry": [{"id": entry.get("id"), "changes": [change]}]})
    assert events == one_by_one


# Well-formed events as Meta sends them, each with what the parser must make of it.
_GOOD_ATTACHMENT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(EVIDENCE),
        "payload": st.fixed_dictionaries(
            {"url": _URLS.filter(bool)}, optional={"title": st.text(min_size=1, max_size=20)}
        ),
    }
)
_OTHER_ATTACHMENT = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("location"),
            "title": st.just("Pinned Location"),
            "payload": st.fixed_dictionaries(
                {
                    "coordinates": st.fixed_dictionaries(
                        {"lat": st.just(43.2), "long": st.just(76.9)}
                    )
                }
            ),
        }
    ),
    st.just({"type": "fallback", "payload": None, "title": "A link", "URL": "https://x.kz"}),
    st.just({"type": "fallback", "payload": {"url": "https://l.facebook.com/l.php?u=x"}}),
    st.just({"type": "template", "payload": {"template_type": "generic", "elements": []}}),
    st.just({"type": "reel", "payload": {"url": "https://x/reel.mp4", "reel_video_id": 1}}),
    st.just({"type": "image", "payload": {"url": "https://x/like.png", "sticker_id": 369239263}}),
    st.just({"type": "image"}),
    st.just({"type": "video", "payload": {"url": ""}}),
)


@st.composite
def _good_event(draw: st.DrawFn, index: int) -> tuple[dict[str, Any], Event]:
    psid = str(draw(st.integers(10**15, 10**17)))
    timestamp = draw(st.integers(0, 2**53))
    base = {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": timestamp}
    mid = f"m_good_{index}"
    kind = draw(st.sampled_from(["text", "tap", "attachments", "like", "postback", "referral"]))
    if kind in ("text", "tap"):
        text = draw(_STRINGS)
        message: dict[str, Any] = {"mid": mid, "text": text}
        reply = None
        if kind == "tap":
            reply = draw(FORGED_PAYLOADS.filter(bool) | st.sampled_from(VALID_PAYLOADS))
            message["quick_reply"] = {"payload": reply}
        return {**base, "message": message}, MessageEvent(
            psid, timestamp, mid, text=text, quick_reply=reply
        )
    if kind == "attachments":
        items: list[dict[str, Any]] = draw(
            st.lists(_GOOD_ATTACHMENT | _OTHER_ATTACHMENT, min_size=1, max_size=4)
        )
        kept = tuple(
            Attachment(item["type"], item["payload"]["url"], item["payload"].get("title"))
            for item in items
            if item["type"] in EVIDENCE
            and isinstance(item.get("payload"), dict)
            and item["payload"].get("url")
            and "sticker_id" not in item["payload"]
        )
        message = {"mid": mid, "attachments": items}
        return {**base, "message": message}, MessageEvent(
            psid, timestamp, mid, attachments=kept, unsupported=not kept
        )
    if kind == "like":
        like = {"type": "image", "payload": {"url": "https://x/369.png", "sticker_id": 369239263}}
        message = {"mid": mid, "sticker_id": 369239263, "attachments": [like]}
        return {**base, "message": message}, MessageEvent(psid, timestamp, mid, unsupported=True)
    if kind == "postback":
        raw = draw(FORGED_PAYLOADS.filter(bool) | st.sampled_from(VALID_PAYLOADS))
        ref = draw(st.none() | st.text(min_size=1, max_size=64))
        postback: dict[str, Any] = {"title": draw(st.text(max_size=20)), "payload": raw}
        with_mid = draw(st.booleans())  # older API versions send postbacks without one
        if with_mid:
            postback["mid"] = mid
        if ref is not None:
            postback["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        event = PostbackEvent(psid, timestamp, raw, mid if with_mid else None, ref)
        return {**base, "postback": postback}, event
    ref = draw(st.text(min_size=1, max_size=64))
    referral = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    return {**base, "referral": referral}, ReferralEvent(psid, timestamp, ref)


# What Meta also sends into a Page's thread and the bot must leave alone.
NOISE: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "delivery": lambda psid, mid: {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1,
        "delivery": {"mids": [mid], "watermark": 1},
    },
    "read": lambda psid, mid: {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1,
        "read": {"watermark": 1},
    },
    "echo": lambda psid, mid: {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": psid},
        "timestamp": 1,
        "message": {"mid": mid, "is_echo": True, "app_id": 1, "text": "Выберите язык"},
    },
    "reaction": lambda psid, mid: {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1,
        "reaction": {"mid": mid, "action": "react", "reaction": "love", "emoji": "❤"},
    },
    "no message id": lambda psid, mid: {
        "sender": {"id": psid},
        "timestamp": 1,
        "message": {"text": "no id"},
    },
    "no sender": lambda psid, mid: {"timestamp": 1, "message": {"mid": mid, "text": "x"}},
    "no timestamp": lambda psid, mid: {"sender": {"id": psid}, "message": {"mid": mid}},
    "empty postback": lambda psid, mid: {
        "sender": {"id": psid},
        "timestamp": 1,
        "postback": {"title": "Get Started", "payload": ""},
    },
}


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    count=st.integers(1, 6),
    noise=st.lists(
        st.one_of(st.sampled_from(sorted(NOISE)), JSON.map(lambda junk: ("junk", junk))),
        max_size=6,
    ),
)
def test_well_formed_events_survive_any_noise_around_them(
    data: st.DataObject, count: int, noise: list[Any]
) -> None:
    good = [data.draw(_good_event(index)) for index in range(count)]
    items: list[Any] = [raw for raw, _ in good]
    for position, kind in enumerate(noise):
        junk = kind[1] if isinstance(kind, tuple) else NOISE[kind]("7000000000000001", "m_x")
        items.insert(data.draw(st.integers(0, len(items)), label=f"noise {position}"), junk)
    body = _through_json({"object": "page", "entry": [{"id": PAGE_ID, "messaging": items}]})
    wanted = {event.dedupe for _, event in good}
    events = [event for event in parse_delivery(body) if event.dedupe in wanted]
    assert events == [event for _, event in good]


@given(raw=FORGED_PAYLOADS | st.text())
def test_payloads_of_other_versions_or_shapes_decode_to_nothing(raw: str) -> None:
    decoded = Payload.decode(raw)
    if not raw.startswith(f"{PREFIX}:") or raw.count(":") < 3:
        assert decoded is None
    else:
        # Decoding loses nothing: what the engine is given is exactly what came.
        assert decoded is not None and decoded.encode() == raw


@given(
    action=st.sampled_from(Action),
    step=st.text().filter(lambda text: ":" not in text),
    value=st.text(),
)
def test_payloads_the_bot_makes_decode_to_themselves(action: Action, step: str, value: str) -> None:
    made = Payload(action, step, value)
    assert Payload.decode(made.encode()) == made
    # Any cut that loses a field is nothing.
    cut = made.encode()[: len(f"{PREFIX}:{action.value}:{step}")]
    assert Payload.decode(cut) is None


# --- the whole adapter ---------------------------------------------------------------------------
@pytest.fixture
async def m(keyring: Keyring, tmp_path: Path) -> AsyncIterator[Messenger]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'messenger-hostile.db'}"
    await migrate(url)
    # Many people in quick succession: Meta's rate limit per Page (tests/test_messenger.py
    # covers it) must not turn a fast machine's run into 500s.
    graph_options = {"page_rate": (10_000, 1.0)}
    async with messenger_bot(url, keyring, tmp_path, graph_options=graph_options) as running:
        yield running


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.WARNING)
    return caplog.records


def _errors(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR]


# Attachments of every kind, as a person's app sends them: what the bot downloads is on the
# emulator's CDN; links it never follows (a reel, a kind it does not know) lead nowhere.
ATTACHMENTS: dict[str, Callable[[GraphEmulator], list[dict[str, Any]]]] = {
    "photo": lambda g: [
        {"type": "image", "payload": {"url": g.host_file(make_png(), "image/png", "a.png")}}
    ],
    "album": lambda g: [
        {"type": "image", "payload": {"url": g.host_file(make_png(8, 8), "image/png", "1.png")}},
        {"type": "image", "payload": {"url": g.host_file(make_png(9, 9), "image/png", "2.png")}},
    ],
    "not a picture": lambda g: [
        {"type": "image", "payload": {"url": g.host_file(b"GIF89a-no", "image/gif", "x.gif")}}
    ],
    "expired link": lambda g: [
        {"type": "image", "payload": {"url": f"{g.root_url}/cdn/{'0' * 24}?_nc_sig=0"}}
    ],
    "pdf": lambda g: [
        {"type": "file", "payload": {"url": g.host_file(b"%PDF-1.4", "application/pdf", "r.pdf")}}
    ],
    "broken jpeg file": lambda g: [
        {"type": "file", "payload": {"url": g.host_file(b"\xff\xd8no", "image/jpeg", "IMG.jpg")}}
    ],
    "video": lambda g: [
        {"type": "video", "payload": {"url": g.host_file(b"\x00\x00mp4", "video/mp4", "v.mp4")}}
    ],
    "audio": lambda g: [
        {"type": "audio", "payload": {"url": g.host_file(b"OggS", "audio/ogg", "voice.ogg")}}
    ],
    "location": lambda g: [
        {
            "type": "location",
            "title": "Pinned Location",
            "payload": {"coordinates": {"lat": 43.238, "long": 76.889}},
        }
    ],
    "fallback": lambda g: [
        {"type": "fallback", "payload": None, "title": "Статья", "URL": "https://example.kz/a"}
    ],
    "shared post": lambda g: [
        {"type": "template", "payload": {"template_type": "generic", "elements": []}}
    ],
    "reel": lambda g: [
        {"type": "reel", "payload": {"url": "https://example.kz/r.mp4", "reel_video_id": 7}}
    ],
    "unknown kind": lambda g: [{"type": "hologram", "payload": {"url": "https://example.kz/h"}}],
    "no payload": lambda g: [{"type": "image"}],
    "photo and location": lambda g: [
        {"type": "image", "payload": {"url": g.host_file(make_png(5, 5), "image/png", "p.png")}},
        {"type": "location", "payload": {"coordinates": {"lat": 51.1, "long": 71.4}}},
    ],
}
LIKE = "like"  # the thumbs-up: an image with a sticker id


async def _deliver_as_is(m: Messenger, event: dict[str, Any]) -> int:
    """One event, signed as Meta signs it."""
    body = {"object": "page", "entry": [{"id": m.graph.page_id, "time": 1, "messaging": [event]}]}
    return await m.graph.deliver(body)


async def _deliver(m: Messenger, user: MessengerUser, event: dict[str, Any]) -> int:
    """Something the person did in their thread: it opens Meta's 24-hour window, as on Meta."""
    user.thread.last_interaction = m.graph.now()
    full = {"sender": {"id": user.psid}, "recipient": {"id": m.graph.page_id}, **event}
    return await _deliver_as_is(m, {"timestamp": m.graph.now_ms(), **full})


async def _deliver_noise(m: Messenger, user: MessengerUser, kind: str) -> int:
    return await _deliver_as_is(m, NOISE[kind](user.psid, m.graph.new_mid()))


def _visible(message: PageMessage) -> list[str]:
    """Every piece of text the person sees of a message."""
    texts = [message.text or ""]
    texts += [str(reply.get("title")) for reply in message.quick_replies]
    texts += [str(button.get("title")) for button in message.buttons]
    for element in message.elements:
        texts += [str(element.get("title")), str(element.get("subtitle") or "")]
    return texts


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def _check_answer(answers: list[PageMessage], language: str | None, typed: list[str]) -> None:
    assert answers, "no answer"
    typed_at_all = [_squeezed(text) for text in typed if text.strip()]
    for message in answers:
        for piece in _visible(message):
            # Markup shown is only ever markup the person typed, never the bot's own, and what
            # they typed is never escaped on its way back.
            for found in MARKUP.findall(piece):
                assert any(_squeezed(found) in text for text in typed_at_all), (found, piece)
        if message.text:
            assert _translated(message.text, language, typed), (language, message.text)


def _translated(text: str, language: str | None, typed: list[str]) -> bool:
    for piece in sorted(typed, key=len, reverse=True):
        if piece.strip():
            text = text.replace(piece, "")
    cyrillic, latin = bool(CYRILLIC.search(text)), bool(LATIN.search(text))
    if language is None:  # the language is asked in all three
        return cyrillic and latin
    return cyrillic if language in ("ru", "kk") else latin


async def _prepare(
    m: Messenger, user: MessengerUser, where: str, language: str | None
) -> str | None:
    """A new thread, a person who agreed to the notice, or one half-way through a report."""
    if where == "new":
        return language
    assert await user.get_started() == 200
    if language is None:
        language = "kk"
        assert await user.tap(payload=payload(Action.LANGUAGE, value=language)) == 200
    assert await user.tap(payload=payload(Action.CONSENT, value="yes")) == 200
    if where == "mid-report":
        assert await user.tap(payload=payload(Action.TYPE, value="detention")) == 200
        assert await user.tap(payload=payload(Action.SKIP, "relation")) == 200
    return language


def _language_after(raw: str | None, language: str | None) -> str | None:
    """The reader's language once this payload is applied: a language tap changes it."""
    decoded = Payload.decode(raw)
    if decoded is not None and decoded.action == Action.LANGUAGE and decoded.value in LANGUAGES:
        return decoded.value
    return language


async def _send(
    m: Messenger, user: MessengerUser, kind: str, value: Any, typed: list[str]
) -> tuple[int, str | None] | None:
    """Do what the person does; returns the webhook's status and the payload sent, or None when
    there was nothing to tap."""
    graph = m.graph
    if kind == "text":
        typed.append(value)
        return await user.send_text(value), None
    if kind == "tap":
        latest = graph.last_page_message(user)
        if latest is None or not latest.quick_replies:
            return None
        reply = latest.quick_replies[value % len(latest.quick_replies)]
        return await user.tap(payload=str(reply["payload"])), str(reply["payload"])
    if kind == "press":
        buttons = [
            (message, str(button["payload"]))
            for message in graph.page_messages(user)
            for button in message.buttons
            if button.get("type") == "postback"
        ]
        if not buttons:
            return None
        message, raw = buttons[value % len(buttons)]
        return await user.press(message, payload=raw), raw
    if kind == "forged tap":
        raw, title = value
        typed.append(title)
        message = {"mid": graph.new_mid(), "text": title, "quick_reply": {"payload": raw}}
        return await _deliver(m, user, {"message": message}), raw
    if kind == "postback":
        event = {"postback": {"title": "Menu", "payload": value, "mid": graph.new_mid()}}
        return await _deliver(m, user, event), value
    if kind == "link":
        typed.append(value)
        return await user.open_link(value), None
    if kind == LIKE:
        return await user.send_sticker(), None
    attachments = ATTACHMENTS[value](graph)
    message = {"mid": graph.new_mid(), "attachments": attachments}
    return await _deliver(m, user, {"message": message}), None


def _no_downloads(body: dict[str, Any]) -> bool:
    """A delivery with nothing the bot would download: junk here must not reach the Internet."""
    return not any(
        isinstance(event, MessageEvent) and event.attachments for event in parse_delivery(body)
    )


_TEXTS = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=4200),
    st.sampled_from(ODD_TEXTS),
)
_INPUTS = st.lists(
    st.one_of(
        st.tuples(st.just("text"), _TEXTS),
        st.tuples(st.just("tap"), st.integers(0, 12)),
        st.tuples(st.just("press"), st.integers(0, 30)),
        st.tuples(
            st.just("forged tap"),
            st.tuples(FORGED_PAYLOADS.filter(bool), st.text(max_size=20)),
        ),
        st.tuples(
            st.just("postback"), FORGED_PAYLOADS.filter(bool) | st.sampled_from(VALID_PAYLOADS)
        ),
        st.tuples(st.just("link"), st.text(min_size=1, max_size=80)),
        st.tuples(st.just("attachment"), st.sampled_from(sorted(ATTACHMENTS))),
        st.tuples(st.just(LIKE), st.none()),
        st.tuples(st.just("ignored"), st.sampled_from(sorted(NOISE))),
        st.tuples(st.just("junk delivery"), DELIVERIES.map(_through_json).filter(_no_downloads)),
    ),
    min_size=1,
    max_size=8,
)
LOCALES = ["ru_RU", "kk_KZ", "en_US", "ar_AR", None]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    inputs=_INPUTS,
    locale=st.sampled_from(LOCALES),
    where=st.sampled_from(["new", "agreed", "mid-report"]),
)
async def test_any_input_is_answered_or_ignored_on_purpose_and_never_raises(
    m: Messenger,
    errors: list[logging.LogRecord],
    inputs: list[tuple[str, Any]],
    locale: str | None,
    where: str,
) -> None:
    user = m.graph.user(locale=locale)  # a new person every time
    language = await _prepare(m, user, where, language_for(locale) if locale else None)
    typed: list[str] = []
    for kind, value in inputs:
        before = m.graph.seq
        if kind in ("ignored", "junk delivery"):
            if kind == "ignored":
                status = await _deliver_noise(m, user, value)
            else:
                status = await m.graph.deliver(value)
            assert status == 200, (kind, value)
            assert [msg for msg in m.graph.page_messages(user) if msg.seq > before] == []
            continue
        sent = await _send(m, user, kind, value, typed)
        if sent is None:
            continue
        status, raw = sent
        assert status == 200, (kind, value)
        language = _language_after(raw, language)
        await m.graph.wait_for_page_message(user, after=before, timeout=10)
        answers = [msg for msg in m.graph.page_messages(user) if msg.seq > before]
        _check_answer(answers, language, typed)
    assert _errors(errors) == []
    assert all(status == 200 for status, _, _ in m.graph.deliveries)


# Payloads that look like the bot's and are not, or were once: each is answered like any tap.
ODD_PAYLOADS = [
    "GET_STARTED",
    "rb0:p:region:almaty",
    "rb2:p:region:almaty",
    "rb1:p:region",
    "rb1:p:region:",
    "rb1:p:region:alm",
    "rb1:p:nowhere:almaty",
    "rb1:zz::",
    "rb1:::",
    "rb1:ck:²:safe",
    "rb1:ck:١٢:help",
    "rb1:ck:-1:safe",
    f"rb1:ck:{'9' * 30}:safe",
    "rb1:m:region:²",
    f"rb1:m:region:{'9' * 900}",
    "rb1:l::xx",
    "rb1:ok::maybe",
    "rb1:fg::perhaps",
    "rb1:e:nowhere:",
    "rb1:x::",
    "rb1:d:subject:",
    "rb1:s:subject:",
    "x" * 1000,
]


@pytest.mark.parametrize("how", ["forged tap", "postback"])
async def test_forged_and_old_payloads_are_answered(
    m: Messenger, errors: list[logging.LogRecord], how: str
) -> None:
    for index, raw in enumerate(ODD_PAYLOADS):
        locale = ("kk_KZ", "ru_RU", "en_US")[index % 3]
        user = m.graph.user(locale=locale)
        language = await _prepare(m, user, "mid-report", language_for(locale))
        before = m.graph.seq
        value = (raw, "Далее") if how == "forged tap" else raw
        sent = await _send(m, user, how, value, [])
        assert sent is not None and sent[0] == 200, raw
        await m.graph.wait_for_page_message(user, after=before, timeout=10)
        answers = [msg for msg in m.graph.page_messages(user) if msg.seq > before]
        _check_answer(answers, language, ["Далее"])
    assert _errors(errors) == []
    assert all(status == 200 for status, _, _ in m.graph.deliveries)


# Deliveries of the Page's object whose shape is wrong: acknowledged, so Meta does not retry
# them for hours and then turn the webhook off, and nothing is answered.
JUNK_DELIVERIES: list[dict[str, Any]] = [
    {"object": "page"},
    {"object": "page", "entry": None},
    {"object": "page", "entry": 5},
    {"object": "page", "entry": True},
    {"object": "page", "entry": "entry"},
    {"object": "page", "entry": {"id": PAGE_ID}},
    {"object": "page", "entry": [None, 1, "x", []]},
    {"object": "page", "entry": [{"id": PAGE_ID, "messaging": 1}]},
    {"object": "page", "entry": [{"id": PAGE_ID, "messaging": {"sender": {"id": "1"}}}]},
    {"object": "page", "entry": [{"id": PAGE_ID, "messaging": [None, 2, [], "m"]}]},
    {"object": "page", "entry": [{"id": PAGE_ID, "changes": 1.5}]},
    {"object": "page", "entry": [{"id": PAGE_ID, "changes": [{"field": "feed", "value": 1}]}]},
    {"object": "page", "entry": [{"id": PAGE_ID, "standby": [{"sender": {"id": "1"}}]}]},
]


async def test_deliveries_of_the_wrong_shape_are_acknowledged(
    m: Messenger, errors: list[logging.LogRecord]
) -> None:
    for body in JUNK_DELIVERIES:
        assert await m.graph.deliver(body) == 200, body
    # Not JSON, or not the Page's: refused as such, not failed.
    assert await m.graph.deliver_raw(b"{not json") == 400
    assert await m.graph.deliver({"object": "instagram", "entry": []}) == 404
    assert not any(thread.page_messages for thread in m.graph.threads.values())
    assert _errors(errors) == []


@pytest.mark.parametrize("where", ["new", "mid-report"])
async def test_every_kind_of_attachment_is_answered_and_receipts_are_not(
    m: Messenger, errors: list[logging.LogRecord], where: str
) -> None:
    for index, name in enumerate([*sorted(ATTACHMENTS), LIKE]):
        locale = ("kk_KZ", "ru_RU", "en_US")[index % 3]
        user = m.graph.user(locale=locale)
        language = await _prepare(m, user, where, language_for(locale))
        before = m.graph.seq
        sent = await _send(m, user, LIKE if name == LIKE else "attachment", name, [])
        assert sent is not None and sent[0] == 200, name
        await m.graph.wait_for_page_message(user, after=before, timeout=10)
        _check_answer(
            [msg for msg in m.graph.page_messages(user) if msg.seq > before], language, []
        )
        before = m.graph.seq
        for kind in sorted(NOISE):
            assert await _deliver_noise(m, user, kind) == 200, kind
        assert [msg for msg in m.graph.page_messages(user) if msg.seq > before] == []
    assert _errors(errors) == []


async def test_html_like_text_comes_back_as_the_same_text_everywhere(
    m: Messenger, errors: list[logging.LogRecord]
) -> None:
    user = m.graph.user(locale="ru_RU")
    await _prepare(m, user, "mid-report", "ru")
    await user.send_text(HTML_LIKE)
    await user.tap(payload=payload(Action.BACK))
    prompt = m.graph.last_page_message(user)
    assert prompt is not None and HTML_LIKE in (prompt.text or "")
    assert html.escape(HTML_LIKE) not in (prompt.text or "")
    # Through to the review, the carousel of answers, and the moderators' card in Telegram.
    user = m.graph.user(locale="ru_RU")
    await _prepare(m, user, "agreed", "ru")
    answers = {
        "relation": ("pick", "family"),
        "subject": HTML_LIKE,
        "when": "вчера 14:30",
        "region": ("pick", "almaty"),
        "account": HTML_LIKE,
        "contact": ("pick", "chat"),
        "consent": ("pick", "anonymised"),
        "media": "done",
    }
    review = await fill_report(m, user, "detention", answers, language="ru")
    summary = m.graph.page_messages(user)[-2]
    assert (summary.text or "").count(HTML_LIKE) == 2
    before = m.graph.seq
    await user.press(review, payload=payload(Action.EDIT_MENU))
    carousels = [msg for msg in m.graph.page_messages(user) if msg.seq > before]
    subtitles = [str(element.get("subtitle")) for msg in carousels for element in msg.elements]
    assert subtitles.count(HTML_LIKE) == 2, subtitles
    await user.tap(payload=payload(Action.SHOW))
    shown_again = m.graph.last_page_message(user)
    assert shown_again is not None and shown_again.template_type == "button"
    code = await submit(m, user, shown_again)
    card = await m.tg.wait_for_bot_message(m.group, lambda msg: code in (msg.text or ""))
    assert HTML_LIKE in (card.text or "")
    assert _errors(errors) == []
