"""The inbound pipeline (bot/services/pipeline.py) for a channel that brings nothing but an
`Inbound` and a handler: what Telegram and Messenger get from it, a new channel gets too."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.pipeline import Inbound, InboundPipeline, Person, Turn
from storage.db import create_engine, create_sessionmaker
from storage.models import utcnow
from storage.repositories import ClaimedRow, OutboxRepository
from storage.sealing import Keyring
from tests.safety import service_context

CHANNEL = "web"  # any channel: the pipeline names none


@dataclass
class Harness:
    pipeline: InboundPipeline
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    delivered: list[list[int]] = field(default_factory=list)
    woken: int = 0

    async def rows(self, ids: list[int]) -> list[ClaimedRow]:
        async with self.sessions() as session, session.begin():
            return await OutboxRepository(session, self.keyring).claim_rows(
                ids, now=utcnow(), lease=dt.timedelta(minutes=1)
            )


@pytest.fixture
async def harness(migrated_url: str, keyring: Keyring) -> AsyncIterator[Harness]:
    engine = create_engine(migrated_url)
    context = service_context(keyring)
    sessions = create_sessionmaker(engine)
    harness: Harness

    async def deliver(ids: list[int]) -> None:
        harness.delivered.append(ids)

    def notify() -> None:
        harness.woken += 1

    pipeline = InboundPipeline(
        sessionmaker=sessions,
        context=context,
        moderators=lambda: -1001,
        notify=notify,
        deliver=deliver,
    )
    harness = Harness(pipeline, sessions, keyring)
    try:
        yield harness
    finally:
        await engine.dispose()


async def _help(turn: Turn) -> str:
    assert turn.reporter_session is not None
    turn.reporter_session.help()
    turn.replies.take(turn.reporter_session)
    return turn.language


async def test_an_event_is_applied_once_and_its_answer_sent_after_the_commit(
    harness: Harness,
) -> None:
    person = Person("visitor-1", "visitor-1", "ru")
    first = await harness.pipeline.run(Inbound(CHANNEL, "delivery-1", person), _help)
    # A new reporter, in the language the channel gave, answered in it.
    assert (first.duplicate, first.result) == (False, "ru")
    assert first.turn is not None and first.turn.reporter is not None
    reporter_id = first.turn.reporter.id
    assert len(harness.delivered) == 1 and harness.woken == 0
    (row,) = await harness.rows(harness.delivered[0])
    assert (row.kind, row.target, row.reporter_id) == ("reply", "reporter", reporter_id)
    assert row.payload["version"] == 2
    (said,) = row.payload["messages"]
    text = said["paragraphs"][0][0]["text"]
    assert "/new" in text and "Команды" in text  # /help, in Russian

    # The same delivery again (the platform repeated it): nothing runs, nothing is said.
    async def must_not_run(turn: Turn) -> None:
        raise AssertionError("a repeated delivery was applied again")

    again = await harness.pipeline.run(Inbound(CHANNEL, "delivery-1", person), must_not_run)
    assert again.duplicate and again.turn is None
    assert len(harness.delivered) == 1


async def test_an_erased_reporters_last_answer_names_its_channel_and_chat(
    harness: Harness,
) -> None:
    person = Person("visitor-2", "chat-2", "en")

    async def forget(turn: Turn) -> None:
        assert turn.reporter_session is not None
        assert await turn.reporter_session.forget("yes")
        turn.replies.take(turn.reporter_session)

    await harness.pipeline.run(Inbound(CHANNEL, "delivery-2", person), forget)
    (row,) = await harness.rows(harness.delivered[0])
    # No reporter to look the chat up through: the row says where it goes.
    assert row.reporter_id is None
    assert (row.payload["channel"], row.payload["chat_id"]) == (CHANNEL, "chat-2")


async def test_one_persons_events_wait_for_each_other_in_order(harness: Harness) -> None:
    order: list[str] = []
    first_inside = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with harness.pipeline.turn("visitor-3"):
            order.append("first in")
            first_inside.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        await first_inside.wait()
        async with harness.pipeline.turn("visitor-3"):
            order.append("second in")

    async def other() -> Any:
        await first_inside.wait()
        async with harness.pipeline.turn("visitor-4"):
            order.append("other person in")
        release.set()

    await asyncio.gather(first(), second(), other())
    # Another person is not held up; the same person's next event waits its turn.
    assert order == ["first in", "other person in", "first out", "second in"]
