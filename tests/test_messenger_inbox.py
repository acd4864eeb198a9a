"""Messenger's webhook stores, answers 200, then processes; replies leave through the outbox.

Meta retries a delivery that is not answered 200 in time
(developers.facebook.com/docs/messenger-platform/webhooks), so the webhook must answer at once
whatever the Graph API is doing, and a repeated delivery or a rate limit in the middle of a reply
must not make the person read anything twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.demo.emulator.graph import GraphEmulator, MessengerUser
from handlers.messenger.delivery import MESSENGER_MESSAGE
from handlers.messenger.events import PostbackEvent
from handlers.messenger.inbox import InboxWorker, store_events
from handlers.messenger.render import (
    GET_STARTED,
    Action,
    Payload,
    postback,
    quick_reply,
    text_messages,
)
from storage.db import create_engine, create_sessionmaker
from storage.inbox import ClaimedEvent, MessengerInbox
from storage.models import MessengerInboxEvent, Outbox, OutboxState, ProcessedUpdate, utcnow
from storage.repositories import OutboxRepository
from storage.sealing import Keyring
from tests.messenger_e2e import Messenger, begin, messenger_bot, payload, settled
from tests.safety import dump_database

WELCOME = "Here you can report a detention"
NOTICE = "Do you agree?"
RATE_LIMITED = "(#613) Calls to this api have exceeded the rate limit."


@pytest.fixture
async def m(migrated_url: str, keyring: Keyring, tmp_path: Path) -> Any:
    async with messenger_bot(migrated_url, keyring, tmp_path) as running:
        yield running


def _texts(m: Messenger, user: MessengerUser) -> list[str]:
    return [message.text or "" for message in m.graph.page_messages(user)]


def _count(texts: list[str], piece: str) -> int:
    return sum(piece in text for text in texts)


async def _scalar(m: Messenger, query: Any) -> Any:
    async with m.bot.app.sessionmaker() as session:
        return await session.scalar(query)


async def _until_acknowledged(m: Messenger, status: int) -> int:
    """What Meta does with a delivery not answered 200: send it again, byte for byte."""
    for _ in range(50):
        if status == 200:
            return status
        await asyncio.sleep(0.1)
        status = await m.graph.redeliver()
    return status


async def test_the_webhook_answers_at_once_while_the_graph_api_is_slow(m: Messenger) -> None:
    user = m.graph.user(locale="en_US")
    m.graph.delay = 3.0  # every Graph API call now takes three seconds
    m.graph.after_delivery = None  # measure the answer alone, as Meta sees it
    started = time.monotonic()
    assert await user.get_started() == 200
    assert await user.send_text("/help") == 200
    answered = time.monotonic() - started
    assert answered < 0.5, f"two deliveries took {answered:.2f} s to be answered"
    # The bot is busy with Meta meanwhile (the new person's locale, then the replies).
    assert m.graph.page_messages(user) == []
    m.graph.delay = 0.0
    help_text = await m.graph.wait_for_page_message(
        user, lambda msg: "How it works" in (msg.text or ""), after=0, timeout=20
    )
    await settled(m.bot.app)
    texts = _texts(m, user)
    # Each reply once, and the person's two events answered in the order they came.
    assert _count(texts, WELCOME) == 1 and _count(texts, NOTICE) == 1
    assert texts.index(next(t for t in texts if WELCOME in t)) < texts.index(help_text.text or "")
    assert await _scalar(m, select(func.count()).select_from(MessengerInboxEvent)) == 0


async def test_a_delivery_meta_repeats_sends_each_reply_once(m: Messenger) -> None:
    user = m.graph.user(locale="en_US")
    # Repeated before it was processed: stored once.
    assert await user.get_started() == 200
    _, raw, headers = m.graph.deliveries[-1]
    for _ in range(3):
        status = await m.graph.deliver_raw(
            raw, signature=headers["X-Hub-Signature-256"], settle=False
        )
        assert status == 200
    await settled(m.bot.app)
    # Repeated after it was processed: recognised by its id, nothing is sent.
    assert await m.graph.redeliver() == 200
    texts = _texts(m, user)
    assert _count(texts, WELCOME) == 1 and _count(texts, NOTICE) == 1
    assert await _scalar(m, select(func.count()).select_from(ProcessedUpdate)) == 1
    assert await _scalar(m, select(func.count()).select_from(MessengerInboxEvent)) == 0
    # The next step of the conversation is unaffected.
    await user.tap(payload=payload(Action.CONSENT, value="yes"))
    menu = m.graph.last_page_message(user)
    assert menu is not None and "What do you want to report?" in (menu.text or "")


async def test_a_rate_limit_midway_delivers_every_reply_exactly_once(
    m: Messenger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.messenger.graph as graph_module  # noqa: PLC0415

    monkeypatch.setattr(graph_module, "RATE_LIMIT_PAUSE", 1.0)
    user = m.graph.user(locale="en_US")
    # The welcome goes through; the consent notice after it meets Meta's (#613).
    m.graph.fail_next(613, message=RATE_LIMITED, after=1)
    await _until_acknowledged(m, await user.get_started())
    # The person writes again while the rest of the first answer waits for Meta's pause.
    await _until_acknowledged(m, await user.send_text("/help"))
    help_text = await m.graph.wait_for_page_message(
        user, lambda msg: "How it works" in (msg.text or ""), after=0, timeout=15
    )
    await settled(m.bot.app)
    texts = _texts(m, user)
    assert _count(texts, WELCOME) == 1 and _count(texts, NOTICE) == 1
    assert _count(texts, "How it works") == 1
    # In the order the person's events came: the notice is not overtaken by the help.
    notice = next(text for text in texts if NOTICE in text)
    assert texts.index(notice) < texts.index(help_text.text or "")
    assert [call.code for call in m.graph.calls if not call.ok] == [613]
    # Every delivery was acknowledged the first time: Meta had nothing to repeat.
    assert [status for status, _, _ in m.graph.deliveries] == [200, 200]


async def test_an_event_stored_before_a_crash_is_processed_at_start(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    psid = "7000000009000001"

    async def stored_and_crashed(graph: GraphEmulator) -> None:
        # The webhook stored the delivery and answered 200; the process died before it could
        # process it. Meta will not send it again.
        thread = graph.user(psid, locale="ru_RU").thread
        thread.last_interaction = graph.now()
        event = PostbackEvent(psid, graph.now_ms(), GET_STARTED, graph.new_mid())
        engine = create_engine(migrated_url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await store_events(session, keyring, [event], utcnow())
        finally:
            await engine.dispose()

    async with messenger_bot(migrated_url, keyring, tmp_path, prepare=stored_and_crashed) as m:
        user = m.graph.user(psid)
        notice = await m.graph.wait_for_page_message(
            user, lambda msg: "Вы согласны?" in (msg.text or ""), after=0, timeout=15
        )
        await settled(m.bot.app)
        assert len(m.graph.page_messages(user)) == 2
        assert m.graph.last_page_message(user) is notice
        assert await _scalar(m, select(func.count()).select_from(MessengerInboxEvent)) == 0


CANARY = "canary-messenger-4b1d: Serik Canaryuly, Abai street 17"


async def test_what_a_person_wrote_is_neither_kept_nor_logged(
    migrated_url: str,
    keyring: Keyring,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    redacted_log: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with messenger_bot(migrated_url, keyring, tmp_path) as m:
        user = m.graph.user(locale="en_US")
        await begin(m, user)
        await user.tap(payload=payload(Action.TYPE, value="detention"))
        await user.tap(payload=payload(Action.SKIP, "relation"))
        await user.send_text(CANARY)  # who was detained
        await user.tap(payload=payload(Action.BACK))
        # Shown back to the person as the current answer: it was processed.
        await m.graph.wait_for_page_message(user, lambda msg: CANARY in (msg.text or ""))
        await user.tap(payload=payload(Action.CANCEL))
        cancelled = m.graph.last_page_message(user)
        assert cancelled is not None and "cancelled" in (cancelled.text or "")
        sent = await _scalar(
            m,
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.state == OutboxState.SENT.value, Outbox.payload_enc.is_not(None)),
        )
        assert sent == 0  # replies keep no payload once sent
    dump, tables = await dump_database(migrated_url)
    assert "messenger_inbox" in tables
    assert CANARY.encode() not in dump
    assert CANARY.encode().hex() not in dump.decode("latin-1")
    assert "sqlalchemy.engine" in redacted_log.getvalue()  # statements were logged
    assert CANARY not in caplog.text
    assert CANARY not in redacted_log.getvalue()


async def test_the_outbox_sends_every_shape_the_renderer_makes_in_order(m: Messenger) -> None:
    """Split texts, quick replies, a button template with postbacks, a carousel: one row."""
    user = m.graph.user(locale="en_US")
    await begin(m, user)
    long_text = "\n".join(f"Line {n}: " + "word " * 60 for n in range(20))  # about 6,000
    buttons = [postback("Send", Payload(Action.SUBMIT)), postback("Cancel", Payload(Action.CANCEL))]
    button_template = {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "button", "text": "Press Send", "buttons": buttons},
        },
        "quick_replies": [quick_reply("Back", Payload(Action.BACK))],
    }
    carousel = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "elements": [
                    {"title": f"Answer {n}", "subtitle": "x", "buttons": buttons[:1]}
                    for n in range(3)
                ],
            },
        }
    }
    messages = [*text_messages(long_text), button_template, carousel]
    assert len(messages) >= 5
    async with m.bot.app.sessionmaker() as session, session.begin():
        await OutboxRepository(session, m.bot.app.context.keyring).enqueue(
            kind="messenger_reply",
            target="reporter",
            payload={
                "messenger_psid": user.psid,
                "messages": [{"type": MESSENGER_MESSAGE, "message": msg} for msg in messages],
            },
            idempotency_key="test:shapes",
        )
    before = m.graph.seq
    m.bot.app.worker.notify()
    await m.graph.wait_for_page_message(
        user, lambda msg: msg.template_type == "generic", after=before
    )
    sent = [msg.message for msg in m.graph.page_messages(user) if msg.seq > before]
    assert sent == messages


async def test_an_event_that_keeps_failing_is_given_up_without_its_content(
    m: Messenger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import handlers.messenger.inbox as inbox_module  # noqa: PLC0415
    from handlers.messenger.conversation import MessengerConversation  # noqa: PLC0415

    user = m.graph.user(locale="en_US")
    await begin(m, user)
    monkeypatch.setattr(inbox_module, "BACKOFF_CAP", 0.05)
    assert m.bot.app.messenger is not None
    m.bot.app.messenger.inbox.poll_interval = 0.05

    async def broken(self: MessengerConversation, event: Any) -> None:
        raise RuntimeError(f"a bug that quotes {event.text}")  # the worst case: content in it

    with monkeypatch.context() as patch:
        patch.setattr(MessengerConversation, "on_message", broken)
        before = m.graph.seq
        assert await user.send_text(CANARY) == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while await _scalar(m, select(func.count()).select_from(MessengerInboxEvent)):
            assert loop.time() < deadline, "the failing event was never given up"
            await asyncio.sleep(0.05)
    given_up = [
        record
        for record in caplog.records
        if record.name == "handlers.messenger.inbox" and record.levelno == logging.ERROR
    ]
    assert len(given_up) == 1
    assert f"after {inbox_module.MAX_ATTEMPTS} failed attempts" in given_up[0].getMessage()
    assert "RuntimeError" in given_up[0].getMessage()
    assert CANARY not in caplog.text
    assert [msg for msg in m.graph.page_messages(user) if msg.seq > before] == []
    # The person's conversation is not blocked behind it.
    await user.send_text("/help")
    help_text = m.graph.last_page_message(user)
    assert help_text is not None and help_text.seq > before


async def _store_rows(engine: AsyncEngine, keyring: Keyring, senders: list[str]) -> None:
    now = utcnow()
    async with create_sessionmaker(engine)() as session, session.begin():
        inbox = MessengerInbox(session, keyring)
        for index, sender in enumerate(senders):
            stored = await inbox.store(
                event_key=f"m:{index}", sender=sender, event={"n": index}, now=now
            )
            assert stored
        assert not await inbox.store(event_key="m:0", sender="a", event={"n": 0}, now=now)


async def test_one_persons_events_are_claimed_one_at_a_time_in_order(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    await _store_rows(db_engine, keyring, ["a", "a", "b", "a"])
    sessions = create_sessionmaker(db_engine)
    lease = dt.timedelta(minutes=2)
    now = utcnow()

    async def claim(at: dt.datetime) -> list[int]:
        async with sessions() as session, session.begin():
            claimed = await MessengerInbox(session, keyring).claim(now=at, limit=10, lease=lease)
        return [event.event["n"] for event in claimed]

    assert await claim(now) == [0, 2]  # the oldest of each person
    assert await claim(now) == []  # both are claimed; a's next waits for its first
    assert await claim(now + lease + dt.timedelta(seconds=1)) == [0, 2]  # a crash: taken over
    async with sessions() as session, session.begin():
        inbox = MessengerInbox(session, keyring)
        await inbox.remove(1)  # row ids follow the order of storing: 1 is a's first event
        await inbox.retry_later(3, at=now + dt.timedelta(minutes=10), count_attempt=True)
    later = now + 2 * lease
    assert await claim(later) == [1]  # a's second; b's waits for its retry
    async with sessions() as session:
        stored = (await session.execute(select(MessengerInboxEvent))).scalars().all()
    assert all(b'"n"' not in row.event_enc for row in stored)  # encrypted with the server key
    assert {row.key_id for row in stored} == {keyring.server_key_id}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_replicas_claim_different_people_at_once_on_postgres(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    await _store_rows(db_engine, keyring, [f"person {n}" for n in range(10)])
    sessions = create_sessionmaker(db_engine)
    now = utcnow()
    first_holds = asyncio.Event()
    release = asyncio.Event()

    async def claim(*, hold: bool) -> set[int]:
        async with sessions() as session, session.begin():
            claimed = await MessengerInbox(session, keyring).claim(
                now=now, limit=6, lease=dt.timedelta(minutes=2)
            )
            if hold:
                first_holds.set()
                await release.wait()  # its row locks are held until this transaction ends
        return {event.id for event in claimed}

    first = asyncio.create_task(claim(hold=True))
    await first_holds.wait()
    # Not blocked by the first replica's locks, and none of its rows: SKIP LOCKED.
    second = await asyncio.wait_for(claim(hold=False), 10)
    release.set()
    taken = await first
    assert len(taken) == 6 and len(second) == 4
    assert not taken & second


async def test_an_event_cut_off_by_a_stop_is_free_again_at_once(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    await _store_rows(db_engine, keyring, ["a"])
    sessions = create_sessionmaker(db_engine)
    started = asyncio.Event()

    async def endless(event: ClaimedEvent) -> None:
        started.set()
        await asyncio.Event().wait()  # a download that never ends

    worker = InboxWorker(sessionmaker=sessions, keyring=keyring, process=endless, clock=utcnow)
    drain = asyncio.create_task(worker.drain())
    await started.wait()
    drain.cancel()  # what the shutdown does once its grace period is over
    with pytest.raises(asyncio.CancelledError):
        await drain
    async with sessions() as session, session.begin():
        again = await MessengerInbox(session, keyring).claim(
            now=utcnow(), limit=10, lease=dt.timedelta(minutes=2)
        )
    assert [event.event for event in again] == [{"n": 0}]
