"""The configured groups (MODERATOR_CHAT_ID, COORDINATOR_CHAT_ID) as Telegram knows them now.

A group upgraded to a supergroup gets a new id. Telegram answers every call to the old id with
400 "group chat was upgraded to a supergroup chat" and `parameters.migrate_to_chat_id`
(core.telegram.org/bots/api#responseparameters); aiogram raises TelegramMigrateToChat. The new
id is stored in the database (table group_chats), so every replica sends there from then on;
rows in the outbox name a target ("moderators"), not an id, so the queued ones follow too.
Presses and replies from the new id are accepted, and the admins (ADMIN_IDS) are told in their
private chats.

The same table marks an episode in which a group refuses the bot's messages (no right to post,
the bot removed, a closed topic): alerts wait for the group and are retried (bot/outbox/worker.py),
and the admins hear of it once per episode, and again when it ends.

No Bot API call is made inside a transaction here: the callers ask Telegram first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from aiogram import Bot, html
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.context import ServiceContext
from handlers.engine.text import N_
from storage.repositories import GroupChats, OutboxRepository

log = logging.getLogger(__name__)

ADMIN_TARGET = "admin"  # an outbox row to one admin's private chat (payload "chat_id")
REFRESH_EVERY = 5.0  # seconds: how stale another replica's news may be here
PROBE_EVERY = 30.0  # seconds between getChat probes for an unknown group's presses
# A member that may not post (core.telegram.org/bots/api#chatmemberrestricted).
_GONE = frozenset({"left", "kicked"})

MIGRATED = N_(
    "The moderators' chat became a supergroup, and Telegram gave it a new id: {new_id}. "
    "Alerts now go there. Set MODERATOR_CHAT_ID={new_id} when the settings are next changed."
)
REFUSED = N_(
    "Telegram refuses the bot's messages in the moderators' chat ({reason}). Alerts are kept "
    "and sent as soon as the bot may post there again: check that the bot is still a member "
    "and may send messages."
)
ACCEPTED = N_(
    "The moderators' chat accepts the bot's messages again; the alerts that waited are being sent."
)


class GroupChatIds:
    """The current id of each configured group, shared by the worker, routers and services."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
        configured: Iterable[int],
        refresh_every: float = REFRESH_EVERY,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.context = context
        self.configured = frozenset(configured)
        self.refresh_every = refresh_every
        self._current: dict[int, int] = {}
        self._refusing: dict[int, str] = {}
        self._refused_at: dict[int, float] = {}  # monotonic: when this process first saw it
        self._refreshed = float("-inf")
        self._probed = float("-inf")

    def current(self, configured: int) -> int:
        return self._current.get(configured, configured)

    def is_current(self, chat_id: int, configured: int) -> bool:
        return chat_id == self.current(configured)

    def refusing(self, configured: int) -> str | None:
        """Why the group refuses the bot's messages now (None when it does not)."""
        return self._refusing.get(configured)

    def refusing_for(self, configured: int) -> float:
        """Seconds this process has seen the group refuse the bot (0 when it does not)."""
        since = self._refused_at.get(configured)
        return time.monotonic() - since if since is not None else 0.0

    def knows(self, chat_id: int) -> bool:
        return chat_id in {self.current(configured) for configured in self.configured}

    async def refresh(self, *, force: bool = False) -> None:
        """Read what every replica recorded; at most every `refresh_every` unless forced."""
        now = time.monotonic()
        if not force and now - self._refreshed < self.refresh_every:
            return
        async with self.sessionmaker() as session:
            rows = await GroupChats(session).all()
        self._refreshed = now
        self._current = {row.configured_id: row.chat_id for row in rows}
        self._refusing = {
            row.configured_id: row.refusal or "refused"
            for row in rows
            if row.refused_since is not None
        }
        for ended in set(self._refused_at) - set(self._refusing):
            del self._refused_at[ended]  # another replica saw the episode end

    async def follow(self, configured: int, new_id: int) -> None:
        """The group became a supergroup: send there from now on, and tell the admins."""
        old_id = self.current(configured)
        async with self.sessionmaker() as session, session.begin():
            changed = await GroupChats(session).migrate(configured, new_id, now=self.context.now())
            if changed:
                await self._tell_admins(
                    session, f"migrated:{configured}:{new_id}", MIGRATED, new_id=new_id
                )
        self._current[configured] = new_id
        if changed:
            log.warning("chat %s became supergroup %s: following it", old_id, new_id)

    async def refused(self, configured: int, reason: str) -> None:
        """The group refused a message: alerts wait; the admins hear once per episode."""
        self._refusing[configured] = reason
        self._refused_at.setdefault(configured, time.monotonic())
        now = self.context.now()
        async with self.sessionmaker() as session, session.begin():
            started = await GroupChats(session).refused(
                configured, self.current(configured), reason, now=now
            )
            if started:
                await self._tell_admins(
                    session, f"refused:{configured}:{now.timestamp()}", REFUSED, reason=reason
                )
        if started:
            log.error("chat %s refuses the bot's messages (%s); alerts wait", configured, reason)

    async def accepted(self, configured: int) -> None:
        """A message went through after an episode of refusals."""
        if configured not in self._refusing:
            return
        del self._refusing[configured]
        self._refused_at.pop(configured, None)
        async with self.sessionmaker() as session, session.begin():
            ended = await GroupChats(session).accepted(configured, now=self.context.now())
            if ended:
                now = self.context.now().timestamp()
                await self._tell_admins(session, f"accepted:{configured}:{now}", ACCEPTED)
        if ended:
            log.warning("chat %s accepts the bot's messages again", configured)

    async def probe(self, bot: Bot, configured: int) -> None:
        """Ask Telegram whether the group moved (a press came from a group we do not know).

        Called before an update's transaction, at most every PROBE_EVERY seconds.
        """
        now = time.monotonic()
        if now - self._probed < PROBE_EVERY:
            return
        self._probed = now
        try:
            await bot.get_chat(self.current(configured))
        except TelegramMigrateToChat as exc:
            await self.follow(configured, exc.migrate_to_chat_id)
        except TelegramAPIError as exc:
            log.info("chat %s not checked: %s", configured, type(exc).__name__)

    async def _tell_admins(
        self, session: AsyncSession, key: str, text: str, **params: object
    ) -> None:
        t = self.context.moderators_t
        body = html.quote(t(text, **params))
        outbox = OutboxRepository(session, self.context.keyring)
        for admin_id in sorted(self.context.admin_ids):
            await outbox.enqueue(
                kind="admin_notice",
                target=ADMIN_TARGET,
                payload={"chat_id": admin_id, "messages": [{"type": "text", "html": body}]},
                idempotency_key=f"admin:{key}:{admin_id}",
            )


