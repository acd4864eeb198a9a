"""What a seized host gives away (issue 14, findings 1 and 6).

What an erasure removed is gone from the SQLite files a seizure copies: no free-page leftovers
(secure_delete), no old WAL frames (checkpoint and truncate), and the erasure's audit rows do not
share the exact time that would group one person's reports. And a report's answers cannot be read
on the host even with the server key: the card keeps no text, and what the outbox sent is erased.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import LargeBinary, select

from bot.demo.emulator.telegram import TelegramEmulator
from bot.jobs.sweeper import SCRUB_MARGIN, Sweeper
from bot.services.context import ServiceContext
from handlers.telegram.cards import ModCB
from storage.db import create_engine, create_sessionmaker, migrate
from storage.models import Base, ModerationEvent, Report, WebMailbox, WebMessage
from storage.repositories import Reporters
from storage.safety import Erasure
from storage.sealing import DecryptError, Keyring
from storage.web import WebMailboxes, new_key
from tests.e2e import fill_report, moderator_group, outbox_settled, submit
from tests.safety import LIMITS, bot_running, dump_database, service_context, session_for

NOW = dt.datetime(2026, 12, 3, 14, 37, 12, 345678, tzinfo=dt.UTC)


def files_of(database: Path) -> bytes:
    """The database and its -wal and -shm, as a copy of the disk would have them."""
    return b"".join(
        path.read_bytes()
        for path in database.parent.iterdir()
        if path.name.startswith("reportbot.db")
    )


def bare_report(code: str, channel: str, reporter_id: int) -> Report:
    """A report row with nothing in it but its link to the reporter."""
    return Report(
        public_code=code,
        created_at=NOW,
        channel=channel,
        incident_type="other",
        language="en",
        reporter_id=reporter_id,
        sealed_payload=b"sealed",
        key_id="k",
    )


def sweeper_context(keyring: Keyring, at: dt.datetime) -> ServiceContext:
    """The retention sweeper's services, with the clock standing at `at`."""
    return service_context(keyring, lambda: at)


async def test_erased_lookup_hash_and_chat_id_leave_the_database_and_its_wal(
    tmp_path: Path, keyring: Keyring
) -> None:
    database = tmp_path / "reportbot.db"
    url = f"sqlite+aiosqlite:///{database}"
    await migrate(url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            reporter, _ = await Reporters(session, keyring).get_or_create(
                "telegram", 987_654_321, 987_654_321, now=NOW
            )
            secrets = [reporter.external_hash.encode(), bytes(reporter.external_enc or b"")]
            session.add_all(
                bare_report(f"X-{code}", "telegram", reporter.id) for code in ("AAAA", "CCCC")
            )
        assert all(len(secret) >= 16 for secret in secrets)
        async with sessions() as session, session.begin():
            erased = await Erasure(session).erase(reporter.id, reason="forget", now=NOW)
            assert len(erased) == 2
        # The sweeper's next pass sees the erasure and scrubs the log (bot/jobs/sweeper.py).
        context = sweeper_context(keyring, NOW + dt.timedelta(seconds=30))
        sweeper = Sweeper(sessionmaker=sessions, context=context)
        await sweeper.run_due()
        assert sweeper._scrubbed_at == NOW + dt.timedelta(seconds=30) - SCRUB_MARGIN  # noqa: SLF001
        async with sessions() as session:
            times = (await session.scalars(select(ModerationEvent.at))).all()
            # Copied while the bot runs: closing the last connection would checkpoint anyway.
            on_disk = files_of(database)
    finally:
        await engine.dispose()
    for secret in secrets:
        assert secret not in on_disk
    assert times == [NOW.replace(hour=0, minute=0, second=0, microsecond=0)] * 2


async def test_retention_leaves_nothing_of_a_web_mailbox_on_the_disk(
    tmp_path: Path, keyring: Keyring
) -> None:
    """A web reporter's mailbox goes with the link (README, "The web form"): after retention
    neither its salt and public key nor the messages sealed to it are in the files a seizure
    copies (secure_delete, and the write-ahead log scrubbed)."""
    database = tmp_path / "reportbot.db"
    url = f"sqlite+aiosqlite:///{database}"
    await migrate(url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    salt, public = new_key("алма өрік қасық терезе")
    try:
        async with sessions() as session, session.begin():
            reporter, _ = await Reporters(session, keyring).get_or_create(
                "web", "a-draft-token", "web", now=NOW
            )
            report = bare_report("X-WWWW", "web", reporter.id)
            session.add(report)
            await session.flush()
            mailboxes = WebMailboxes(session, keyring)
            box = await mailboxes.create(
                report_id=report.id, reporter_id=reporter.id, salt=salt, public_key=public, now=NOW
            )
            mailboxes.allow_answer(box, "an-answer-token", NOW + dt.timedelta(minutes=30))
            for index in range(3):
                await mailboxes.deliver(box.id, public, f"7:{index}", "question", "Где он?", NOW)
        async with sessions() as session:
            sealed = list((await session.scalars(select(WebMessage.sealed))).all())
            token = (await session.scalars(select(WebMailbox.answer_token))).one()
        secrets = [salt, public, *sealed, (token or "").encode()]
        assert len(sealed) == 3 and all(secret in files_of(database) for secret in secrets)

        context = sweeper_context(keyring, NOW + dt.timedelta(days=91))
        counts = await Sweeper(sessionmaker=sessions, context=context).run_due()
        assert counts["reporters_erased"] == 1
        async with sessions() as session:
            left = [
                len((await session.scalars(select(model))).all())
                for model in (WebMailbox, WebMessage)
            ]
            on_disk = files_of(database)
    finally:
        await engine.dispose()
    assert left == [0, 0]
    for secret in secrets:
        assert secret not in on_disk


# What a reporter wrote, each in a place of its own: who, their own words, where, how to reach
# them, and an answer to the team's question.
NAME = "CanaryName Zhanbolat-4417"
WORDS = "CanaryWords they broke the door at dawn 8812"
PLACE = "CanaryPlace Abay street 7730"
CONTACT = "CanaryContact signal +7 700 555 0199"
ANSWER = "CanaryAnswer held at IVS number 2 5501"
CANARIES = (NAME, WORDS, PLACE, CONTACT, ANSWER)
MODERATOR_ID = 610_000_001


async def opened_with_the_server_key(url: str, keyring: Keyring) -> bytes:
    """Every encrypted column the server key opens, opened: what a seized host reads."""
    opened: list[bytes] = []
    async with session_for(url) as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, LargeBinary)]
            for column in columns:
                for value in (await session.execute(select(column))).scalars():
                    if not value:
                        continue
                    try:
                        opened.append(keyring.decrypt(bytes(value)))
                    except DecryptError:
                        continue  # sealed to the organisation's key, which the host has not
    return b"\n".join(opened)


