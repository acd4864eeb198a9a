"""Webhook-mode harness: the bot in this process or as real processes, and a load balancer.

- `start_webhook_bot`: the real App in webhook mode (run_webhook) inside the test's event loop.
- `BotProcess`: `python -m bot run --webhook` as a separate process, to kill, stop and restart.
- `RoundRobinProxy`: a tiny loopback load balancer, so that several replicas stand behind the one
  webhook address Telegram knows (the emulator, like Telegram, posts to a single URL).

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiogram.utils.i18n import I18n
from aiohttp import web

from bot.app import App, create_app, run_webhook
from bot.demo.emulator.handles import UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.telegram import TelegramEmulator
from bot.settings import TELEGRAM_WEBHOOK_PATH, load_settings
from bot.web import SECRET_HEADER
from handlers.engine.forms import Step
from handlers.telegram.keyboards import ConsentCB, FlowAction, FlowCB
from storage.sealing import Keyring
from tests.e2e import (
    MODERATOR_CHAT_ID,
    TOKEN,
    close_app,
    flow_buttons,
    is_consent,
    is_review,
    step_of,
)

SECRET = "reportbot_test-secret_0123456789"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- in this process -------------------------------------------------------------------------


@dataclass
class WebhookBot:
    app: App
    stop: asyncio.Event
    task: asyncio.Task[None]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 20)
        await close_app(self.app)


async def start_webhook_bot(
    emu: TelegramEmulator,
    database_url: str,
    keyring: Keyring,
    data_dir: Path,
    *,
    base_url: str | None = None,
    **overrides: Any,
) -> WebhookBot:
    """The bot in webhook mode; returns once Telegram (the emulator) knows its address."""
    port = free_port()
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emu.base_url,
        database_url=database_url,
        moderator_chat_id=MODERATOR_CHAT_ID,
        data_dir=data_dir,
        webhook_base_url=base_url or f"http://127.0.0.1:{port}",
        webhook_secret=SECRET,
        webhook_port=port,
        **overrides,
    )
    app = create_app(settings, keyring)
    app.worker.poll_interval = 0.2
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhook(app, stop=stop, handle_signals=False))
    expected = settings.telegram_webhook_url
    await emu.wait_until(lambda: emu.webhook_url == expected or task.done(), timeout=15)
    if task.done():
        task.result()  # raises what stopped it
    return WebhookBot(app, stop, task, port)


# --- as real processes -----------------------------------------------------------------------

SETTINGS_PREFIXES = ("BOT_", "TELEGRAM_", "DATABASE_", "MODERATOR_", "COORDINATOR_", "WEBHOOK_")


def keyring_env(keyring: Keyring) -> dict[str, str]:
    def b64(value: bytes) -> str:
        return base64.b64encode(value).decode()

    return {
        "ORG_PUBLIC_KEY": b64(bytes(keyring.org_public)),
        "SERVER_KEY": b64(keyring.server_key),
        "SUBJECT_KEY": b64(keyring.subject_key),
    }


def bot_env(
    emu: TelegramEmulator,
    database_url: str,
    keyring: Keyring,
    data_dir: Path,
    *,
    port: int,
    base_url: str,
    **extra: str,
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(SETTINGS_PREFIXES)
        and key.upper() not in ("DATA_DIR", "ADMIN_IDS", "ORG_PUBLIC_KEY", "SERVER_KEY")
    }
    env.update(keyring_env(keyring))
    env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=emu.base_url,
        DATABASE_URL=database_url,
        MODERATOR_CHAT_ID=str(MODERATOR_CHAT_ID),
        DATA_DIR=str(data_dir),
        WEBHOOK_BASE_URL=base_url,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class BotProcess:
    """`python -m bot run --webhook` with its own log file; start, kill, stop and start again."""

    name: str
    env: dict[str, str]
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.env["WEBHOOK_PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, wait_healthy: bool = True, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        self.starts += 1
        log_path = self.workdir / f"{self.name}-{self.starts}.log"
        self.logs.append(log_path)
        self.workdir.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--webhook",
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        if wait_healthy:
            await self.wait_healthy(timeout)

    async def wait_healthy(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(f"{self.name} exited: {self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(
                        f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(total=2)
                    ) as response:
                        if response.status == 200 and "webhook registered" in self.log_text():
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy within {timeout}s: {self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)

    async def wait(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process is not None else 0
        self.kill(signal.SIGTERM)
        try:
            return await self.wait(timeout)
        except TimeoutError:
            self.kill()
            await self.wait(10)
            raise

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def unexpected_errors(log: str, *, allowed: tuple[str, ...] = ()) -> list[str]:
    """ERROR lines and tracebacks in a bot's log, except the allowed kinds."""
    markers = (" ERROR ", " CRITICAL ", "level=ERROR", "level=CRITICAL", "Traceback")
    return [
        line
        for line in log.splitlines()
        if any(marker in line for marker in markers) and not any(text in line for text in allowed)
    ]


# --- a load balancer -------------------------------------------------------------------------


