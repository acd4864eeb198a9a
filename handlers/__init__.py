"""The conversations. `get_routers` scopes the feature routers to where they belong."""

from __future__ import annotations

from aiogram import F, Router

from handlers import reporter


def get_routers() -> list[Router]:
    # Reporters talk to the bot only in private chats; everything in groups (the moderator
    # chat included, until moderation has its own router) is left alone.
    private = Router(name="private")
    private.message.filter(F.chat.type == "private")
    private.callback_query.filter(F.message.chat.type == "private")
    private.include_router(reporter.create_router())
    return [private]
