"""Who may do what: re-checked from the acting user's id on every press and command."""

from __future__ import annotations

from collections.abc import Iterable

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
