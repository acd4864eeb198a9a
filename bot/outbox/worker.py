"""The delivery worker: sends outbox rows at least once, paced to Telegram's limits.

A row's payload is {"messages": [...]}, each message one of:
  {"type": "text", "html": ..., "reply_markup"?: {...}}
  {"type": "photo" | "document", "file_id": ..., "caption_html"?: ...}
  {"type": "photo_upload" | "document_upload", "data": base64, "filename": ..., "caption_html"?}
  {"type": "edit", "html": ..., "reply_markup"?: {...}, "message_id"?: ...} (edits the given
      message, else the card of the row's report)
  {"type": "edit_markup", "reply_markup": {...}, "html": ...} (the buttons alone of the row's
      card; "html" is posted with them if the card is gone)
  {"type": "clear_buttons", "message_id"?: ...} (takes the buttons off a message; without an id,
      off the last question sent into the reporter's chat)
  {"type": "delete", "message_ids": [...]} (deletes what Telegram still lets the bot delete)
Any message may carry "reply_to_message_id" or "force_reply". The first message is the row's
main message (an alert card); the others reply to it. Alert payloads also carry "summary", the
card's one line for burst digests.
Rows of kind "reply" are an update's answers in a chat (bot/services/replies.py): their
messages do not thread under the first one, a message marked "prompt" records its id as the row's
sent_message_id (the question the next answer takes the buttons off), and they are sent at once
after the update's commit (`deliver_now`). Rows to one reporter go out in the order they were
queued. A payload may carry "chat_id" (a reporter erased in the same update: the confirmation
still reaches the chat) and "version" (absent in rows queued before it existed: version 1).
Targets: "moderators", "coordinators" (COORDINATOR_CHAT_ID) or "reporter" (by reporter_id).
Version 2 payloads ({"version": 2}) carry channel-neutral texts (bot/services/messages.py) in
place of "text" messages in HTML, the form's in-place replacements of a pressed question as
neutral texts with "edit", and alert cards as {"type": "card", ...} (bot/services/card_model.py);
both versions are sent, so rows queued before an upgrade are not lost. Each message goes out
through a transport (bot/outbox/transports.py): the team's chats through the registry's `staff`
transport, a reporter's chat through the one registered for the reporter's channel, which
renders the message for its platform. The worker itself names no channel; a payload field it
does not know (a platform's message tag) is the transport's business.

Rows are claimed in a short transaction, sent outside it, and their outcome recorded in another,
so a slow Telegram never holds a database lock. A card with attachments is sent message by message
and its progress recorded after each, so a retry resumes instead of repeating the card.

A claim is a lease (`claimed_until`): several replicas share the table, and a replica that dies
mid-send leaves rows that another takes over once the lease runs out. Before each Bot API call
the worker makes sure its lease outlasts the call (renewing it, or skipping the row if another
replica has taken it over), so a slow Telegram cannot make two replicas send one row. On
shutdown the rows claimed but not yet tried are released at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from bot.outage import is_database_outage, log_pass_failure
from bot.outbox.pacing import SlidingWindow
from bot.outbox.transports import (
    Chat,
    Sending,
    Transport,
    TransportError,
    Transports,
    UnknownMessage,
)
from bot.services import messages as neutral
from bot.services.group_chats import ADMIN_TARGET, GroupChatIds
from bot.services.replies import REPLY_KIND
from handlers.engine.text import N_
from storage.models import OutboxState
from storage.repositories import (
    CHAT_REFUSED,
    ClaimedRow,
    OutboxRepository,
    Reporters,
    Reports,
)
from storage.safety import TrackedMessages
from storage.sealing import Keyring

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_CAP = 300.0  # seconds
REFUSED_CAP = 300.0  # seconds between tries while a group refuses the bot's messages
CLAIM_LEASE = dt.timedelta(minutes=2)
BATCH = 20
# Bursts (see _announce_backlog). Full cards use the group's window only while more than
# CARD_RESERVE of its 20 slots are free: the rest is kept for digests and card edits.
CARD_RESERVE = 14
DIGEST_ROWS = 150  # claimed per pass; one message carries what fits in DIGEST_BUDGET
DIGEST_FULL = 90  # a digest this long goes at once
DIGEST_MAX_WAIT = 12.0  # seconds: no alert waits longer for its digest (slots permitting)
DIGEST_BUDGET = 3900
# Telegram's documented guidance (core.telegram.org/bots/faq, "hitting limits"): about 30
# messages a second overall, 20 a minute into one group, about one a second per private chat.
# The windows carry a small margin: Telegram stamps a message when it arrives, not when we send.
GLOBAL_RATE = (29, 1.0)
GROUP_RATE = (20, 61.0)
# The spacing at which the group can take messages for ever (about 3 s).
GROUP_INTERVAL = GROUP_RATE[1] / GROUP_RATE[0]
PRIVATE_RATE = (1, 1.05)
# A reply row waiting behind an earlier row to the same chat looks again this soon.
ORDER_WAIT = 0.3
# How long deliver_now waits for the worker's pass to finish claiming, or sending a row of its
# update (a Bot API call): past that, the row is left to the pass.
HANDOVER_WAIT = 5.0
# The worker's shortest nap between passes when a row is due (and waits for its chat's pace).
MIN_IDLE = 0.05
BUSY_IDLE = 0.25


# Rows to the configured groups: they wait while a group refuses them, and follow it when it moves.
GROUP_TARGETS = ("moderators", "coordinators")


# Rows to a reporter whose failure the moderators must see on the card.
UNDELIVERED_KINDS = frozenset({"question", "status", "checkin"})
# Why, in the moderators' language (bot/app.py translates; {code} is the report's).
UNDELIVERED = {
    "blocked": N_(
        "Not delivered to the reporter of {code}: they blocked the bot or deleted their "
        "Telegram account. /outbox can send it again if they come back."
    ),
    "erased": N_("Not delivered to the reporter of {code}: the link to the reporter was erased."),
}


REPORTER_ERASED = "reporter erased"


class PermanentFailure(Exception):
    """Sending can never succeed (the chat is gone, the reporter was erased)."""


@dataclass(frozen=True)
class Route:
    """Where a claimed row goes: the chat, whether an earlier row to it must go first, and the
    last question asked there (for "take the buttons off the last question")."""

    chat: Chat
    transport: Transport | None = None
    behind: bool = False
    last_prompt: int | None = None
    # When the reporter last wrote, for a platform with a messaging window (Transport.send).
    seen: dt.datetime | None = None


@dataclass(frozen=True)
class Sent:
    """A message sent and not yet recorded: the row's progress after it, the message id the row
    keeps (a card, a question), and the id /wipe may delete."""

    progress: int
    message_id: int | None
    tracked: int | None


# Messages that change nothing when done twice (taking buttons off, deleting).
IDEMPOTENT = frozenset({"clear_buttons", "delete"})


class RecordingDeferred(Exception):
    """Sent in a person's turn, but the database is away: recording goes on in the background."""


