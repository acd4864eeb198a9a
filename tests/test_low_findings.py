"""The Low list of issue 14: processed updates forgotten after a window, export's partial file
made exclusively and never through a link, DATA_DIR and the database private to the bot."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.demo.emulator.telegram import TelegramEmulator
from bot.jobs.sweeper import Sweeper
from bot.reporting.export import private_output
from bot.services.context import ServiceContext
from storage.db import create_engine, create_sessionmaker
from storage.models import ProcessedUpdate
from storage.repositories import ProcessedUpdates
from storage.sealing import Keyring
from tests.e2e import running_bot
from tests.test_cli import _reportbot


async def test_processed_updates_keep_the_hour_only_and_are_swept_after_two_days(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    engine = create_engine(migrated_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            assert await ProcessedUpdates(session).record("telegram", 1)
        async with sessions() as session:
            (recorded,) = (await session.scalars(select(ProcessedUpdate.processed_at))).all()
        assert (recorded.minute, recorded.second, recorded.microsecond) == (0, 0, 0)
    finally:
        await engine.dispose()

    async with TelegramEmulator() as emu, running_bot(emu, migrated_url, keyring, tmp_path) as bot:
        sweeper = Sweeper(sessionmaker=bot.app.sessionmaker, context=bot.app.context)
        kept = await sweeper.run_due()
        assert kept.get("processed_updates", 0) == 0
        later = Sweeper(
            sessionmaker=bot.app.sessionmaker,
            context=_later(bot.app.context, dt.timedelta(days=3)),
        )
        swept = await later.run_due()
    assert swept["processed_updates"] >= 1


def _later(context: ServiceContext, delta: dt.timedelta) -> ServiceContext:
    """The bot's context three days on: the sweep a later pass would make."""
    clock = context.clock
    return dataclasses.replace(context, clock=lambda: clock() + delta)


def test_export_never_writes_through_a_link_left_at_the_partial_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    output = tmp_path / "reports.csv"
    (tmp_path / "reports.csv.partial").symlink_to(victim)
    with private_output(output) as partial:
        assert not partial.is_symlink()
        assert stat.S_IMODE(partial.stat().st_mode) == 0o600
        partial.write_text("exported")
    assert victim.read_text() == "keep me"
    assert output.read_text() == "exported"


@pytest.mark.parametrize("command", ["migrate"])
def test_data_dir_and_database_are_private_whatever_the_umask(tmp_path: Path, command: str) -> None:
    previous = os.umask(0o022)
    try:
        result = _reportbot(tmp_path, command, DATA_DIR="data")
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "reportbot.db").stat().st_mode) == 0o600
