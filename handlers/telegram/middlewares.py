"""The Telegram side of the inbound pipeline (bot/services/pipeline.py): an update made an
`Inbound`, the network work it needs done before its transaction, and outages waited out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import language_for
from bot.logging import mark_sensitive
from bot.metrics import DUPLICATE_KEY
from bot.outage import OutageNotifier, StorageUnavailable, is_database_outage
from bot.services.context import ServiceContext
from bot.services.followups import FollowUps
from bot.services.group_chats import GroupChatIds
from bot.services.media import prefetch_file
from bot.services.moderation import MemberCheck
from bot.services.pipeline import Deliver, Inbound, InboundPipeline, Person, Turn
from bot.services.replies import Replies
from storage.models import Reporter
from storage.safety import TrackedMessages

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Polling mode passes `outage_hold` (seconds) in the update data: there nobody would deliver the
# update again, so it is held and retried here. In webhook mode it is 0 and Telegram redelivers.
OUTAGE_RETRY_FIRST = 1.0
OUTAGE_RETRY_MAX = 15.0


class UpdateContextMiddleware(BaseMiddleware):
    """Outer middleware on every update.

    Hands the update to the inbound pipeline every channel shares (bot/services/pipeline.py):
    the person's turn, one transaction that records the update id first (a redelivered update is
    dropped inside the same transaction that would repeat its effects), the reporter in private
    chats and their language, the flood limit, and the replies stored with the state. Handlers
    get the update's services as parameters and say what to answer through `replies`
    (bot/services/replies.py). After the commit the button press is answered here while the
    update's outbox rows are sent at once, still in the person's turn.
    Nothing in the transaction waits for the network: a file is downloaded and cleaned before it
    opens, and a moderator-chat membership check is asked (and cached) before it too.

    When the database is unreachable the reporter is told so (bot/outage.py) and the update
    ends in StorageUnavailable, with nothing of it stored, so it can be delivered again.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
        i18n: I18n,
        moderator_chat_id: int,
        deliver: Deliver,
        notify: Callable[[], None],
        member_check: MemberCheck | None = None,
        outage: OutageNotifier | None = None,
        chats: GroupChatIds | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.context = context
        self.i18n = i18n
        self.moderator_chat_id = moderator_chat_id
        # The groups' current ids: the moderators' chat may have become a supergroup.
        self.chats = chats
        self.member_check = member_check
        self.outage = outage or OutageNotifier(context)
        # Lock, transaction, repeats, reporter, flood limit and replies: as for every channel.
        self.pipeline = InboundPipeline(
            sessionmaker=sessionmaker,
            context=context,
            moderators=self._moderators,
            notify=notify,
            deliver=deliver,
            member_check=member_check,
        )

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        # Before anything can log: this update's ids, names and text never reach a log line.
        mark_sensitive(_sensitive_values(event, chat, user))
        key = chat.id if chat is not None else (user.id if user is not None else None)
        if key is None:
            return await self._handle_or_hold(handler, event, data)
        # Updates are handled as concurrent tasks; one person's quick inputs must still be
        # applied in the order they were sent.
        async with self.pipeline.turn(key):
            return await self._through_flood_control(handler, event, data, chat, user)

    async def _through_flood_control(
        self,
        handler: Handler,
        event: Update,
        data: dict[str, Any],
        chat: Chat | None,
        user: User | None,
    ) -> Any:
        """A 429 longer than RetryAfterMiddleware waits (fetching a file, say) ends the update
        with nothing of it stored. In polling mode nobody would deliver it again (aiogram moves
        past it), so it waits the `retry_after` Telegram asked for and is handled again, within
        the outage hold; webhook mode answers Telegram 503 with Retry-After (bot/web.py).
        core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this"""
        deadline = time.monotonic() + data.get("outage_hold", 0.0)
        while True:
            try:
                await self._before_transaction(event, data, chat, user)
                return await self._handle_or_hold(handler, event, data)
            except TelegramRetryAfter as exc:
                if time.monotonic() + exc.retry_after > deadline:
                    raise
                log.warning(
                    "update %s: flood control, handled again in %s s",
                    event.update_id,
                    exc.retry_after,
                )
                await asyncio.sleep(exc.retry_after)

    async def _before_transaction(
        self, event: Update, data: dict[str, Any], chat: Chat | None, user: User | None
    ) -> None:
        """The network work an update needs, done before its transaction opens."""
        bot: Bot = data["bot"]
        if chat is not None and chat.type != "private":
            try:
                await self._follow_group(bot, event, chat)
            except Exception as exc:  # noqa: BLE001 - the update goes on with the ids known
                log.warning("group %s not looked up: %s", chat.id, type(exc).__name__)
        if chat is not None and chat.type == "private" and event.message is not None:
            async with self.pipeline.decoding:
                data["received_file"] = await prefetch_file(bot, event.message)
        elif self.member_check is not None and user is not None and chat is not None:
            await self.member_check(user.id)  # cached: the transaction's check finds it there

    def _moderators(self) -> int:
        if self.chats is None:
            return self.moderator_chat_id
        return self.chats.current(self.moderator_chat_id)

    async def _follow_group(self, bot: Bot, event: Update, chat: Chat) -> None:
        """An update from a group we do not know may come from the moderators' chat under its
        new id: it became a supergroup (core.telegram.org/bots/api#message, migrate_to_chat_id
        and migrate_from_chat_id). Learn it before the update is authorised."""
        if self.chats is None:
            return
        message = event.message
        configured = self.moderator_chat_id
        if message is not None and chat.id == self._moderators() and message.migrate_to_chat_id:
            await self.chats.follow(configured, message.migrate_to_chat_id)
            return
        if self.chats.knows(chat.id):
            return
        if message is not None and message.migrate_from_chat_id == self._moderators():
            await self.chats.follow(configured, chat.id)
            return
        await self.chats.refresh()
        if not self.chats.knows(chat.id):
            await self.chats.probe(bot, configured)

    async def _handle_or_hold(self, handler: Handler, event: Update, data: dict[str, Any]) -> Any:
        hold: float = data.get("outage_hold", 0.0)
        deadline = time.monotonic() + hold
        delay = OUTAGE_RETRY_FIRST
        while True:
            try:
                return await self._handle(handler, event, data)
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                log.warning(
                    "database unreachable while handling update %s (%s)",
                    event.update_id,
                    type(exc).__name__,
                )
                await self.outage.notify(
                    data["bot"], event, data.get("event_chat"), data.get("event_from_user")
                )
                if time.monotonic() + delay > deadline:
                    raise StorageUnavailable(str(event.update_id)) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, OUTAGE_RETRY_MAX)

    async def _handle(self, handler: Handler, event: Update, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        person = None
        if chat is not None and chat.type == "private" and user is not None and not user.is_bot:
            person = Person(user.id, chat.id, language_for(user.language_code))
        inbound = Inbound(
            channel="telegram",
            update_id=event.update_id,
            person=person,
            target="moderators" if chat is not None and chat.id == self._moderators() else None,
            press=event.callback_query is not None,
        )

        async def handle(turn: Turn) -> Any:
            self._expose(turn, data)
            with self.i18n.context(), self.i18n.use_locale(turn.language):
                return await handler(event, data)

        async def finish(turn: Turn) -> None:
            if turn.reporter is not None:
                await self._track(turn.session, turn.reporter, event, data)

        async def answer_press(replies: Replies) -> None:
            if event.callback_query is not None:
                await self._answer_press(data["bot"], event.callback_query.id, replies)

        outcome = await self.pipeline.run(inbound, handle, finish=finish, after_commit=answer_press)
        if outcome.duplicate:
            data[DUPLICATE_KEY] = True
        return outcome.result

    def _expose(self, turn: Turn, data: dict[str, Any]) -> None:
        """The update's services, as the handlers' parameters (aiogram's data)."""
        data.update(
            replies=turn.replies,
            session=turn.session,
            intake=turn.intake,
            moderation=turn.moderation,
            t=turn.t,
            privacy=turn.privacy,
            followups=FollowUps(turn.intake, turn.moderation),
        )
        if turn.reporter is not None:
            data["reporter"] = turn.reporter
            # The reporter's channel-neutral session (bot/services/session.py).
            data["reporter_session"] = turn.reporter_session

    async def _answer_press(self, bot: Bot, query_id: str, replies: Replies) -> None:
        press = replies.press
        try:
            await bot.answer_callback_query(
                query_id,
                text=press.text if press else None,
                show_alert=press.show_alert if press else None,
            )
        except TelegramAPIError as exc:
            # Only the spinner on the person's button depends on it; nothing is lost.
            log.info("button press not answered: %s", type(exc).__name__)

    async def _track(
        self,
        session: AsyncSession,
        reporter: Reporter,
        event: Update,
        data: dict[str, Any],
    ) -> None:
        """Remember the reporter's own message, for /wipe (the outbox worker remembers the
        bot's messages as it sends them)."""
        chat: Chat | None = data.get("event_chat")
        if reporter.erased_at is not None or chat is None:
            return  # /forget just ran: nothing is remembered about this chat any more
        if event.message is not None:
            await TrackedMessages(session).add(
                reporter.id, [event.message.message_id], self.context.now()
            )


def _sensitive_values(event: Update, chat: Chat | None, user: User | None) -> list[object]:
    """What of this update must not be logged: a person's ids and names, and what they wrote.

    Group chat ids (negative) and moderators' user ids stay loggable: the audit of refused
    presses names who tried. In groups only the content is marked.
    """
    values: list[object] = []
    if user is not None:
        values += [user.first_name, user.last_name, user.username, user.full_name]
        if chat is not None and chat.type == "private":
            values.append(user.id)
    if chat is not None and chat.type == "private":
        values += [chat.id, chat.first_name, chat.last_name, chat.username]
    message = event.message or event.edited_message
    if message is not None:
        values += [message.text, message.caption]
        if message.document is not None:
            values.append(message.document.file_name)
        if message.contact is not None:
            values += [message.contact.phone_number, message.contact.first_name]
    return values
