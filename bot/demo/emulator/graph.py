"""A loopback Graph API emulator (Messenger Platform) for end-to-end tests.

The bot's real Graph client talks to it over HTTP on 127.0.0.1, and it delivers webhook events to
the bot's real /facebook/webhook, signed as Meta signs them::

    async with GraphEmulator(app_secret="s", page_token="t") as graph:
        graph.webhook_url = "http://127.0.0.1:8080/facebook/webhook"
        await graph.verify_webhook("verify-token")      # Meta's subscription check
        aigul = graph.user(locale="kk_KZ")
        await aigul.open_link("group_pin")              # m.me/<page>?ref=group_pin, Get Started
        reply = graph.last_page_message(aigul)
        await aigul.tap(reply, payload=...)             # a quick reply
        await aigul.send_text("Нұрлан")

What it enforces, as Meta documents it (developers.facebook.com/docs/messenger-platform):
the page token and appsecret_proof; messaging_type and message tags; the 24-hour window after the
person's last message, postback or referral (7 days with HUMAN_AGENT, where the Page has it),
answered (#10) subcode 2018278; a person who blocked the Page, (#551) subcode 1545041; unknown
recipients, (#100) subcode 2018001; text up to 2,000 characters, at most 13 quick replies with
titles of 20 characters and payloads of 1,000, button templates (640 characters, 1 to 3
buttons), generic templates (1 to 10 elements, titles and subtitles of 80); Send API rates (300
calls a second per Page, 10 for media, and a per-thread limit), answered (#613); private replies
to comments (one per comment, within 7 days, (#10900) when repeated); the Messenger profile
(get started, greeting of 160 characters, persistent menu titles of 30) and its rate limit (10
calls in 10 minutes per Page, (#613)); a HUMAN_AGENT tag from a Page without the feature earns
nothing (past 24 hours, (#10) 2018278); a person who blocked the Page answered (#551) or, as Meta
warns it may be, (#2); threads held by the Page inbox under the handover protocol (events go to
"standby", and sends are refused (#10) subcode 2018300); several entries in one POST
(`batched`); deliveries not answered in time sent again (`answer_within`, `late_answers`).
Faults: `fail_next`, and `delay` (every call answered that many seconds late).

People act through `MessengerUser`: text, quick replies (only those under the Page's latest
message, as the app shows them), postback buttons (any template in the thread, the persistent
menu, Get Started on a new thread), images and files (served from the emulator's CDN, with links
that can be made to expire), m.me links with a ref, comments on the Page's posts, blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import socket
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

GRAPH_VERSION = "v21.0"
# developers.facebook.com/docs/messenger-platform/send-messages: text "must be UTF-8 and has a
# 2000 character limit"; longer is refused with (#100).
TEXT_LIMIT = 2000
QUICK_REPLIES_MAX = 13
TITLE_LIMIT = 20
PAYLOAD_LIMIT = 1000
BUTTON_TEXT_LIMIT = 640
ELEMENTS_MAX = 10
ELEMENT_TEXT_LIMIT = 80
GREETING_LIMIT = 160
MENU_TITLE_LIMIT = 30
# developers.facebook.com/docs/messenger-platform/policy/policy-overview#24hours_window
WINDOW = 24 * 3600.0
# developers.facebook.com/docs/messenger-platform/send-messages/message-tags (HUMAN_AGENT)
HUMAN_AGENT_WINDOW = 7 * 24 * 3600.0
PRIVATE_REPLY_WINDOW = 7 * 24 * 3600.0
# developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api: "10 API calls
# in a 10 minute interval" per Page.
PROFILE_RATE = (10, 600.0)
# developers.facebook.com/docs/messenger-platform/webhooks: a delivery must be answered 200
# within seconds, or Meta counts it failed and sends it again (the same body, byte for byte).
ANSWER_WITHIN = 20.0
REDELIVERIES = 3
MESSAGE_TAGS = frozenset(
    {"HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"}
)


class GraphApiError(Exception):
    """An error answer, in Graph's shape: {"error": {"message", "type", "code", ...}}."""

    def __init__(
        self, code: int, message: str, subcode: int | None = None, *, status: int = 400
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.message = message
        self.status = status

    def payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": "AbCdEfGhIjK",
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def _param_error(message: str, subcode: int | None = None) -> GraphApiError:
    return GraphApiError(100, f"(#100) {message}", subcode)


@dataclass
class PageMessage:
    """A message the Page sent into a thread (or a private reply to a comment)."""

    seq: int
    mid: str
    psid: str
    message: dict[str, Any]
    messaging_type: str
    tag: str | None
    at: float
    upload: bytes | None = None
    upload_name: str | None = None

    @property
    def text(self) -> str | None:
        text = self.message.get("text")
        if isinstance(text, str):
            return text
        payload = self._template()
        return payload.get("text") if payload is not None else None

    @property
    def quick_replies(self) -> list[dict[str, Any]]:
        return list(self.message.get("quick_replies") or [])

    def _template(self) -> dict[str, Any] | None:
        attachment = self.message.get("attachment") or {}
        if attachment.get("type") == "template":
            return dict(attachment.get("payload") or {})
        return None

    @property
    def template_type(self) -> str | None:
        payload = self._template()
        return payload.get("template_type") if payload else None

    @property
    def elements(self) -> list[dict[str, Any]]:
        payload = self._template()
        return list(payload.get("elements") or []) if payload else []

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Postback buttons of a button template, or of every element of a generic one."""
        payload = self._template()
        if payload is None:
            return []
        found = list(payload.get("buttons") or [])
        for element in payload.get("elements") or []:
            found.extend(element.get("buttons") or [])
        return found

    @property
    def attachment_type(self) -> str | None:
        attachment = self.message.get("attachment") or {}
        kind = attachment.get("type")
        return kind if kind != "template" else None


@dataclass
class Thread:
    psid: str
    locale: str | None
    first_name: str
    last_interaction: float | None = None
    blocked: bool = False
    # How Meta answers a send to a person who blocked the Page: (#551) "This person isn't
    # available right now", or (#2) "An unexpected error has occurred", which the error-codes
    # page says may also mean that (developers.facebook.com/docs/messenger-platform/error-codes).
    blocked_code: int = 551
    # Under the handover protocol the thread may be held by the Page inbox (a person answers
    # there); the app then gets the person's events in "standby", not "messaging"
    # (developers.facebook.com/docs/messenger-platform/handover-protocol).
    held_by_inbox: bool = False
    page_messages: list[PageMessage] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    last_action_seq: int = 0


@dataclass
class CdnFile:
    data: bytes
    content_type: str
    name: str
    expired: bool = False


@dataclass
class Comment:
    comment_id: str
    post_id: str
    sender_id: str
    text: str
    at: float
    replied: bool = False


@dataclass
class Fault:
    code: int
    subcode: int | None
    status: int
    message: str
    path: str | None
    after: int = 0  # matching calls that still succeed before this one fails


@dataclass
class Call:
    method: str
    path: str
    ok: bool
    code: int | None = None
    subcode: int | None = None


class _Window:
    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.stamps: deque[float] = deque()

    def take(self, now: float) -> bool:
        while self.stamps and self.stamps[0] <= now - self.seconds:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            return False
        self.stamps.append(now)
        return True


def _signature(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    return f"{algorithm}=" + hmac.new(secret.encode(), body, algorithm).hexdigest()


class MessengerUser:
    """Act as one person in Messenger: everything they do becomes a signed webhook delivery."""

    def __init__(self, graph: GraphEmulator, thread: Thread) -> None:
        self.graph = graph
        self.thread = thread

    @property
    def psid(self) -> str:
        return self.thread.psid

    def __repr__(self) -> str:
        return f"MessengerUser(psid={self.psid!r}, locale={self.thread.locale!r})"

    async def _event(self, event: dict[str, Any]) -> int:
        graph = self.graph
        stamp = graph.now_ms()
        full = {
            "sender": {"id": self.psid},
            "recipient": {"id": graph.page_id},
            "timestamp": stamp,
            **event,
        }
        self.thread.last_interaction = graph.now()
        self.thread.events.append(full)
        self.thread.last_action_seq = graph.seq
        if self.thread.held_by_inbox:
            # Standby events do not carry a postback's payload (the standby reference page).
            if "postback" in full:
                full = {**full, "postback": {"title": full["postback"].get("title")}}
            entry = {"id": graph.page_id, "time": stamp, "standby": [full]}
        else:
            entry = {"id": graph.page_id, "time": stamp, "messaging": [full]}
        if graph.batch is not None:
            graph.batch.append(entry)
            return 0
        return await graph.deliver({"object": "page", "entry": [entry]})

    async def send_text(self, text: str) -> int:
        return await self._event({"message": {"mid": self.graph.new_mid(), "text": text}})

    async def tap(
        self,
        message: PageMessage | None = None,
        *,
        payload: str | None = None,
        title: str | None = None,
    ) -> int:
        """Tap a quick reply (by payload, or by a piece of its title) under the latest message."""
        latest = self.graph.last_page_message(self)
        message = message or latest
        if message is None or message is not latest:
            raise AssertionError("quick replies show under the Page's latest message only")
        for reply in message.quick_replies:
            if (payload is not None and reply.get("payload") == payload) or (
                title is not None and title in str(reply.get("title"))
            ):
                event = {
                    "mid": self.graph.new_mid(),
                    "text": reply["title"],
                    "quick_reply": {"payload": reply["payload"]},
                }
                return await self._event({"message": event})
        raise AssertionError(f"no quick reply {payload or title!r} under {message.text!r}")

    async def press(
        self, message: PageMessage, *, payload: str | None = None, title: str | None = None
    ) -> int:
        """Press a postback button of a template the Page sent (it stays in the thread)."""
        if message not in self.thread.page_messages:
            raise AssertionError("that message is not in this thread")
        for button in message.buttons:
            if button.get("type") != "postback":
                continue
            if (payload is not None and button.get("payload") == payload) or (
                title is not None and title in str(button.get("title"))
            ):
                return await self._postback(str(button["title"]), str(button["payload"]))
        raise AssertionError(f"no button {payload or title!r} on {message.text!r}")

    async def _postback(
        self, title: str, payload: str, referral: dict[str, Any] | None = None
    ) -> int:
        postback: dict[str, Any] = {"title": title, "payload": payload, "mid": self.graph.new_mid()}
        if referral is not None:
            postback["referral"] = referral
        return await self._event({"postback": postback})

    def _profile_menu(self) -> list[dict[str, Any]]:
        menus = self.graph.profile.get("persistent_menu") or []
        by_locale = {menu.get("locale"): menu for menu in menus}
        menu = by_locale.get(self.thread.locale) or by_locale.get("default") or {}
        return list(menu.get("call_to_actions") or [])

    async def menu(self, title: str) -> int:
        """Choose an item of the persistent menu (in the person's locale)."""
        for item in self._profile_menu():
            if title in str(item.get("title")):
                return await self._postback(str(item["title"]), str(item["payload"]))
        raise AssertionError(f"no menu item {title!r}")

    async def get_started(self, *, ref: str | None = None) -> int:
        """Press Get Started on a new thread (the ref of the m.me link comes along)."""
        if self.thread.last_interaction is not None or self.thread.page_messages:
            raise AssertionError("Get Started shows on a new thread only")
        started = (self.graph.profile.get("get_started") or {}).get("payload")
        if not started:
            raise AssertionError("the Page has no Get Started button (messenger_profile)")
        referral = (
            {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"} if ref is not None else None
        )
        return await self._postback("Get Started", str(started), referral)

    async def open_link(self, ref: str) -> int:
        """Open https://m.me/<page>?ref=<ref>: Get Started on a new thread, else a referral."""
        if self.thread.last_interaction is None and not self.thread.page_messages:
            return await self.get_started(ref=ref)
        referral = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        return await self._event({"referral": referral})

    async def send_image(self, data: bytes, *, content_type: str = "image/png") -> int:
        url = self.graph.host_file(data, content_type, "image.png")
        attachment = {"type": "image", "payload": {"url": url}}
        return await self._event(
            {"message": {"mid": self.graph.new_mid(), "attachments": [attachment]}}
        )

    async def send_file(self, data: bytes, name: str, *, content_type: str) -> int:
        url = self.graph.host_file(data, content_type, name)
        attachment = {"type": "file", "payload": {"url": url}}
        return await self._event(
            {"message": {"mid": self.graph.new_mid(), "attachments": [attachment]}}
        )

    async def send_sticker(self) -> int:
        # The thumbs-up: an image attachment that carries a sticker id.
        url = self.graph.host_file(b"GIF89a", "image/gif", "sticker.gif")
        attachment = {"type": "image", "payload": {"url": url, "sticker_id": 369239263222822}}
        message = {"mid": self.graph.new_mid(), "attachments": [attachment], "sticker_id": 1}
        return await self._event({"message": message})

    async def comment(self, text: str, *, post_id: str = "101000000000001_900") -> int:
        """Comment on one of the Page's posts (the feed webhook field)."""
        graph = self.graph
        comment_id = f"{post_id.rsplit('_', maxsplit=1)[-1]}_{next(graph.ids)}"
        graph.comments[comment_id] = Comment(comment_id, post_id, self.psid, text, graph.now())
        value = {
            "from": {"id": self.psid, "name": self.thread.first_name},
            "post": {"id": post_id, "status_type": "added_photos"},
            "message": text,
            "post_id": post_id,
            "comment_id": comment_id,
            "created_time": int(graph.now()),
            "item": "comment",
            "parent_id": post_id,
            "verb": "add",
        }
        body = {
            "object": "page",
            "entry": [
                {
                    "id": graph.page_id,
                    "time": graph.now_ms(),
                    "changes": [{"field": "feed", "value": value}],
                }
            ],
        }
        self.thread.last_action_seq = graph.seq
        return await graph.deliver(body)

    def block_page(self, *, code: int = 551) -> None:
        """Block the Page; sends to them are answered (#551) or, as Meta warns, (#2)."""
        self.thread.blocked = True
        self.thread.blocked_code = code


class GraphEmulator:
    def __init__(
        self,
        *,
        app_secret: str,
        page_token: str,
        page_id: str = "101000000000001",
        require_proof: bool = True,
        human_agent: bool = False,
        share_locale: bool = True,
        page_rate: tuple[int, float] = (300, 1.0),
        media_rate: tuple[int, float] = (10, 1.0),
        thread_rate: tuple[int, float] = (100, 10.0),
        delay: float = 0.0,
    ) -> None:
        self.app_secret = app_secret
        #: Seconds every Graph API call takes before it is answered (a slow Meta); settable.
        self.delay = delay
        self.page_token = page_token
        self.page_id = page_id
        self.require_proof = require_proof
        #: The Page has the Human Agent feature: HUMAN_AGENT answers within 7 days.
        self.human_agent = human_agent
        #: The app may read people's locale (an approved permission); else it is left out.
        self.share_locale = share_locale
        self._page_rate = page_rate
        self._thread_rate = thread_rate
        self._page_window = _Window(*page_rate)
        self._media_window = _Window(*media_rate)
        self._thread_windows: dict[str, _Window] = {}
        self._profile_window = _Window(*PROFILE_RATE)
        #: Entries collected by `batched()`, sent as one POST when it ends.
        self.batch: list[dict[str, Any]] | None = None
        #: Seconds Meta waits for a delivery's 200 before it counts it failed and resends it.
        self.answer_within = ANSWER_WITHIN
        #: The next deliveries whose answer comes after Meta stopped waiting (a slow webhook):
        #: the webhook got them, Meta did not see the 200, and sends them again.
        self.late_answers = 0
        self.offset = 0.0
        self.seq = 0
        self.ids = itertools.count(1_000_001)
        self.threads: dict[str, Thread] = {}
        self.cdn: dict[str, CdnFile] = {}
        self.comments: dict[str, Comment] = {}
        self.private_replies: list[PageMessage] = []
        self.profile: dict[str, Any] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        #: Tracebacks of emulator bugs (answered 500); the fixture asserts it is empty.
        self.internal_errors: list[str] = []
        #: (status, body, headers) of every webhook delivery, oldest first.
        self.deliveries: list[tuple[int, bytes, dict[str, str]]] = []
        self.webhook_url = ""
        #: Awaited after each delivery answered 200, before `deliver` returns. Meta's webhook is
        #: answered before the events are acted on (developers.facebook.com/docs/messenger-
        #: platform/webhooks asks for a 200 within seconds), so a person sees the Page's answer a
        #: moment later; tests set this to wait for that moment, as a person would.
        self.after_delivery: Callable[[], Awaitable[None]] | None = None
        self.root_url = ""
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What FACEBOOK_GRAPH_URL points at."""
        return f"{self.root_url}/{GRAPH_VERSION}"

    async def start(self) -> GraphEmulator:
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_route("*", f"/{GRAPH_VERSION}/{{path:.+}}", self._handle)
        app.router.add_get("/cdn/{file_id}", self._handle_cdn)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self.root_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GraphEmulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- time, ids, people ---------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        """Move Meta's clock forward (the window rules follow it; the bot's clock does not)."""
        self.offset += seconds

    def new_mid(self) -> str:
        # Real message ids are long opaque strings, longer than 64 characters.
        return "m_" + hashlib.sha256(str(next(self.ids)).encode()).hexdigest() + "AbCdEfGhIjKl"

    def user(
        self, psid: str | None = None, *, locale: str | None = "ru_RU", first_name: str = "Test"
    ) -> MessengerUser:
        psid = psid or str(7_000_000_000_000_000 + next(self.ids))
        thread = self.threads.get(psid)
        if thread is None:
            thread = Thread(psid, locale, first_name)
            self.threads[psid] = thread
        return MessengerUser(self, thread)

    def host_file(self, data: bytes, content_type: str, name: str) -> str:
        file_id = hashlib.sha256(data + str(next(self.ids)).encode()).hexdigest()[:24]
        self.cdn[file_id] = CdnFile(data, content_type, name)
        return f"{self.root_url}/cdn/{file_id}?_nc_sig={file_id[:8]}"

    def expire_files(self) -> None:
        for stored in self.cdn.values():
            stored.expired = True

    def fail_next(
        self,
        code: int,
        subcode: int | None = None,
        *,
        status: int = 400,
        message: str = "(#2) Service temporarily unavailable",
        path: str | None = "me/messages",
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer the next calls to `path` (None: any) with this error, once `after` calls to it
        have succeeded (a rate limit met in the middle of a reply)."""
        self.faults.extend(
            Fault(code, subcode, status, message, path, after if index == 0 else 0)
            for index in range(times)
        )

    # --- reading what the Page sent ------------------------------------------------------------
    def page_messages(self, user: MessengerUser) -> list[PageMessage]:
        return list(user.thread.page_messages)

    def last_page_message(self, user: MessengerUser) -> PageMessage | None:
        messages = user.thread.page_messages
        return messages[-1] if messages else None

    def _notify(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        event.set()

    async def wait_for_page_message(
        self,
        user: MessengerUser,
        predicate: Callable[[PageMessage], Any] | None = None,
        *,
        after: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper, not a network call
    ) -> PageMessage:
        """The first message the Page sent the person after their last action that matches."""
        since = user.thread.last_action_seq if after is None else after
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for message in user.thread.page_messages:
                if message.seq > since and (predicate is None or predicate(message)):
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                texts = [m.text for m in user.thread.page_messages if m.seq > since]
                raise AssertionError(f"no matching Page message within {timeout}s: {texts}")
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))

    # --- webhook deliveries --------------------------------------------------------------------
    async def verify_webhook(self, verify_token: str, challenge: str = "1158201444") -> bool:
        """What "Verify and save" in the app dashboard does: GET with the hub parameters."""
        assert self._session is not None
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": verify_token,
            "hub.challenge": challenge,
        }
        async with self._session.get(self.webhook_url, params=params) as response:
            return response.status == 200 and await response.text() == challenge

    async def deliver(
        self,
        body: dict[str, Any],
        *,
        signature: str | None = None,
        sign: bool = True,
        settle: bool = True,
    ) -> int:
        """POST one delivery, signed with the app secret as Meta does (or as given)."""
        raw = json.dumps(body).encode()  # Meta escapes non-ASCII as \\uXXXX, as json does
        return await self.deliver_raw(raw, signature=signature, sign=sign, settle=settle)

    async def deliver_raw(
        self,
        raw: bytes,
        *,
        signature: str | None = None,
        sign: bool = True,
        settle: bool = True,
    ) -> int:
        assert self._session is not None and self.webhook_url, "set graph.webhook_url first"
        headers = {"Content-Type": "application/json"}
        if sign:
            headers["X-Hub-Signature-256"] = signature or _signature(raw, self.app_secret)
            headers["X-Hub-Signature"] = _signature(raw, self.app_secret, "sha1")
        status = 0
        for _ in range(REDELIVERIES + 1):
            status = await self._post_once(raw, headers)
            self.deliveries.append((status, raw, headers))
            self._notify()
            if status != 0:
                break
            # Not answered in time: Meta sends the same delivery again.
        if settle and status == 200 and self.after_delivery is not None:
            await self.after_delivery()
        return status

    def hand_to_inbox(self, user: MessengerUser) -> None:
        """A person on the Page's team took the thread in the Page inbox (handover protocol)."""
        user.thread.held_by_inbox = True

    def take_back(self, user: MessengerUser) -> None:
        user.thread.held_by_inbox = False

    @contextlib.asynccontextmanager
    async def batched(self) -> AsyncIterator[None]:
        """What people do inside goes in one POST, one entry each: Meta batches entries
        (developers.facebook.com/docs/messenger-platform/webhooks, "entry" is an array)."""
        self.batch = []
        try:
            yield
            entries = self.batch
        finally:
            self.batch = None
        if entries:
            await self.deliver({"object": "page", "entry": entries})

    async def redeliver(self, index: int = -1) -> int:
        """Send a delivery again, byte for byte (Meta retries what was not answered 200)."""
        _, raw, headers = self.deliveries[index]
        return await self.deliver_raw(raw, signature=headers.get("X-Hub-Signature-256"))

    async def _post_once(self, raw: bytes, headers: dict[str, str]) -> int:
        """One POST; 0 when Meta would not have seen its answer in time."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.answer_within)
        try:
            async with self._session.post(
                self.webhook_url, data=raw, headers=headers, timeout=timeout
            ) as response:
                status = response.status
        except TimeoutError:
            return 0
        if self.late_answers > 0:
            self.late_answers -= 1
            return 0
        return status

    # --- the API -------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            self._authorise(request)
            fault = self._take_fault(path)
            if fault is not None:
                raise GraphApiError(fault.code, fault.message, fault.subcode, status=fault.status)
            result = await self._route(request, path)
        except GraphApiError as error:
            self.calls.append(Call(request.method, path, False, error.code, error.subcode))
            return web.json_response(error.payload(), status=error.status)
        except Exception:  # an emulator bug: answer like a broken server, keep the trace
            self.internal_errors.append(traceback.format_exc())
            return web.json_response({"error": {"code": 1, "message": "emulator"}}, status=500)
        self.calls.append(Call(request.method, path, True))
        self._notify()
        return web.json_response(result)

    def _authorise(self, request: web.Request) -> None:
        token = request.query.get("access_token", "")
        if not hmac.compare_digest(token.encode(), self.page_token.encode()):
            raise GraphApiError(190, "Invalid OAuth access token - Cannot parse access token")
        proof = request.query.get("appsecret_proof")
        expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if proof is None and self.require_proof:
            raise _param_error("API calls from the server require an appsecret_proof argument")
        if proof is not None and not hmac.compare_digest(proof.encode(), expected.encode()):
            raise _param_error("Invalid appsecret_proof provided in the API argument")

    def _take_fault(self, path: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.path is None or fault.path == path:
                if fault.after > 0:
                    fault.after -= 1
                    return None
                return self.faults.pop(index)
        return None

    async def _route(self, request: web.Request, path: str) -> dict[str, Any]:
        if request.method == "POST" and path in ("me/messages", f"{self.page_id}/messages"):
            return await self._send(request)
        if request.method == "POST" and path == "me/messenger_profile":
            return self._set_profile(await request.json())
        if request.method == "GET" and path in self.threads:
            return self._user_profile(path, request.query.get("fields", ""))
        raise _param_error(f"Unsupported {request.method.lower()} request.", 33)

    def _user_profile(self, psid: str, fields: str) -> dict[str, Any]:
        thread = self.threads[psid]
        result: dict[str, Any] = {"id": psid}
        wanted = set(fields.split(",")) if fields else {"first_name"}
        if "first_name" in wanted:
            result["first_name"] = thread.first_name
        if "locale" in wanted and self.share_locale and thread.locale:
            result["locale"] = thread.locale
        return result

    async def _read_send(
        self, request: web.Request
    ) -> tuple[dict[str, Any], bytes | None, str | None]:
        if request.content_type.startswith("multipart/"):
            fields: dict[str, Any] = {}
            upload: bytes | None = None
            name: str | None = None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                if part.name == "filedata":
                    upload = bytes(await part.read())
                    name = part.filename
                elif part.name:
                    fields[part.name] = (await part.read()).decode()
            body: dict[str, Any] = {}
            for key, value in fields.items():
                try:
                    body[key] = json.loads(value) if key in ("recipient", "message") else value
                except ValueError:
                    raise _param_error(f"param {key} must be a JSON object") from None
            return body, upload, name
        try:
            data = await request.json()
        except ValueError:
            raise _param_error("Invalid JSON body") from None
        if not isinstance(data, dict):
            raise _param_error("Invalid JSON body")
        return data, None, None

    async def _send(self, request: web.Request) -> dict[str, Any]:
        body, upload, upload_name = await self._read_send(request)
        recipient = body.get("recipient") or {}
        message = body.get("message")
        if not isinstance(message, dict) or not message:
            raise _param_error("param message must be non-empty.")
        if "comment_id" in recipient:
            return self._private_reply(str(recipient["comment_id"]), message)
        psid = str(recipient.get("id") or "")
        thread = self.threads.get(psid)
        if thread is None:
            raise _param_error("No matching user found", 2018001)
        messaging_type = str(body.get("messaging_type") or "")
        tag = body.get("tag")
        if thread.held_by_inbox:
            # Handover protocol, exclusivity: while another app (the Page inbox) controls the
            # thread, no other app may send to it, "(#10) Message failed to send because another
            # app is controlling this thread now", subcode 2018300, HTTP 400
            # (developers.facebook.com/docs/messenger-platform/handover-protocol;
            # developers.facebook.com/docs/messenger-platform/instagram/features/
            # handover-protocol, "Exclusivity").
            raise GraphApiError(
                10,
                "(#10) Message failed to send because another app is controlling this thread now.",
                2018300,
            )
        self._check_type_and_window(thread, messaging_type, tag)
        if thread.blocked and thread.blocked_code == 2:
            raise GraphApiError(
                2, "An unexpected error has occurred. Please retry your request later."
            )
        if thread.blocked:
            raise GraphApiError(551, "This person isn't available right now.", 1545041)
        media = self._check_message(message, upload)
        self._check_rates(psid, media=media)
        self.seq += 1
        sent = PageMessage(
            self.seq,
            self.new_mid(),
            psid,
            message,
            messaging_type,
            str(tag) if tag else None,
            self.now(),
            upload,
            upload_name,
        )
        thread.page_messages.append(sent)
        return {"recipient_id": psid, "message_id": sent.mid}

    def _check_type_and_window(self, thread: Thread, messaging_type: str, tag: Any) -> None:
        if messaging_type not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            raise _param_error(
                "param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
            )
        if messaging_type == "MESSAGE_TAG" and tag not in MESSAGE_TAGS:
            raise _param_error("param tag must be a supported message tag")
        since = self.now() - thread.last_interaction if thread.last_interaction else None
        if since is not None and since <= WINDOW:
            return
        # The Human Agent tag lets a human answer within 7 days only for a Page granted the
        # feature (developers.facebook.com/docs/messenger-platform/send-messages/message-tags).
        # Meta documents no error of its own for a Page without it: the tag earns nothing, and
        # the message is refused as any other outside the window, (#10) subcode 2018278, listed
        # among the permission errors of developers.facebook.com/docs/messenger-platform/
        # reference/send-api/error-codes.
        if (
            messaging_type == "MESSAGE_TAG"
            and tag == "HUMAN_AGENT"
            and self.human_agent
            and since is not None
            and since <= HUMAN_AGENT_WINDOW
        ):
            return
        raise GraphApiError(10, "(#10) This message is sent outside of allowed window.", 2018278)

    def _check_message(self, message: dict[str, Any], upload: bytes | None) -> bool:
        """Meta's limits on one message; True when it carries media."""
        text = message.get("text")
        attachment = message.get("attachment")
        if (text is None) == (attachment is None):
            raise _param_error("Must send either text or attachment")
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise _param_error("param message[text] must be a non-empty UTF-8 encoded string")
            if len(text) > TEXT_LIMIT:
                raise _param_error(
                    f"Length of param message[text] must be less than or equal to {TEXT_LIMIT}"
                )
        replies = message.get("quick_replies")
        if replies is not None:
            self._check_quick_replies(replies)
        if attachment is None:
            return False
        kind = attachment.get("type")
        payload = attachment.get("payload") or {}
        if kind == "template":
            self._check_template(payload)
            return False
        if kind not in ("image", "file", "video", "audio"):
            raise _param_error(
                "param message[attachment][type] must be one of "
                "{image, audio, video, file, template}"
            )
        if upload is None and not str(payload.get("url") or "").startswith(("http://", "https://")):
            raise _param_error("param message[attachment][payload][url] must be a valid URL")
        return True

    @staticmethod
    def _check_quick_replies(replies: Any) -> None:
        if not isinstance(replies, list) or not replies:
            raise _param_error("param message[quick_replies] must be a non-empty array")
        if len(replies) > QUICK_REPLIES_MAX:
            raise _param_error(
                f"param message[quick_replies] must have at most {QUICK_REPLIES_MAX} items"
            )
        for reply in replies:
            if reply.get("content_type") != "text":
                continue
            title = reply.get("title")
            payload = reply.get("payload")
            if not isinstance(title, str) or not title:
                raise _param_error("param message[quick_replies][title] is required")
            if len(title) > TITLE_LIMIT:
                raise _param_error(
                    f"param message[quick_replies][title] must be at most {TITLE_LIMIT} "
                    f"characters ({title!r})"
                )
            if not isinstance(payload, str) or not payload or len(payload) > PAYLOAD_LIMIT:
                raise _param_error("param message[quick_replies][payload] is invalid")

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict) or button.get("type") not in ("postback", "web_url"):
            raise _param_error("button type must be postback or web_url")
        title = button.get("title")
        if not isinstance(title, str) or not title or len(title) > TITLE_LIMIT:
            raise _param_error(f"button title must be 1 to {TITLE_LIMIT} characters ({title!r})")
        if button["type"] == "postback":
            payload = button.get("payload")
            if not isinstance(payload, str) or not payload or len(payload) > PAYLOAD_LIMIT:
                raise _param_error("postback payload must be 1 to 1000 characters")

    def _check_template(self, payload: dict[str, Any]) -> None:
        kind = payload.get("template_type")
        if kind == "button":
            text = payload.get("text")
            if not isinstance(text, str) or not text or len(text) > BUTTON_TEXT_LIMIT:
                raise _param_error(
                    f"button template text must be 1 to {BUTTON_TEXT_LIMIT} characters"
                )
            buttons = payload.get("buttons") or []
            if not 1 <= len(buttons) <= 3:
                raise _param_error("button template must have 1 to 3 buttons")
            for button in buttons:
                self._check_button(button)
            return
        if kind == "generic":
            elements = payload.get("elements") or []
            if not 1 <= len(elements) <= ELEMENTS_MAX:
                raise _param_error(f"generic template must have 1 to {ELEMENTS_MAX} elements")
            for element in elements:
                title = element.get("title")
                if not isinstance(title, str) or not title or len(title) > ELEMENT_TEXT_LIMIT:
                    raise _param_error("element title must be 1 to 80 characters")
                if len(str(element.get("subtitle") or "")) > ELEMENT_TEXT_LIMIT:
                    raise _param_error("element subtitle must be at most 80 characters")
                buttons = element.get("buttons") or []
                if len(buttons) > 3:
                    raise _param_error("an element has at most 3 buttons")
                for button in buttons:
                    self._check_button(button)
            return
        raise _param_error("unsupported template_type")

    def _check_rates(self, psid: str, *, media: bool) -> None:
        now = time.monotonic()
        thread = self._thread_windows.setdefault(psid, _Window(*self._thread_rate))
        limited = not self._page_window.take(now)
        limited = limited or (media and not self._media_window.take(now))
        limited = limited or not thread.take(now)
        if limited:
            raise GraphApiError(613, "(#613) Calls to this api have exceeded the rate limit.")

    def _private_reply(self, comment_id: str, message: dict[str, Any]) -> dict[str, Any]:
        comment = self.comments.get(comment_id)
        if comment is None:
            raise _param_error("Invalid parameter")
        if comment.replied:
            raise GraphApiError(10900, "(#10900) Activity already replied to")
        if self.now() - comment.at > PRIVATE_REPLY_WINDOW:
            raise GraphApiError(10903, "(#10903) This activity can be replied to within 7 days")
        self._check_message(message, None)
        comment.replied = True
        self.seq += 1
        sent = PageMessage(
            self.seq, self.new_mid(), comment.sender_id, message, "RESPONSE", None, self.now()
        )
        self.private_replies.append(sent)
        thread = self.threads.get(comment.sender_id)
        if thread is not None:
            thread.page_messages.append(sent)
        return {"recipient_id": comment.sender_id, "message_id": sent.mid}

    def _set_profile(self, body: Any) -> dict[str, Any]:
        if not self._profile_window.take(time.monotonic()):
            # developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api
            raise GraphApiError(613, "(#613) Calls to this api have exceeded the rate limit.")
        if not isinstance(body, dict):
            raise _param_error("Invalid JSON body")
        started = body.get("get_started")
        if started is not None and not (
            0 < len(str(started.get("payload") or "")) <= PAYLOAD_LIMIT
        ):
            raise _param_error("get_started payload must be 1 to 1000 characters")
        greetings = body.get("greeting") or []
        if greetings and "default" not in {g.get("locale") for g in greetings}:
            raise _param_error("greeting must include the default locale")
        for greeting in greetings:
            if len(str(greeting.get("text") or "")) > GREETING_LIMIT:
                raise _param_error(f"greeting text must be at most {GREETING_LIMIT} characters")
        menus = body.get("persistent_menu") or []
        if menus and "default" not in {m.get("locale") for m in menus}:
            raise _param_error("persistent_menu must include the default locale")
        for menu in menus:
            actions = menu.get("call_to_actions") or []
            if len(actions) > 20:
                raise _param_error("persistent_menu has at most 20 items")
            for action in actions:
                title = str(action.get("title") or "")
                if not title or len(title) > MENU_TITLE_LIMIT:
                    raise _param_error(
                        f"menu item title must be 1 to {MENU_TITLE_LIMIT} characters"
                    )
        self.profile.update(body)
        return {"result": "success"}

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        stored = self.cdn.get(request.match_info["file_id"])
        if stored is None or stored.expired:
            return web.Response(status=403, text="URL signature expired")
        return web.Response(
            body=stored.data,
            content_type=stored.content_type,
            headers={"Content-Disposition": f'inline; filename="{stored.name}"'},
        )