class LostClaim(Exception):
    """Our lease on the row ran out and another replica claimed it: leave the row to them."""


class NoSlot(Exception):
    """The chat's pace allows nothing more right now; try again at `at`."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"no slot for {wait:.1f}s")
        self.wait = wait


def backoff_delay(attempts: int, rng: random.Random) -> float:
    """Capped exponential backoff with full jitter (0.5x to 1.5x)."""
    base: float = min(2.0 ** max(attempts, 0), BACKOFF_CAP)
    return float(min(base * rng.uniform(0.5, 1.5), BACKOFF_CAP))


DigestHeader = Callable[[int], str]
UndeliveredText = Callable[[str, str], str]  # (reason, report code) -> text


class OutboxWorker:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        moderator_chat_id: int,
        coordinator_chat_id: int | None = None,
        clock: Callable[[], dt.datetime],
        digest_header: DigestHeader,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
        digests: bool = True,
        metrics: Metrics | None = None,
        lease: dt.timedelta = CLAIM_LEASE,
        renew_before: dt.timedelta = dt.timedelta(seconds=45),
        transports: Transports,
        chats: GroupChatIds | None = None,
        undelivered_text: UndeliveredText | None = None,
    ) -> None:
        # The line under a card when a message could not reach its reporter (code, reason).
        self.undelivered_text = undelivered_text
        # The groups' current ids (a group upgraded to a supergroup moves:
        # bot/services/group_chats.py).
        self.chats = chats
        # How each chat is reached (bot/outbox/transports.py); the composition root registers
        # one transport per channel.
        self.transports = transports
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.moderator_chat_id = moderator_chat_id
        self.coordinator_chat_id = coordinator_chat_id or moderator_chat_id
        self.clock = clock
        self.digest_header = digest_header
        # Off only to measure the plain one-card-per-report baseline (bench/burst.py).
        self.digests = digests
        self.poll_interval = poll_interval
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.metrics = metrics or Metrics()
        self.lease = lease
        # A Bot API call may take this long (timeout plus flood-control waits); the lease must
        # still hold when it ends, or another replica could send the same row meanwhile.
        self.renew_before = renew_before
        self._wake = asyncio.Event()
        self._global = SlidingWindow(*GLOBAL_RATE)
        self._chats: dict[int | str, SlidingWindow] = {}
        self._burst_until = float("-inf")
        self._background: set[asyncio.Task[None]] = set()
        # Rows this process's pass claimed and has not tried yet, and those it is sending (the
        # event is set when it is done): an update's reply among them goes in the person's
        # turn (deliver_now). `_claiming` is held while a pass claims.
        self._untried: dict[int, ClaimedRow] = {}
        self._sending: dict[int, asyncio.Event] = {}
        self._claiming = asyncio.Lock()

    def notify(self) -> None:
        """Wake the worker now (called after a transaction that queued messages commits)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox worker started")
        while not stop.is_set():
            try:
                progressed = await self.deliver_due(stop)
            except Exception as exc:
                # A database outage must not kill the worker; it retries on the next tick.
                log_pass_failure(log, "outbox pass failed", exc)
                progressed = 0
            if progressed:
                continue
            self._wake.clear()
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(
                waiters, timeout=await self._idle_time(), return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
        log.info("outbox worker stopped")

    async def _idle_time(self) -> float:
        """How long to wait for a wake-up: until the next row falls due (a retry, a row waiting
        for its chat's pace or for an earlier row), at most the poll interval."""
        try:
            async with self.sessionmaker() as session:
                due = await OutboxRepository(session, self.keyring).next_due()
        except Exception as exc:  # noqa: BLE001 - the next pass reports a database outage
            log.debug("next due time unknown: %s", type(exc).__name__)
            return self.poll_interval
        if due is None:
            return self.poll_interval
        wait = (due - self.clock()).total_seconds()
        if wait <= 0:
            # Due but not taken: held for a group's pace (free within seconds) or another
            # replica's; look again soon, without spinning.
            return min(BUSY_IDLE, self.poll_interval)
        return min(max(wait, MIN_IDLE), self.poll_interval)

    async def deliver_due(self, stop: asyncio.Event | None = None) -> int:
        """One pass: announce a backlog, then claim due rows and try each once.

        Returns how many rows made progress (0 means there is nothing to do right now). When
        `stop` is set meanwhile, the rows not yet tried are released for other replicas.
        """
        if self.chats is not None:
            await self.chats.refresh()  # another replica may have seen a group move
        progressed = await self._announce_backlog()
        # Rows for a group with no free slot stay queued instead of being claimed and released.
        blocked = [
            target for target in GROUP_TARGETS if self._pace(self._group_id(target)).free_in() > 0
        ]
        async with self._claiming:
            async with self.sessionmaker() as session, session.begin():
                rows = await OutboxRepository(session, self.keyring).claim_due(
                    now=self.clock(), limit=BATCH, lease=self.lease, skip_targets=blocked
                )
            self._untried.update((row.id, row) for row in rows)
        if rows:
            log.debug("outbox pass claimed rows %s", [(row.id, row.kind) for row in rows])
        try:
            for index, row in enumerate(rows):
                if stop is not None and stop.is_set():
                    untried = [left for left in rows[index:] if self._untried.pop(left.id, None)]
                    await self._release_untried(untried)
                    break
                if self._untried.pop(row.id, None) is None:
                    continue  # an update's reply, taken over by deliver_now in the person's turn
                done = self._sending[row.id] = asyncio.Event()
                try:
                    progressed += await self._deliver(row)
                finally:
                    del self._sending[row.id]
                    done.set()
        finally:
            for row in rows:  # a pass that failed midway: the rest waits for its lease to end
                self._untried.pop(row.id, None)
        return progressed

    async def deliver_now(self, row_ids: list[int]) -> None:
        """Send these rows now, in order (an update's replies, right after its commit), whoever
        claimed them in this process. What cannot go now stays queued for the worker, which is
        woken.

        The worker's own pass may have claimed a row between the commit and this claim (or be
        claiming it at this moment: SKIP LOCKED passes over it here). Its pass sends the rows it
        claimed one after another, so a reply left to it could wait behind many others' round
        trips: instead a row the pass has not started is taken over and sent here, and one it
        is sending now is waited for. Each row is still sent by one owner only: taking a row
        over removes it from the pass, which sends only what it can still remove.
        """
        async with self.sessionmaker() as session, session.begin():
            rows = await OutboxRepository(session, self.keyring).claim_rows(
                row_ids, now=self.clock(), lease=self.lease
            )
        missing = sorted(set(row_ids) - {row.id for row in rows})
        if missing:
            rows, in_flight = await self._take_over(rows, missing)
            if in_flight:
                # Being sent by the pass right now: the next rows to the chat come after it.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(HANDOVER_WAIT):
                        await asyncio.gather(*(event.wait() for event in in_flight))
            left = len(row_ids) - len(rows) - len(in_flight)
        else:
            left = 0
        for row in rows:
            await self._deliver(row, in_turn=True)
        if left:
            self.notify()

    async def _take_over(
        self, rows: list[ClaimedRow], missing: list[int]
    ) -> tuple[list[ClaimedRow], list[asyncio.Event]]:
        """Rows this process's pass claimed and has not started: taken from it, with `rows`, in
        order; and the events of the ones it is sending now."""
        # A pass claiming at this moment: its rows are known once its transaction ends.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HANDOVER_WAIT), self._claiming:
                pass
        untried = [self._untried.pop(row_id, None) for row_id in missing]
        taken = [row for row in untried if row is not None]
        in_flight = [self._sending[row_id] for row_id in missing if row_id in self._sending]
        left = len(missing) - len(taken) - len(in_flight)
        log.debug(
            "deliver_now: %s rows taken from the worker's pass, %s being sent by it, "
            "%s held elsewhere or not due",
            len(taken),
            len(in_flight),
            left,
        )
        return sorted([*rows, *taken], key=lambda row: row.id), in_flight

    async def _release_untried(self, rows: list[ClaimedRow]) -> None:
        """Shutting down: give back what we claimed but did not try, due now."""
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            repo = OutboxRepository(session, self.keyring)
            for row in rows:
                if row.claimed_until is None or not await repo.renew_claim(
                    row.id, held_until=row.claimed_until, until=now
                ):
                    continue
                await repo.release(row.id, at=now)
        log.info("shutdown: %s claimed outbox rows released", len(rows))

    # --- bursts --------------------------------------------------------------------------------
    def in_burst(self) -> bool:
        return time.monotonic() < self._burst_until

    async def _announce_backlog(self) -> int:
        """When alerts come faster than the group may receive cards, list them in digests.

        Telegram lets 20 messages a minute into a group. In a burst, full cards wait; alerts are
        listed in digests that go when one is full or when its oldest alert has waited
        DIGEST_MAX_WAIT, so few slots carry many reports and every report is visible within
        seconds. Full cards follow once the burst is over.
        """
        chat_id = self._group_id("moderators")
        pace = self._pace(chat_id)
        if not self.digests or pace.free_in() > 0:
            return 0
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            repo = OutboxRepository(session, self.keyring)
            backlog, oldest = await repo.unannounced_alerts(now)
            if backlog == 0:
                return 0
            cards_fit = backlog <= pace.available() - CARD_RESERVE
            if not self.in_burst() and cards_fit:
                return 0  # quiet enough: the full cards go as they are
            waited = (now - oldest).total_seconds() if oldest else 0.0
            if backlog < DIGEST_FULL and waited < DIGEST_MAX_WAIT:
                return 0  # let the digest fill up: every slot should carry many reports
            rows = await repo.claim_unannounced(now=now, limit=DIGEST_ROWS, lease=self.lease)
        chunks = _digest_chunks(rows)
        announced: list[int] = []
        try:
            for index, (ids, lines) in enumerate(chunks):
                # More than one digest at a time only while the window has room to spare.
                if index and pace.available() <= CARD_RESERVE:
                    break
                header = f"<b>{_quote(self.digest_header(len(ids)))}</b>"
                digest = {"type": "text", "html": header + "\n" + "\n".join(lines)}
                await self._global.acquire()
                pace.take()
                await self.transports.staff.send(
                    chat_id, digest, Sending(ids[0], 0, "digest", None, {})
                )
                announced.extend(ids)
                self._burst_until = time.monotonic() + GROUP_RATE[1]
        except TransportError as exc:
            # Whatever the platform answers, the claimed rows are released below: the cards
            # follow.
            self.metrics.send_errors.labels(exc.label).inc()
            log.warning("burst digest not sent: %s", exc.label)
            if exc.chat_refused is not None:
                self._not_posted(chat_id)
            if exc.moved_to is not None and self.chats is not None:
                await self.chats.follow(self.moderator_chat_id, exc.moved_to)
        async with self.sessionmaker() as session, session.begin():
            repo = OutboxRepository(session, self.keyring)
            if announced:
                await repo.mark_announced(announced, now=self.clock())
            for row in rows:
                if row.id not in announced:
                    await repo.release(row.id, at=now)
        if announced:
            log.info("burst: %s waiting alerts announced in digests", len(announced))
        return len(announced)

    # --- one row -------------------------------------------------------------------------------
    async def _deliver(self, row: ClaimedRow, *, in_turn: bool = False) -> int:
        """Try a claimed row once. `in_turn`: sent in a person's turn (deliver_now), which must
        not wait for a database that is away; the worker may."""
        route: Route | None = None
        try:
            if row.kind == "card_edit" and await self._superseded(row):
                await self._finish(row)
                return 1
            route = await self._route(row)
            if route.behind:
                raise NoSlot(ORDER_WAIT)
            unrecorded = await self._send_messages(row, route, in_turn=in_turn)
            self.metrics.sent.labels(row.kind).inc()  # it went out, whatever the record does
            await self._finish(row, unrecorded, in_turn=in_turn)
            if row.target in GROUP_TARGETS and self.chats is not None:
                await self.chats.accepted(self._configured(row.target))
        except RecordingDeferred:
            return 0
        except LostClaim:
            log.warning("outbox row %s: our claim ran out and another took it over", row.id)
            return 0
        except NoSlot as exc:
            async with self.sessionmaker() as session, session.begin():
                await OutboxRepository(session, self.keyring).release(
                    row.id, at=self.clock() + dt.timedelta(seconds=exc.wait)
                )
            return 0
        except (PermanentFailure, UnknownMessage) as exc:
            self.metrics.send_errors.labels(type(exc).__name__).inc()
            await self._dead(row, type(exc).__name__)
            if isinstance(exc, PermanentFailure) and str(exc) == REPORTER_ERASED:
                await self._tell_card_undelivered(row, "erased")
        except TransportError as exc:
            self.metrics.send_errors.labels(exc.label).inc()
            transport = route.transport if route else None
            if exc.chat_refused is not None and route and transport and transport.paced:
                self._not_posted(route.chat)
            await self._transport_failure(row, transport, exc)
        return 1

    def _not_posted(self, chat_id: Chat) -> None:
        """The chat refused the bot (a group that bars it, a person who blocked it), so the
        message was not posted: it takes none of the chat's slots. Counted, an episode of a
        group's refusals (each waiting alert tried every second or so at first) would fill its
        20 a minute, and when the group allowed the bot again the alerts that waited for it
        would go as a digest, their full cards a minute later."""
        self._pace(chat_id).give_back()

    async def _finish(
        self, row: ClaimedRow, unrecorded: Sent | None = None, *, in_turn: bool = False
    ) -> None:
        """Mark the row sent, with what its last message left to record, in one transaction."""
        try:
            await self._record_sent(row, unrecorded, finish=True, once=in_turn)
        except Exception as exc:
            if not (in_turn and is_database_outage(exc)):
                raise
            # Sent in a person's turn while the database is away: their next update must not
            # wait for it to come back. The record is kept trying in the background.
            self._spawn(self._record_later(row, unrecorded, finish=True))
            raise RecordingDeferred(str(row.id)) from exc

    async def _migrated(self, row: ClaimedRow, moved_to: int) -> bool:
        """Follow a team's group to its new id, and send the row there at once."""
        if row.target not in GROUP_TARGETS or self.chats is None:
            return False  # nothing else moves: the row cannot be sent
        await self.chats.follow(self._configured(row.target), moved_to)
        await self._retry(row, 0.0, "chat migrated", count=False)
        return True

    async def _card_moved(self, row: ClaimedRow, message_id: int) -> None:
        """The card was posted anew: presses, replies and edits go to the new message."""
        if row.report_id is None:
            return
        async with self.sessionmaker() as session, session.begin():
            await OutboxRepository(session, self.keyring).move_card(row.report_id, message_id)
        log.warning("the card of report %s was gone; posted anew", row.report_id)

    async def _group_refused(self, row: ClaimedRow, reason: str | None) -> bool:
        """A group refused the message (the bot may not post, was removed, a closed topic):
        the row waits and is tried again, with capped backoff, for as long as it takes. An
        alert is never dropped because the moderators' chat refused it for a while. A refusal
        of this message (too long, a bad picture) has no `reason`: waiting cannot help."""
        if row.target not in GROUP_TARGETS or reason is None:
            return False
        configured = self._configured(row.target)
        waited = 0.0
        if self.chats is not None:
            await self.chats.refused(configured, reason)
            waited = self.chats.refusing_for(configured)
        # Not counted as a failed attempt (the row may fail for real later and must still get
        # its MAX_ATTEMPTS then); the pause grows with the episode: seconds at first, then
        # every few minutes (REFUSED_CAP) for as long as it lasts.
        delay = min(max(waited * 0.25, 1.0), REFUSED_CAP) * self.rng.uniform(0.5, 1.5)
        await self._retry(row, delay, f"{CHAT_REFUSED}: {reason}", count=False)
        return True

    async def _tell_card_undelivered(self, row: ClaimedRow, reason: str) -> None:
        """A question, status message or check-in could not reach the reporter (`reason`:
        "blocked", they blocked the bot or deleted their account; "erased", the link to them
        was erased): the moderators see it under the card, instead of believing it arrived.
        Never the reporter's id, never the content."""
        if (
            row.target != "reporter"
            or row.kind not in UNDELIVERED_KINDS
            or row.report_id is None
            or self.undelivered_text is None
        ):
            return
        async with self.sessionmaker() as session, session.begin():
            code = (await Reports(session, self.keyring).codes([row.report_id])).get(
                row.report_id, ""
            )
            await OutboxRepository(session, self.keyring).notice_under_card(
                row.report_id,
                _quote(self.undelivered_text(reason, code)),
                key=f"undelivered:{row.id}:{row.attempts}",
            )
        self.notify()

    def _configured(self, target: str) -> int:
        return self.moderator_chat_id if target == "moderators" else self.coordinator_chat_id

    def _group_id(self, target: str) -> int:
        """The id the group has now (it changes when a group becomes a supergroup)."""
        configured = self._configured(target)
        return self.chats.current(configured) if self.chats is not None else configured

    async def _route(self, row: ClaimedRow) -> Route:
        """Where a row goes and what it needs to know first, read in one short transaction."""
        staff = self.transports.staff
        if row.target in GROUP_TARGETS:
            return Route(self._group_id(row.target), staff)
        direct = row.payload.get("chat_id")
        if row.target == ADMIN_TARGET and isinstance(direct, int):
            # An admin's private chat (bot/services/group_chats.py).
            return Route(direct, staff)
        async with self.sessionmaker() as session, session.begin():
            repo = OutboxRepository(session, self.keyring)
            if await repo.earlier_pending(row):
                return Route(0, behind=True)
            transport, chat, seen = await self._reporter_chat(session, row)
            prompt = None
            if row.kind == REPLY_KIND and row.reporter_id is not None:
                prompt = await repo.last_prompt(row.reporter_id, before=row.id, kind=REPLY_KIND)
        return Route(chat, transport, last_prompt=prompt, seen=seen)

    async def _superseded(self, row: ClaimedRow) -> bool:
        async with self.sessionmaker() as session:
            return await OutboxRepository(session, self.keyring).superseded(row)

    async def _reporter_chat(
        self, session: AsyncSession, row: ClaimedRow
    ) -> tuple[Transport, Chat, dt.datetime | None]:
        if row.target != "reporter":
            raise PermanentFailure(f"unknown target {row.target}")
        # A reporter erased by the update that queued the row: the row names the chat itself.
        named = self.transports.named_in(row.payload)
        if named is not None:
            return (*named, None)
        if row.reporter_id is not None:
            reporters = Reporters(session, self.keyring)
            reporter = await reporters.get(row.reporter_id)
            chat_id = reporters.chat_id(reporter) if reporter is not None else None
            if reporter is None or chat_id is None:
                raise PermanentFailure(REPORTER_ERASED)
            transport = self.transports.for_channel(reporter.channel)
            if transport is None:
                raise PermanentFailure("the reporter's channel is off")
            return transport, transport.address(chat_id), reporter.last_seen
        raise PermanentFailure(f"unknown target {row.target}")

    async def _card_id(self, row: ClaimedRow) -> int:
        """The message id of the card an edit belongs to; not yet known means not yet."""
        async with self.sessionmaker() as session:
            alert = (
                await OutboxRepository(session, self.keyring).alert_of(row.report_id)
                if row.report_id is not None
                else None
            )
        if alert is None or alert.state == OutboxState.DEAD.value:
            raise PermanentFailure("the card to edit was never sent")
        if alert.sent_message_id is None:
            raise NoSlot(1.0)
        return alert.sent_message_id

    def _pace(self, chat_id: Chat) -> SlidingWindow:
        pace = self._chats.get(chat_id)
        if pace is None:
            group = isinstance(chat_id, int) and chat_id < 0
            pace = SlidingWindow(*(GROUP_RATE if group else PRIVATE_RATE))
            self._chats[chat_id] = pace
        return pace

    async def _send_messages(
        self, row: ClaimedRow, route: Route, *, in_turn: bool = False
    ) -> Sent | None:
        """Send the row's messages from where it got to; what the last one sent has not been
        recorded yet is returned, for `_finish` to record with the row's end."""
        messages: list[dict[str, Any]] = list(row.payload.get("messages") or [])
        # Tidying an earlier message (taking its buttons off, or writing the answer under the
        # question just pressed) does not have to finish before the next message goes: both go
        # at once, so an answer costs one round trip to Telegram, not two.
        tidying: list[asyncio.Task[int | None]] = []
        try:
            unrecorded = await self._send_in_order(
                row, route, messages, tidying, row.claimed_until, in_turn=in_turn
            )
        except BaseException:
            await asyncio.gather(*tidying, return_exceptions=True)  # the first failure counts
            raise
        for failure in await asyncio.gather(*tidying, return_exceptions=True):
            if isinstance(failure, TransportError):
                # What matters went out: trying the row again would send it a second time, for
                # an old message left as it was (its buttons, or the answer not written under it).
                self.metrics.send_errors.labels(failure.label).inc()
                log.warning("outbox row %s: an earlier message not tidied: %s", row.id, failure)
            elif isinstance(failure, Exception):
                raise failure
        return unrecorded

    async def _send_in_order(
        self,
        row: ClaimedRow,
        route: Route,
        messages: list[dict[str, Any]],
        tidying: list[asyncio.Task[int | None]],
        held_until: dt.datetime | None,
        *,
        in_turn: bool,
    ) -> Sent | None:
        chat_id = route.chat
        transport = route.transport
        assert transport is not None
        threaded = row.kind != REPLY_KIND  # a card's attachments reply to the card
        card_id = row.sent_message_id if threaded else None
        pace = self._pace(chat_id)
        # An update's answers in a private chat are the person's own conversation: Telegram
        # tolerates short bursts there ("avoid more than one message per second in a single
        # chat", core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this), and
        # making someone wait a second per message would undo the point of answering at once.
        # The "about 30 messages per second" there is for bulk notifications; answers to people's
        # own actions (what their update queued for their own chat, a receipt included) are not
        # held back for it (a 429 still reschedules them).
        answering = row.target == "reporter" and (row.kind == REPLY_KIND or in_turn)
        # The reporter was erased in this update: nothing more is remembered about the chat.
        track = row.target == "reporter" and row.reporter_id is not None
        track = track and "chat_id" not in row.payload
        unrecorded: Sent | None = None
        for index in range(row.progress, len(messages)):
            if unrecorded is not None:
                # A message went out and another follows: record it first, so that a failure of
                # the next does not send this one again.
                await self._record_sent(row, unrecorded, once=in_turn)
                unrecorded = None
            message = messages[index]
            if message.get("type") in ("edit", "edit_markup") and "message_id" not in message:
                message = {**message, "message_id": await self._card_id(row), "card": True}
            if message.get("type") == "clear_buttons" and "message_id" not in message:
                message = {**message, "message_id": route.last_prompt}
            if transport.paced:
                held_back = self.in_burst() or pace.available() <= CARD_RESERVE
                if row.kind == "alert" and self.digests and held_back:
                    raise NoSlot(max(pace.free_in(), GROUP_INTERVAL))
                wait = 0.0 if answering else pace.free_in()
                if wait > 0:
                    # Never block the whole worker on one chat's pace: other chats go meanwhile.
                    raise NoSlot(wait)
            held_until = await self._keep_claim(row, held_until)
            if transport.paced:
                if answering:
                    self._global.take()
                else:
                    await self._global.acquire()
                pace.take()
            sending = Sending(
                row.id, index, row.kind, row.reporter_id, row.payload, card_id, route.seen
            )
            send = transport.send(chat_id, message, sending)
            concurrent = answering and _tidying(message)
            if concurrent and index + 1 < len(messages):
                tidying.append(asyncio.create_task(send))
                continue
            sent = await send
            if message.get("card") and sent is not None and sent != message["message_id"]:
                await self._card_moved(row, sent)
            if threaded and card_id is None and sent is not None:
                card_id = sent
            recorded = card_id if threaded and index == 0 else None
            if not threaded and message.get("prompt") and sent is not None:
                recorded = sent
            tracked = sent if track and sent is not None else None
            unrecorded = Sent(index + 1, recorded, tracked)
            if message.get("type") in IDEMPOTENT and recorded is None:
                unrecorded = None  # doing it again is harmless: no write needed
        return unrecorded

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record_later(
        self, row: ClaimedRow, unrecorded: Sent | None, *, finish: bool
    ) -> None:
        try:
            await self._record_sent(row, unrecorded, finish=finish)
            if not finish:
                async with self.sessionmaker() as session, session.begin():
                    await OutboxRepository(session, self.keyring).release(row.id, at=self.clock())
        except Exception as exc:  # noqa: BLE001 - the lease runs out and the row is tried again
            log_pass_failure(log, f"outbox row {row.id}: recording failed", exc)
            return
        self.notify()

    async def _record_sent(
        self, row: ClaimedRow, sent: Sent | None, *, finish: bool = False, once: bool = False
    ) -> None:
        """Record what went out (and, with `finish`, that the row is done). It did go out: if the
        database is away for a moment, try again while our claim holds, rather than leave the
        row to be sent a second time. `once`: try once, the caller decides (a person's turn)."""
        delay = 0.2
        while True:
            try:
                async with self.sessionmaker() as session, session.begin():
                    repo = OutboxRepository(session, self.keyring)
                    if sent is not None:
                        await repo.record_progress(row.id, sent.progress, sent.message_id)
                        if sent.tracked is not None and row.reporter_id is not None:
                            # What /wipe may delete from the reporter's chat
                            # (bot/services/privacy.py).
                            await TrackedMessages(session).add(
                                row.reporter_id, [sent.tracked], self.clock()
                            )
                    if finish:
                        await repo.mark_sent(row.id, now=self.clock())
            except Exception as exc:
                held_until = row.claimed_until
                expires = held_until is not None and self.clock() + dt.timedelta(
                    seconds=delay
                ) >= held_until - dt.timedelta(seconds=1)
                if once or not is_database_outage(exc) or expires:
                    raise
                log.warning("outbox row %s sent; recording it waits for the database", row.id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                return

    async def _transport_failure(
        self, row: ClaimedRow, transport: Transport | None, exc: TransportError
    ) -> None:
        """A platform's refusal as its transport sorted it: a team's group that moved is
        followed, one that refuses the bot for now is waited for; the rest is tried again or
        given up. The team hears of what cannot arrive at a reporter (the transport says it, in
        the platform's terms; a person who blocked the bot is marked under the card)."""
        if exc.moved_to is not None and await self._migrated(row, exc.moved_to):
            return
        if await self._group_refused(row, exc.chat_refused):
            return
        if exc.retry_after_tries(row.attempts + 1):
            await self._retry(row, exc.retry_after, str(exc), count=exc.counted)
            return
        await self._dead(row, str(exc))
        if exc.recipient_gone:
            await self._tell_card_undelivered(row, "blocked")
        if row.target == "reporter" and transport is not None:
            await transport.undeliverable(row, exc)
            self.notify()

    async def _keep_claim(
        self, row: ClaimedRow, held_until: dt.datetime | None
    ) -> dt.datetime | None:
        """Make sure our lease outlasts the next Bot API call; LostClaim if it is gone."""
        now = self.clock()
        if held_until is None or held_until - now >= self.renew_before:
            return held_until
        until = now + self.lease
        async with self.sessionmaker() as session, session.begin():
            renewed = await OutboxRepository(session, self.keyring).renew_claim(
                row.id, held_until=held_until, until=until
            )
        if not renewed:
            raise LostClaim(str(row.id))
        return until

    async def _retry(
        self,
        row: ClaimedRow,
        after: float | None,
        error: str,
        *,
        count: bool = True,
    ) -> None:
        attempts = row.attempts + (1 if count else 0)
        if count and attempts >= MAX_ATTEMPTS:
            await self._dead(row, f"gave up after {attempts} attempts: {error}")
            return
        delay = float(after) if after is not None else backoff_delay(attempts, self.rng)
        log.warning("outbox row %s: %s, retrying in %.1fs", row.id, error, delay)
        async with self.sessionmaker() as session, session.begin():
            await OutboxRepository(session, self.keyring).retry_later(
                row.id,
                at=self.clock() + dt.timedelta(seconds=delay),
                error=error,
                count_attempt=count,
            )

    async def _dead(self, row: ClaimedRow, error: str) -> None:
        log.error("outbox row %s is a dead letter: %s", row.id, error)
        self.metrics.dead_letters.inc()
        async with self.sessionmaker() as session, session.begin():
            await OutboxRepository(session, self.keyring).mark_dead(
                row.id, now=self.clock(), error=error
            )


def _digest_chunks(rows: list[ClaimedRow]) -> list[tuple[list[int], list[str]]]:
    """Pack the rows' one-line summaries into messages, urgent first, each under the budget."""
    ordered = sorted(rows, key=lambda row: (row.priority, row.id))
    chunks: list[tuple[list[int], list[str]]] = []
    ids: list[int] = []
    lines: list[str] = []
    size = 0
    for row in ordered:
        line = str(row.payload.get("summary") or "")
        if not line:
            continue
        if lines and size + len(line) + 1 > DIGEST_BUDGET:
            chunks.append((ids, lines))
            ids, lines, size = [], [], 0
        ids.append(row.id)
        lines.append(line)
        size += len(line) + 1
    if lines:
        chunks.append((ids, lines))
    return chunks


def _tidying(message: dict[str, Any]) -> bool:
    """A message that only tidies an earlier one in a person's chat: its buttons taken off, or
    the question just pressed rewritten with the answer under it (an edit with no buttons that
    is no question: one that is gone is not asked anew). Doing it twice changes nothing."""
    if message.get("type") == "clear_buttons":
        return True
    if neutral.is_neutral(message):
        # The form's recap of a pressed question (bot/services/form.py, `answered`): it replaces
        # the pressed message where the platform can edit one, and is left out where it cannot.
        edit = neutral.edit_of(message)
        return (
            edit is not None
            and edit[0] is not None
            and not edit[1]
            and not message.get("actions")
            and not message.get("prompt")
        )
    return (
        message.get("type") == "edit"
        and "reply_markup" not in message
        and not message.get("prompt")
        and not message.get("card")
    )


def _quote(text: str) -> str:
    """Text as HTML, as Telegram reads it (core.telegram.org/bots/api#html-style: &, < and >
    escaped)."""
    return html.escape(text, quote=False)
