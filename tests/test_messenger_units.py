"""The Messenger channel's parts: signatures, Meta's limits on every prompt, events, settings."""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from bot.services import form as said
from bot.services.messages import html_to_text
from bot.services.reach import Window, messaging_window
from bot.settings import ConfigError, load_settings
from handlers.engine import engine
from handlers.engine.forms import FORMS, StepKind
from handlers.engine.render import Translator
from handlers.messenger.conversation import clean_ref
from handlers.messenger.events import (
    CommentEvent,
    MessageEvent,
    PostbackEvent,
    ReferralEvent,
    parse_delivery,
)
from handlers.messenger.graph import ErrorKind, GraphError, classify
from handlers.messenger.render import (
    Action,
    Payload,
    from_neutral,
    shorten,
    split_text,
)
from handlers.messenger.signature import sign, signature_valid

LANGUAGES = ("kk", "ru", "en")
SECRET = "0123456789abcdef0123456789abcdef"


@functools.cache
def _t(language: str) -> Translator:
    return Translator(create_i18n(), language, ZoneInfo("Asia/Almaty"))


def test_signature_is_the_hmac_of_the_raw_body() -> None:
    body = b'{"object":"page","entry":[]}'
    header = sign(body, SECRET)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature_valid(body, header, SECRET)
    assert not signature_valid(body + b" ", header, SECRET)
    assert not signature_valid(body, header, "another secret")
    assert not signature_valid(body, header.removeprefix("sha256="), SECRET)
    assert not signature_valid(body, None, SECRET)
    assert not signature_valid(body, "sha256=не hex", SECRET)


