"""The inbound pipeline: what every channel does with one event from a person, written once.

A channel adapter turns its platform's event into an `Inbound` (the channel, the delivery's id,
who sent it) and a callable that applies the event (`Handle`); the pipeline does the rest, the
same way for Telegram, Messenger and any channel after them (README, "Architecture"):

- `turn(key)`: one person's events one at a time, in the order they came (asyncio.Lock wakes its
  waiters first come, first served). A channel holds it around its whole handling, the network
  work before the transaction included (a file downloaded and cleaned, a locale asked).
- `run`: one transaction for the event. It records the delivery's id first (processed updates),
  so a delivery the platform repeats changes nothing and says nothing; finds or creates the
  reporter and their language; builds the services and the reporter's channel-neutral session
  (bot/services/session.py); applies the flood limit (bot/services/flood.py), answering the
  first event over it; runs the channel's handler; and stores what it said as one outbox row
  (bot/services/replies.py) in the same transaction.
- After the commit: the rows for this person's chat are sent at once (`deliver`, the outbox's
  `deliver_now`), still in their turn, beside the channel's own work (`after_commit`: Telegram
  answers the pressed button); the worker is woken for the rest.

Nothing in the transaction waits for the network. A request/response channel (a web form) can
call `run` with a handler that renders its page from the same session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.context import ServiceContext
from bot.services.flood import TOO_FAST, Admission, FloodGuard
from bot.services.intake import Intake
from bot.services.moderation import MemberCheck, Moderation
from bot.services.privacy import Privacy
from bot.services.replies import Replies
from bot.services.session import ReporterSession
from handlers.engine.render import Translator
from storage.models import Reporter
from storage.repositories import OutboxRepository, ProcessedUpdates, QueuedRow

log = logging.getLogger(__name__)

T = TypeVar("T")
Deliver = Callable[[list[int]], Awaitable[None]]
# Pictures decoded at once (each can take a few hundred MB for a moment): more wait their turn.
DECODE_SLOTS = 2
# The language a reader gets when nothing better is known.
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Person:
    """A reporter writing in a private chat: their platform id, their chat, and the language
    to give them when they have none yet (None: leave it unset, the channel asks)."""

    external_id: int | str
    chat_id: int | str
    language: str | None = None


@dataclass(frozen=True)
class Inbound:
    """One event as the pipeline sees it.

    `update_id`: the platform's id of the delivery (recorded, so a repeat is dropped); `person`:
    the reporter it comes from, None for a group (then `target` says where replies go, if
    anywhere); `press`: a pressed button, whose refusal is said as the press's answer.
    """

    channel: str
    update_id: int | str
    person: Person | None = None
    target: str | None = None
    press: bool = False


@dataclass
class Turn:
    """What the channel's handler works with, inside the event's transaction."""

    session: AsyncSession
    intake: Intake
    moderation: Moderation
    privacy: Privacy
    replies: Replies
    language: str
    t: Translator
    reporter: Reporter | None = None
    reporter_session: ReporterSession | None = None


@dataclass
class Outcome(Generic[T]):
    """`duplicate`: the delivery was handled before, nothing was done; `result`: the handler's."""

    duplicate: bool = False
    result: T | None = None
    turn: Turn | None = field(default=None, repr=False)


Handle = Callable[[Turn], Awaitable[T]]
Step = Callable[[Turn], Awaitable[None]]