async def check_moderator_chat(bot: Bot, chats: GroupChatIds, configured: int) -> str | None:
    """At start: can the bot post in MODERATOR_CHAT_ID? One line saying what is wrong, or None.

    A transient error (network, Telegram's own fault, flood control) is reported as such and
    does not stop the bot: the outbox keeps the alerts until the chat takes them.
    """
    chat_id = chats.current(configured)
    try:
        try:
            chat = await bot.get_chat(chat_id)
        except TelegramMigrateToChat as exc:
            await chats.follow(configured, exc.migrate_to_chat_id)
            chat_id = exc.migrate_to_chat_id
            chat = await bot.get_chat(chat_id)
            log.warning(
                "MODERATOR_CHAT_ID %s became supergroup %s; alerts go there "
                "(set MODERATOR_CHAT_ID=%s)",
                configured,
                chat_id,
                chat_id,
            )
        me = await bot.me()
        member = await bot.get_chat_member(chat_id, me.id)
    except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
        return f"MODERATOR_CHAT_ID {chat_id} could not be checked now ({type(exc).__name__})"
    except TelegramForbiddenError:
        return f"MODERATOR_CHAT_ID {chat_id}: the bot is not a member of this chat (removed?)"
    except TelegramBadRequest as exc:
        return f"MODERATOR_CHAT_ID {chat_id}: Telegram says {exc.message!r}"
    if chat.type == "private":
        return f"MODERATOR_CHAT_ID {chat_id} is a private chat, not a group"
    if member.status in _GONE:
        return f"MODERATOR_CHAT_ID {chat_id}: the bot is not a member of this chat"
    if member.status == "restricted" and not getattr(member, "can_send_messages", True):
        return f"MODERATOR_CHAT_ID {chat_id}: the bot may not send messages there"
    if chat.type == "channel" and not getattr(member, "can_post_messages", False):
        return f"MODERATOR_CHAT_ID {chat_id}: the bot may not post in this channel"
    return None
