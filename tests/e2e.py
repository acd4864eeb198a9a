"""End-to-end harness: the real bot (dispatcher, middlewares, worker) against the emulator."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiogram.utils.i18n import I18n
from sqlalchemy import func, select

from bot.app import App, create_app, run_polling
from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.telegram import LoopbackSession, TelegramEmulator
from bot.settings import load_settings
from handlers.engine.forms import FORMS, Step
from handlers.telegram.keyboards import ConsentCB, FlowAction, FlowCB
from storage.models import Outbox, OutboxState, utcnow
from storage.sealing import Keyring

MODERATOR_CHAT_ID = -1001777000111
# A token's number is its bot's user id (aiogram's Bot.id reads it there), and the emulator's bot
# is user 100000001: a bot that tells its own messages by that id must be told the same id here.
TOKEN = "100000001:TEST-TOKEN"


@dataclass
class RunningBot:
    app: App
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 15)
        await close_app(self.app)


async def close_app(app: App) -> None:
    """`app.close()`, less aiogram's 250 ms wait for TLS connections to close.

    The emulators speak plain HTTP on loopback, so there is no TLS shutdown to wait for: the
    Bot API session is closed as the emulator's `LoopbackSession` closes its own, and
    `app.close()` then finds it closed and closes the rest as always.
    """
    await LoopbackSession.close(cast(LoopbackSession, app.bot.session))
    await app.close()


def moderator_group(emu: TelegramEmulator) -> GroupHandle:
    return emu.create_group("Moderators", chat_id=MODERATOR_CHAT_ID)


async def start_bot(
    emu: TelegramEmulator,
    database_url: str,
    keyring: Keyring,
    data_dir: Path,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    **overrides: Any,
) -> RunningBot:
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_url=emu.base_url,
        database_url=database_url,
        moderator_chat_id=MODERATOR_CHAT_ID,
        data_dir=data_dir,
        **overrides,
    )
    app = create_app(settings, keyring, clock=clock)
    app.worker.poll_interval = 0.2
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(app, stop=stop, handle_signals=False))
    return RunningBot(app, stop, task)


@asynccontextmanager
async def running_bot(
    emu: TelegramEmulator, database_url: str, keyring: Keyring, data_dir: Path
) -> AsyncIterator[RunningBot]:
    bot = await start_bot(emu, database_url, keyring, data_dir)
    try:
        yield bot
    finally:
        await bot.shutdown()


def button_data(message: EmuMessage) -> list[str]:
    return [button.get("callback_data", "") for row in message.keyboard for button in row]


def flow_buttons(message: EmuMessage) -> list[FlowCB]:
    return [FlowCB.unpack(data) for data in button_data(message) if data.startswith("f1:")]


def is_consent(message: EmuMessage) -> bool:
    return any(data.startswith(ConsentCB.__prefix__ + ":") for data in button_data(message))


async def open_menu(emu: TelegramEmulator, user: UserHandle) -> EmuMessage:
    """/new, agreeing to the consent notice when it is shown; returns the types menu."""
    await user.send_command("/new")
    first = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
    if not is_consent(first):
        return first
    await user.press(first, ConsentCB(answer="yes").pack())
    return await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))


def is_review(message: EmuMessage) -> bool:
    return any(cb.action == FlowAction.SUBMIT for cb in flow_buttons(message))


def step_of(i18n: I18n, message: EmuMessage, form_key: str, language: str) -> Step:
    """Which step a prompt asks, recognised by its translated question."""
    text = message.text or ""
    matches = [
        step
        for step in FORMS[form_key].steps
        if i18n.gettext(step.question, locale=language) in text
    ]
    assert matches, f"no question of {form_key} in {text!r}"
    return max(matches, key=lambda step: len(step.question))


async def answer_step(
    emu: TelegramEmulator, user: UserHandle, prompt: EmuMessage, step: Step, answer: Any
) -> None:
    if answer is None or answer == "skip":
        await user.press(prompt, FlowCB(action=FlowAction.SKIP, step=step.key).pack())
    elif answer == "done":
        await user.press(prompt, FlowCB(action=FlowAction.DONE, step=step.key).pack())
    elif isinstance(answer, tuple) and answer[0] == "pick":
        for value in answer[1:]:
            await user.press(
                prompt, FlowCB(action=FlowAction.PICK, step=step.key, value=value).pack()
            )
            if len(answer) > 2:
                prompt = await emu.wait_for_edit(prompt)
        if len(answer) > 2:
            await user.press(prompt, FlowCB(action=FlowAction.DONE, step=step.key).pack())
    elif isinstance(answer, tuple) and answer[0] == "photo":
        await user.send_photo(answer[1])
        after = await emu.wait_for_bot_message(user)
        await user.press(after, FlowCB(action=FlowAction.DONE, step=step.key).pack())
    elif isinstance(answer, tuple) and answer[0] == "document":  # ("document", bytes, name)
        await user.send_document(answer[1], answer[2])
        after = await emu.wait_for_bot_message(user)
        await user.press(after, FlowCB(action=FlowAction.DONE, step=step.key).pack())
    else:
        await user.send_text(str(answer))


async def fill_report(
    emu: TelegramEmulator,
    i18n: I18n,
    user: UserHandle,
    form_key: str,
    answers: Mapping[str, Any],
    *,
    language: str,
    start: bool = True,
) -> EmuMessage:
    """Report through the buttons and text like a person; returns the review message."""
    if start:
        menu = await open_menu(emu, user)
        await user.press(menu, FlowCB(action=FlowAction.TYPE, value=form_key).pack())
    for _ in range(40):
        prompt = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard))
        if is_review(prompt):
            return prompt
        step = step_of(i18n, prompt, form_key, language)
        await answer_step(emu, user, prompt, step, answers.get(step.key))
    raise AssertionError("the report never reached the review screen")


async def submit(emu: TelegramEmulator, user: UserHandle, review: EmuMessage) -> str:
    query = await user.press(review, FlowCB(action=FlowAction.SUBMIT).pack())
    await emu.wait_for_callback_answer(query)
    return query


async def outbox_settled(app: App, timeout: float = 10) -> None:  # noqa: ASYNC109 - a test helper
    """Until nothing in the outbox is pending.

    A message appears in the emulator before the worker's commit marks its row sent, so a test
    that reads the outbox right after seeing the message must wait for that commit.
    """
    pending_rows = (
        select(func.count()).select_from(Outbox).where(Outbox.state == OutboxState.PENDING)
    )
    async with asyncio.timeout(timeout):
        while True:
            async with app.sessionmaker() as session:
                if not await session.scalar(pending_rows):
                    return
            await asyncio.sleep(0.05)
