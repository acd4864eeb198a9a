"""`/stats` for coordinators and admins, in the moderator chat or a private chat with the bot.

`/stats` is the last complete ISO week, `/stats 2026-W46` a given week, `/stats 2026-11-01
2026-11-30` a range of days. The answer is the compact table in the reader's language, then the
chart (PNG) and the figures (CSV) as files.
"""

from __future__ import annotations

import asyncio

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reporting import (
    figures,  # a module, not its names: bot.reporting.figures imports this package's engine
)
from bot.services.access import CAN_SEE_FIGURES, role_for
from bot.services.group_chats import GroupChatIds
from bot.services.intake import Intake
from bot.services.replies import Replies
from bot.settings import Settings
from handlers.engine.render import Translator
from handlers.engine.text import N_
from handlers.telegram.quiet import RefusalGate
from storage.stats import CountRule, PeriodError, StatsRepository, parse_period

REFUSAL = N_(
    "Sorry, figures are only for the coalition's coordinators. "
    "If you should have access, ask an admin."
)
USAGE = N_(
    "I could not read that period. Send /stats for the last complete week, "
    "/stats 2026-W46 for a given week, or /stats 2026-11-01 2026-11-30 for a range of days "
    "(at most a year)."
)


async def in_staff_chat(
    message: Message, settings: Settings, group_chats: GroupChatIds | None = None
) -> bool:
    """Figures are shown in private chats and in the moderator chat, never in other groups."""
    if message.chat.type == "private":
        return True
    configured = settings.moderator_chat_id
    if group_chats is not None and configured is not None:
        return group_chats.is_current(message.chat.id, configured)  # after a move too
    return message.chat.id == configured


async def on_stats(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: Settings,
    intake: Intake,
    replies: Replies,
    t: Translator,
    refusal_gate: RefusalGate,
) -> None:
    user = message.from_user
    role = await role_for(session, user.id, settings.admin_ids) if user is not None else None
    if role not in CAN_SEE_FIGURES:
        # In the moderators' chat, once per person within a window (handlers/telegram/quiet.py).
        if message.chat.type == "private" or user is None or refusal_gate.allow(user.id):
            replies.send(html.quote(t(REFUSAL)))
        return
    try:
        period = parse_period(command.args, now=intake.now(), tz=settings.tz)
    except PeriodError:
        replies.send(html.quote(t(USAGE)))
        return
    counted = await StatsRepository(session).figures(period, CountRule(timezone=settings.timezone))
    # The chart takes a moment of CPU; other chats must not wait for it.
    rendered = await asyncio.to_thread(figures.render_all, counted, t)
    replies.send(rendered.html)
    replies.upload("photo", rendered.png, f"{rendered.stem}.png")
    replies.upload("document", rendered.csv, f"{rendered.stem}.csv")


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(in_staff_chat)
    router.message.register(on_stats, Command("stats"))
    return router
