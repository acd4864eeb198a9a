"""A small Graph API client for the Messenger Platform: Send API, profiles, attachments.

Limits are Meta's published ones (developers.facebook.com/docs/messenger-platform): text up to
2,000 characters, at most 13 quick replies with titles of 20 characters, button templates with 640
characters of text and 3 buttons, 300 Send API calls a second per Page for text and 10 for media,
and an unpublished per-thread limit ("your app may be rate limited if too many messages are sent
to a single thread"). Errors come back as {"error": {"code", "error_subcode", ...}} and are sorted
into the few kinds the callers act on (see `ErrorKind`).

The page token travels as the `access_token` query parameter (as Meta documents); no URL of a
Graph request is ever logged or put into an exception message, so the token never reaches a log.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from bot.outbox.pacing import SlidingWindow
from handlers.messenger.signature import appsecret_proof

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000
QUICK_REPLIES_MAX = 13
TITLE_LIMIT = 20
PAYLOAD_LIMIT = 1000
BUTTON_TEXT_LIMIT = 640
BUTTONS_MAX = 3
ELEMENTS_MAX = 10
ELEMENT_TEXT_LIMIT = 80

# Send API rates per Page (see the module docstring), with a margin: Meta counts on arrival.
PAGE_RATE = (250, 1.0)
MEDIA_RATE = (8, 1.0)
# Meta publishes no number for one thread; this keeps a burst of replies (a review screen is four
# messages) immediate while stopping a loop from flooding one person's conversation.
THREAD_RATE = (60, 10.0)
# The Messenger Profile API: 10 calls in 10 minutes per Page (see set_messenger_profile).
PROFILE_RATE = (10, 600.0)
# Rate-limit errors carry no retry time; Meta's guidance is to pause and retry later.
RATE_LIMIT_PAUSE = 30.0
# Attachments the team receives are downloaded from Meta's CDN; larger ones are not forwarded
# (Telegram bots may upload at most 50 MB).
DOWNLOAD_LIMIT = 50 * 1024 * 1024


class ErrorKind(enum.StrEnum):
    RATE_LIMITED = "rate_limited"  # codes 4, 17, 32, 613: pause and retry
    WINDOW_CLOSED = "window_closed"  # 10/2018278: outside the 24-hour messaging window
    UNAVAILABLE = "unavailable"  # 551 and kin: blocked the Page, deleted, no such user
    # Code 2 with no subcode: "An unexpected error has occurred. Please retry your request
    # later", which Meta says may also mean the person blocked the Page
    # (developers.facebook.com/docs/messenger-platform/error-codes): retried a few times, then
    # taken as unreachable and said so, never retried ten times and dropped in silence.
    MAYBE_BLOCKED = "maybe_blocked"
    # A message tag the Page may not use (HUMAN_AGENT without Meta's grant). Neither the
    # message-tags page (developers.facebook.com/docs/messenger-platform/send-messages/
    # message-tags) nor the error-codes page (developers.facebook.com/docs/messenger-platform/
    # reference/send-api/error-codes) names an error of its own for it: a tag the Page may not
    # use earns nothing, so a tagged message past 24 hours is answered as any message outside
    # the window, (#10) subcode 2018278 ("This message is sent outside of allowed window", a
    # permission error there), and the page's other permission errors are (#10) and (#200). The
    # bot tags only a human's answer it has itself found within the 7 days, so any of these on a
    # tagged message means the tag was refused.
    TAG_REFUSED = "tag_refused"
    # Under the handover protocol another app (the Page inbox, where a person answers) holds the
    # thread: "(#10) Message failed to send because another app is controlling this thread now",
    # subcode 2018300; only the app in control may send until it releases the thread
    # (developers.facebook.com/docs/messenger-platform/handover-protocol, "Exclusivity" in
    # developers.facebook.com/docs/messenger-platform/instagram/features/handover-protocol).
    # Retried after a pause, not counted: the message waits for the thread to come back.
    THREAD_HELD = "thread_held"
    TRANSIENT = "transient"  # 5xx, codes 1, 1200, network: retry with backoff
    AUTH = "auth"  # 190: the page token is invalid or expired
    REJECTED = "rejected"  # anything else (a malformed request): retrying cannot help


_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
_TRANSIENT_CODES = frozenset({1, 2, 1200})
_UNAVAILABLE = frozenset({(10, 2018108), (100, 2018001), (200, 1545041)})
_PERMISSION_CODES = frozenset({10, 200})
# Sends a code-2 answer gets before the person is taken as unreachable (attempts, all told).
MAYBE_BLOCKED_ATTEMPTS = 3
_THREAD_HELD = (10, 2018300)
# How long a message waits before asking again whether the Page inbox has released the thread
# (a person marks the conversation Done; Meta says nothing to the app that does not hold it).
THREAD_HELD_PAUSE = 600.0


def classify(
    status: int, code: int | None, subcode: int | None, *, tagged: bool = False
) -> ErrorKind:
    if code in _RATE_LIMIT_CODES:
        return ErrorKind.RATE_LIMITED
    if (code, subcode) == _THREAD_HELD:
        return ErrorKind.THREAD_HELD
    if tagged and code in _PERMISSION_CODES and subcode in (None, 2018278):
        return ErrorKind.TAG_REFUSED
    if code == 10 and subcode == 2018278:
        return ErrorKind.WINDOW_CLOSED
    if code == 551 or (code, subcode) in _UNAVAILABLE:
        return ErrorKind.UNAVAILABLE
    if code == 190:
        return ErrorKind.AUTH
    if code == 2 and subcode is None and status < 500:
        return ErrorKind.MAYBE_BLOCKED
    if code in _TRANSIENT_CODES or status >= 500 or status == 0:
        return ErrorKind.TRANSIENT
    return ErrorKind.REJECTED


class GraphError(Exception):
    """A Graph API call failed. `str()` holds codes only: never a token, URL or content."""

    def __init__(
        self,
        status: int,
        code: int | None = None,
        subcode: int | None = None,
        note: str = "",
        *,
        tagged: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.subcode = subcode
        self.kind = classify(status, code, subcode, tagged=tagged)
        super().__init__(self.describe() + (f" ({note})" if note else ""))

    @property
    def retryable(self) -> bool:
        return self.kind in (
            ErrorKind.RATE_LIMITED,
            ErrorKind.TRANSIENT,
            ErrorKind.MAYBE_BLOCKED,
            ErrorKind.THREAD_HELD,
        )

    def retry_after_attempts(self, attempts: int) -> bool:
        """Whether to try again after `attempts` failed tries (this one included)."""
        if self.kind == ErrorKind.MAYBE_BLOCKED:
            return attempts < MAYBE_BLOCKED_ATTEMPTS
        return self.retryable

    @property
    def retry_after(self) -> float | None:
        if self.kind == ErrorKind.THREAD_HELD:
            return THREAD_HELD_PAUSE
        return RATE_LIMIT_PAUSE if self.kind == ErrorKind.RATE_LIMITED else None

    def describe(self) -> str:
        return f"messenger {self.kind.value} (HTTP {self.status}, code {self.code}/{self.subcode})"

    @classmethod
    def from_body(cls, status: int, body: Mapping[str, Any], *, tagged: bool = False) -> GraphError:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        return cls(status, _int(error.get("code")), _int(error.get("error_subcode")), tagged=tagged)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class AttachmentUnavailable(Exception):
    """An attachment link answered 4xx (expired, removed) or the file is too large to pass on."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    filename: str