class InboundPipeline:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        context: ServiceContext,
        moderators: Callable[[], int],
        notify: Callable[[], None],
        deliver: Deliver | None = None,
        member_check: MemberCheck | None = None,
    ) -> None:
        """`moderators`: the moderators' chat id now (a group may become a supergroup);
        `deliver`: sends rows at once, in the person's turn (None: the worker is woken)."""
        self.sessionmaker = sessionmaker
        self.context = context
        self.moderators = moderators
        self.notify = notify
        self.deliver = deliver
        self.member_check = member_check
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}  # lock, how many hold or wait
        # Held while a channel downloads and cleans a person's files, before the transaction.
        self.decoding = asyncio.Semaphore(DECODE_SLOTS)

    @asynccontextmanager
    async def turn(self, key: Hashable | None) -> AsyncIterator[None]:
        """One person's events one at a time, in order (None: no person, no lock)."""
        if key is None:
            yield
            return
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def run(
        self,
        inbound: Inbound,
        handle: Handle[T],
        *,
        opened: Callable[[AsyncSession], Awaitable[None]] | None = None,
        finish: Step | None = None,
        after_commit: Callable[[Replies], Awaitable[None]] | None = None,
    ) -> Outcome[T]:
        """Apply one event in one transaction; see the module's docstring.

        `opened`: first thing in the transaction, repeats included (Messenger deletes the
        event from its inbox); `finish`: after the handler, refused or not (Telegram remembers
        the person's message for /wipe); `after_commit`: the channel's own work after the
        commit, beside the sending.
        """
        key = f"{inbound.channel}:{inbound.update_id}"
        replies = Replies(target=inbound.target, update_key=key)
        async with self.sessionmaker() as session:
            async with session.begin():
                if opened is not None:
                    await opened(session)
                if not await ProcessedUpdates(session).record(inbound.channel, inbound.update_id):
                    log.info("%s update %s was already handled; ignored", *_named(inbound))
                    return Outcome(duplicate=True)
                turn = await self._turn(session, inbound, replies)
                result = None
                if turn.reporter is None or await self._admitted(turn, inbound):
                    result = await handle(turn)
                if finish is not None:
                    await finish(turn)
                self._address_erased(turn, inbound)
                await replies.store(OutboxRepository(session, self.context.keyring))
            queued: list[QueuedRow] = list(session.info.get("outbox_rows", []))
        await self._after_commit(replies, queued, after_commit)
        return Outcome(result=result, turn=turn)

    async def _turn(self, session: AsyncSession, inbound: Inbound, replies: Replies) -> Turn:
        intake = Intake(session, self.context)
        moderation = Moderation(
            session,
            self.context,
            moderator_chat_id=self.moderators(),
            member_check=self.member_check,
        )
        privacy = Privacy(session, self.context)
        person = inbound.person
        if person is None:
            language = self.context.moderator_language
            t = intake.translator(language)
            return Turn(session, intake, moderation, privacy, replies, language, t)
        reporter, _ = await intake.reporters.get_or_create(
            inbound.channel, person.external_id, person.chat_id, now=self.context.now()
        )
        if reporter.language is None and person.language is not None:
            reporter.language = person.language
        language = reporter.language or FALLBACK_LANGUAGE
        t = intake.translator(language)
        replies.target, replies.reporter_id = "reporter", reporter.id
        reporter_session = ReporterSession(
            intake=intake, moderation=moderation, privacy=privacy, reporter=reporter, t=t
        )
        return Turn(
            session, intake, moderation, privacy, replies, language, t, reporter, reporter_session
        )

    async def _admitted(self, turn: Turn, inbound: Inbound) -> bool:
        """Flood control for a reporter's event; the first one over the limit is answered."""
        assert turn.reporter is not None
        admission = await FloodGuard(turn.session, self.context).admit_update(turn.reporter)
        if admission is Admission.OK:
            return True
        log.info(
            "%s update %s dropped: reporter %s over the message limit",
            *_named(inbound),
            turn.reporter.id,
        )
        if admission is Admission.REFUSE_AND_SAY:
            text = turn.t.msg(TOO_FAST)
            if inbound.press:
                turn.replies.answer(text, show_alert=True)
            else:
                turn.replies.say_plain(text)
        return False

    @staticmethod
    def _address_erased(turn: Turn, inbound: Inbound) -> None:
        """A reporter erased by this event (/forget) has no chat any more: the answer carries
        it itself, encrypted like every payload and deleted once sent (bot/services/replies.py)."""
        if turn.reporter is not None and turn.reporter.erased_at is not None:
            assert inbound.person is not None
            turn.replies.direct_chat_id = inbound.person.chat_id
            turn.replies.channel = inbound.channel

    async def _after_commit(
        self,
        replies: Replies,
        queued: list[QueuedRow],
        after_commit: Callable[[Replies], Awaitable[None]] | None,
    ) -> None:
        """Send what the event queued for this chat at once; the rest (alerts, card edits,
        messages to others) is the worker's, which is woken."""
        work: list[Awaitable[None]] = []
        if after_commit is not None:
            work.append(after_commit(replies))
        own = [row.id for row in queued if replies.owns(row)] if self.deliver else []
        if own:
            work.append(self._deliver_safely(own))
        if len(own) < len(queued):
            self.notify()
        await asyncio.gather(*work)

    async def _deliver_safely(self, queued: list[int]) -> None:
        assert self.deliver is not None
        try:
            await self.deliver(queued)
        except Exception as exc:  # noqa: BLE001 - the rows are committed; the worker sends them
            log.warning("sending right after the commit failed (%s); the worker retries", exc)


def _named(inbound: Inbound) -> tuple[str, int | str]:
    """How a log line names an event: a counter (Telegram's update id) is named; an id made of
    what the platform said (Messenger's, a keyed hash of the message id) is not."""
    update_id = inbound.update_id
    return inbound.channel, update_id if isinstance(update_id, int) else "-"
