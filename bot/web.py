"""The bot's own HTTP server (aiohttp): Telegram's webhook, health, metrics, other channels.

Routes, on WEBHOOK_HOST:WEBHOOK_PORT (README, "Deployment"):

  POST /telegram/webhook  Telegram's updates (webhook mode only)
  GET  /healthz           whether the database answers, and the outbox backlog, as JSON; 503 when
                          the database does not answer or this process is shutting down
  GET  /healthz/live      200 while this process takes requests, 503 once it is shutting down
  GET  /metrics           Prometheus text format (bot/metrics.py)

An update is acknowledged (200) only after the transaction that handled it committed: the update
middleware (handlers/telegram/middlewares.py) records its id in that same transaction. Anything else
is not acknowledged, and Telegram delivers the update again: 503 with Retry-After when the database
is unreachable (the reporter is told meanwhile, bot/outage.py), when a Bot API call failed mid-way
or when the process is shutting down; 500 when handling failed otherwise. A process killed
mid-update sends no answer at all, which Telegram also retries; the redelivery is dropped if the
first attempt had committed after all. An update whose handling keeps raising is given up after
MAX_FAILURES attempts: Telegram delivers a chat's updates one at a time, so one poison update would
otherwise hold up that person's conversation for a day.

Other channels add routes. Pass aiohttp route definitions, for example

    create_web_app(app, extra_routes=[web.get("/facebook/webhook", verify),
                                      web.post("/facebook/webhook", receive)])

or, so that both run modes serve them, append the same definitions to `App.web_routes` in
`create_app` (run_polling starts this server only when App.web_routes is not empty). A handler
there should follow the same rule: answer 2xx only once what it received is stored, and 503
while `request.app[WEB_STATE].draining`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.metrics import backlog_age
from bot.outage import StorageUnavailable
from bot.settings import TELEGRAM_WEBHOOK_PATH
from storage.repositories import OutboxRepository

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header's name
# Telegram's Bot API server honours Retry-After on a failed delivery (tdlib/telegram-bot-api,
# HttpQuery::get_retry_after); without it, it backs off on its own from 1 s up to a minute.
OUTAGE_RETRY_AFTER = 5
DRAINING_RETRY_AFTER = 1
MAX_FAILURES = 5  # attempts at an update whose handling raised, before it is given up
FAILURES_REMEMBERED = 10_000
HEALTH_TIMEOUT = 3.0  # seconds for the database to answer a health check
# The outbox is "lagging" past this; in a burst, full cards wait by design (digests go first).
LAG_WARNING = 600.0
SHUTDOWN_GRACE = 5.0  # seconds in-flight requests get to finish when the process stops

WEB_STATE: web.AppKey[WebState] = web.AppKey("reportbot_web_state")


@dataclass
class WebState:
    """What the routes share: whether the process is shutting down, and what is in flight."""

    draining: bool = False
    in_flight: int = 0

    @contextmanager
    def track(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


class TelegramWebhook:
    """POST /telegram/webhook: one update per request, answered once it is durably handled."""

    def __init__(self, app: App, state: WebState, *, secret: str) -> None:
        self.app = app
        self.state = state
        self._secret = secret.encode()
        self._failures: OrderedDict[int, int] = OrderedDict()

    def _refuse(self, reason: str, status: int, retry_after: int | None = None) -> web.Response:
        self.app.metrics.webhook_rejected.labels(reason).inc()
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.Response(status=status, headers=headers)

    async def handle(self, request: web.Request) -> web.Response:
        supplied = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        # Constant time: the time taken must not tell a prober how much of a guess was right.
        if not secrets.compare_digest(supplied, self._secret):
            log.warning("webhook request without the right secret token refused")
            return self._refuse("secret", 401)
        if self.state.draining:
            return self._refuse("draining", 503, DRAINING_RETRY_AFTER)
        update = await self._read_update(request)
        if update is None:
            # Sent by Telegram (the secret matched) and unreadable: another attempt would be
            # just as unreadable, and would hold up this chat's queue at Telegram meanwhile.
            return self._refuse("body", 200)
        with self.state.track():
            return await self._handle(update)

    async def _read_update(self, request: web.Request) -> Update | None:
        try:
            raw = await request.json()
        except (ValueError, UnicodeDecodeError):
            log.warning("webhook body is not JSON; dropped")
            return None
        if not isinstance(raw, dict):
            log.warning("webhook body is not a JSON object; dropped")
            return None
        try:
            return Update.model_validate(raw, context={"bot": self.app.bot})
        except ValidationError as exc:
            # Only the field names: the values are what people wrote.
            fields = sorted({".".join(map(str, error["loc"])) for error in exc.errors()})[:5]
            log.warning("webhook update %s is not a valid Update (%s); dropped", _id(raw), fields)
            return None

    async def _handle(self, update: Update) -> web.Response:
        try:
            await self.app.dispatcher.feed_update(self.app.bot, update)
        except StorageUnavailable:
            return web.Response(status=503, headers={"Retry-After": str(OUTAGE_RETRY_AFTER)})
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
            # Telegram itself failed an answer mid-way; everything was rolled back. Not the
            # update's fault: it is not counted towards giving up.
            log.warning(
                "update %s: a Bot API call failed (%s); Telegram will deliver it again",
                update.update_id,
                type(exc).__name__,
            )
            retry_after = exc.retry_after if isinstance(exc, TelegramRetryAfter) else 1
            return web.Response(status=503, headers={"Retry-After": str(retry_after)})
        except Exception:
            attempts = self._failures.pop(update.update_id, 0) + 1
            if attempts >= MAX_FAILURES:
                log.exception(
                    "update %s failed %s times; given up (acknowledged)",
                    update.update_id,
                    attempts,
                )
                return web.Response(status=200)
            self._failures[update.update_id] = attempts
            while len(self._failures) > FAILURES_REMEMBERED:
                self._failures.popitem(last=False)
            log.exception(
                "update %s failed (attempt %s); Telegram will deliver it again",
                update.update_id,
                attempts,
            )
            return web.Response(status=500)
        self._failures.pop(update.update_id, None)
        return web.Response(status=200)


def _id(raw: dict[str, Any]) -> str:
    value = raw.get("update_id")
    return str(value) if isinstance(value, int) else "?"


class HealthRoutes:
    def __init__(self, app: App, state: WebState) -> None:
        self.app = app
        self.state = state

    async def live(self, _request: web.Request) -> web.Response:
        if self.state.draining:
            return web.json_response({"status": "draining"}, status=503)
        return web.json_response({"status": "ok"})

    async def health(self, _request: web.Request) -> web.Response:
        if self.state.draining:
            return web.json_response({"status": "draining"}, status=503)
        try:
            backlog = await self._backlog()
        except Exception as exc:  # whatever stops the database answering, the answer is 503
            return web.json_response(
                {"status": "unavailable", "database": "unreachable", "error": type(exc).__name__},
                status=503,
            )
        age = backlog_age(backlog, self.app.context.now())
        body = {
            "status": _status(age, backlog.waiting_for_chat),
            "database": "ok",
            "outbox": {
                "pending": sum(backlog.pending.values()),
                "pending_by_target": backlog.pending,
                "oldest_pending_seconds": round(age, 1),
                "dead": backlog.dead,
                # Alerts kept while the moderators' chat refuses the bot
                # (bot/services/group_chats.py).
                "waiting_for_chat": backlog.waiting_for_chat,
            },
            "in_flight": self.state.in_flight,
        }
        # Lagging is still 200: the outbox is shared, and a load balancer that took every
        # replica out of rotation for it would stop intake as well as delivery.
        return web.json_response(body)

    async def metrics(self, _request: web.Request) -> web.Response:
        # The gauges come from the shared database; a failing database leaves them as they were
        # and says so in reportbot_database_up.
        with contextlib.suppress(Exception):  # recorded in reportbot_database_up
            await self._backlog()
        return web.Response(
            body=self.app.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def _backlog(self) -> Any:
        metrics = self.app.metrics
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), self.app.sessionmaker() as session:
                backlog = await OutboxRepository(session, self.app.context.keyring).backlog()
        except Exception:
            metrics.database_up.set(0)
            raise
        metrics.database_up.set(1)
        metrics.observe_backlog(backlog, self.app.context.now())
        return backlog


def _status(age: float, waiting_for_chat: int) -> str:
    if waiting_for_chat:
        return "chat_refused"
    return "lagging" if age > LAG_WARNING else "ok"


def create_web_app(
    app: App,
    *,
    state: WebState | None = None,
    telegram: bool = True,
    extra_routes: Sequence[web.AbstractRouteDef] = (),
) -> web.Application:
    """The aiohttp application: health and metrics, Telegram's webhook, and `extra_routes`.

    `telegram=False` leaves the webhook route out (polling mode with another channel on).
    `extra_routes` are aiohttp route definitions (`web.post(path, handler)`), added after the
    bot's own, together with `app.web_routes`; see the module docstring for what they should do.
    """
    state = state or WebState()
    web_app = web.Application(client_max_size=1024**2)
    web_app[WEB_STATE] = state
    health = HealthRoutes(app, state)
    routes: list[web.AbstractRouteDef] = [
        web.get("/healthz", health.health),
        web.get("/healthz/live", health.live),
        web.get("/metrics", health.metrics),
    ]
    if telegram:
        assert app.settings.webhook_secret is not None
        hook = TelegramWebhook(app, state, secret=app.settings.webhook_secret.get_secret_value())
        routes.append(web.post(TELEGRAM_WEBHOOK_PATH, hook.handle))
    web_app.add_routes([*routes, *app.web_routes, *extra_routes])
    return web_app


@dataclass
class WebServer:
    runner: web.AppRunner
    state: WebState
    port: int

    async def stop(self) -> None:
        """Stop taking requests, let those in flight finish (up to SHUTDOWN_GRACE), close."""
        self.state.draining = True
        await self.runner.cleanup()


async def start_web_server(
    app: App,
    *,
    telegram: bool,
    extra_routes: Sequence[web.AbstractRouteDef] = (),
    shutdown_grace: float = SHUTDOWN_GRACE,
) -> WebServer:
    settings = app.settings
    state = WebState()
    web_app = create_web_app(app, state=state, telegram=telegram, extra_routes=extra_routes)
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=shutdown_grace)
    await runner.setup()
    family = socket.AF_INET6 if ":" in settings.webhook_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.webhook_host.strip("[]"), settings.webhook_port))
        await web.SockSite(runner, sock).start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    port = int(sock.getsockname()[1])
    log.info("HTTP server listening on %s port %s", settings.webhook_host, port)
    return WebServer(runner, state, port)