def _limits(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        assert len(message.get("text", "")) <= 2000
        replies = message.get("quick_replies") or []
        assert len(replies) <= 13
        for reply in replies:
            assert 0 < len(reply["title"]) <= 20, reply["title"]
            # A shortened title would end in an ellipsis: short labels must make that needless.
            assert not reply["title"].endswith("…"), reply["title"]
            assert len(reply["payload"]) <= 1000
        template = (message.get("attachment") or {}).get("payload") or {}
        assert len(template.get("text", "")) <= 640
        buttons = list(template.get("buttons") or [])
        assert len(buttons) <= 3
        elements = template.get("elements") or []
        assert len(elements) <= 10
        for element in elements:
            assert len(element["title"]) <= 80 and len(element.get("subtitle", "")) <= 80
            buttons.extend(element.get("buttons") or [])
        for button in buttons:
            assert 0 < len(button["title"]) <= 20, button["title"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_prompt_of_every_form_fits_messengers_limits(language: str) -> None:
    t = _t(language)
    _limits(from_neutral(said.ask_form(engine.AskForm(), t)))
    for form in FORMS.values():
        for step in form.steps:
            for required in (True, False):
                reply = engine.AskStep(
                    form, step, [] if step.kind == StepKind.MULTI else None, can_back=True
                )
                if not required and step.required:
                    continue
                pages = 1
                offered: list[str] = []
                messages = from_neutral(said.ask_step(reply, t))
                _limits(messages)
                if step.vocabulary is None:
                    continue
                more = [
                    r for r in messages[-1]["quick_replies"] if r["payload"].startswith("rb1:m:")
                ]
                if more:
                    pages = math.ceil(len(step.vocabulary.options) / 9)
                for page in range(pages + 2):
                    shown = from_neutral(said.ask_step(reply, t, page=page))
                    _limits(shown)
                    offered += [
                        Payload.decode(r["payload"]).value  # type: ignore[union-attr]
                        for r in shown[-1]["quick_replies"]
                        if r["payload"].startswith("rb1:p:")
                    ]
                # Every option is offered on some page; pages wrap around.
                assert set(offered) == set(step.vocabulary.option_keys())


@pytest.mark.parametrize("language", LANGUAGES)
def test_review_and_carousel_fit_even_with_long_answers(language: str) -> None:
    t = _t(language)
    form = FORMS["detention"]
    long = "Очень длинный рассказ о том, что случилось. " * 80
    answers: dict[str, Any] = {
        "relation": "family",
        "subject": "Нурлан " * 40,
        "when": "2026-11-20T14:30:00+05:00",
        "region": "east_kazakhstan",
        "account": long[:3500],
        "media": [{"kind": "photo", "file_id": "https://cdn/x"}],
        "contact": "chat",
        "consent": "named",
    }
    items = tuple(engine.ReviewItem(step, answers.get(step.key)) for step in form.steps)
    review = engine.ShowReview(form, items)
    messages = from_neutral(said.review(review, t))
    _limits(messages)
    assert messages[-1]["attachment"]["payload"]["template_type"] == "button"
    carousels = from_neutral(said.answers_to_change(review, t))
    _limits(carousels)
    assert sum(len(c["attachment"]["payload"]["elements"]) for c in carousels) == len(items)


def test_text_is_split_and_shortened_between_words() -> None:
    text = "\n".join(["слово " * 100] * 8)
    chunks = split_text(text)
    assert all(len(chunk) <= 2000 for chunk in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )
    assert shorten("Нурлан Ахметович Ахметов", 16) == "Нурлан…"
    assert shorten("short", 16) == "short"


def test_payloads_are_versioned_and_forged_ones_are_nothing() -> None:
    encoded = Payload(Action.PICK, "region", "almaty").encode()
    assert Payload.decode(encoded) == Payload("p", "region", "almaty")
    assert Payload.decode("GET_STARTED") is None
    assert Payload.decode("rb0:p:region:almaty") is None
    assert Payload.decode(None) is None


def _delivery(*messaging: dict[str, Any], changes: list[dict[str, Any]] | None = None) -> Any:
    entry: dict[str, Any] = {"id": "1", "time": 1, "messaging": list(messaging)}
    if changes is not None:
        entry["changes"] = changes
    return {"object": "page", "entry": [entry]}


def test_deliveries_are_read_into_events_and_noise_is_skipped() -> None:
    who = {"sender": {"id": "42"}, "recipient": {"id": "1"}, "timestamp": 5}
    events = parse_delivery(
        _delivery(
            {**who, "message": {"mid": "m_1", "text": "hi", "quick_reply": {"payload": "rb1:b::"}}},
            {**who, "message": {"mid": "m_2", "text": "echo", "is_echo": True}},
            {**who, "delivery": {"mids": ["m_1"]}},
            {**who, "read": {"watermark": 5}},
            {
                **who,
                "message": {
                    "mid": "m_3",
                    "attachments": [
                        {"type": "image", "payload": {"url": "https://x/1.jpg"}},
                        {"type": "location", "payload": {"coordinates": {}}},
                    ],
                },
            },
            {
                **who,
                "message": {
                    "mid": "m_4",
                    "sticker_id": 369239263222822,
                    "attachments": [
                        {"type": "image", "payload": {"url": "https://x/s", "sticker_id": 1}}
                    ],
                },
            },
            {
                **who,
                "postback": {
                    "title": "Get Started",
                    "payload": "rb1:start::",
                    "referral": {"ref": "group", "source": "SHORTLINK", "type": "OPEN_THREAD"},
                },
            },
            {**who, "referral": {"ref": "again", "source": "SHORTLINK", "type": "OPEN_THREAD"}},
            {"sender": {}, "timestamp": 1, "message": {"mid": "m_5", "text": "no sender"}},
            "garbage",
            changes=[
                {
                    "field": "feed",
                    "value": {
                        "item": "comment",
                        "verb": "add",
                        "comment_id": "900_1",
                        "post_id": "1_900",
                        "from": {"id": "77", "name": "A"},
                        "message": "Задержали",
                    },
                },
                {
                    "field": "feed",
                    "value": {
                        "item": "comment",
                        "verb": "add",
                        "comment_id": "900_2",
                        "from": {"id": "1"},  # the Page itself
                        "message": "Reply from the Page",
                    },
                },
                {"field": "feed", "value": {"item": "reaction", "verb": "add"}},
            ],
        )
    )
    assert [type(event).__name__ for event in events] == [
        "MessageEvent",
        "MessageEvent",
        "MessageEvent",
        "PostbackEvent",
        "ReferralEvent",
        "CommentEvent",
    ]
    first, image, sticker, postback, referral, comment = events
    assert isinstance(first, MessageEvent) and first.quick_reply == "rb1:b::"
    assert isinstance(image, MessageEvent) and [a.kind for a in image.attachments] == ["image"]
    assert isinstance(sticker, MessageEvent) and sticker.unsupported and not sticker.attachments
    assert isinstance(postback, PostbackEvent) and postback.ref == "group"
    assert isinstance(referral, ReferralEvent) and referral.ref == "again"
    assert isinstance(comment, CommentEvent) and comment.sender_id == "77"
    assert len({event.dedupe for event in events}) == len(events)


def test_the_ref_becomes_a_clean_source() -> None:
    assert clean_ref("kz_group-pin.2026") == "kz_group-pin.2026"
    assert clean_ref("<script>alert(1)</script>") == "scriptalert1/script"
    assert clean_ref("x" * 300) == "x" * 64
    assert clean_ref("") is None
    assert clean_ref(None) is None


def test_the_messaging_window() -> None:
    now = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
    hours = dt.timedelta(hours=1)
    assert messaging_window(now - 23 * hours, now, human_agent=False) == Window.OPEN
    assert messaging_window(now - 25 * hours, now, human_agent=False) == Window.CLOSED
    assert messaging_window(now - 25 * hours, now, human_agent=True) == Window.HUMAN_AGENT
    assert messaging_window(now - 8 * 24 * hours, now, human_agent=True) == Window.CLOSED


def test_graph_errors_are_sorted_into_what_the_callers_do() -> None:
    assert classify(400, 613, None) == ErrorKind.RATE_LIMITED
    assert classify(400, 4, None) == ErrorKind.RATE_LIMITED
    assert classify(400, 10, 2018278) == ErrorKind.WINDOW_CLOSED
    assert classify(400, 551, 1545041) == ErrorKind.UNAVAILABLE
    assert classify(400, 100, 2018001) == ErrorKind.UNAVAILABLE
    assert classify(400, 190, None) == ErrorKind.AUTH
    assert classify(500, None, None) == ErrorKind.TRANSIENT
    assert classify(0, None, None) == ErrorKind.TRANSIENT
    assert classify(400, 1200, None) == ErrorKind.TRANSIENT
    assert classify(400, 100, None) == ErrorKind.REJECTED
    error = GraphError(400, 613)
    assert error.retryable and error.retry_after is not None
    assert "access_token" not in str(error)


def test_outbox_html_becomes_plain_text() -> None:
    html = "<b>Сообщение</b>\n\nГде он? &lt;b&gt; &amp; <i>ответьте</i>"
    assert html_to_text(html) == "Сообщение\n\nГде он? <b> & ответьте"


def _settings(**values: Any) -> Any:
    base = {"bot_token": "1:x", "moderator_chat_id": -100123}
    return load_settings(**base, **values)


def test_half_configured_messenger_stops_start_up_with_one_line() -> None:
    settings = _settings(facebook_page_token="token", facebook_app_secret="secret")
    assert not settings.messenger_enabled
    with pytest.raises(ConfigError) as caught:
        settings.require_for_run()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("FACEBOOK_VERIFY_TOKEN is not set")
    assert "FACEBOOK_PAGE_TOKEN and FACEBOOK_APP_SECRET are" in message
    on = _settings(
        facebook_page_token="token", facebook_app_secret="secret", facebook_verify_token="v"
    )
    on.require_for_run()
    assert on.messenger_enabled
    off = _settings()
    off.require_for_run()
    assert not off.messenger_enabled


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pages_messenger_profile_fits(language: str) -> None:
    from handlers.messenger.webhook import GREETING, MENU  # noqa: PLC0415

    t = _t(language)
    assert len(t(GREETING)) <= 160
    assert all(len(t(label)) <= 30 for _, label in MENU)


def test_check_in_buttons_become_quick_replies_and_others_are_left_out() -> None:
    from bot.services.actions import checkin_actions, wipe_actions  # noqa: PLC0415
    from handlers.messenger.delivery import quick_replies  # noqa: PLC0415
    from handlers.telegram.keyboards import neutral_keyboard  # noqa: PLC0415

    def markup(rows: list[list[Any]]) -> dict[str, Any]:
        keyboard = neutral_keyboard(rows)
        assert keyboard is not None
        return keyboard.model_dump(exclude_none=True)

    t = _t("ru")
    replies = quick_replies(markup([checkin_actions(42, t)]))
    assert [Payload.decode(r["payload"]) for r in replies] == [
        Payload(Action.CHECKIN, "42", "safe"),
        Payload(Action.CHECKIN, "42", "help"),
    ]
    assert all(len(r["title"]) <= 20 for r in replies)
    wipe = markup(wipe_actions(t, codes=True, cancel=False))
    assert quick_replies(wipe) == []
