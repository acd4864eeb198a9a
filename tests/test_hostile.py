"""Hostile and odd input through the Telegram adapter, in webhook mode.

Everything people send (stickers, voice, video notes, contacts, locations, polls, dice, edited
messages, forwards, albums, 4,096-character texts, control and right-to-left characters, forged
button data) gets a translated answer or is ignored on purpose, and never an exception: every
update is acknowledged at the first attempt and nothing is logged at ERROR. The engine itself is
driven by hypothesis in tests/test_engine.py; here hypothesis drives the whole adapter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.demo.emulator.files import make_png
from bot.demo.emulator.handles import UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.i18n import create_i18n
from storage.db import migrate
from storage.sealing import Keyring
from tests.e2e import moderator_group
from tests.webhook import DETENTION, ReportFlow, WebhookBot, start_webhook_bot

CYRILLIC = re.compile(r"[\u0400-\u04ff]")
FILE = {"file_id": "AgAD-hostile", "file_unique_id": "AQAD-hostile"}
# What people send besides text, photos and documents, as the Bot API shapes it.
ODD_MESSAGES: dict[str, dict[str, Any]] = {
    "sticker": {
        "sticker": {
            **FILE,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
    },
    "voice": {"voice": {**FILE, "duration": 3, "mime_type": "audio/ogg"}},
    "video_note": {"video_note": {**FILE, "length": 240, "duration": 4}},
    "video": {"video": {**FILE, "width": 640, "height": 480, "duration": 5}},
    "audio": {"audio": {**FILE, "duration": 60, "title": "x"}},
    "animation": {"animation": {**FILE, "width": 320, "height": 240, "duration": 2}},
    "contact": {"contact": {"phone_number": "+77001234567", "first_name": "Aigul"}},
    "location": {"location": {"latitude": 43.238, "longitude": 76.889}},
    "venue": {
        "venue": {
            "location": {"latitude": 51.128, "longitude": 71.43},
            "title": "ИВС",
            "address": "Астана",
        }
    },
    "poll": {
        "poll": {
            "id": "5000",
            "question": "?",
            "options": [
                {"persistent_id": "1", "text": "a", "voter_count": 0},
                {"persistent_id": "2", "text": "b", "voter_count": 0},
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
    },
    "dice": {"dice": {"emoji": "🎲", "value": 4}},
    "forwarded text": {
        "text": "Переслано: его забрали в 6 утра",
        "forward_origin": {"type": "hidden_user", "sender_user_name": "Someone", "date": 1},
    },
}
RTL_AND_CONTROL = [
    "\u202eزوجي اعتقل\u202c",  # a right-to-left override around Arabic
    "עצור \u200f10:00",  # Hebrew with a right-to-left mark
    "Нұрлан\u200b\u200d\u2060 Ахметов",  # zero-width characters inside a name
    "name\x07\x1b[31m\x7f\u0085",  # terminal escapes and C0/C1 controls
    "<b>не</b> &amp; <a href='tg://user?id=1'>x</a>",  # HTML that must stay text
    "ب" * 4096,  # the longest message a client sends
    "Ы" * 4095 + "\U0001f600"[:1],
]


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    limits = RateLimitConfig(private_per_second=50, private_burst=100, global_limit=200)
    async with TelegramEmulator(rate_limits=limits) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture
async def hook(
    emu: TelegramEmulator, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[WebhookBot]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hostile.db'}"
    await migrate(url)
    moderator_group(emu)
    running = await start_webhook_bot(emu, url, keyring, tmp_path)
    try:
        yield running
    finally:
        await running.shutdown()


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.WARNING)
    return caplog.records


def _errors(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR]


def _last_id(user: UserHandle) -> int:
    return max((m.message_id for m in user.messages()), default=0)


async def _answer_to(emu: TelegramEmulator, user: UserHandle, after: int) -> EmuMessage:
    return await emu.wait_for_bot_message(user, timeout=10, after=after)


def _translated(text: str, language: str) -> bool:
    return bool(CYRILLIC.search(text)) if language in ("ru", "kk") else bool(text.strip())


async def _mid_report(emu: TelegramEmulator, user: UserHandle, language: str) -> ReportFlow:
    """A reporter half-way through a detention report, at the free-text name question."""
    flow = ReportFlow(emu, create_i18n(), user, "detention", DETENTION, language, 20)
    await flow.fill(until_step="subject")
    return flow


@pytest.mark.parametrize("where", ["no report", "mid-report"])
async def test_every_kind_of_message_gets_a_translated_answer(
    emu: TelegramEmulator, hook: WebhookBot, errors: list[logging.LogRecord], where: str
) -> None:
    for index, (kind, fields) in enumerate(ODD_MESSAGES.items()):
        language = ("kk", "ru", "en")[index % 3]
        user = emu.user(language_code=language)
        if where == "mid-report":
            await _mid_report(emu, user, language)
        before = _last_id(user)
        await user.send_raw(fields)
        answer = await _answer_to(emu, user, before)
        assert _translated(answer.text or "", language), (kind, answer.text)
    # An album is several photo updates: each is taken as an attachment or answered.
    user = emu.user(language_code="ru")
    await _mid_report(emu, user, "ru")
    before = _last_id(user)
    await user.send_album([make_png(8, 8), make_png(9, 9), make_png(10, 10)])
    await emu.wait_for_updates_consumed(10)
    assert [m for m in user.bot_messages() if m.message_id > before]
    assert emu.stats.webhook_failures == 0
    assert _errors(errors) == []


async def test_odd_texts_are_kept_as_text_and_escaped(
    emu: TelegramEmulator, hook: WebhookBot, errors: list[logging.LogRecord]
) -> None:
    for text in RTL_AND_CONTROL:
        user = emu.user(language_code="kk")
        await _mid_report(emu, user, "kk")
        before = _last_id(user)
        await user.send_text(text)
        answer = await _answer_to(emu, user, before)
        assert _translated(answer.text or "", "kk")
    assert emu.stats.webhook_failures == 0
    assert _errors(errors) == []


async def test_edits_are_ignored_on_purpose(
    emu: TelegramEmulator, hook: WebhookBot, errors: list[logging.LogRecord]
) -> None:
    # The bot does not ask Telegram for edited messages (allowed_updates): a changed answer is
    # sent again as a new message, which the person sees acknowledged.
    user = emu.user(language_code="ru")
    flow = await _mid_report(emu, user, "ru")
    sent = await user.send_text("Нурлан")
    await emu.wait_for_bot_message(user, timeout=10, after=flow.seen)
    before = _last_id(user)
    await user.edit_text(sent, "Нурлан Ахметов")
    await emu.wait_for_updates_consumed()
    assert emu.stats.updates_filtered == 1
    assert _last_id(user) == before
    assert _errors(errors) == []


# Button data in our own shapes (prefix:field:field), with numbers no button carries: negative,
# beyond a database integer, or not ASCII digits at all.
_forged_data = st.builds(
    lambda prefix, number, word: f"{prefix}:{number}:{word}"[:64],
    st.sampled_from(["f1", "l1", "c1", "w1", "g1", "k1", "m1:verify"]),
    st.one_of(st.integers(), st.just("²"), st.just("٣")),
    st.sampled_from(["safe", "help", "0", "", "yes", "x"]),
)

# One person's session: texts of any Unicode (controls and right-to-left included), forged
# button data, and odd messages, in any order.
_inputs = st.lists(
    st.one_of(
        st.tuples(
            st.just("text"),
            st.text(
                alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=4096
            ).filter(lambda text: text.strip()),
        ),
        # Button data is at most 64 bytes: 16 characters of up to 4 bytes each always fit.
        st.tuples(st.just("press"), st.text(min_size=1, max_size=16)),
        st.tuples(st.just("press"), _forged_data),
        st.tuples(st.just("odd"), st.sampled_from(sorted(ODD_MESSAGES))),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(inputs=_inputs, language=st.sampled_from(["kk", "ru", "en"]), in_report=st.booleans())
async def test_any_input_is_answered_and_never_raises(
    emu: TelegramEmulator,
    hook: WebhookBot,
    errors: list[logging.LogRecord],
    inputs: list[tuple[str, str]],
    language: str,
    in_report: bool,
) -> None:
    user = emu.user(language_code=language)
    if in_report:
        await _mid_report(emu, user, language)
    for kind, value in inputs:
        before = _last_id(user)
        if kind == "text":
            await user.send_text(value)
        elif kind == "odd":
            await user.send_raw(ODD_MESSAGES[value])
        else:
            target = next(iter(reversed(user.bot_messages())), None)
            if target is None:
                continue
            query = await user.press(target, value, force=True)
            await emu.wait_for_callback_answer(query, timeout=10)
            continue
        answer = await _answer_to(emu, user, before)
        assert _translated(answer.text or "", language), answer.text
    await emu.wait_for_updates_consumed(10)
    assert emu.stats.webhook_failures == 0
    assert _errors(errors) == []


@pytest.mark.parametrize(
    "data",
    [
        "k1:99999999999999999999:safe",  # beyond any database integer
        "k1:-5:help",
        "k1:²:safe",  # a digit to str.isdigit(), not to int()
        "m1:verify:99999999999999999999:0",
        "m1:dupof:1:-99999999999999999999",
        "m1:verify:0:0",  # no such report, in a private chat
        "f1:x:subject:99999999999999999999",
    ],
)
async def test_forged_numbers_in_button_data_are_refused_plainly(
    emu: TelegramEmulator, hook: WebhookBot, errors: list[logging.LogRecord], data: str
) -> None:
    user = emu.user(language_code="ru")
    await _mid_report(emu, user, "ru")
    target = next(iter(reversed(user.bot_messages())))
    answer = await emu.wait_for_callback_answer(await user.press(target, data, force=True), 10)
    assert answer is not None
    await emu.wait_for_updates_consumed(10)
    assert emu.stats.webhook_failures == 0
    assert _errors(errors) == []
