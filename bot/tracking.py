"""Which messages the bot sent into private chats while handling an update (for /wipe).

Handlers send through many paths (message.answer, bot.send_message, the conversation adapter);
remembering each one by hand would miss some. A Bot API request middleware sees every answer
instead: while an update is handled, the messages Telegram reports as sent into a private chat
are collected in a context variable, and the update middleware stores their ids with the
reporter's in the same transaction. The outbox worker, which runs outside any update, records
what it sends to reporters itself.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Message

if TYPE_CHECKING:
    from aiogram import Bot

_sent: contextvars.ContextVar[list[tuple[int, int]] | None] = contextvars.ContextVar(
    "reportbot_sent_messages", default=None
)


def collect_sent_messages() -> list[tuple[int, int]]:
    """Start collecting (chat id, message id) of messages sent in the current context."""
    collected: list[tuple[int, int]] = []
    _sent.set(collected)
    return collected


class SentMessagesMiddleware(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        result = await make_request(bot, method)
        collected = _sent.get()
        if collected is not None:
            # make_request returns the method's result (a Message, or a list for albums).
            messages: list[Any] = list(result) if isinstance(result, list) else [result]
            collected.extend(
                (message.chat.id, message.message_id)
                for message in messages
                if isinstance(message, Message) and message.chat.type == "private"
            )
        return result
