"""Bot API request middlewares.

RetryAfterMiddleware: wait out short flood-control pauses instead of failing. A reporter who
answers quickly can push the bot past Telegram's per-chat pace; Telegram then answers 429 with
`retry_after`. Waiting that long and trying again keeps the conversation going. Long pauses are
not waited out here: the error reaches the caller (the outbox reschedules).

StaleCallbackAnswerMiddleware: a button press can be answered only once and only for a short
while. An update handled again (Telegram redelivers it after a crash or a database outage) would
fail on that answer and roll back everything else it did; the answer only stops a spinner, so a
refused one is let go.

KeepResponseModels: aiogram's response models, built once instead of once per call (see there).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    def __init__(self, *, max_wait: float = 5.0, attempts: int = 3) -> None:
        self.max_wait = max_wait
        self.attempts = attempts

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if exc.retry_after > self.max_wait or attempt == self.attempts:
                    raise
                log.info("flood control on %s: waiting %ss", type(method).__name__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")


class StaleCallbackAnswerMiddleware(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if isinstance(method, AnswerCallbackQuery) and "query is too old" in exc.message:
                log.info("a button press was answered too late (handled again); ignored")
                return True
            raise


class KeepResponseModels(BaseRequestMiddleware):
    """Keeps aiogram's parametrised response models alive, so each is built only once.

    aiogram reads every answer with `Response[method.__returning__]`. pydantic (2.13) keeps
    parametrised generic models in a WeakValueDictionary only, so once the garbage collector has
    run the class is gone and the next call builds it again, schema and validator included:
    about 6 ms of CPU per Bot API call, most of what a busy bot spends (bench/flows.py). One
    strong reference per returned type ends that; there are a few dozen types at most.
    """

    def __init__(self) -> None:
        self._models: dict[Any, Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        returning = method.__returning__
        if returning not in self._models:
            self._models[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)
