"""`reportbot demo`: the Telegram emulator, the real bot and a local page, all on loopback.

Nothing on the page fakes the bot. The bot is the one `reportbot run` starts (same dispatcher,
middlewares, outbox worker), talking HTTP to the loopback Telegram emulator in `emulator/`;
the page shows what the emulator holds (every message the bot sent, edited or deleted) and acts
as people through the emulator's user handles, exactly as the end-to-end tests do.

The demo never touches a real database or real keys: its settings are built here and read neither
the environment nor `.env`, and its embedded SQLite file and keys live in a temporary folder (or an
explicit `--data-dir` that is empty or was made by the demo, which leaves a marker file in it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import json
import random
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiogram import Router
from aiogram.filters import Command
from aiohttp import WSMsgType, web
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App, create_app, run_polling
from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.models import EmuChat, EmuMessage, EmuUser, StoredFile
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.demo.night import NightProgress, NightReport, plan_night, run_night
from bot.keys import ORG_PUBLIC_FILE, generate_keys, load_keyring
from bot.settings import LANGUAGES, ConfigError, Settings
from handlers.engine.forms import FORMS
from handlers.telegram.keyboards import LanguageCB
from storage.db import migrate
from storage.models import Report, ReportStatus, StaffRole
from storage.repositories import Reports, StaffRepository
from storage.sealing import Keyring

STATIC_DIR = Path(__file__).with_name("static")
# Only these files are served, with an explicit charset (the labels are Kazakh and Russian).
STATIC_FILES = {
    "index.html": "text/html",
    "demo.js": "text/javascript",
    "demo.css": "text/css",
}
# Left in every folder the demo uses; --seed and --data-dir refuse folders without it.
MARKER_FILE = ".reportbot-demo"
DATABASE_FILE = "reportbot.db"
# The emulator accepts any well-formed token; this one cannot be mistaken for a real one.
DEMO_TOKEN = "100000001:DEMO-offline-not-a-real-token"  # noqa: S105 - not a secret
MODERATOR_CHAT_ID = -1001000000777
MODERATOR_ID = 700000001
COORDINATOR_ID = 700000002
PANES = ("reporter", "moderators", "coordinator")
# Seeded reports carry this source, a "demo" flag in their sealed payload and names like
# "Demo Person 7", so they cannot be mistaken for real reports.
SEED_SOURCE = "demo-seed"
SEED_WEEKS = 6
# Telegram's group and global limits as documented, so a burst of cards behaves as it would in
# a real moderator chat. In private chats Telegram tolerates short bursts beyond one message a
# second; the bot's answer to one tap (a prompt, an edit, a deletion) is such a burst.
DEMO_RATE_LIMITS = RateLimitConfig(private_per_second=10, private_burst=30)
MAX_UPLOAD = 20 * 1024 * 1024
# How long a pressed button shows as busy at most when the bot does not answer the press.
PRESS_TIMEOUT = 10.0


class DemoError(Exception):
    """An action the page asked for cannot be done.

    `reason` names what the page says in the person's language ("empty", "gone", "language");
    the message, for a developer, is shown only when there is no reason the page knows.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason

    def response(self) -> web.Response:
        return _json({"ok": False, "error": str(self), "reason": self.reason}, status=400)


class DemoSettings(Settings):
    """Settings built in code only: no environment variables and no `.env` reach the demo."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


# ---------------------------------------------------------------------------- the data folder
@dataclass(frozen=True)
class DemoFolder:
    path: Path
    temporary: bool

    @property
    def database_url(self) -> str:
        return demo_database_url(self.path)


def demo_database_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{(folder / DATABASE_FILE).resolve()}"


def is_demo_folder(path: Path) -> bool:
    return (path / MARKER_FILE).is_file()


def _mark(path: Path) -> None:
    (path / MARKER_FILE).write_text(
        "This folder belongs to `reportbot demo`: fake data only. Never point a real bot here.\n",
        encoding="utf-8",
    )


def prepare_data_dir(requested: Path | None) -> DemoFolder:
    """A fresh temporary folder, or `requested` if it is empty, new, or already the demo's."""
    if requested is None:
        path = Path(tempfile.mkdtemp(prefix="reportbot-demo-"))
        _mark(path)
        return DemoFolder(path, temporary=True)
    path = requested.expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--data-dir {path} is not a folder.")
    if is_demo_folder(path):
        return DemoFolder(path, temporary=False)
    if path.exists() and any(path.iterdir()):
        raise ConfigError(
            f"--data-dir {path} is not empty and was not made by `reportbot demo`; the demo "
            "only uses an empty folder or one of its own, so it never touches real data."
        )
    path.mkdir(parents=True, exist_ok=True)
    _mark(path)
    return DemoFolder(path, temporary=False)


