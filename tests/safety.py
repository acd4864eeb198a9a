"""Helpers for the reporter-safety tests: a clock to move, database reads, report answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.demo.emulator.handles import UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.i18n import create_i18n
from bot.services.context import ServiceContext
from handlers.telegram.keyboards import ConsentCB, WipeCB
from storage.db import create_engine, create_sessionmaker
from storage.models import Base, Outbox, OutboxState, utcnow
from storage.sealing import Keyring
from tests.e2e import RunningBot, is_consent, start_bot


def service_context(keyring: Keyring, clock: Callable[[], dt.datetime] = utcnow) -> ServiceContext:
    """The services' context as the bot builds it, moderators in English, UTC."""
    return ServiceContext(
        keyring=keyring, catalogs=create_i18n(), tz=dt.UTC, moderator_language="en", clock=clock
    )


T = TypeVar("T", bound=Base)

# Telegram's documented limits, with private chats tolerant of test users' speed (as elsewhere).
LIMITS = RateLimitConfig(private_per_second=10, private_burst=30)

# A short report: the "other" form, contact in this chat.
OTHER = {
    "other_kind": ("pick", "threats"),
    "relation": ("pick", "self"),
    "subject": "Айдос Серікұлы",
    "when": "yesterday",
    "region": ("pick", "almaty"),
    "account": "Phone calls at night.",
    "media": "done",
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
}


CANARY_MAKE = "CanaryPhone-Make-7731"
GPS_IFD = 0x8825
# Almaty, to the second: what a phone writes into every photo it takes.
GPS = {1: "N", 2: (43.0, 14.0, 51.0), 3: "E", 4: (76.0, 53.0, 45.0)}


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, (40, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = CANARY_MAKE  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    exif[GPS_IFD] = GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"canary-comment")
    return out.getvalue()


class MovableClock:
    """The bot's clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return utcnow() + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        """Move at once; a running bot's clock is better moved with `move_clock`."""
        self.offset += delta


async def move_clock(
    app: App,
    clock: MovableClock,
    delta: dt.timedelta,
    timeout: float = 10,  # noqa: ASYNC109 - a test helper
) -> None:
    """Move the running bot's clock once no outbox row is held by a sender.

    A claim on a row is a lease on this clock (bot/outbox/worker.py). Moved past the lease
    while a message is out but not yet recorded, the row looks abandoned, and the worker sends
    it again, as another replica would after a crash. Real time does not jump like that, so the
    move waits until every claimed row is recorded or given back.
    """
    held = (
        select(func.count())
        .select_from(Outbox)
        .where(Outbox.state == OutboxState.PENDING, Outbox.claimed_until > clock())
    )
    async with asyncio.timeout(timeout):
        while True:
            async with app.sessionmaker() as session:
                if not await session.scalar(held):
                    break
            await asyncio.sleep(0.02)
    clock.advance(delta)


@asynccontextmanager
async def session_for(url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


async def rows(url: str, model: type[T], *where: Any) -> list[T]:
    async with session_for(url) as session:
        return list((await session.execute(select(model).where(*where))).scalars())


@asynccontextmanager
async def bot_running(
    emu: TelegramEmulator, url: str, keyring: Keyring, tmp_path: Path, **overrides: Any
) -> AsyncIterator[RunningBot]:
    bot = await start_bot(emu, url, keyring, tmp_path, **overrides)
    try:
        yield bot
        # Updates still being handled (one waiting out a 429, say) would call the Bot API after
        # the app closed its HTTP session, and open a new one nobody closes. run_polling does
        # not wait for them (aiogram runs each update as its own task), so the test does.
        tasks = bot.app.dispatcher._handle_update_tasks  # noqa: SLF001 - see above
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
    finally:
        await bot.shutdown()


async def agree(emu: TelegramEmulator, user: UserHandle) -> EmuMessage:
    """/start and accept the consent notice; returns the types menu."""
    await user.send_command("/start")
    consent = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
    assert is_consent(consent)
    await user.press(consent, ConsentCB(answer="yes").pack())
    return await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))


def has_wipe_buttons(message: EmuMessage) -> bool:
    return any(
        b.get("callback_data", "").startswith(WipeCB.__prefix__ + ":") for b in message.buttons
    )


async def dump_database(url: str) -> tuple[bytes, set[str]]:
    """Every row of every table as text, and on SQLite the files themselves; and which tables."""
    chunks: list[str] = []
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            postgres = connection.dialect.name == "postgresql"
            for table in tables:
                # Table names come from the database's own catalog, not from input.
                row_text = f'SELECT t::text FROM "{table}" t'  # noqa: S608
                if not postgres:
                    row_text = f'SELECT * FROM "{table}"'  # noqa: S608
                chunks.append(repr((await connection.execute(text(row_text))).all()))
    finally:
        await engine.dispose()
    dump = "\n".join(chunks).encode()
    if make_url(url).get_backend_name() == "sqlite":
        database = Path(str(make_url(url).database))
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                dump += path.read_bytes()
    return dump, set(tables)
