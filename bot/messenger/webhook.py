"""The Messenger channel's webhook at /facebook/webhook, and the channel object that owns it.

GET answers Meta's subscription check (hub.mode, hub.verify_token, hub.challenge). POST carries
events signed with the app secret: a missing or wrong signature is answered 403 before anything
is read. Each event is handled in its own transaction that first records its id (processed
updates, channel "messenger"), so a redelivered event changes nothing. Replies are sent inside
that transaction, as on Telegram; if Meta is rate limiting or down, the transaction rolls back,
the webhook answers 500 and Meta delivers the event again later.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiogram import Bot, html
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.context import ServiceContext
from bot.flood import TOO_FAST, Admission
from bot.i18n import language_for
from bot.intake import Intake
from bot.logging import mark_sensitive
from bot.messenger import CHANNEL
from bot.messenger.conversation import MessengerConversation, ThreadSender
from bot.messenger.delivery import MessengerDelivery
from bot.messenger.events import (
    CommentEvent,
    Event,
    MessageEvent,
    PostbackEvent,
    ReferralEvent,
    parse_delivery,
)
from bot.messenger.graph import GraphClient, GraphError
from bot.messenger.render import GET_STARTED, Action, Payload, shorten, text_messages
from bot.messenger.signature import HEADER, signature_valid
from bot.moderation import Moderation
from bot.outage import is_database_outage
from bot.privacy import Privacy
from bot.settings import LANGUAGES, Settings
from bot.web import WEB_STATE
from handlers.engine.text import N_
from storage.models import OutboxPriority
from storage.repositories import OutboxRepository, ProcessedUpdates

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

PATH = "/facebook/webhook"
MAX_FAILURES = 5  # attempts at an event whose handling raised, before it is given up
FAILURES_REMEMBERED = 10_000
# Meta's limits for the conversation's welcome screen and menu.
GREETING_LIMIT = 160
MENU_TITLE_LIMIT = 30
# Which Facebook locales get which catalog for the greeting and the menu ("default": the rest).
PROFILE_LOCALES = {"default": "en", "ru_RU": "ru", "kk_KZ": "kk"}
MENU = (
    (Action.NEW, N_("New report")),
    (Action.CANCEL, N_("Cancel the current report")),
    (Action.LANGUAGES, N_("Change the language")),
    (Action.HELP, N_("How it works")),
)
GREETING = N_(
    "Report a detention, a search, a frozen bank account or a summons in Kazakhstan to a team "
    "of human-rights defenders."
)
INVITATION = N_(
    "Thank you for your comment. Please do not describe persecution in public comments: it can "
    "put you and others at risk. Write to us here, in this private conversation, and a team of "
    "human-rights defenders will receive your report. Type /new to start."
)
COMMENT_NOTICE = N_(
    'A comment on the Page: "{comment}"\nThe bot invited its author to report privately in '
    "Messenger. If the comment could put someone at risk, hide it: {link}"
)
_KAZAKH_LETTERS = frozenset("әғқңөұүһі")


def guess_language(text: str) -> str:
    """A comment's language, for the invitation: its author's locale is not known."""
    lower = text.lower()
    if _KAZAKH_LETTERS & set(lower):
        return "kk"
    if re.search("[а-яё]", lower):
        return "ru"
    return "en" if re.search("[a-z]", lower) else "ru"


class MessengerChannel:
    def __init__(
        self,
        *,
        settings: Settings,
        context: ServiceContext,
        sessionmaker: async_sessionmaker[AsyncSession],
        bot: Bot,
    ) -> None:
        assert settings.facebook_page_token is not None
        assert settings.facebook_app_secret is not None
        assert settings.facebook_verify_token is not None
        assert settings.moderator_chat_id is not None
        self.context = context
        self.sessionmaker = sessionmaker
        self.moderator_chat_id = settings.moderator_chat_id
        self.private_replies = settings.facebook_private_replies
        self._verify_token = settings.facebook_verify_token.get_secret_value()
        self._app_secret = settings.facebook_app_secret.get_secret_value()
        self.graph = GraphClient(
            base_url=settings.facebook_graph_url,
            page_token=settings.facebook_page_token.get_secret_value(),
            app_secret=self._app_secret,
        )
        self.delivery = MessengerDelivery(
            graph=self.graph, bot=bot, sessionmaker=sessionmaker, context=context
        )
        # Wakes the outbox worker after a transaction that queued messages (set by the app).
        self.on_outbox: Callable[[], None] = lambda: None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._failures: OrderedDict[str, int] = OrderedDict()

    async def close(self) -> None:
        await self.graph.close()

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.verify), web.post(PATH, self.receive)]

    # --- HTTP ----------------------------------------------------------------------------------
    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        token = query.get("hub.verify_token", "")
        challenge = query.get("hub.challenge", "")
        if (
            query.get("hub.mode") == "subscribe"
            and challenge
            and hmac.compare_digest(token.encode(), self._verify_token.encode())
        ):
            return web.Response(text=challenge)
        log.warning("Messenger webhook: refused a subscription check with a wrong verify token")
        return web.Response(status=403)

    async def receive(self, request: web.Request) -> web.Response:
        state = request.app.get(WEB_STATE)
        if state is not None and state.draining:
            # Shutting down: Meta delivers it again, to this replica later or to another.
            return web.Response(status=503)
        body = await request.read()
        if not signature_valid(body, request.headers.get(HEADER), self._app_secret):
            log.warning("Messenger webhook: refused a delivery with a missing or wrong signature")
            return web.Response(status=403)
        try:
            data = json.loads(body)
        except ValueError:
            return web.Response(status=400)
        if not isinstance(data, dict) or data.get("object") != "page":
            return web.Response(status=404)
        for event in parse_delivery(data):
            try:
                await self.process(event)
            except Exception as exc:
                if self._give_up(event, exc):
                    log.exception(
                        "Messenger webhook: an event failed %s times; given up", MAX_FAILURES
                    )
                    continue
                # Events already handled are recorded; Meta's retry repeats only the rest.
                log.exception("Messenger webhook: an event failed; Meta will send it again")
                return web.Response(status=500)
        return web.Response(text="EVENT_RECEIVED")

    def _give_up(self, event: Event, exc: Exception) -> bool:
        """Whether an event that keeps failing is a poison one, to be dropped.

        Meta retries a delivery that was not answered 200, and disables a webhook that keeps
        failing: one event that always breaks must not stop every later one. Meta's own rate
        limits and outages, and database outages, are waited out instead.
        """
        if (isinstance(exc, GraphError) and exc.retryable) or is_database_outage(exc):
            return False
        attempts = self._failures.pop(event.dedupe, 0) + 1
        if attempts >= MAX_FAILURES:
            return True
        self._failures[event.dedupe] = attempts
        while len(self._failures) > FAILURES_REMEMBERED:
            self._failures.popitem(last=False)
        return False

    # --- events --------------------------------------------------------------------------------
    def _key(self, event: Event) -> str:
        # Message ids are longer than the column and need not be kept: a keyed hash is enough.
        digest = self.context.keyring.lookup_hash("messenger-event", event.dedupe)
        return f"{event.dedupe[0]}:{digest}"

    @asynccontextmanager
    async def _lock(self, psid: str) -> AsyncIterator[None]:
        # One person's events are applied in order even when deliveries overlap.
        lock, users = self._locks.get(psid) or (asyncio.Lock(), 0)
        self._locks[psid] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[psid]
            if users == 1:
                del self._locks[psid]
            else:
                self._locks[psid] = (lock, users - 1)

    async def process(self, event: Event) -> None:
        # Before anything can log: the person's id and what they wrote never reach a log line.
        mark_sensitive(
            [event.psid, getattr(event, "text", None), getattr(event, "quick_reply", None)]
        )
        if isinstance(event, CommentEvent):
            if self.private_replies:
                await self._comment(event)
            return
        async with self._lock(event.psid), self.sessionmaker() as session:
            async with session.begin():
                if not await ProcessedUpdates(session).record(CHANNEL, self._key(event)):
                    log.info("a Messenger event was already handled; ignored")
                    return
                await self._converse(session, event)
            if session.info.get("outbox_enqueued"):
                self.on_outbox()

    async def _converse(
        self, session: AsyncSession, event: MessageEvent | PostbackEvent | ReferralEvent
    ) -> None:
        intake = Intake(session, self.context)
        reporter, created = await intake.reporters.get_or_create(CHANNEL, event.psid, event.psid)
        if created and reporter.language is None:
            locale = await self.graph.user_locale(event.psid)
            if locale:
                reporter.language = language_for(locale)
        t = intake.translator(reporter.language or "en")
        send = ThreadSender(self.graph, event.psid)
        admission = await intake.flood.admit_update(reporter)
        if admission is not Admission.OK:
            log.info("a Messenger event dropped: reporter %s over the message limit", reporter.id)
            if admission is Admission.REFUSE_AND_SAY:
                await send(text_messages(t.msg(TOO_FAST)))
            return
        conversation = MessengerConversation(
            intake=intake,
            moderation=Moderation(session, self.context, moderator_chat_id=self.moderator_chat_id),
            privacy=Privacy(session, self.context),
            reporter=reporter,
            t=t,
            send=send,
        )
        if isinstance(event, MessageEvent):
            await conversation.on_message(event)
        elif isinstance(event, PostbackEvent):
            await conversation.on_postback(event)
        else:
            await conversation.on_referral(event)

    async def _comment(self, event: CommentEvent) -> None:
        """Invite a commenter to report privately, and tell the moderators about the comment."""
        async with self.sessionmaker() as session:
            async with session.begin():
                if not await ProcessedUpdates(session).record(CHANNEL, self._key(event)):
                    return
                t = self.context.translator(guess_language(event.text))
                try:
                    await self.graph.private_reply(event.comment_id, t(INVITATION))
                except GraphError as exc:
                    if exc.retryable:
                        raise
                    # Already answered, too old (7 days), or the comment was deleted.
                    log.warning("no private reply to a comment: %s", exc.describe())
                    return
                notice = self.context.moderators_t(
                    COMMENT_NOTICE,
                    comment=shorten(event.text, 500),
                    link=f"https://www.facebook.com/{event.comment_id}",
                )
                await OutboxRepository(session, self.context.keyring).enqueue(
                    kind="comment",
                    target="moderators",
                    payload={"messages": [{"type": "text", "html": html.quote(notice)}]},
                    idempotency_key=f"comment:{self._key(event)}",
                    priority=OutboxPriority.NORMAL,
                )
            self.on_outbox()

    # --- the Page's Messenger profile ----------------------------------------------------------
    def profile(self) -> dict[str, Any]:
        """The Get Started button (which brings the m.me ref on a new thread), the greeting
        and the persistent menu, in each language."""
        catalogs = self.context.catalogs
        greeting = []
        menus = []
        for locale, language in PROFILE_LOCALES.items():
            assert language in LANGUAGES
            greeting.append(
                {
                    "locale": locale,
                    "text": shorten(catalogs.gettext(GREETING, locale=language), GREETING_LIMIT),
                }
            )
            actions = [
                {
                    "type": "postback",
                    "title": shorten(catalogs.gettext(label, locale=language), MENU_TITLE_LIMIT),
                    "payload": Payload(action).encode(),
                }
                for action, label in MENU
            ]
            menus.append(
                {"locale": locale, "composer_input_disabled": False, "call_to_actions": actions}
            )
        return {
            "get_started": {"payload": GET_STARTED},
            "greeting": greeting,
            "persistent_menu": menus,
        }

    async def setup_profile(self) -> None:
        try:
            await self.graph.set_messenger_profile(self.profile())
        except GraphError as exc:
            # Conversations work without it; only the Get Started button and menu are missing.
            log.warning("the Page's Messenger profile was not set: %s", exc.describe())


def messenger_routes(app: App) -> list[web.RouteDef]:
    """The routes bot/web.py mounts: none while the Messenger channel is off."""
    return app.messenger.routes() if app.messenger is not None else []