def demo_settings(
    folder: DemoFolder, *, telegram_api_url: str, moderator_language: str
) -> Settings:
    return DemoSettings(
        bot_token=DEMO_TOKEN,
        telegram_api_url=telegram_api_url,
        database_url=folder.database_url,
        moderator_chat_id=MODERATOR_CHAT_ID,
        data_dir=folder.path,
        moderator_language=moderator_language,
    )


def demo_keyring(settings: Settings) -> Keyring:
    """The demo folder's own keys (made on first use); the private key never leaves it."""
    if not (settings.data_dir / ORG_PUBLIC_FILE).exists():
        generate_keys(settings.data_dir)
    keyring = load_keyring(settings)
    assert keyring is not None
    return keyring


# ---------------------------------------------------------------------------- seed data
_SEED_TYPES = (
    ("detention", 3),
    ("search", 2),
    ("account_freeze", 2),
    ("summons", 2),
    ("other", 1),
)
_SEED_REGIONS = (
    ("almaty", 6),
    ("astana", 5),
    ("shymkent", 3),
    ("almaty_region", 2),
    ("karaganda", 2),
    ("mangystau", 2),
    ("atyrau", 1),
    ("turkistan", 1),
    ("pavlodar", 1),
    ("abroad", 1),
)
_SEED_STATUSES = (
    (ReportStatus.VERIFIED, 12),
    (ReportStatus.IN_REVIEW, 2),
    (ReportStatus.NEEDS_INFO, 1),
    (ReportStatus.DUPLICATE, 2),
    (ReportStatus.REJECTED, 1),
)


