"""Tests of the loopback Telegram Bot API emulator, driven by the real aiogram Bot."""

from __future__ import annotations

import asyncio
import html
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    MessageOriginUser,
    Update,
)
from aiogram.utils.backoff import BackoffConfig
from aiogram.utils.formatting import Bold, Text
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.demo.emulator.files import image_size, make_jpeg_header, make_png
from bot.demo.emulator.html import EntityParseError, parse_html, trim_text
from bot.demo.emulator.telegram import FakeClock, TelegramEmulator


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(clock=FakeClock()) as emulator:
        yield emulator
        assert emulator.internal_errors == []
        for chat in emulator.chats.values():  # everything stored renders as a valid Message
            for message in chat.messages.values():
                Message.model_validate(message.to_api())


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    client = emu.make_bot()
    yield client
    await client.session.close()


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
            for row in rows
        ]
    )


# ---------------------------------------------------------------------- HTML parser (no server)
def test_html_parsing_matches_telegram() -> None:
    text, entities = parse_html("<b>bold <i>both</i></b> &lt;b&gt; &#128512; &#x41;&quot;")
    assert text == 'bold both <b> \U0001f600 A"'
    assert entities == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "italic", "offset": 5, "length": 4},
    ]
    text, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert (text, entities) == (
        "x = 1",
        [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
    )
    text, entities = parse_html(
        '<a href="https://example.org">link</a> <span class="tg-spoiler">s</span>'
        ' <blockquote expandable>q</blockquote> <tg-emoji emoji-id="5368324170671202286">e'
        "</tg-emoji> <U>u</U>"
    )
    assert text == "link s q e u"
    assert [e["type"] for e in entities] == [
        "text_link",
        "spoiler",
        "expandable_blockquote",
        "custom_emoji",
        "underline",
    ]
    assert entities[0]["url"] == "https://example.org"


def test_html_offsets_are_utf16() -> None:
    text, entities = parse_html("\U0001f600 <b>жирный</b>")
    assert text == "\U0001f600 жирный"
    assert entities == [{"type": "bold", "offset": 3, "length": 6}]  # the emoji is 2 units


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("ж <b", "Unclosed start tag at byte offset 3"),
        ("AT&T", 'Unescaped "&" at byte offset 2'),
        ("&nbsp;", 'Unescaped "&" at byte offset 0'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
def test_html_errors(source: str, error: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(source)
    assert error in str(caught.value)


def test_lenient_ampersand_like_real_telegram() -> None:
    assert parse_html("AT&T", strict_ampersand=False) == ("AT&T", [])


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_escaped_text_round_trips(raw: str) -> None:
    text, entities = parse_html(html.escape(raw, quote=False))
    assert text == raw
    assert entities == []


def test_trim_shifts_and_clips_entities() -> None:
    text, entities = trim_text("  \nhi there \n", [{"type": "bold", "offset": 0, "length": 6}])
    assert text == "hi there"
    assert entities == [{"type": "bold", "offset": 0, "length": 3}]


def test_image_headers() -> None:
    assert image_size(make_png(10, 7)) == (10, 7)
    assert image_size(make_jpeg_header(640, 480)) == (640, 480)
    assert image_size(b"not an image") is None


# ---------------------------------------------------------------------- sending and limits
async def test_send_message_html_is_stored_as_text_and_entities(
    emu: TelegramEmulator, bot: Bot
) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (100000001, "reportbot_test_bot", True)
    alice = emu.user(first_name="Alice", started=True)
    sent = await bot.send_message(
        alice.id, "<b>Hi</b> &lt;b&gt; \U0001f600 <i>x</i>", parse_mode="HTML"
    )
    assert sent.text == "Hi <b> \U0001f600 x"
    assert sent.entities is not None
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 2),
        ("italic", 10, 1),
    ]
    assert sent.chat.id == alice.id
    assert sent.from_user is not None and sent.from_user.is_bot
    stored = emu.bot_messages(alice)[-1]
    assert stored.text == "Hi <b> \U0001f600 x"
    assert stored.entity_texts("bold") == ["Hi"]
    assert emu.calls_to("sendMessage")[-1].params["chat_id"] == alice.id


async def test_explicit_entities_from_aiogram_formatting(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    content = Text("Case ", Bold("#12"), " <accepted> & saved")
    sent = await bot.send_message(alice.id, **content.as_kwargs())
    assert sent.text == "Case #12 <accepted> & saved"
    assert emu.bot_messages(alice)[-1].entity_texts("bold") == ["#12"]


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<b>unclosed", "HTML", "can't parse entities: Can't find end tag"),
        ("Tom & Jerry", "HTML", "can't parse entities: Unescaped"),
        ("<script>x</script>", "HTML", 'Unsupported start tag "script"'),
        ("x" * 4097, None, "message is too long"),
        ("  \n ", None, "message text is empty"),
        ("<b></b>", "HTML", "message text is empty"),
        ("*bold*", "MarkdownV2", "unsupported by the emulator"),
    ],
)
async def test_send_message_rejections(
    emu: TelegramEmulator, bot: Bot, text: str, parse_mode: str | None, error: str
) -> None:
    alice = emu.user(started=True)
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(alice.id, text, parse_mode=parse_mode)
    assert "Bad Request: " in caught.value.message
    assert error in caught.value.message
    assert emu.bot_messages(alice) == []