class RoundRobinProxy:
    """Posts each webhook request to the next upstream in turn, like a load balancer would.

    An upstream that refuses the connection (stopped, restarting) is skipped for that request;
    when none answers, 502, which Telegram retries.
    """

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.counts: dict[str, int] = dict.fromkeys(upstreams, 0)
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RoundRobinProxy:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post(TELEGRAM_WEBHOOK_PATH, self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.port = int(sock.getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {"Content-Type": "application/json"}
        if SECRET_HEADER in request.headers:
            headers[SECRET_HEADER] = request.headers[SECRET_HEADER]
        first = next(self._turn)
        for offset in range(len(self.upstreams)):
            upstream = self.upstreams[(first + offset) % len(self.upstreams)]
            try:
                async with self._session.post(
                    upstream + TELEGRAM_WEBHOOK_PATH,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as response:
                    self.counts[upstream] += 1
                    passed = {
                        k: v for k, v in response.headers.items() if k.lower() == "retry-after"
                    }
                    return web.Response(
                        status=response.status, body=await response.read(), headers=passed
                    )
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502)


# --- a reporter who does not wait for the others -----------------------------------------------

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")


@dataclass
class ReportFlow:
    """One person filling in a report, safe to run beside many others.

    The emulator's wait helpers look after "the test's last action", which concurrent reporters
    keep moving; this one follows its own chat by message id. It also copes with what a crash
    leaves behind: a prompt the bot sent before it was killed and sends again after the
    restart. A step is answered once; a prompt asking a step already answered is passed over.
    """

    emu: TelegramEmulator
    i18n: I18n
    user: UserHandle
    form_key: str
    answers: Mapping[str, Any]
    language: str
    timeout: float = 60.0
    seen: int = 0
    steps: list[str] = field(default_factory=list)
    code: str | None = None

    async def _next(self, predicate: Callable[[EmuMessage], Any]) -> EmuMessage:
        message = await self.emu.wait_for_bot_message(
            self.user, predicate, self.timeout, after=self.seen
        )
        self.seen = message.message_id
        return message

    def _step(self, message: EmuMessage) -> Step | None:
        try:
            return step_of(self.i18n, message, self.form_key, self.language)
        except AssertionError:
            return None

    async def run(self) -> str:
        return await self.submit(await self.fill())

    async def fill(self, *, until_step: str | None = None) -> EmuMessage:
        """From /new to the review screen (or to `until_step`'s question, unanswered)."""
        await self.user.send_command("/new")
        while True:
            first = await self._next(lambda m: bool(m.keyboard))
            if is_consent(first):
                await self.user.press(first, ConsentCB(answer="yes").pack())
                continue
            if any(cb.action == FlowAction.TYPE for cb in flow_buttons(first)):
                break
        await self.user.press(first, FlowCB(action=FlowAction.TYPE, value=self.form_key).pack())
        while True:
            prompt = await self._next(
                lambda m: (
                    bool(m.keyboard)
                    and (is_review(m) or ((step := self._step(m)) and step.key not in self.steps))
                )
            )
            if is_review(prompt):
                return prompt
            step = self._step(prompt)
            assert step is not None
            if step.key == until_step:
                return prompt
            self.steps.append(step.key)
            await self._answer(prompt, step, self.answers.get(step.key))

    async def submit(self, review: EmuMessage) -> str:
        """Send the report; returns its code from the receipt."""
        await self.user.press(review, FlowCB(action=FlowAction.SUBMIT).pack())
        receipt = await self._next(lambda m: CODE.search(m.text or ""))
        found = CODE.search(receipt.text or "")
        assert found is not None
        self.code = found.group(1)
        return self.code

    async def _answer(self, prompt: EmuMessage, step: Step, answer: Any) -> None:
        user = self.user
        if answer is None or answer == "skip":
            await user.press(prompt, FlowCB(action=FlowAction.SKIP, step=step.key).pack())
        elif answer == "done":
            await user.press(prompt, FlowCB(action=FlowAction.DONE, step=step.key).pack())
        elif isinstance(answer, tuple) and answer[0] == "pick":
            for value in answer[1:]:
                edits = len(prompt.edit_seqs)
                await user.press(
                    prompt, FlowCB(action=FlowAction.PICK, step=step.key, value=value).pack()
                )
                if len(answer) > 2:
                    await self.emu.wait_until(
                        lambda edits=edits: len(prompt.edit_seqs) > edits, self.timeout
                    )
            if len(answer) > 2:
                await user.press(prompt, FlowCB(action=FlowAction.DONE, step=step.key).pack())
        else:
            await user.send_text(str(answer))


DETENTION = {
    "relation": ("pick", "family"),
    "subject": "Нурлан Ахметов",
    "when": "вчера 14:30",
    "region": ("pick", "almaty"),
    "agency": ("pick", "knb"),
    "held_where": ("pick", "ivs"),
    "article": ("pick", "cc405"),
    "lawyer": ("pick", "no"),
    "media": "done",
    "account": "Пришли утром, без объяснений.",
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
}
