"""Who may do what: re-checked from the acting user's id on every press and command."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import StaffRole
from storage.repositories import StaffRepository

# What each role may do, from the least to the most trusted.
CAN_TRIAGE = frozenset({StaffRole.MODERATOR, StaffRole.COORDINATOR, StaffRole.ADMIN})
CAN_SEE_FIGURES = frozenset({StaffRole.COORDINATOR, StaffRole.ADMIN})
CAN_MANAGE_STAFF = frozenset({StaffRole.ADMIN})


async def role_for(
    session: AsyncSession, user_id: int, admin_ids: Iterable[int]
) -> StaffRole | None:
    """The user's role: ADMIN_IDS are always admins; others as the staff table says."""
    if user_id in set(admin_ids):
        return StaffRole.ADMIN
    return await StaffRepository(session).role_of(user_id)


class ChatMembership:
    """Whether a user is a member of the moderator chat, asked of Telegram and cached briefly.

    Used only when MODERATOR_CHAT_MEMBERS_ARE_STAFF is set. A short cache keeps a burst of presses
    from becoming a burst of getChatMember calls, and still notices a removal within a minute.
    """

    MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})

    def __init__(self, bot: Bot, chat_id: int | Callable[[], int], *, ttl: float = 60.0) -> None:
        self.bot = bot
        # A callable gives the chat's current id (it changes when a group becomes a supergroup).
        self._chat_id = chat_id
        self.ttl = ttl
        self._cache: dict[int, tuple[float, bool]] = {}

    @property
    def chat_id(self) -> int:
        return self._chat_id() if callable(self._chat_id) else self._chat_id

    async def __call__(self, user_id: int) -> bool:
        now = time.monotonic()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            member = await self.bot.get_chat_member(self.chat_id, user_id)
        except TelegramAPIError:
            # When Telegram cannot say, the answer is no: access is never granted by an error.
            return False
        is_member = member.status in self.MEMBER_STATUSES or bool(
            getattr(member, "is_member", False)
        )
        self._cache[user_id] = (now, is_member)
        return is_member