async def test_length_limit_counts_parsed_text(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    sent = await bot.send_message(alice.id, "<b>" + "я" * 4096 + "</b>", parse_mode="HTML")
    assert sent.text is not None and len(sent.text) == 4096


async def test_callback_data_limit(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "pick", reply_markup=keyboard([("A", "x" * 65)]))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "pick", reply_markup=keyboard([("A", "ж" * 33)]))
    sent = await bot.send_message(alice.id, "pick", reply_markup=keyboard([("A", "x" * 64)]))
    assert emu.message(alice, sent.message_id).keyboard == [
        [{"text": "A", "callback_data": "x" * 64}]
    ]


async def test_private_chat_access_rules(emu: TelegramEmulator, bot: Bot) -> None:
    stranger = emu.user(first_name="Stranger")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "hi")
    await stranger.send_text("hello")
    await bot.send_message(stranger.id, "hi")
    await stranger.block_bot()
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(stranger.id, "hi again")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-100123, "nobody")


async def test_unknown_method_and_json_body(emu: TelegramEmulator) -> None:
    alice = emu.user(started=True)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emu.base_url}/bot{emu.token}/fooBar") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        payload = {"chat_id": alice.id, "text": "<i>json</i>", "parse_mode": "HTML"}
        async with session.post(f"{emu.base_url}/bot{emu.token}/SENDMESSAGE", json=payload) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["ok"] is True
            assert body["result"]["text"] == "json"
        async with session.post(
            f"{emu.base_url}/bot{emu.token}/sendMessage",
            data={"chat_id": str(alice.id), "text": "form"},
        ) as resp:
            assert (await resp.json())["result"]["text"] == "form"


# ---------------------------------------------------------------------- updates
async def test_long_poll_receives_text_and_button_press(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(first_name="Alice", language_code="kk")
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()  # long poll is waiting
    sent = await alice.send_text("hello")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 2
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None and message.text == "hello"
    assert message.from_user is not None and message.from_user.language_code == "kk"
    assert updates[0].update_id == sent.update_id
    assert emu.delivered_at[updates[0].update_id] == emu.clock()  # benchmarks time from it

    menu = await bot.send_message(alice.id, "menu", reply_markup=keyboard([("Report", "r:1")]))
    query_id = await alice.press_button(emu.message(alice, menu.message_id), "Rep")
    updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
    assert len(updates) == 1
    query = updates[0].callback_query
    assert query is not None and query.data == "r:1" and query.id == query_id
    assert isinstance(query.message, Message) and query.message.message_id == menu.message_id
    await bot.answer_callback_query(query.id, text="ok")
    assert emu.callback_answers[query_id].text == "ok"
    assert emu.callback_answers[query_id].created_at == emu.clock()
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id, text="twice")

    # confirming with offset empties the queue; an empty poll returns after its timeout
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []
    assert emu.pending_updates == []


