"""Storage on SQLite and PostgreSQL: migrations, sealing, lookups, idempotency, outbox claims."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from nacl.public import PrivateKey
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine, create_sessionmaker, downgrade, migrate
from storage.models import Outbox, Report, Reporter
from storage.repositories import OutboxRepository, ProcessedUpdates, Reporters, Reports
from storage.sealing import DecryptError, Keyring, open_sealed

TABLES = {
    "reporters",
    "reports",
    "drafts",
    "outbox",
    "processed_updates",
    "moderation_events",
    "staff",
}


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


async def test_migrations_run_up_down_and_up_again(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    try:
        assert await _tables(engine) >= TABLES
        await downgrade(migrated_url, "base")
        assert not (TABLES & await _tables(engine))
        await migrate(migrated_url)
        assert await _tables(engine) >= TABLES
    finally:
        await engine.dispose()


async def test_reporter_is_found_by_keyed_hash_and_never_stored_raw(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    sessions = create_sessionmaker(db_engine)
    async with sessions() as session, session.begin():
        reporter, created = await Reporters(session, keyring).get_or_create(
            "telegram", 987654321123, 987654321123
        )
        assert created
    async with sessions() as session, session.begin():
        repo = Reporters(session, keyring)
        again, created = await repo.get_or_create("telegram", 987654321123, 987654321123)
        assert not created
        assert again.id == reporter.id
        assert repo.chat_id(again) == "987654321123"
    async with db_engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM reporters"))).all()
    flat = repr(rows)
    assert "987654321123" not in flat
    assert b"987654321123" not in b"".join(
        value for row in rows for value in row if isinstance(value, bytes)
    )


async def test_report_payload_is_sealed_to_the_organisation(
    db_engine: AsyncEngine, keyring: Keyring, org_private_key: PrivateKey
) -> None:
    sessions = create_sessionmaker(db_engine)
    async with sessions() as session, session.begin():
        report = await Reports(session, keyring).create(
            code_prefix="D",
            channel="telegram",
            source=None,
            incident_type="detention",
            region="almaty",
            incident_date=dt.date(2026, 11, 20),
            urgent=True,
            language="ru",
            consent="anonymised",
            contact="chat",
            reporter_id=None,
            payload={"answers": {"subject": "CANARY-Нурлан"}},
        )
    assert report.public_code.startswith("D-")
    async with sessions() as session:
        stored = (await session.execute(select(Report))).scalar_one()
    assert b"CANARY" not in stored.sealed_payload
    assert stored.key_id == keyring.org_key_id
    assert open_sealed(org_private_key, stored.sealed_payload)["answers"]["subject"] == (
        "CANARY-Нурлан"
    )
    with pytest.raises(DecryptError):
        open_sealed(PrivateKey.generate(), stored.sealed_payload)


async def test_processed_updates_drop_redeliveries(db_engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(db_engine)
    async with sessions() as session, session.begin():
        assert await ProcessedUpdates(session).record("telegram", 42)
    async with sessions() as session, session.begin():
        assert not await ProcessedUpdates(session).record("telegram", 42)
        assert await ProcessedUpdates(session).record("facebook", 42)


async def _enqueue(db_engine: AsyncEngine, keyring: Keyring, count: int) -> None:
    sessions = create_sessionmaker(db_engine)
    async with sessions() as session, session.begin():
        outbox = OutboxRepository(session, keyring)
        for index in range(count):
            await outbox.enqueue(
                kind="alert",
                target="moderators",
                payload={"messages": [{"type": "text", "html": f"card {index}"}]},
                idempotency_key=f"alert:{index}",
            )
        # The same key again is ignored: enqueueing is idempotent.
        await outbox.enqueue(
            kind="alert", target="moderators", payload={}, idempotency_key="alert:0"
        )


async def test_outbox_claims_are_leased_and_expire(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    await _enqueue(db_engine, keyring, 3)
    sessions = create_sessionmaker(db_engine)
    now = dt.datetime.now(dt.UTC)
    lease = dt.timedelta(minutes=2)
    async with sessions() as session, session.begin():
        claimed = await OutboxRepository(session, keyring).claim_due(now=now, limit=10, lease=lease)
    assert [row.payload["messages"][0]["html"] for row in claimed] == ["card 0", "card 1", "card 2"]
    async with sessions() as session, session.begin():
        again = await OutboxRepository(session, keyring).claim_due(now=now, limit=10, lease=lease)
    assert again == []
    later = now + lease + dt.timedelta(seconds=1)
    async with sessions() as session, session.begin():
        recovered = await OutboxRepository(session, keyring).claim_due(
            now=later, limit=10, lease=lease
        )
    assert len(recovered) == 3
    async with sessions() as session:
        payloads = (await session.execute(select(Outbox.payload_enc))).scalars().all()
    assert all(b"card" not in payload for payload in payloads if payload)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_concurrent_claims_skip_locked_rows_on_postgres(
    db_engine: AsyncEngine, keyring: Keyring
) -> None:
    await _enqueue(db_engine, keyring, 20)
    sessions = create_sessionmaker(db_engine)
    now = dt.datetime.now(dt.UTC)
    gate = asyncio.Event()

    async def claim() -> list[int]:
        async with sessions() as session, session.begin():
            rows = await OutboxRepository(session, keyring).claim_due(
                now=now, limit=10, lease=dt.timedelta(minutes=2)
            )
            await gate.wait()  # both transactions hold their locks at the same time
            return [row.id for row in rows]

    first = asyncio.create_task(claim())
    second = asyncio.create_task(claim())
    await asyncio.sleep(0.5)
    gate.set()
    a, b = await first, await second
    assert len(a) == 10
    assert len(b) == 10
    assert not set(a) & set(b)


async def test_erased_reporter_has_no_chat_id(db_engine: AsyncEngine, keyring: Keyring) -> None:
    sessions = create_sessionmaker(db_engine)
    async with sessions() as session, session.begin():
        repo = Reporters(session, keyring)
        reporter, _ = await repo.get_or_create("telegram", 5, 5)
        reporter.external_enc = None
    async with sessions() as session:
        stored = (await session.execute(select(Reporter))).scalar_one()
        assert Reporters(session, keyring).chat_id(stored) is None
