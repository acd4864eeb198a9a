"""A reply is relayed to a reporter only when it answers a message the bot is known to have
sent (issue 14, finding 8): a group member's message that starts with a report code is not a
card, even while the card's own message id is not recorded yet."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from storage.db import create_engine, create_sessionmaker
from storage.models import Outbox
from tests.e2e import outbox_settled
from tests.test_moderation import CODE, Setup, report, setup

__all__ = ["setup"]  # the fixture, shared with tests/test_moderation.py


async def forget_card_ids(url: str) -> None:
    """As while a burst is listed in a digest: no card message id recorded."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await session.execute(
                update(Outbox).where(Outbox.target == "moderators").values(sent_message_id=None)
            )
    finally:
        await engine.dispose()


async def test_a_reply_to_chatter_naming_a_code_is_not_relayed(setup: Setup) -> None:
    s = setup
    reporter, card = await report(s)
    code = CODE.search(card.text or "")
    assert code is not None
    await outbox_settled(s.bot.app)
    await forget_card_ids(s.url)
    chatter = await s.admin.send_text(f"{code.group(1)} looks familiar", chat=s.group)
    await s.moderator.send_text("internal: do not trust them", chat=s.group, reply_to=chatter)
    await s.emu.wait_for_updates_consumed()
    await outbox_settled(s.bot.app)
    assert not [m for m in reporter.bot_messages() if "internal" in (m.text or "")]
    said = [
        m for m in s.emu.chat_messages(s.group) if m.from_bot and code.group(1) in (m.text or "")
    ]
    assert said == [card]  # no "sent to the reporter" either


async def test_a_member_who_is_not_staff_is_refused_once_not_ten_times(setup: Setup) -> None:
    s = setup
    for index in range(10):
        command = ("/history D-7K3F", "/outbox", "/stats", "/staff list", "/history")[index % 5]
        await s.outsider.send_text(command, chat=s.group)
    await s.emu.wait_for_bot_message(s.group, lambda m: m.from_bot, after=0)
    await s.emu.wait_for_updates_consumed()
    await outbox_settled(s.bot.app)
    await asyncio.sleep(1.0)  # what a refusal more would take to arrive
    said = [m for m in s.emu.chat_messages(s.group) if m.from_bot]
    assert len(said) == 1
    # Staff are answered as before.
    await s.moderator.send_text("/outbox", chat=s.group)
    await s.emu.wait_for_bot_message(s.group, lambda m: m.from_bot, after=said[0].message_id)