async def test_press_button_reports_labels(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    sent = await bot.send_message(
        alice.id, "menu", reply_markup=keyboard([("Yes", "y"), ("No", "n")])
    )
    with pytest.raises(AssertionError, match=r"labels: \['Yes', 'No'\]"):
        await alice.press_button(emu.message(alice, sent.message_id), "Maybe")
    with pytest.raises(AssertionError, match="no button with callback_data"):
        await alice.press(emu.message(alice, sent.message_id), "forged")
    await alice.press(emu.message(alice, sent.message_id), "forged", force=True)
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(emu.last_update["callback_query"]["id"], text="x" * 201)  # type: ignore[index]


async def test_redelivery_and_allowed_updates(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user()
    first = await alice.send_text("one")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first.update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []
    emu.redeliver(first)
    again = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert [u.update_id for u in again] == [first.update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []

    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    await alice.send_text("filtered out")
    assert emu.stats.updates_filtered == 1
    emu.push_update({"chat_member": {}})  # not in the bot's allowed_updates either
    assert emu.stats.updates_filtered == 2


async def test_second_poller_conflicts(emu: TelegramEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 2)
    assert await second == []


async def test_subscribers_hear_every_change_until_they_unsubscribe(
    emu: TelegramEmulator, bot: Bot
) -> None:
    heard: list[int] = []
    unsubscribe = emu.subscribe(lambda: heard.append(len(heard)))
    alice = emu.user(first_name="Alice")
    await alice.send_text("hi")  # stored, then queued as an update: two changes
    after_send = len(heard)
    assert after_send >= 2
    sent = await bot.send_message(alice.id, "hello")
    await bot.edit_message_text("hello again", chat_id=alice.id, message_id=sent.message_id)
    await bot.delete_message(alice.id, sent.message_id)
    assert len(heard) >= after_send + 3
    unsubscribe()
    unsubscribe()  # a second call is harmless
    before = len(heard)
    await bot.send_message(alice.id, "unheard")
    assert len(heard) == before


async def test_dispatcher_end_to_end(emu: TelegramEmulator, bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            "Что случилось?", reply_markup=keyboard([("Задержание", "kind:detention")])
        )

    @router.callback_query(F.data.startswith("kind:"))
    async def chosen(query: CallbackQuery) -> None:
        await query.answer("Принято")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Вы выбрали: <b>задержание</b>", parse_mode="HTML")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        alice = emu.user(first_name="Алия")
        await alice.send_command("/start")
        menu = await emu.wait_for_bot_message(alice)
        assert menu.text == "Что случилось?"
        assert menu.button_labels == ["Задержание"]
        query_id = await alice.press_button(menu, "Задерж")
        answer = await emu.wait_for_callback_answer(query_id)
        assert answer.text == "Принято"
        await emu.wait_for_edit(menu)
        assert menu.text == "Вы выбрали: задержание"
        assert menu.keyboard == []  # editMessageText without reply_markup drops the keyboard
        assert menu.history[0].text == "Что случилось?"
        assert emu.stats.rate_limited == 0
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 3)


# ---------------------------------------------------------------------- rate limits
async def test_group_limit_20_per_minute(emu: TelegramEmulator, bot: Bot) -> None:
    group = emu.create_group("Moderators")
    for i in range(20):
        await bot.send_message(group.id, f"report {i}")
        emu.advance(1.0)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(group.id, "one too many")
    assert 1 <= caught.value.retry_after <= 60
    assert caught.value.retry_after == 40  # first message leaves the 60 s window in 40 s
    assert "Too Many Requests: retry after 40" in caught.value.message
    assert emu.stats.rate_limited == 1
    emu.advance(caught.value.retry_after)
    await bot.send_message(group.id, "fits again")
    assert len(emu.bot_messages(group)) == 21


async def test_global_limit_30_per_second(emu: TelegramEmulator, bot: Bot) -> None:
    users = [emu.user(started=True) for _ in range(31)]
    for user in users[:30]:
        await bot.send_message(user.id, "broadcast")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(users[30].id, "broadcast")
    assert caught.value.retry_after == 1
    emu.advance(1.0)
    await bot.send_message(users[30].id, "broadcast")


async def test_private_chat_limit_and_switch(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    for _ in range(3):  # burst allowance
        await bot.send_message(alice.id, "x")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(alice.id, "x")
    assert caught.value.retry_after == 1
    emu.advance(1.0)
    await bot.send_message(alice.id, "x")  # one token refilled per second
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(alice.id, "x")
    emu.rate_limits.enabled = False
    for _ in range(10):
        await bot.send_message(alice.id, "unlimited")
    assert emu.stats.rate_limited == 2


# ---------------------------------------------------------------------- faults
async def test_fault_injection(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    emu.faults.fail_next(method="sendMessage")
    with pytest.raises(TelegramServerError):
        await bot.send_message(alice.id, "lost")
    assert emu.bot_messages(alice) == []
    await bot.get_me()  # other methods unaffected

    emu.faults.fail_next(status=502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()

    emu.faults.retry_after_next(7, method="sendMessage")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(alice.id, "flood")
    assert caught.value.retry_after == 7
    assert emu.stats.rate_limited == 0  # injected 429s are not the emulated limits

    emu.faults.lose_answer_next(method="sendMessage")
    with pytest.raises(TelegramServerError):
        await bot.send_message(alice.id, "delivered anyway")
    assert [m.text for m in emu.bot_messages(alice)] == ["delivered anyway"]
    assert emu.calls_to("sendMessage")[-1].answer_lost

    emu.faults.slow_next(0.3, method="getMe")
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.3

    emu.faults.set_random_failures(0.5, seed=7, methods=["getMe"])
    outcomes = []
    for _ in range(20):
        try:
            await bot.get_me()
            outcomes.append(True)
        except TelegramServerError:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 20
    emu.faults.clear()
    assert emu.stats.faults_injected >= 5 + outcomes.count(False)


async def test_latency_holds_every_call_and_download_for_the_round_trip(
    emu: TelegramEmulator, bot: Bot
) -> None:
    alice = emu.user(started=True)
    incoming = await alice.send_photo(make_png(4, 4))
    assert incoming.photo is not None
    file_id = incoming.photo[-1]["file_id"]

    async def timed_calls() -> list[float]:
        """Seconds taken by a sendMessage, a getFile and the file's download."""
        took = []
        started = time.monotonic()
        await bot.send_message(alice.id, "hello")
        took.append(time.monotonic() - started)
        started = time.monotonic()
        file = await bot.get_file(file_id)
        took.append(time.monotonic() - started)
        assert file.file_path is not None
        started = time.monotonic()
        assert await bot.download_file(file.file_path) is not None
        took.append(time.monotonic() - started)
        return took

    emu.faults.set_latency(0.3)
    assert emu.faults.latency == 0.3
    assert all(seconds >= 0.3 for seconds in await timed_calls())
    assert emu.faults.pending == 0  # not a rule: it stays on
    assert all(seconds >= 0.3 for seconds in await timed_calls())
    emu.faults.set_latency(0)
    assert all(seconds < 0.3 for seconds in await timed_calls())
    emu.faults.set_latency(0.3)
    emu.faults.clear()
    assert emu.faults.latency == 0
    with pytest.raises(ValueError, match="negative"):
        emu.faults.set_latency(-1)


# ---------------------------------------------------------------------- files
async def test_file_round_trip(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    png = make_png(10, 7)
    incoming = await alice.send_photo(png, caption="evidence")
    sizes = incoming.photo
    assert sizes is not None and (sizes[-1]["width"], sizes[-1]["height"]) == (10, 7)
    file = await bot.get_file(sizes[-1]["file_id"])
    assert file.file_path is not None and file.file_size == len(png)
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == png

    document = await alice.send_document(b"%PDF-1.4 test", "decision.pdf")
    assert document.document is not None and document.document["mime_type"] == "application/pdf"

    group = emu.create_group("Moderators")
    forwarded_photo = await bot.send_photo(
        group.id, sizes[-1]["file_id"], caption="<b>case</b>", parse_mode="HTML"
    )
    assert forwarded_photo.caption == "case"
    uploaded = await bot.send_document(
        group.id, BufferedInputFile(b"a,b\n1,2\n", filename="export.csv"), caption="export"
    )
    assert uploaded.document is not None and uploaded.document.file_name == "export.csv"
    assert uploaded.document.mime_type == "text/csv"
    path = (await bot.get_file(uploaded.document.file_id)).file_path
    assert path is not None
    data = await bot.download_file(path)
    assert data is not None and data.read() == b"a,b\n1,2\n"

    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(group.id, "no-such-file-id")
    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_photo(group.id, uploaded.document.file_id)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(group.id, sizes[-1]["file_id"], caption="c" * 1025)

    album = await bot.send_media_group(
        group.id,
        [
            InputMediaPhoto(media=BufferedInputFile(make_png(3, 3), "a.png"), caption="1"),
            InputMediaPhoto(media=sizes[-1]["file_id"]),
        ],
    )
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    with pytest.raises(TelegramBadRequest, match="2-10"):
        await bot.send_media_group(group.id, [InputMediaPhoto(media=sizes[-1]["file_id"])])
    with pytest.raises(TelegramBadRequest, match="too much messages"):
        await bot.send_media_group(group.id, [InputMediaPhoto(media=sizes[-1]["file_id"])] * 11)


async def test_copy_and_forward_to_moderators(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(first_name="Alice")
    report = await alice.send_text("My brother was detained")
    group = emu.create_group("Moderators", is_forum=True)
    topic = await bot.create_forum_topic(group.id, "Case 1")
    copied = await bot.copy_message(
        group.id, alice.id, report.message_id, message_thread_id=topic.message_thread_id
    )
    copy = emu.message(group, copied.message_id)
    assert copy.text == "My brother was detained" and copy.from_bot
    assert copy.message_thread_id == topic.message_thread_id
    forwarded = await bot.forward_message(group.id, alice.id, report.message_id)
    assert isinstance(forwarded.forward_origin, MessageOriginUser)
    assert forwarded.forward_origin.sender_user.id == alice.id
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(group.id, alice.id, 999)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(group.id, "x", message_thread_id=777)
    plain = emu.create_group("Plain")
    with pytest.raises(TelegramBadRequest, match="not a forum"):
        await bot.create_forum_topic(plain.id, "nope")


# ---------------------------------------------------------------------- editing and deleting
async def test_edit_message_rules(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    markup = keyboard([("OK", "ok")])
    sent = await bot.send_message(alice.id, "<b>state</b>", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<b>state</b>",
            chat_id=alice.id,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    # same plain text but different formatting is a modification
    edited = await bot.edit_message_text(
        "state", chat_id=alice.id, message_id=sent.message_id, reply_markup=markup
    )
    assert isinstance(edited, Message) and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=alice.id, message_id=sent.message_id, reply_markup=markup
        )
    emu.advance(1.0)
    await bot.edit_message_reply_markup(chat_id=alice.id, message_id=sent.message_id)
    record = emu.message(alice, sent.message_id)
    assert record.keyboard == [] and len(record.history) == 2
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=9999)
    incoming = await alice.send_text("user text")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=incoming.message_id)
    with pytest.raises(TelegramBadRequest, match="no caption"):
        await bot.edit_message_caption(chat_id=alice.id, message_id=sent.message_id, caption="c")


async def test_delete_message_rules(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    sent = await bot.send_message(alice.id, "temporary")
    incoming = await alice.send_text("sensitive")
    assert await bot.delete_message(alice.id, sent.message_id)
    assert await bot.delete_message(alice.id, incoming.message_id)  # private: any message
    assert emu.deleted_message_ids(alice) == [sent.message_id, incoming.message_id]
    assert emu.bot_messages(alice) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)

    old = await bot.send_message(alice.id, "old")
    emu.advance(48 * 3600)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(alice.id, old.message_id)

    group = emu.create_group("Members only", bot_status="member")
    bob = emu.user(first_name="Bob")
    said = await bob.send_text("hi all", chat=group)
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(group.id, said.message_id)
    mine = await bot.send_message(group.id, "bot")
    assert await bot.delete_messages(group.id, [mine.message_id, said.message_id, 12345])
    assert emu.deleted_message_ids(group) == [mine.message_id]


# ---------------------------------------------------------------------- chats and settings
async def test_chat_member_and_chat(emu: TelegramEmulator, bot: Bot) -> None:
    group = emu.create_group("Moderators", chat_id=-1001234567890)
    mod = emu.user(first_name="Mod")
    owner = emu.user(first_name="Owner")
    outsider = emu.user(first_name="Outsider")
    group.add_member(mod, "administrator")
    group.add_member(owner, "creator")
    assert (await bot.get_chat_member(group.id, mod.id)).status == "administrator"
    assert (await bot.get_chat_member(group.id, owner.id)).status == "creator"
    assert (await bot.get_chat_member(group.id, outsider.id)).status == "left"
    group.remove_member(mod, kicked=True)
    assert (await bot.get_chat_member(group.id, mod.id)).status == "kicked"
    assert (await bot.get_chat_member(group.id, emu.bot_user.id)).status == "administrator"
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(group.id, 424242)
    chat = await bot.get_chat(group.id)
    assert (chat.id, chat.type, chat.title) == (group.id, "supergroup", "Moderators")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat(-1009999)


async def test_bot_settings_and_actions(emu: TelegramEmulator, bot: Bot) -> None:
    alice = emu.user(started=True)
    await bot.set_my_commands(
        [BotCommand(command="start", description="Начать")], language_code="ru"
    )
    assert emu.get_commands(language_code="ru") == [{"command": "start", "description": "Начать"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    await bot.delete_my_commands(language_code="ru")
    assert emu.get_commands(language_code="ru") == []
    await bot.set_chat_menu_button()
    assert emu.menu_buttons[None] == {"type": "default"}
    await bot.send_chat_action(alice.id, "typing")
    assert emu.chat_actions == [(alice.id, "typing")]
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(alice.id, "dancing")


# ---------------------------------------------------------------------- webhook
async def test_webhook_delivery_with_secret_and_retry(emu: TelegramEmulator, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    attempts = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.Response(status=500)
        update = await request.json()
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), update))
        if "message" in update:  # answer with a method call in the response body
            reply = {
                "method": "sendMessage",
                "chat_id": update["message"]["chat"]["id"],
                "text": "got it",
            }
            return web.json_response(reply)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        assert await bot.set_webhook(url, secret_token="s3cr3t_token")
        with pytest.raises(TelegramConflictError):
            await bot.get_updates(timeout=0)
        alice = emu.user()
        emu.faults.set_latency(5)  # holds back neither the delivery nor the webhook's reply
        sent = await alice.send_text("via webhook")
        reply = await emu.wait_for_bot_message(alice, timeout=2)
        emu.faults.set_latency(0)
        assert reply.text == "got it"
        assert sent.update_id in emu.delivered_at
        assert attempts == 2
        assert received == [("s3cr3t_token", emu.updates_log[sent.update_id or 0])]
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert info.last_error_message is not None and "500" in info.last_error_message
        assert emu.calls_to("sendMessage")[-1].via == "webhook_reply"
        with pytest.raises(TelegramBadRequest, match="loopback"):
            await bot.set_webhook("https://example.com/hook")
        assert await bot.delete_webhook(drop_pending_updates=True)
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_dispatcher_survives_injected_poll_failure(emu: TelegramEmulator, bot: Bot) -> None:
    received: list[str] = []
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        received.append(message.text or "")
        await message.answer(html.escape(message.text or ""), parse_mode="HTML")

    dp = Dispatcher()
    dp.include_router(router)
    emu.faults.fail_next(method="getUpdates", status=502)
    fast_retry = BackoffConfig(min_delay=0.05, max_delay=0.1, factor=1.5, jitter=0.0)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, polling_timeout=1, backoff_config=fast_retry)
    )
    try:
        alice = emu.user()
        await alice.send_text("a <b> & c")
        reply = await emu.wait_for_bot_message(alice, timeout=8)
        assert reply.text == "a <b> & c"
        assert received == ["a <b> & c"]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 3)
    assert json.dumps(emu.stats.__dict__)  # stats are plain numbers


async def test_group_privacy_mode_and_wait_timeout(emu: TelegramEmulator, bot: Bot) -> None:
    group = emu.create_group("Relatives", bot_status="member")
    bob = emu.user(first_name="Bob")
    chatter = await bob.send_text("just chatting", chat=group)
    assert chatter.update_id is None  # privacy mode: the bot doesn't see it
    command = await bob.send_text("/report", chat=group)
    mention = await bob.send_text("@reportbot_test_bot help", chat=group)
    bot_message = await bot.send_message(group.id, "How can I help?")
    reply = await bob.send_text(
        "answer", chat=group, reply_to=emu.message(group, bot_message.message_id)
    )
    assert None not in (command.update_id, mention.update_id, reply.update_id)
    assert len(await bot.get_updates(timeout=0)) == 3
    assert group.member_status(bob) == "member"

    with pytest.raises(AssertionError, match="no new bot message in chat") as caught:
        await emu.wait_for_bot_message(group, timeout=0.05)
    assert "How can I help?" in str(caught.value)


async def test_edits_count_toward_chat_limit_when_configured(
    emu: TelegramEmulator, bot: Bot
) -> None:
    group = emu.create_group("Moderators")
    card = await bot.send_message(group.id, "case v0")
    for i in range(1, 20):
        await bot.edit_message_text(f"case v{i}", chat_id=group.id, message_id=card.message_id)
    with pytest.raises(TelegramRetryAfter):
        await bot.edit_message_text("case v20", chat_id=group.id, message_id=card.message_id)
    emu.rate_limits.count_edits = False
    await bot.edit_message_text("case v20", chat_id=group.id, message_id=card.message_id)
    with pytest.raises(TelegramRetryAfter):  # sends still see the full window
        await bot.send_message(group.id, "new card")
    first = await emu.wait_for_bot_message(group, after=0)
    assert first.message_id == card.message_id and len(first.history) == 20


# --- what the real Telegram does that the bot must survive (docs/platforms.md) --------------------
async def test_a_group_upgraded_to_a_supergroup_answers_with_its_new_id(
    emu: TelegramEmulator, bot: Bot
) -> None:
    alice = emu.user(first_name="Alice")
    group = emu.create_group("Team", kind="group")
    group.add_member(alice, "creator")
    await bot.send_message(group.id, "before")
    new = emu.upgrade_to_supergroup(group)
    with pytest.raises(TelegramMigrateToChat) as raised:
        await bot.send_message(group.id, "after")
    assert raised.value.migrate_to_chat_id == new.id
    with pytest.raises(TelegramMigrateToChat):
        await bot.get_chat(group.id)
    await bot.send_message(new.id, "there")
    service = [Update.model_validate(u).message for u in emu.pending_updates]
    assert [(m.chat.id, m.migrate_to_chat_id) for m in service if m and m.migrate_to_chat_id] == [
        (group.id, new.id)
    ]
    assert [
        (m.chat.id, m.migrate_from_chat_id) for m in service if m and m.migrate_from_chat_id
    ] == [(new.id, group.id)]


async def test_a_press_on_a_message_older_than_two_days_carries_an_inaccessible_message(
    emu: TelegramEmulator, bot: Bot
) -> None:
    alice = emu.user(first_name="Alice", started=True)
    sent = await bot.send_message(alice.id, "card", reply_markup=keyboard([("Take", "t")]))
    await alice.press(sent.message_id, "t")
    emu.advance(49 * 3600)
    await alice.press(sent.message_id, "t")
    fresh, old = (Update.model_validate(u).callback_query for u in emu.pending_updates[-2:])
    assert fresh is not None and isinstance(fresh.message, Message)
    assert old is not None and isinstance(old.message, InaccessibleMessage)
    assert (old.message.chat.id, old.message.message_id) == (alice.id, sent.message_id)
    assert old.message.date == 0


async def test_groups_that_refuse_the_bot_and_users_who_blocked_it(
    emu: TelegramEmulator, bot: Bot
) -> None:
    group = emu.create_group("Team", bot_status="restricted")
    with pytest.raises(TelegramBadRequest, match="not enough rights to send text messages"):
        await bot.send_message(group.id, "hello")
    group.set_bot_status("kicked")
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(group.id, "hello")
    forum = emu.create_group("Forum", is_forum=True, bot_status="member")
    forum.chat.topics[7] = {"name": "Alerts", "icon_color": 7322096}
    forum.chat.closed_topics.add(7)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await bot.send_message(forum.id, "hello", message_thread_id=7)
    alice = emu.user(first_name="Alice", started=True)
    await alice.block_bot()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "hello")


async def test_lengths_photo_shapes_late_answers_and_long_flood_waits(
    emu: TelegramEmulator, bot: Bot
) -> None:
    alice = emu.user(first_name="Alice", started=True)
    await bot.send_message(alice.id, "x" * 4096)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice.id, "x" * 4097)
    photo = BufferedInputFile(make_png(64, 48), "p.png")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(alice.id, photo, caption="x" * 1025)
    for width, height in ((30, 1000), (6000, 4500)):  # ratio over 20; sides over 10000 in all
        shaped = BufferedInputFile(make_png(width, height), "p.png")
        with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
            await bot.send_photo(alice.id, shaped)
    sent = await bot.send_message(alice.id, "card", reply_markup=keyboard([("Take", "t")]))
    query = await alice.press(sent.message_id, "t")
    emu.advance(16)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query)
    emu.faults.retry_after_next(3600, method="sendMessage")
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(alice.id, "hello")
    assert flood.value.retry_after == 3600