async def test_a_seized_host_reads_no_answer_of_a_report_whose_card_changed(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    async with TelegramEmulator(rate_limits=LIMITS) as emu:
        group = moderator_group(emu)
        moderator = emu.user(MODERATOR_ID, "Aigerim", language_code="en")
        group.add_member(moderator)
        async with bot_running(
            emu, migrated_url, keyring, tmp_path, admin_ids=(MODERATOR_ID,), moderator_language="en"
        ) as bot:
            i18n = bot.app.i18n
            reporter, other = emu.user(language_code="en"), emu.user(language_code="en")
            answers = {
                "relation": ("pick", "family"),
                "subject": NAME,
                "when": "yesterday 14:30",
                "account": WORDS,
                "region": ("pick", "almaty"),
                "place": PLACE,
                "media": "done",
                "contact": ("pick", "chat"),
                "consent": ("pick", "anonymised"),
            }
            review = await fill_report(emu, i18n, reporter, "detention", answers, language="en")
            await submit(emu, reporter, review)
            card = await emu.wait_for_bot_message(group, lambda m: NAME in (m.text or ""))
            elsewhere = {**answers, "subject": "Another Person", "contact": ("pick", "other")}
            elsewhere |= {"contact_other": CONTACT}
            review = await fill_report(emu, i18n, other, "detention", elsewhere, language="en")
            await submit(emu, other, review)
            second = await emu.wait_for_bot_message(group, lambda m: CONTACT in (m.text or ""))
            await outbox_settled(bot.app)

            async def press(message: object, action: str, first_button: str) -> None:
                data = ModCB(action=action, report=report_of(message)).pack()
                query = await moderator.press(message, data, force=True)
                assert not (await emu.wait_for_callback_answer(query)).show_alert
                await emu.wait_for_edit(message, lambda m: first_button in m.keyboard[0][0]["text"])

            await press(card, "take", "In review")
            await moderator.send_text("Where is he held?", chat=group, reply_to=card)
            question = await emu.wait_for_bot_message(
                reporter, lambda m: "Where is he held?" in (m.text or "")
            )
            await reporter.send_text(ANSWER, reply_to=question)
            await emu.wait_for_bot_message(group, lambda m: ANSWER in (m.text or ""))
            await press(card, "verify", "Verified")
            await press(card, "close", "Closed")
            await press(second, "take", "In review")
            await press(second, "reject_scope", "Yes, out of scope")  # asks first
            await press(second, "reject_scope_yes", "Rejected")
            await outbox_settled(bot.app)
            # Seized while it runs: the rows, the files and the write-ahead log as they are.
            dump, _ = await dump_database(migrated_url)
            opened = await opened_with_the_server_key(migrated_url, keyring)
        assert emu.internal_errors == []
    after, _ = await dump_database(migrated_url)  # and once the bot has stopped
    for canary in CANARIES:
        for place in (dump, after, opened):
            assert canary.encode() not in place, canary
    # The key does open what the bot must keep to answer (README, "What a seized server gives
    # away"): the reporter's chat, while they can still be asked. So the scan above did open.
    assert str(reporter.id).encode() in opened
    # The cards said it all to the moderators: the test would prove nothing otherwise.
    assert all(canary in (card.text or "") for canary in (NAME, WORDS, PLACE))


def report_of(message: object) -> int:
    keyboard = getattr(message, "keyboard", [])
    return ModCB.unpack(keyboard[0][0]["callback_data"]).report
