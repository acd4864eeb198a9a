"""End-to-end harness for Messenger: the real bot, the Graph emulator and the Telegram emulator.

The bot runs as `reportbot run` runs it in polling mode with the Messenger channel on: long
polling against the Telegram emulator (the moderator chat lives there) and its own HTTP server,
whose /facebook/webhook receives the Graph emulator's signed deliveries.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram.utils.i18n import I18n
from sqlalchemy import func, select

from bot.app import App
from bot.demo.emulator.graph import GraphEmulator, MessengerUser, PageMessage
from bot.demo.emulator.handles import GroupHandle
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from handlers.engine.forms import FORMS, Step
from handlers.messenger.render import Action, Payload
from storage.inbox import MessengerInbox
from storage.models import Outbox, OutboxState
from storage.sealing import Keyring
from tests.e2e import RunningBot, moderator_group, start_bot

PAGE_TOKEN = "EAAGtestpagetoken0123456789"
APP_SECRET = "0123456789abcdef0123456789abcdef"
VERIFY_TOKEN = "verify-me-please-7f3a"
CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Messenger:
    tg: TelegramEmulator
    graph: GraphEmulator
    group: GroupHandle
    bot: RunningBot
    url: str

    @property
    def i18n(self) -> I18n:
        return self.bot.app.i18n


@asynccontextmanager
async def messenger_bot(
    database_url: str,
    keyring: Keyring,
    data_dir: Path,
    *,
    graph_options: Mapping[str, Any] | None = None,
    prepare: Callable[[GraphEmulator], Awaitable[None]] | None = None,
    **overrides: Any,
) -> AsyncIterator[Messenger]:
    """The bot with the Messenger channel; `prepare` runs once the emulators are up and before
    the bot starts (to leave something in the database for it to find, as a crash would)."""
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with (
        TelegramEmulator(rate_limits=limits) as tg,
        GraphEmulator(
            app_secret=APP_SECRET, page_token=PAGE_TOKEN, **dict(graph_options or {})
        ) as graph,
    ):
        group = moderator_group(tg)
        if prepare is not None:
            await prepare(graph)
        port = free_port()
        bot = await start_bot(
            tg,
            database_url,
            keyring,
            data_dir,
            facebook_page_token=PAGE_TOKEN,
            facebook_app_secret=APP_SECRET,
            facebook_verify_token=VERIFY_TOKEN,
            facebook_graph_url=graph.base_url,
            webhook_host="127.0.0.1",
            webhook_port=port,
            **overrides,
        )
        try:
            graph.webhook_url = f"http://127.0.0.1:{port}/facebook/webhook"
            graph.after_delivery = lambda: settled(bot.app)
            await _until_serving(graph)
            yield Messenger(tg, graph, group, bot, database_url)
        finally:
            await bot.shutdown()
        assert tg.internal_errors == []
        assert graph.internal_errors == []


async def settled(app: App, *, timeout: float = 15.0) -> None:  # noqa: ASYNC109 - test helper
    """Until the bot has processed every stored Messenger event and sent reporters what is due.

    Events and replies waiting for a retry later (a rate limit, an outage) do not count.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with app.sessionmaker() as session, session.begin():
            await session.connection()  # the transaction begins (on SQLite: waits for the lock)
            now = app.context.now()
            events = await MessengerInbox(session, app.context.keyring).due(now)
            replies = await session.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(
                    Outbox.target == "reporter",
                    Outbox.state == OutboxState.PENDING.value,
                    Outbox.next_attempt_at <= now,
                )
            )
        if not events and not replies:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{events} events and {replies} replies still waiting")
        await asyncio.sleep(0.02)


async def _until_serving(graph: GraphEmulator) -> None:
    """The HTTP server and the Page's profile come up as the bot starts."""
    for _ in range(200):
        try:
            if await graph.verify_webhook(VERIFY_TOKEN) and graph.profile:
                return
        except OSError:
            pass
        await asyncio.sleep(0.025)
    raise AssertionError("the bot's /facebook/webhook never answered")


