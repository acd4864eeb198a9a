"""The Messenger channel's webhook at /facebook/webhook, and the channel object that owns it.

GET answers Meta's subscription check (hub.mode, hub.verify_token, hub.challenge). POST carries
events signed with the app secret: a missing or wrong signature is answered 403 before anything
is read. A signed delivery is stored, not processed: each event becomes a row of the inbox
(storage/inbox.py; encrypted with the server key, one row per event however often Meta repeats
it), the transaction commits, and Meta gets its 200 at once, whatever the Graph API is doing.
Meta retries deliveries it does not see answered 200 in time
(developers.facebook.com/docs/messenger-platform/webhooks), so nothing slow may sit between the
request and the answer; a database that cannot store the delivery answers 503 and Meta tries
again later.

The inbox worker (handlers/messenger/inbox.py) then processes the events, each person's in order,
each in its own transaction (`process`): it records the event's id (processed updates, channel
"messenger") so that a repeated event changes nothing, applies it to the conversation, writes
the replies into the outbox (one row per event, target "reporter") and deletes the inbox row.
Attachments are downloaded and cleaned, and a new person's locale asked of Meta, before that
transaction opens; no Graph API call happens inside it. After the commit the outbox worker is
woken and sends the replies (bot/outbox/worker.py, handlers/messenger/delivery.py), retrying
rate limits and outages without sending any message twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import Bot, html
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import language_for
from bot.logging import mark_sensitive
from bot.outage import is_database_outage
from bot.services.context import ServiceContext
from bot.services.pipeline import Inbound, InboundPipeline, Person, Turn
from bot.settings import LANGUAGES, Settings
from bot.web import WEB_STATE
from handlers.engine.text import N_
from handlers.messenger import CHANNEL
from handlers.messenger.conversation import (
    MessengerConversation,
    Picture,
    prefetch_pictures,
)
from handlers.messenger.delivery import MessengerDelivery
from handlers.messenger.events import (
    CommentEvent,
    Event,
    MessageEvent,
    PostbackEvent,
    ReferralEvent,
    count_standby,
    event_from_json,
    parse_delivery,
)
from handlers.messenger.graph import GraphClient, GraphError
from handlers.messenger.inbox import InboxWorker, store_events
from handlers.messenger.render import GET_STARTED, Action, Payload, shorten
from handlers.messenger.signature import HEADER, signature_valid
from storage.inbox import ClaimedEvent, MessengerInbox
from storage.repositories import Reporters
from storage.schedule import ScheduledRuns

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

PATH = "/facebook/webhook"
ALREADY_REPLIED = 10900  # Graph's code for a second private reply to one comment
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
# The profile set-up's claims in scheduled_runs, keyed by the content's hash (setup_profile).
PROFILE_RUN = "messenger_profile"
PROFILE_LEASE = dt.timedelta(minutes=10)
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
        # Events received while another app (the Page inbox) held the thread: counted only.
        self.standby_events = 0
        # Which replica claims the profile set-up (scheduled_runs.claimed_by).
        self.worker_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Wakes the outbox worker after a transaction that queued messages (set by the app).
        self.on_outbox: Callable[[], None] = lambda: None
        # Turn, transaction, repeats, reporter, flood limit and replies: as for every channel.
        # The replies are sent by the outbox worker, woken after the commit.
        self.pipeline = InboundPipeline(
            sessionmaker=sessionmaker,
            context=context,
            moderators=lambda: self.moderator_chat_id,
            notify=self._wake_outbox,
        )
        self.inbox = InboxWorker(
            sessionmaker=sessionmaker,
            keyring=context.keyring,
            process=self.process,
            clock=context.now,
        )

    def _wake_outbox(self) -> None:
        self.on_outbox()  # set by the app once the worker exists

    def start(self, stop: asyncio.Event) -> asyncio.Task[None]:
        """The inbox worker, for as long as the bot runs; its first pass picks up the events
        a previous run stored and did not finish."""
        return asyncio.create_task(self.inbox.run(stop), name="messenger-inbox")

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
        standby = count_standby(data)
        if standby:
            # The Page inbox (a person) holds these threads: the bot does not answer over them.
            self.standby_events += standby
            log.info("Messenger webhook: %d standby event(s), not answered", standby)
        events = [
            event
            for event in parse_delivery(data)
            if self.private_replies or not isinstance(event, CommentEvent)
        ]
        for event in events:
            _mark_sensitive(event)
        if not events:
            return web.Response(text="EVENT_RECEIVED")
        try:
            await self._store(events)
        except Exception as exc:
            if is_database_outage(exc):
                # Not stored: Meta keeps the delivery and sends it again.
                log.warning("Messenger webhook: database unreachable; Meta will send it again")
                return web.Response(status=503, headers={"Retry-After": "5"})
            raise
        self.inbox.notify()
        return web.Response(text="EVENT_RECEIVED")

    async def _store(self, events: list[Event]) -> None:
        async with self.sessionmaker() as session, session.begin():
            await store_events(session, self.context.keyring, events, self.context.now())

    # --- events --------------------------------------------------------------------------------
    async def process(self, stored: ClaimedEvent) -> None:
        """One stored event, through the inbound pipeline every channel shares
        (bot/services/pipeline.py), in a transaction that also deletes it from the inbox."""
        event = event_from_json(stored.event)
        _mark_sensitive(event)
        if isinstance(event, CommentEvent):
            await self._comment(event, stored)
            return
        async with self.pipeline.turn(event.psid):
            locale, pictures = await self._prefetch(event)
            person = Person(event.psid, event.psid, language_for(locale) if locale else None)

            async def converse(turn: Turn) -> None:
                assert turn.reporter is not None
                conversation = MessengerConversation(
                    intake=turn.intake,
                    moderation=turn.moderation,
                    privacy=turn.privacy,
                    reporter=turn.reporter,
                    t=turn.t,
                    replies=turn.replies,
                    pictures=pictures,
                )
                if isinstance(event, MessageEvent):
                    await conversation.on_message(event)
                elif isinstance(event, PostbackEvent):
                    await conversation.on_postback(event)
                else:
                    await conversation.on_referral(event)

            await self.pipeline.run(
                Inbound(CHANNEL, stored.event_key, person), converse, opened=self._remove(stored)
            )

    def _remove(self, stored: ClaimedEvent) -> Callable[[AsyncSession], Awaitable[None]]:
        """The event leaves the inbox in the transaction that applies it (repeats included)."""

        async def remove(session: AsyncSession) -> None:
            await MessengerInbox(session, self.context.keyring).remove(stored.id)

        return remove

    async def _prefetch(
        self, event: MessageEvent | PostbackEvent | ReferralEvent
    ) -> tuple[str | None, dict[str, Picture]]:
        """What the event needs from Meta, asked before its transaction holds the database:
        a new person's locale, and the pictures of a message, downloaded and cleaned."""
        async with self.sessionmaker() as session, session.begin():
            known = await Reporters(session, self.context.keyring).find(CHANNEL, event.psid)
        locale = await self.graph.user_locale(event.psid) if known is None else None
        pictures: dict[str, Picture] = {}
        if isinstance(event, MessageEvent) and event.attachments and event.quick_reply is None:
            async with self.pipeline.decoding:
                pictures = await prefetch_pictures(self.graph, event)
        return locale, pictures

    async def _comment(self, event: CommentEvent, stored: ClaimedEvent) -> None:
        """Invite a commenter to report privately, and tell the moderators about the comment.

        The private reply goes before the transaction: Meta accepts one per comment and refuses
        a second ((#10900) "Activity already replied to",
        developers.facebook.com/docs/messenger-platform/discovery/private-replies), so a retry
        cannot send it twice, and a refusal for that reason means our earlier try got through.
        """
        t = self.context.translator(guess_language(event.text))
        replied = True
        try:
            await self.graph.private_reply(event.comment_id, t(INVITATION))
        except GraphError as exc:
            if exc.retryable:
                raise
            if exc.code != ALREADY_REPLIED:
                # Too old (7 days), or the comment was deleted.
                log.warning("no private reply to a comment: %s", exc.describe())
                replied = False

        async def tell_moderators(turn: Turn) -> None:
            if not replied:
                return
            notice = self.context.moderators_t(
                COMMENT_NOTICE,
                comment=shorten(event.text, 500),
                link=f"https://www.facebook.com/{event.comment_id}",
            )
            turn.replies.send(html.quote(notice))

        # No reporter: the notice goes to the moderators' chat, through the same pipeline.
        await self.pipeline.run(
            Inbound(CHANNEL, stored.event_key, target="moderators"),
            tell_moderators,
            opened=self._remove(stored),
        )

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

    async def setup_profile(self) -> bool:
        """Set the Page's profile once per content, whichever replica starts first.

        Meta allows 10 calls to the Messenger Profile API in 10 minutes per Page
        (developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api), and
        every replica runs this at every start. So the content's hash is claimed in
        `scheduled_runs` (storage/schedule.py): the profile is sent only when it changed, by
        one replica; a failed call leaves the claim to run out after PROFILE_LEASE (10 minutes,
        a whole rate window), when the next start tries again. Returns whether it was sent.
        """
        profile = self.profile()
        key = hashlib.sha256(json.dumps(profile, sort_keys=True).encode()).hexdigest()[:32]
        async with self.sessionmaker() as session, session.begin():
            claimed = await ScheduledRuns(session, PROFILE_RUN).claim(
                key, worker=self.worker_id, now=self.context.now(), lease=PROFILE_LEASE
            )
        if not claimed:
            log.info("the Page's Messenger profile is already set (or being set); not sent")
            return False
        try:
            await self.graph.set_messenger_profile(profile)
        except GraphError as exc:
            # Conversations work without it; only the Get Started button and menu are missing.
            log.warning("the Page's Messenger profile was not set: %s", exc.describe())
            return False
        async with self.sessionmaker() as session, session.begin():
            await ScheduledRuns(session, PROFILE_RUN).finish(key, now=self.context.now())
        log.info("the Page's Messenger profile was set")
        return True


def _mark_sensitive(event: Event) -> None:
    """Before anything can log: the person's id and what they wrote never reach a log line."""
    mark_sensitive([event.psid, getattr(event, "text", None), getattr(event, "quick_reply", None)])


def messenger_routes(app: App) -> list[web.RouteDef]:
    """The routes bot/web.py mounts: none while the Messenger channel is off."""
    return app.messenger.routes() if app.messenger is not None else []