def _weighted(rng: random.Random, pairs: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([value for value, _ in pairs], weights=[w for _, w in pairs])[0]


async def seed_demo_reports(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    keyring: Keyring,
    *,
    now: dt.datetime,
    seed: int = 7,
) -> int:
    """Fill the last few weeks with clearly fake reports; returns how many were added.

    Refuses any database but the SQLite file inside a folder the demo marked as its own, and
    adds nothing when the folder was seeded before.
    """
    if settings.database_url != demo_database_url(settings.data_dir) or not is_demo_folder(
        settings.data_dir
    ):
        raise ConfigError(
            "refusing to seed: the database is not the demo's own (seed data only goes into a "
            f"folder made by `reportbot demo`, marked with {MARKER_FILE})."
        )
    rng = random.Random(seed)  # noqa: S311 - repeatable fake sample data, not a secret
    today = now.astimezone(settings.tz).date()
    async with sessionmaker() as session, session.begin():
        seeded = await session.scalar(
            select(func.count()).select_from(Report).where(Report.source == SEED_SOURCE)
        )
        if seeded:
            return 0
        reports = Reports(session, keyring)
        created: list[Report] = []
        # A rising trend (about 5 reports six weeks ago, 10 last week), as after a crackdown,
        # and a few from the last two days that nobody has looked at yet.
        batches = [
            (week, 4 + SEED_WEEKS - week + rng.randint(0, 2)) for week in range(SEED_WEEKS, 0, -1)
        ]
        batches.append((0, 3))
        for week, count in batches:
            for _ in range(count):
                if week:
                    incident_date = today - dt.timedelta(days=7 * week - rng.randint(0, 6))
                else:
                    incident_date = today - dt.timedelta(days=rng.randint(1, 2))
                kind = _weighted(rng, _SEED_TYPES)
                number = len(created) + 1
                region = _weighted(rng, _SEED_REGIONS)
                language = rng.choice(LANGUAGES)
                payload: dict[str, Any] = {
                    "version": 1,
                    "demo": True,
                    "form": kind,
                    "answers": {
                        "subject": f"Demo Person {number}",
                        "region": region,
                        "account": "Fake sample report made by `reportbot demo --seed`.",
                    },
                    "language": language,
                    "channel": "telegram",
                }
                report = await reports.create(
                    code_prefix=FORMS[kind].code_prefix,
                    channel="telegram",
                    source=SEED_SOURCE,
                    incident_type=kind,
                    region=region,
                    incident_date=incident_date,
                    urgent=FORMS[kind].urgent,
                    language=language,
                    consent=rng.choice(("named", "anonymised", "statistics")),
                    contact=rng.choice(("chat", "none")),
                    reporter_id=None,
                    payload=payload,
                )
                submitted = dt.datetime.combine(
                    incident_date, dt.time(rng.randint(8, 22), rng.randint(0, 59)), settings.tz
                ) + dt.timedelta(hours=rng.randint(1, 30))
                report.created_at = min(submitted.astimezone(dt.UTC), now)
                report.updated_at = report.created_at
                status = _weighted(rng, _SEED_STATUSES) if week else ReportStatus.NEW
                if status == ReportStatus.DUPLICATE:
                    earlier = [r for r in created if r.incident_type == kind]
                    if earlier:
                        report.duplicate_of_id = rng.choice(earlier).id
                    else:
                        status = ReportStatus.VERIFIED
                report.status = status.value
                created.append(report)
    return len(created)


# ---------------------------------------------------------------------------- views
def _photo_kind(data: bytes) -> str | None:
    """The image type of bytes a browser may show inline, by their magic number."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _file_url(file_id: str) -> str:
    return "/api/files/" + quote(file_id, safe="")


def _buttons(message: EmuMessage) -> list[list[dict[str, Any]]]:
    return [
        [
            {
                "text": str(button.get("text", "")),
                "data": button.get("callback_data"),
                "url": button.get("url"),
            }
            for button in row
        ]
        for row in message.keyboard
    ]


def message_view(message: EmuMessage, viewer_id: int) -> dict[str, Any]:
    """What the page draws for one message: plain text plus entities, never HTML."""
    view: dict[str, Any] = {
        "id": message.message_id,
        "from_bot": message.from_bot,
        "mine": message.sender.id == viewer_id,
        "sender": message.sender.first_name,
        "sender_id": message.sender.id,
        "date": message.date,
        "edited": message.edited,
        "text": message.text,
        "entities": message.entities,
        "caption": message.caption,
        "caption_entities": message.caption_entities,
        "keyboard": _buttons(message),
        "photo": None,
        "document": None,
        "reply_to": None,
        "kind": message.kind,
    }
    if message.photo:
        largest = message.photo[-1]
        view["photo"] = {
            "url": _file_url(str(largest["file_id"])),
            "width": largest.get("width"),
            "height": largest.get("height"),
        }
    if message.document:
        view["document"] = {
            "url": _file_url(str(message.document["file_id"])),
            "name": message.document.get("file_name") or "file",
            "size": message.document.get("file_size"),
        }
    if message.reply_to_message_id is not None:
        replied = message.chat.messages.get(message.reply_to_message_id)
        if replied is not None and not replied.deleted:
            view["reply_to"] = {
                "id": replied.message_id,
                "sender": replied.sender.first_name,
                "sender_id": replied.sender.id,
                "excerpt": replied.content[:120],
                "kind": replied.kind,
            }
    return view


def handles_command(router: Router, name: str) -> bool:
    """Whether a message handler of `router` (or of a router under it) filters on /name."""
    for handler in router.message.handlers:
        for handler_filter in handler.filters or ():
            command = handler_filter.callback
            if isinstance(command, Command) and name in command.commands:
                return True
    return any(handles_command(sub_router, name) for sub_router in router.sub_routers)


# ---------------------------------------------------------------------------- the demo
@dataclass(frozen=True)
class DemoOptions:
    port: int = 8000
    seed: bool = False
    data_dir: Path | None = None
    moderator_language: str = "ru"
    # The reporter's Telegram language until the page picks another one.
    language: str = "ru"
    # How many simulated people report through the bot once it runs (--busy-night).
    busy_night: int = 0


class Demo:
    """The emulator, the bot and the page's server; `start()` then `stop()` (also on failure)."""

    def __init__(self, options: DemoOptions) -> None:
        if options.moderator_language not in LANGUAGES or options.language not in LANGUAGES:
            raise ConfigError(f"a demo language is one of {', '.join(LANGUAGES)}.")
        self.options = options
        self.folder: DemoFolder | None = None
        self.emu = TelegramEmulator(
            rate_limits=DEMO_RATE_LIMITS,
            bot_first_name="Report bot (demo)",
            bot_username="reportbot_demo_bot",
        )
        self.app: App | None = None
        self.seeded = 0
        self.language = options.language
        self._stop_bot = asyncio.Event()
        self.bot_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._queries: dict[str, deque[str]] = {pane: deque(maxlen=5) for pane in PANES}
        self.port = 0
        self.night = NightProgress()
        self.night_task: asyncio.Task[NightProgress] | None = None
        self.group: GroupHandle
        self.moderator: UserHandle
        self.coordinator: UserHandle
        self.reporter: UserHandle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.folder = prepare_data_dir(self.options.data_dir)
        await self.emu.start()
        self._create_people()
        await self._serve_page()  # first, so that a busy port fails before anything else
        settings = demo_settings(
            self.folder,
            telegram_api_url=self.emu.base_url,
            moderator_language=self.options.moderator_language,
        )
        keyring = demo_keyring(settings)
        await migrate(settings.effective_database_url)
        app = self.app = create_app(settings, keyring)
        async with app.sessionmaker() as session, session.begin():
            staff = StaffRepository(session)
            await staff.set_role(MODERATOR_ID, StaffRole.MODERATOR)
            await staff.set_role(COORDINATOR_ID, StaffRole.COORDINATOR)
        if self.options.seed:
            self.seeded = await seed_demo_reports(
                app.sessionmaker, settings, keyring, now=dt.datetime.now(dt.UTC)
            )
        self.bot_task = asyncio.create_task(
            run_polling(app, stop=self._stop_bot, handle_signals=False), name="demo-bot"
        )
        # Return once the bot polls: aiogram asks getMe right after taking its polling lock, and
        # a stop asked for before that moment would be lost (Dispatcher.stop_polling refuses),
        # leaving Ctrl-C to wait for the 15-second timeout in stop().
        await self.emu.wait_until(
            lambda: self.emu.calls_to("getMe") or (self.bot_task and self.bot_task.done()),
            timeout=30,
            message="the bot did not start polling the emulator within 30 s",
        )
        if self.bot_task.done():
            self.bot_task.result()  # it failed: show why
        if self.options.busy_night:
            self.night_task = asyncio.create_task(
                run_night(
                    self.emu,
                    app.i18n,
                    self.night_reporter,
                    plan_night(self.options.busy_night),
                    self.night,
                ),
                name="demo-busy-night",
            )

    def night_reporter(self, plan: NightReport) -> UserHandle:
        user_id = 7_000_000_000 + secrets.randbelow(1_000_000_000)
        return self.emu.user(user_id, f"Reporter {plan.number}", language_code=plan.language)

    async def stop(self) -> None:
        if self.night_task is not None:
            self.night_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.night_task
            self.night_task = None
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"the demo is stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.bot_task is not None:
            self._stop_bot.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bot_task, 15)
            self.bot_task = None
        if self.app is not None:
            await self.app.close()
            self.app = None
        await self.emu.stop()
        if self.folder is not None and self.folder.temporary:
            shutil.rmtree(self.folder.path, ignore_errors=True)

    def _create_people(self) -> None:
        self.group = self.emu.create_group("Moderators (demo)", chat_id=MODERATOR_CHAT_ID)
        language = self.options.moderator_language
        self.moderator = self.emu.user(
            MODERATOR_ID, "Demo moderator", language_code=language, started=True
        )
        self.coordinator = self.emu.user(COORDINATOR_ID, "Demo coordinator", language_code=language)
        self.group.add_member(self.moderator)
        self.group.add_member(self.coordinator)
        self.new_reporter(self.language)

    def new_reporter(self, language: str) -> None:
        """A person who has never written to the bot, whose Telegram app is in `language`.

        The bot remembers a reporter's language, so a different app language needs a new person.
        Random ids keep a reused --data-dir from recognising an earlier run's reporter.
        """
        if language not in LANGUAGES:
            raise DemoError(f"unknown language {language!r}")
        self.language = language
        user_id = 6_000_000_000 + secrets.randbelow(1_000_000_000)
        self.reporter = self.emu.user(user_id, "Demo reporter", language_code=language)
        self._queries["reporter"].clear()
        self.emu.notify()

    async def switch_language(self, language: str) -> None:
        """The reporter's phone switches to `language`, keeping their chat.

        Before they have written, their Telegram app's language is what the bot will use
        (README, "Reporting"). After that the bot keeps the language it has for them, so the
        reporter asks it to change with /language and a tap, in the chat, as a person would;
        a report being written goes on where it was.
        """
        if language not in LANGUAGES:
            raise DemoError(f"unknown language {language!r}")
        self.language = language
        self.reporter.user.language_code = language
        self.emu.notify()
        chat = self.reporter.private_chat
        if not any(m.from_bot for m in self.emu.chat_messages(chat)):
            return
        sent = await self.reporter.send_command("/language")
        choice = LanguageCB(lang=language).pack()
        try:
            menu = await self.emu.wait_for_bot_message(
                self.reporter,
                lambda m: choice in [b.get("callback_data") for b in m.buttons],
                after=sent.message_id,
                timeout=PRESS_TIMEOUT,
            )
            query_id = await self.reporter.press(menu, choice)
            await self.emu.wait_for_callback_answer(query_id, timeout=PRESS_TIMEOUT)
        except AssertionError as exc:
            raise DemoError(f"the bot did not change the language: {exc}", "language") from None

    # ------------------------------------------------------------------ state
    def _pane(self, pane: str) -> tuple[UserHandle, EmuChat]:
        if pane == "reporter":
            return self.reporter, self.reporter.private_chat
        if pane == "moderators":
            return self.moderator, self.group.chat
        if pane == "coordinator":
            return self.coordinator, self.coordinator.private_chat
        raise DemoError(f"unknown pane {pane!r}")

    def command_menu(self, chat: EmuChat, user: EmuUser) -> list[dict[str, Any]]:
        """The commands a Telegram client would list for `user` in `chat` (setMyCommands)."""
        scopes: list[dict[str, Any]] = []
        if chat.is_private:
            scopes += [{"type": "chat", "chat_id": chat.id}, {"type": "all_private_chats"}]
        else:
            admin = chat.members.get(user.id) in ("administrator", "creator")
            scopes.append({"type": "chat_member", "chat_id": chat.id, "user_id": user.id})
            if admin:
                scopes.append({"type": "chat_administrators", "chat_id": chat.id})
            scopes.append({"type": "chat", "chat_id": chat.id})
            if admin:
                scopes.append({"type": "all_chat_administrators"})
            scopes.append({"type": "all_group_chats"})
        scopes.append({"type": "default"})
        for scope in scopes:
            for language in dict.fromkeys((user.language_code or "", "")):
                commands = self.emu.get_commands(scope, language)
                if commands:
                    return commands
        return []

    def has_command(self, name: str) -> bool:
        """Whether the bot answers /name: in its command menu, or in its message handlers."""
        if any(c.get("command") == name for cs in self.emu.commands.values() for c in cs):
            return True
        return self.app is not None and handles_command(self.app.dispatcher, name)

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, from the emulator's records."""
        panes: dict[str, Any] = {}
        for pane in PANES:
            user, chat = self._pane(pane)
            toasts = []
            for query_id in self._queries[pane]:
                answer = self.emu.callback_answers.get(query_id)
                if answer is not None and answer.text:
                    toasts.append({"id": query_id, "text": answer.text, "alert": answer.show_alert})
            panes[pane] = {
                "chat_id": chat.id,
                "private": chat.is_private,
                "title": chat.title or self.emu.bot_user.first_name,
                "me": {"id": user.id, "name": user.first_name, "language": user.user.language_code},
                "messages": [
                    message_view(message, user.id)
                    for message in self.emu.chat_messages(chat, include_deleted=False)
                    if message.service is None
                ],
                "commands": self.command_menu(chat, user.user),
                "toasts": toasts,
            }
        return {
            "language": self.language,
            # Message times are shown in the bot's TIMEZONE, as its cards and receipts say them.
            "timezone": self.app.settings.timezone if self.app is not None else "Asia/Almaty",
            # Who is who, so the page names people and chats in its own language.
            "people": {
                str(self.emu.bot_user.id): "bot",
                str(MODERATOR_ID): "moderator",
                str(COORDINATOR_ID): "coordinator",
                str(self.reporter.id): "reporter",
            },
            "bot": {
                "name": self.emu.bot_user.first_name,
                "username": self.emu.bot_user.username,
            },
            "features": {"stats": self.has_command("stats")},
            "seeded": self.seeded,
            "night": {
                "total": self.night.total,
                "sent": self.night.sent,
                "failed": self.night.failed,
            },
            "panes": panes,
        }

    # ------------------------------------------------------------------ actions
    async def perform(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """One thing a person does on the page: write, tap a button, switch language."""
        op = action.get("op")
        if op == "language":
            await self.switch_language(str(action.get("lang", "")))
            return {"ok": True}
        if op == "new_reporter":
            self.new_reporter(self.language)
            return {"ok": True}
        user, chat = self._pane(str(action.get("pane", "")))
        target = None if chat.is_private else chat
        try:
            if op == "text":
                text = action.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise DemoError("write something first", "empty")
                reply_to = _optional_int(action.get("reply_to"))
                sent = await user.send_text(text, chat=target, reply_to=reply_to)
                return {"ok": True, "message_id": sent.message_id}
            if op == "press":
                message_id = _optional_int(action.get("message_id"))
                data = action.get("data")
                if message_id is None or not isinstance(data, str):
                    raise DemoError("press needs message_id and data")
                message = chat.messages.get(message_id)
                if message is None or message.deleted:
                    raise DemoError("that message is gone", "gone")
                query_id = await user.press(message, data)
                self._queries[str(action["pane"])].append(query_id)
                # A Telegram client shows the button as busy until the bot answers the query
                # (core.telegram.org/bots/api#answercallbackquery: "the Telegram clients will
                # display a progress bar until you call answerCallbackQuery"); the page does
                # the same, then lets the button go whether or not the message changed.
                with contextlib.suppress(AssertionError):
                    await self.emu.wait_for_callback_answer(query_id, timeout=PRESS_TIMEOUT)
                return {"ok": True, "query_id": query_id}
        except AssertionError as exc:  # the emulator's handles refuse what a client can't do
            raise DemoError(str(exc)) from None
        raise DemoError(f"unknown action {op!r}")

    async def upload(
        self, pane: str, data: bytes, filename: str, mime_type: str | None, reply_to: int | None
    ) -> dict[str, Any]:
        """A file from the page: images go as photos (like a phone's gallery), the rest as files."""
        user, chat = self._pane(pane)
        target = None if chat.is_private else chat
        if not data:
            raise DemoError("the file is empty", "empty")
        try:
            if _photo_kind(data) in ("image/png", "image/jpeg", "image/webp"):
                sent = await user.send_photo(data, chat=target, reply_to=reply_to)
            else:
                sent = await user.send_document(
                    data, filename or "file", mime_type or None, chat=target, reply_to=reply_to
                )
        except AssertionError as exc:
            raise DemoError(str(exc)) from None
        return {"ok": True, "message_id": sent.message_id}

    # ------------------------------------------------------------------ the page's server
    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD, middlewares=[_loopback_only])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/ws", self._websocket)
        app.router.add_post("/api/action", self._action)
        app.router.add_post("/api/upload", self._upload)
        app.router.add_get("/api/files/{file_id}", self._file)
        return app

    async def _serve_page(self) -> None:
        runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.options.port))
            await web.SockSite(runner, sock).start()
        except OSError as exc:
            sock.close()
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {self.options.port} on 127.0.0.1 is in use; choose another with --port."
                ) from None
            raise
        self._runner = runner
        self.port = int(sock.getsockname()[1])

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return _static_response("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES or name == "index.html":
            raise web.HTTPNotFound
        return _static_response(name)

    async def _state(self, _request: web.Request) -> web.StreamResponse:
        return _json(self.snapshot())

    async def _action(self, request: web.Request) -> web.StreamResponse:
        # Requiring JSON makes a cross-site form post impossible without a CORS preflight,
        # which this server never grants.
        if request.content_type != "application/json":
            return _json({"ok": False, "error": "send JSON"}, status=415)
        try:
            action = await request.json()
        except ValueError:
            return _json({"ok": False, "error": "malformed JSON"}, status=400)
        if not isinstance(action, dict):
            return _json({"ok": False, "error": "send a JSON object"}, status=400)
        try:
            return _json(await self.perform(action))
        except DemoError as exc:
            return exc.response()

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await request.post()
        except ValueError:
            return _json({"ok": False, "error": "malformed upload"}, status=400)
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _json({"ok": False, "error": "no file"}, status=400)
        try:
            result = await self.upload(
                str(form.get("pane", "")),
                upload.file.read(),
                upload.filename,
                upload.content_type,
                _optional_int(form.get("reply_to")),
            )
        except DemoError as exc:
            return exc.response()
        return _json(result)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        stored: StoredFile | None = self.emu.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound
        image = _photo_kind(stored.data)
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
        if image is None:
            # Anything but a known image is downloaded, never rendered on the page's origin.
            name = quote(stored.file_name or "file")
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
        return web.Response(
            body=stored.data,
            content_type=image or "application/octet-stream",
            headers=headers,
        )

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20.0)
        await ws.prepare(request)
        self._sockets.add(ws)
        changed = asyncio.Event()
        unsubscribe = self.emu.subscribe(changed.set)
        pusher = asyncio.create_task(self._push_states(ws, changed))
        try:
            async for message in ws:  # the page only says "ping"; reading notices the close
                if message.type == WSMsgType.TEXT and message.data == "ping":
                    await ws.send_str('{"type": "pong"}')
        finally:
            unsubscribe()
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            self._sockets.discard(ws)
        return ws

    async def _push_states(self, ws: web.WebSocketResponse, changed: asyncio.Event) -> None:
        """Send the state whenever it differs from what this page last got."""
        last = ""
        with contextlib.suppress(ConnectionError):
            while not ws.closed:
                changed.clear()
                text = json.dumps({"type": "state", "state": self.snapshot()}, ensure_ascii=False)
                if text != last:
                    await ws.send_str(text)
                    last = text
                await changed.wait()
                # Fold a burst (a card, its photo, the receipt) into one push.
                await asyncio.sleep(0.03)