def payload(action: str, step: str = "", value: str = "") -> str:
    return Payload(action, step, value).encode()


def step_of(i18n: I18n, message: PageMessage, form_key: str, language: str) -> Step:
    """Which step a prompt asks, recognised by its translated question."""
    text = message.text or ""
    matches = [
        step
        for step in FORMS[form_key].steps
        if i18n.gettext(step.question, locale=language) in text
    ]
    assert matches, f"no question of {form_key} in {text!r}"
    return max(matches, key=lambda step: len(step.question))


def payloads(message: PageMessage) -> list[str]:
    return [str(reply.get("payload")) for reply in message.quick_replies]


async def pick(graph: GraphEmulator, user: MessengerUser, step: str, value: str) -> None:
    """Tap an option's quick reply, turning pages with "More options" until it shows."""
    wanted = payload(Action.PICK, step, value)
    for _ in range(5):
        prompt = graph.last_page_message(user)
        assert prompt is not None
        if wanted in payloads(prompt):
            await user.tap(payload=wanted)
            return
        more = [p for p in payloads(prompt) if p.startswith(payload(Action.MORE, step))]
        assert more, f"{value} is not offered for {step}: {payloads(prompt)}"
        await user.tap(payload=more[0])
    raise AssertionError(f"{value} never showed for {step}")


async def answer_step(graph: GraphEmulator, user: MessengerUser, step: Step, answer: Any) -> None:
    if answer is None or answer == "skip":
        await user.tap(payload=payload(Action.SKIP, step.key))
    elif answer == "done":
        await user.tap(payload=payload(Action.DONE, step.key))
    elif isinstance(answer, tuple) and answer[0] == "pick":
        for value in answer[1:]:
            await pick(graph, user, step.key, value)
        if len(answer) > 2:
            await user.tap(payload=payload(Action.DONE, step.key))
    elif isinstance(answer, tuple) and answer[0] == "photo":
        await user.send_image(answer[1])
        await user.tap(payload=payload(Action.DONE, step.key))
    elif isinstance(answer, tuple) and answer[0] == "files":
        for kind, data, name in answer[1]:
            if kind == "image":
                await user.send_image(data, content_type="image/jpeg")
            else:
                await user.send_file(data, name, content_type="image/jpeg")
        await user.tap(payload=payload(Action.DONE, step.key))
    elif isinstance(answer, tuple) and answer[0] == "type":
        await user.send_text(answer[1])
    else:
        await user.send_text(str(answer))


async def begin(m: Messenger, user: MessengerUser, *, ref: str | None = None) -> PageMessage:
    """Open the thread (from the group's link when `ref` is given) and agree to the notice."""
    status = await (user.open_link(ref) if ref is not None else user.get_started())
    assert status == 200
    notice = m.graph.last_page_message(user)
    assert notice is not None
    agree = payload(Action.CONSENT, value="yes")
    assert agree in payloads(notice), notice.text
    assert await user.tap(payload=agree) == 200
    menu = m.graph.last_page_message(user)
    assert menu is not None
    return menu


async def fill_report(
    m: Messenger,
    user: MessengerUser,
    form_key: str,
    answers: Mapping[str, Any],
    *,
    language: str,
) -> PageMessage:
    """Report through quick replies and typed answers like a person; returns the review."""
    await user.tap(payload=payload(Action.TYPE, value=form_key))
    for _ in range(60):
        prompt = m.graph.last_page_message(user)
        assert prompt is not None
        if prompt.template_type == "button":
            return prompt
        step = step_of(m.i18n, prompt, form_key, language)
        await answer_step(m.graph, user, step, answers.get(step.key))
    raise AssertionError("the report never reached the review screen")


async def submit(m: Messenger, user: MessengerUser, review: PageMessage) -> str:
    """Press Send; returns the report's code from the receipt the outbox delivers."""
    assert await user.press(review, payload=payload(Action.SUBMIT)) == 200
    receipt = await m.graph.wait_for_page_message(user, lambda msg: CODE.search(msg.text or ""))
    found = CODE.search(receipt.text or "")
    assert found is not None
    return found.group(1)
