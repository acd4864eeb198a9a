"""The outbox against what the Bot API answers (bot/outbox/transports.py, `TelegramFailure`), and
an update's replies sent in the person's turn whoever claimed them (`OutboxWorker.deliver_now`).

Each failure is Telegram's documented answer (core.telegram.org/bots/api#making-requests: "ok"
false, an error_code and a description; #responseparameters: retry_after), played by the
emulator's fault injection (bot/demo/emulator/faults.py) or by what the emulator does itself (a
user who blocked the bot, a message that is too long, an edit that changes nothing). Rows are
queued straight into the outbox and the running bot's worker sends them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.telegram import TelegramEmulator
from bot.outbox.transports import UNAUTHORIZED_WAIT
from bot.services import messages
from bot.services.form import Pressed, in_place
from bot.services.replies import REPLY_KIND
from handlers.telegram.conversation import CHANNEL
from storage.models import Outbox, OutboxState, utcnow
from storage.repositories import CHAT_REFUSED, OutboxRepository, Reporters
from storage.sealing import Keyring
from tests.e2e import RunningBot, moderator_group, outbox_settled, start_bot


@dataclass
class Setup:
    emu: TelegramEmulator
    bot: RunningBot
    group: GroupHandle

    async def queue(
        self,
        text: str,
        *,
        reporter: UserHandle | None = None,
        kind: str = "status",
        messages: list[dict[str, Any]] | None = None,
    ) -> int:
        """One row in the outbox, as a service queues it (to the moderators, or to `reporter`);
        the worker is woken."""
        [row_id] = await self.queue_all([(text, reporter)], kind=kind, messages=messages)
        return row_id

    async def queue_all(
        self,
        texts: list[tuple[str, UserHandle | None]],
        *,
        kind: str = "status",
        messages: list[dict[str, Any]] | None = None,
    ) -> list[int]:
        """Rows queued in one transaction (as one update queues them), then the worker woken.
        Each row is one text, or `messages`."""
        app = self.bot.app
        row_ids: list[int] = []
        async with app.sessionmaker() as session, session.begin():
            for text, reporter in texts:
                reporter_id = None
                if reporter is not None:
                    found, _ = await Reporters(session, app.worker.keyring).get_or_create(
                        CHANNEL, reporter.id, reporter.id
                    )
                    reporter_id = found.id
                row_id = await OutboxRepository(session, app.worker.keyring).enqueue(
                    kind=kind,
                    target="reporter" if reporter is not None else "moderators",
                    payload={"messages": messages or [{"type": "text", "html": text}]},
                    idempotency_key=f"test:{text[:40]}",
                    reporter_id=reporter_id,
                )
                assert row_id is not None
                row_ids.append(row_id)
            # Due a moment ago: a pass that read its clock before this commit sees all of them
            # or, if its query began before the commit, none (never some).
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(row_ids))
                .values(next_attempt_at=utcnow() - dt.timedelta(seconds=5))
            )
        app.worker.notify()
        return row_ids

    async def row(self, row_id: int) -> Outbox:
        async with self.bot.app.sessionmaker() as session:
            found = await session.get(Outbox, row_id)
        assert found is not None
        return found

    async def row_when(self, row_id: int, ready: Any) -> Outbox:
        """The row once `ready(row)` holds (the worker recorded what the test waits for)."""

        async def check() -> Outbox | None:
            found = await self.row(row_id)
            return found if ready(found) else None

        result: Outbox = await self.emu.wait_until(check, 15)
        return result

    def errors(self, label: str) -> float:
        """The send errors counted under `label` (the metric /metrics shows)."""
        value = self.bot.app.metrics.registry.get_sample_value(
            "reportbot_outbox_send_errors_total", {"error": label}
        )
        return value or 0.0

    def calls(self, chat: GroupHandle | UserHandle, method: str = "sendMessage") -> list[Any]:
        return [
            call
            for call in self.emu.calls
            if call.method == method and call.params.get("chat_id") == chat.id
        ]


@pytest.fixture
async def setup(migrated_url: str, keyring: Keyring, tmp_path: Path) -> AsyncIterator[Setup]:
    async with TelegramEmulator(rate_limits=False) as emu:
        group = moderator_group(emu)
        bot = await start_bot(emu, migrated_url, keyring, tmp_path)
        try:
            yield Setup(emu, bot, group)
        finally:
            await bot.shutdown()
        assert emu.internal_errors == []


def sent(text: str) -> Any:
    return lambda message: text in (message.text or "")


# --- retried -----------------------------------------------------------------------------------
async def test_a_429_is_retried_after_its_retry_after_and_not_counted(setup: Setup) -> None:
    s = setup
    # Pauses up to 5 s are waited out in the request itself (handlers/telegram/session.py);
    # a longer one reaches the outbox.
    s.emu.faults.retry_after_next(6, method="sendMessage")
    row_id = await s.queue("Flood control")
    refused = await s.emu.wait_until(lambda: [c for c in s.calls(s.group) if c.status == 429])
    assert refused[0].injected
    refused_at = s.emu.clock()
    message = await s.emu.wait_for_bot_message(s.group, sent("Flood control"))
    # core.telegram.org/bots/api#responseparameters: retry_after, the seconds left to wait
    # before the request can be repeated.
    assert message.created_at - refused_at >= 5.5
    row = await s.row_when(row_id, lambda row: row.state == OutboxState.SENT)
    assert row.attempts == 0  # a pause Telegram asked for is no failed attempt
    assert s.errors("TelegramRetryAfter") == 1


async def test_a_server_error_is_retried_and_counted(setup: Setup) -> None:
    s = setup
    s.emu.faults.fail_next(status=502, method="sendMessage")
    row_id = await s.queue("Bad gateway")
    await s.emu.wait_for_bot_message(s.group, sent("Bad gateway"))
    row = await s.row_when(row_id, lambda row: row.state == OutboxState.SENT)
    assert row.attempts == 1  # counted towards giving up (MAX_ATTEMPTS)
    assert [call.status for call in s.calls(s.group)] == [502, 200]
    assert s.errors("TelegramServerError") == 1


async def test_a_refused_token_holds_every_message_without_giving_up(setup: Setup) -> None:
    s = setup
    s.emu.faults.fail_next(status=401, description="Unauthorized", method="sendMessage")
    before = utcnow()
    row_id = await s.queue("Token revoked")
    row = await s.row_when(row_id, lambda row: row.last_error == "unauthorized")
    assert row.state == OutboxState.PENDING
    assert row.attempts == 0
    waits = (row.next_attempt_at - before).total_seconds()
    assert UNAUTHORIZED_WAIT - 5 <= waits <= UNAUTHORIZED_WAIT + 5
    assert s.errors("TelegramUnauthorizedError") == 1


# --- given up, or waited for -------------------------------------------------------------------
async def test_a_reporter_who_blocked_the_bot_is_given_up_at_once(setup: Setup) -> None:
    s = setup
    reporter = s.emu.user(started=True)
    await reporter.block_bot()  # Telegram answers 403 "Forbidden: bot was blocked by the user"
    row_id = await s.queue("Are you safe?", reporter=reporter)
    row = await s.row_when(row_id, lambda row: row.state == OutboxState.DEAD)
    assert row.last_error == "TelegramForbiddenError"
    assert [call.error_code for call in s.calls(reporter)] == [403]
    assert s.errors("TelegramForbiddenError") == 1


async def test_a_chat_telegram_does_not_find_is_given_up_for_a_reporter(setup: Setup) -> None:
    s = setup
    reporter = s.emu.user(started=True)
    s.emu.faults.fail_next(status=404, description="Not Found", method="sendMessage")
    row_id = await s.queue("Gone", reporter=reporter)
    row = await s.row_when(row_id, lambda row: row.state == OutboxState.DEAD)
    assert row.last_error == "TelegramNotFound"
    assert len(s.calls(reporter)) == 1


async def test_a_message_telegram_refuses_is_given_up_without_its_text(setup: Setup) -> None:
    s = setup
    secret = "Серик " * 1000  # over the 4096 characters of a message
    row_id = await s.queue(secret)
    row = await s.row_when(row_id, lambda row: row.state == OutboxState.DEAD)
    assert row.last_error == "TelegramBadRequest: message is too long"
    assert len(s.calls(s.group)) == 1  # waiting cannot help: tried once
    assert s.errors("TelegramBadRequest") == 1


async def test_a_group_that_refuses_the_bot_is_waited_for(setup: Setup) -> None:
    s = setup
    s.emu.faults.fail_next(
        status=400, description="Bad Request: chat not found", method="sendMessage"
    )
    row_id = await s.queue("Waits for the group")
    waiting = await s.row_when(row_id, lambda row: row.last_error is not None)
    assert waiting.last_error == f"{CHAT_REFUSED}: chat not found"
    await s.emu.wait_for_bot_message(s.group, sent("Waits for the group"), after=0)
    row = await s.row_when(row_id, lambda row: row.state == OutboxState.SENT)
    assert row.attempts == 0  # a refusing group is waited for, its rows keep their attempts


async def test_an_edit_that_changes_nothing_is_done(setup: Setup) -> None:
    s = setup
    first = await s.queue("Unchanged card")
    card = await s.emu.wait_for_bot_message(s.group, sent("Unchanged card"))
    await s.row_when(first, lambda row: row.state == OutboxState.SENT)
    # Telegram answers 400 "message is not modified" (the emulator's api.py says it).
    edit = {"type": "edit", "html": "Unchanged card", "message_id": card.message_id}
    row_id = await s.queue("edit", kind="card_edit", messages=[edit])
    row = await s.row_when(row_id, lambda row: row.state != OutboxState.PENDING)
    assert row.state == OutboxState.SENT
    refused = s.calls(s.group, "editMessageText")
    assert [call.description for call in refused] == [
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    ]
    assert row.last_error is None


# --- a reply in the person's turn, whoever claimed it ------------------------------------------
async def test_a_reply_the_workers_pass_claimed_goes_in_the_persons_turn(setup: Setup) -> None:
    s = setup
    worker = s.bot.app.worker
    people = [s.emu.user(started=True) for _ in range(3)]
    # The pass's first row is slow to go (a slow Bot API call): the rows behind it wait.
    s.emu.faults.slow_next(5.0, method="sendMessage")
    rows = await s.queue_all(
        [(f"Reply {index}", person) for index, person in enumerate(people)], kind=REPLY_KIND
    )

    async def claimed() -> bool:
        return all([(await s.row(row_id)).claimed_until is not None for row_id in rows])

    await s.emu.wait_until(claimed)  # the pass holds all three
    started = asyncio.get_running_loop().time()
    await worker.deliver_now([rows[2]])  # the third person's update, right after its commit
    assert asyncio.get_running_loop().time() - started < 3.0
    # Sent in the person's turn, not after the slow row.
    assert [m.text for m in s.emu.bot_messages(people[2])] == ["Reply 2"]
    assert s.emu.bot_messages(people[0]) == []

    # The first row is being sent by the pass: its person's turn waits for it.
    await worker.deliver_now([rows[0]])
    assert [m.text for m in s.emu.bot_messages(people[0])] == ["Reply 0"]

    await outbox_settled(s.bot.app)
    for index, person in enumerate(people):  # each sent once
        assert [m.text for m in s.emu.bot_messages(person)] == [f"Reply {index}"]


async def queue_press_answer(
    s: Setup, person: UserHandle, *, neutral: bool = True
) -> tuple[EmuMessage, int]:
    """A question in the person's chat, and the row a press on it queues: the question rewritten
    with the answer under it (no buttons), then the next question. `neutral`: the recap as the
    form driver writes it (bot/services/form.py), else as rows queued before it did."""
    asked = await s.queue("Who is he to you?", reporter=person, kind=REPLY_KIND)
    question = await s.emu.wait_for_bot_message(person, sent("Who is he to you?"))
    await s.row_when(asked, lambda row: row.state == OutboxState.SENT)
    recap: dict[str, Any] = (
        in_place(
            messages.text(messages.bold("Who?"), messages.plain("✓ Brother")),
            Pressed(question.message_id),
            otherwise_send=False,
        )
        if neutral
        else {"type": "edit", "message_id": question.message_id, "html": "Who?\n\n✓ Brother"}
    )
    next_question = {"type": "text", "html": "His name?", "prompt": True}
    row_id = await s.queue(
        "His name?", reporter=person, kind=REPLY_KIND, messages=[recap, next_question]
    )
    return question, row_id


@pytest.mark.parametrize("neutral", [True, False], ids=["neutral", "queued-before"])
async def test_a_press_answer_costs_one_round_trip(setup: Setup, neutral: bool) -> None:
    s = setup
    person = s.emu.user(started=True)
    question, row_id = await queue_press_answer(s, person, neutral=neutral)
    s.emu.faults.set_latency(1.0)
    started = asyncio.get_running_loop().time()
    await s.bot.app.worker.deliver_now([row_id])
    took = asyncio.get_running_loop().time() - started
    s.emu.faults.set_latency(0)
    assert [m.text for m in s.emu.bot_messages(person)][-1] == "His name?"
    assert "✓ Brother" in (s.emu.message(person, question.message_id).text or "")
    # The answer under the pressed question and the next question went at once: one round
    # trip of 1 s (and a short claim and record), not two.
    assert took < 1.8


async def test_a_press_answer_whose_recap_fails_sends_the_next_question_once(
    setup: Setup,
) -> None:
    s = setup
    person = s.emu.user(started=True)
    question, row_id = await queue_press_answer(s, person)
    s.emu.faults.fail_next(status=502, method="editMessageText")
    await s.bot.app.worker.deliver_now([row_id])
    row = await s.row_when(row_id, lambda row: row.state != OutboxState.PENDING)
    assert row.state == OutboxState.SENT
    await outbox_settled(s.bot.app)
    assert [m.text for m in s.emu.bot_messages(person)].count("His name?") == 1
    assert "✓" not in (s.emu.message(person, question.message_id).text or "")
    assert s.errors("TelegramServerError") == 1
