"""What an erasure removed is gone from the SQLite files a seizure copies (issue 14, finding 6):
no free-page leftovers (secure_delete), no old WAL frames (checkpoint and truncate), and the
erasure's audit rows do not share the exact time that would group one person's reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from bot.i18n import create_i18n
from bot.jobs.sweeper import SCRUB_MARGIN, Sweeper
from bot.services.context import ServiceContext
from storage.db import create_engine, create_sessionmaker, migrate
from storage.models import ModerationEvent, Report
from storage.repositories import Reporters
from storage.safety import Erasure
from storage.sealing import Keyring

NOW = dt.datetime(2026, 12, 3, 14, 37, 12, 345678, tzinfo=dt.UTC)


def files_of(database: Path) -> bytes:
    """The database and its -wal and -shm, as a copy of the disk would have them."""
    return b"".join(
        path.read_bytes()
        for path in database.parent.iterdir()
        if path.name.startswith("reportbot.db")
    )


async def test_erased_lookup_hash_and_chat_id_leave_the_database_and_its_wal(
    tmp_path: Path, keyring: Keyring
) -> None:
    database = tmp_path / "reportbot.db"
    url = f"sqlite+aiosqlite:///{database}"
    await migrate(url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            reporter, _ = await Reporters(session, keyring).get_or_create(
                "telegram", 987_654_321, 987_654_321, now=NOW
            )
            secrets = [reporter.external_hash.encode(), bytes(reporter.external_enc or b"")]
            session.add_all(
                Report(
                    public_code=f"X-{code}",
                    created_at=NOW,
                    channel="telegram",
                    incident_type="other",
                    language="en",
                    reporter_id=reporter.id,
                    sealed_payload=b"sealed",
                    key_id="k",
                )
                for code in ("AAAA", "CCCC")
            )
        assert all(len(secret) >= 16 for secret in secrets)
        async with sessions() as session, session.begin():
            erased = await Erasure(session).erase(reporter.id, reason="forget", now=NOW)
            assert len(erased) == 2
        # The sweeper's next pass sees the erasure and scrubs the log (bot/jobs/sweeper.py).
        context = ServiceContext(
            keyring=keyring,
            catalogs=create_i18n(),
            tz=dt.UTC,
            moderator_language="en",
            clock=lambda: NOW + dt.timedelta(seconds=30),
        )
        sweeper = Sweeper(sessionmaker=sessions, context=context)
        await sweeper.run_due()
        assert sweeper._scrubbed_at == NOW + dt.timedelta(seconds=30) - SCRUB_MARGIN  # noqa: SLF001
        async with sessions() as session:
            times = (await session.scalars(select(ModerationEvent.at))).all()
            # Copied while the bot runs: closing the last connection would checkpoint anyway.
            on_disk = files_of(database)
    finally:
        await engine.dispose()
    for secret in secrets:
        assert secret not in on_disk
    assert times == [NOW.replace(hour=0, minute=0, second=0, microsecond=0)] * 2
