"""The Telegram channel: routers, middlewares, keyboards and cards.

`get_routers` scopes the feature routers to where they belong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router

if TYPE_CHECKING:
    from bot.services.group_chats import GroupChatIds


def get_routers(*, moderator_chat_id: int, chats: GroupChatIds | None = None) -> list[Router]:
    # Imported here, not at the top: whoever imports this package's keyboards or card renderer
    # (the composition root, the Messenger channel) need not load the routers and the services.
    from handlers.telegram import moderation, reporter, stats  # noqa: PLC0415

    # Card buttons first, in any chat: a press outside the moderator chat is refused and audited.
    buttons = moderation.create_buttons_router()
    # The moderators' chat: replies to cards and staff commands.
    moderators = moderation.create_chat_router(moderator_chat_id, chats)
    # Reporters talk to the bot only in private chats.
    private = Router(name="private")
    private.message.filter(F.chat.type == "private")
    private.callback_query.filter(F.message.chat.type == "private")
    private.include_router(reporter.create_router())
    # Last: buttons nobody understood (forged or outdated data).
    fallback = moderation.create_fallback_router()
    # /stats before the moderators' and the private routers, which both end in catch-alls.
    return [stats.create_router(), buttons, moderators, private, fallback]