_SAFE_NAME = re.compile(r"[^\w.\-]+")


def _filename(url: str, disposition: str | None, fallback: str) -> str:
    if disposition:
        match = re.search(r'filename="?([^";]+)"?', disposition)
        if match:
            return _SAFE_NAME.sub("_", match.group(1))[:80] or fallback
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return _SAFE_NAME.sub("_", name)[:80] if "." in name else fallback


class GraphClient:
    def __init__(
        self,
        *,
        base_url: str,
        page_token: str,
        app_secret: str,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = page_token
        self._proof = appsecret_proof(page_token, app_secret)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._page = SlidingWindow(*PAGE_RATE, clock=clock)
        self._media = SlidingWindow(*MEDIA_RATE, clock=clock)
        self._profile = SlidingWindow(*PROFILE_RATE, clock=clock)
        self._threads: dict[str, SlidingWindow] = {}

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    # --- pacing --------------------------------------------------------------------------------
    def _thread(self, psid: str) -> SlidingWindow:
        window = self._threads.get(psid)
        if window is None:
            if len(self._threads) > 5000:
                # Forget threads that have been quiet for a whole window.
                for key in [k for k, w in self._threads.items() if w.available() == w.limit]:
                    del self._threads[key]
            window = SlidingWindow(*THREAD_RATE, clock=self._clock)
            self._threads[psid] = window
        return window

    async def _pace(self, psid: str | None, *, media: bool) -> None:
        windows = [self._page] + ([self._media] if media else [])
        if psid is not None:
            windows.append(self._thread(psid))
        # The wait is computed exactly from the windows; nothing else can free a slot earlier.
        while (wait := max(window.free_in() for window in windows)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        for window in windows:
            window.take()

    # --- requests ------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        form: aiohttp.FormData | None = None,
        params: Mapping[str, str] | None = None,
        tagged: bool = False,
    ) -> dict[str, Any]:
        query = {"access_token": self._token, "appsecret_proof": self._proof, **(params or {})}
        try:
            async with self._http().request(
                method, self.base_url + path, params=query, json=body, data=form
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception's text may hold the URL, and with it the token: keep only its kind.
            raise GraphError(0, note=type(exc).__name__) from None
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = {}
        result = decoded if isinstance(decoded, dict) else {}
        if status >= 400 or "error" in result:
            raise GraphError.from_body(status, result, tagged=tagged)
        return result

    async def send_message(
        self,
        psid: str,
        message: Mapping[str, Any],
        *,
        messaging_type: str = "RESPONSE",
        tag: str | None = None,
    ) -> str:
        """Send one message to a person (by page-scoped id); returns its message id."""
        attachment = message.get("attachment")
        media = isinstance(attachment, dict) and attachment.get("type") != "template"
        await self._pace(psid, media=media)
        body: dict[str, Any] = {
            "recipient": {"id": psid},
            "messaging_type": "MESSAGE_TAG" if tag else messaging_type,
            "message": message,
        }
        if tag:
            body["tag"] = tag
        result = await self._call("POST", "/me/messages", body=body, tagged=bool(tag))
        return str(result.get("message_id") or "")

    async def send_upload(
        self,
        psid: str,
        *,
        kind: str,
        data: bytes,
        filename: str,
        content_type: str,
        messaging_type: str = "UPDATE",
        tag: str | None = None,
    ) -> str:
        """Upload a file with the message (kind "image" or "file"), as multipart form data."""
        await self._pace(psid, media=True)
        form = aiohttp.FormData()
        form.add_field("recipient", json.dumps({"id": psid}))
        form.add_field("messaging_type", "MESSAGE_TAG" if tag else messaging_type)
        if tag:
            form.add_field("tag", tag)
        form.add_field(
            "message", json.dumps({"attachment": {"type": kind, "payload": {"is_reusable": False}}})
        )
        form.add_field("filedata", data, filename=filename, content_type=content_type)
        result = await self._call("POST", "/me/messages", form=form, tagged=bool(tag))
        return str(result.get("message_id") or "")

    async def private_reply(self, comment_id: str, text: str) -> str:
        """Answer a comment on the Page's post with a private message (one per comment)."""
        await self._pace(None, media=False)
        body = {"recipient": {"comment_id": comment_id}, "message": {"text": text}}
        result = await self._call("POST", "/me/messages", body=body)
        return str(result.get("message_id") or "")

    async def user_locale(self, psid: str) -> str | None:
        """The person's Facebook locale ("kk_KZ"), where the Page may read it; else None."""
        try:
            result = await self._call("GET", f"/{psid}", params={"fields": "locale"})
        except GraphError as exc:
            # Reading the locale needs an approved permission; without it the bot asks instead.
            log.info("no locale for a Messenger user: %s", exc.describe())
            return None
        locale = result.get("locale")
        return locale if isinstance(locale, str) else None

    async def set_messenger_profile(self, profile: Mapping[str, Any]) -> None:
        """The Get Started button, greeting and persistent menu of the Page's conversations.

        Meta allows 10 calls in 10 minutes per Page to this API
        (developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api): a
        call beyond that in this process is refused here, as Meta would (code 613), without
        spending one. Replicas share the limit through the database (MessengerChannel).
        """
        if self._profile.free_in() > 0:
            raise GraphError(429, 613, note="messenger profile: 10 calls in 10 minutes")
        self._profile.take()
        await self._call("POST", "/me/messenger_profile", body=profile)

    async def fetch(self, url: str, *, limit: int = DOWNLOAD_LIMIT) -> Fetched:
        """Download an attachment a person sent (a signed CDN link: no token is sent along)."""
        try:
            async with self._http().get(url) as response:
                if 400 <= response.status < 500:
                    raise AttachmentUnavailable(f"HTTP {response.status}")
                if response.status >= 300:
                    raise GraphError(response.status, note="attachment download")
                # The stated size is checked before reading anything; the count below holds
                # when it is missing or false.
                if response.content_length is not None and response.content_length > limit:
                    raise AttachmentUnavailable("too large")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > limit:
                        raise AttachmentUnavailable("too large")
                    chunks.append(chunk)
                content_type = response.content_type or "application/octet-stream"
                disposition = response.headers.get("Content-Disposition")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GraphError(0, note=f"attachment download: {type(exc).__name__}") from None
        extension = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
        fallback = "attachment" + extension.get(content_type, "")
        return Fetched(b"".join(chunks), content_type, _filename(url, disposition, fallback))