def _optional_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DemoError(f"not a number: {value!r}") from None


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' ws://{host}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _static_response(name: str) -> web.Response:
    body = (STATIC_DIR / name).read_text(encoding="utf-8")
    return web.Response(
        text=body,
        content_type=STATIC_FILES[name],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost"})


@web.middleware
async def _loopback_only(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer only pages opened as 127.0.0.1/localhost, and only same-origin writes.

    A web page elsewhere could otherwise reach this server through a DNS name pointing at
    127.0.0.1 (DNS rebinding) or post to it from the person's browser.
    """
    host = request.host
    if urlsplit(f"//{host}").hostname not in _LOOPBACK_NAMES:
        return web.Response(status=403, text="the demo answers only on 127.0.0.1\n")
    origin = request.headers.get("Origin")
    writes = request.method != "GET" or request.path == "/api/ws"
    if writes and origin is not None and urlsplit(origin).netloc != host:
        return web.Response(status=403, text="cross-origin requests are refused\n")
    response: web.StreamResponse = await handler(request)
    if response.content_type == "text/html":
        response.headers["Content-Security-Policy"] = _CSP.format(host=host)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------------- the command
def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _banner(demo: Demo) -> str:
    assert demo.folder is not None
    where = (
        f"{demo.folder.path} (temporary: deleted when the demo stops)"
        if demo.folder.temporary
        else f"{demo.folder.path} (kept)"
    )
    lines = [
        "",
        "reportbot demo: a Telegram emulator and the real bot, all on this computer.",
        "Nothing is sent to Telegram or anywhere else; all data is fake.",
        "",
        f"    Open {demo.url} in a browser.",
        "",
        f"Demo data: {where}",
    ]
    if demo.options.seed:
        lines.append(
            f"Sample data: {demo.seeded} fake reports over the last {SEED_WEEKS} weeks."
            if demo.seeded
            else "Sample data: already there from an earlier --seed."
        )
    if demo.options.seed and not demo.options.busy_night:
        lines.append("For alert cards in the moderators' chat, start with --busy-night.")
    if demo.options.busy_night:
        lines.append(
            f"Busy night: {demo.options.busy_night} simulated people are reporting through the "
            "bot; watch the moderators' chat."
        )
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)


async def serve(options: DemoOptions, *, stop: asyncio.Event | None = None) -> int:
    """Run the demo until Ctrl-C/SIGTERM (or `stop`); everything is cleaned up on the way out."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        # Where this is not supported (Windows), Ctrl-C cancels this task instead: the same
        # clean-up below runs.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    demo = Demo(options)
    try:
        try:
            await demo.start()
        except BaseException:
            await demo.stop()  # whatever had started, and the temporary folder
            raise
        _say(_banner(demo))
        bot_task = demo.bot_task
        assert bot_task is not None
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({stopper, bot_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            _say("Stopping the demo…")
            await demo.stop()
        if bot_task in done:
            bot_task.result()  # the bot stopped by itself: show why
            return 1
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    _say("Demo stopped.")
    return 0


def run_demo(options: DemoOptions) -> int:
    return asyncio.run(serve(options))
