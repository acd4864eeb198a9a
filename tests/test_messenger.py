"""Messenger end to end: people report through the Page, moderators triage in Telegram."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.demo.emulator.files import make_png
from handlers.messenger.render import Action, Payload
from storage.db import create_engine, create_sessionmaker
from storage.models import ProcessedUpdate, Report, Reporter
from storage.sealing import Keyring
from tests.messenger_e2e import (
    CODE,
    Messenger,
    begin,
    fill_report,
    messenger_bot,
    payload,
    payloads,
    pick,
    settled,
    step_of,
    submit,
)

BASE = {
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
    "media": "done",
}
ANSWERS: dict[str, dict[str, Any]] = {
    "detention": {
        **BASE,
        "relation": ("pick", "family"),
        "subject": "Нурлан Ахметов",
        "when": "вчера 14:30",
        "region": ("pick", "west_kazakhstan"),  # on the third page of regions
        "agency": ("pick", "knb"),
        "held_where": ("pick", "ivs"),
        "article": ("pick", "cc405"),
        "lawyer": ("pick", "no"),
        "account": "Пришли утром, без объяснений.",
    },
    "search": {
        **BASE,
        "relation": ("pick", "self"),
        "subject": "Әсел Серікқызы",
        "when": "кеше",
        "region": ("type", "Шымкент"),  # typed, not tapped
        "seized": ("pick", "phones", "computers"),
        "account": "Таңертең келді.",
        "media": ("photo", make_png()),
    },
    "account_freeze": {
        **BASE,
        "subject": "Dana K.",
        "bank": ("pick", "kaspi"),
        "noticed": "yesterday",
        "reason": ("pick", "financial_monitoring"),
        "donations": ("pick", "yes"),
        "account": "Blocked after a donation.",
    },
    "summons": {
        **BASE,
        "subject": "Ерлан",
        "agency": ("pick", "anti_extremism"),
        "appointment": "25.11 10:00",
        "case_status": ("pick", "witness_defence"),
        "summons_photo": "done",
        "checkin": ("pick", "no"),
    },
}
LOCALE = {"detention": "ru_RU", "search": "kk_KZ", "account_freeze": "en_US", "summons": "kk_KZ"}
LANGUAGE = {"ru_RU": "ru", "kk_KZ": "kk", "en_US": "en"}
REF = "kz_monitoring_group_pin"


async def _rows(url: str, query: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(query)).scalars())
    finally:
        await engine.dispose()


async def _execute(url: str, statement: Any) -> None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await session.execute(statement)
    finally:
        await engine.dispose()


async def _count(url: str, model: Any) -> int:
    counts = await _rows(url, select(func.count()).select_from(model))
    return int(counts[0])


@pytest.fixture
async def m(migrated_url: str, keyring: Keyring, tmp_path: Path) -> Any:
    # The campaign links' refs are on the allow-list (MESSENGER_SOURCES); tests/test_sources.py
    # checks that another ref is dropped.
    sources = (REF, "telegram_channel")
    async with messenger_bot(migrated_url, keyring, tmp_path, messenger_sources=sources) as running:
        yield running


@pytest.mark.parametrize("form_key", sorted(ANSWERS))
async def test_complete_report_from_the_group_link_reaches_the_moderator_chat(
    form_key: str, m: Messenger
) -> None:
    locale = LOCALE[form_key]
    language = LANGUAGE[locale]
    user = m.graph.user(locale=locale)
    # From the group's pinned link: a new thread, Get Started, the ref comes along; the
    # welcome and the consent notice (naming Meta) come first.
    menu = await begin(m, user, ref=REF)
    welcome, notice = m.graph.page_messages(user)[:2]
    assert "Meta" in (welcome.text or "") and "Meta" in (notice.text or "")
    assert m.i18n.gettext("What do you want to report?", locale=language) in (menu.text or "")

    review = await fill_report(m, user, form_key, ANSWERS[form_key], language=language)
    summary = m.graph.page_messages(user)[-2]
    assert m.i18n.gettext("Please check your report:", locale=language) in (summary.text or "")
    code = await submit(m, user, review)

    card = await m.tg.wait_for_bot_message(m.group, lambda msg: code in (msg.text or ""))
    text = card.text or ""
    # The channel is said on the card's first line (handlers/telegram/cards.py).
    assert "Facebook Messenger" in text.splitlines()[0]
    assert str(ANSWERS[form_key]["subject"]) in text
    assert text.startswith("🚨") == (form_key == "detention")
    reports = await _rows(m.url, select(Report))
    assert [(r.channel, r.source, r.language) for r in reports] == [("messenger", REF, language)]
    if form_key == "search":
        # The photo sent in Messenger reaches the moderators as an upload under the card.
        photo = await m.tg.wait_for_bot_message(m.group, lambda msg: msg.kind == "photo")
        assert photo.reply_to_message_id == card.message_id


async def test_a_vocabulary_longer_than_thirteen_options_is_paged(m: Messenger) -> None:
    user = m.graph.user(locale="ru_RU")
    await begin(m, user)
    await user.tap(payload=payload(Action.TYPE, value="detention"))
    await user.tap(payload=payload(Action.SKIP, "relation"))
    await user.send_text("Марат")
    await user.send_text("сегодня 9:30")
    await user.send_text("Забрали из дома утром.")  # the person's own words come early
    seen: list[str] = []
    first_page: list[str] = []
    for page in range(4):
        prompt = m.graph.last_page_message(user)
        assert prompt is not None
        assert step_of(m.i18n, prompt, "detention", "ru").key == "region"
        assert len(prompt.quick_replies) <= 13
        assert all(len(reply["title"]) <= 20 for reply in prompt.quick_replies)
        regions = [p.rsplit(":", 1)[1] for p in payloads(prompt) if p.startswith("rb1:p:region:")]
        if page == 0:
            first_page = regions
            assert "Варианты 1–" in (prompt.text or "")
        elif regions == first_page:
            break  # "More options" on the last page starts over
        seen.extend(regions)
        await user.tap(payload=[p for p in payloads(prompt) if p.startswith("rb1:m:region:")][0])
    assert len(seen) == 22 and len(set(seen)) == 22
    # Short labels stand in for long ones on the buttons, and the message names them in full.
    await pick(m.graph, user, "region", "east_kazakhstan")
    await user.tap(payload=payload(Action.BACK))
    prompt = m.graph.last_page_message(user)
    assert prompt is not None
    while "east_kazakhstan" not in " ".join(payloads(prompt)):
        await user.tap(payload=[p for p in payloads(prompt) if p.startswith("rb1:m:")][0])
        prompt = m.graph.last_page_message(user)
        assert prompt is not None
    titles = [r["title"] for r in prompt.quick_replies]
    assert "ВКО" in titles
    assert "ВКО — Восточно-Казахстанская (ВКО)" in (prompt.text or "")


async def test_a_typed_region_is_taken_or_offered_back_and_the_details_skipped(
    m: Messenger,
) -> None:
    user = m.graph.user(locale="ru_RU")
    await begin(m, user)
    await user.tap(payload=payload(Action.TYPE, value="detention"))
    await user.tap(payload=payload(Action.PICK, "relation", "self"))
    # About oneself, the name may be withheld.
    await user.tap(payload=payload(Action.SKIP, "subject"))
    await user.send_text("сегодня 9:30")
    await user.send_text("Забрали из дома утром.")
    await user.send_text("Карагандинкая")  # a letter missing
    offered = await m.graph.wait_for_page_message(user, lambda msg: "👉" in (msg.text or ""))
    assert payloads(offered)[0] == payload(Action.PICK, "region", "karaganda")
    await user.send_text("Karaganda")  # English works in a Russian conversation too
    place = await m.graph.wait_for_page_message(
        user, lambda msg: step_of(m.i18n, msg, "detention", "ru").key == "place"
    )
    await user.tap(place, payload=payload(Action.SKIP_DETAILS, "place"))
    await m.graph.wait_for_page_message(
        user, lambda msg: step_of(m.i18n, msg, "detention", "ru").key == "media"
    )


async def test_forged_or_missing_signature_is_refused_and_changes_nothing(m: Messenger) -> None:
    user = m.graph.user()
    event = {
        "sender": {"id": user.psid},
        "recipient": {"id": m.graph.page_id},
        "timestamp": m.graph.now_ms(),
        "message": {"mid": m.graph.new_mid(), "text": "/new"},
    }
    body = {"object": "page", "entry": [{"id": m.graph.page_id, "time": 1, "messaging": [event]}]}
    forged = "sha256=" + "0" * 64
    assert await m.graph.deliver(body, signature=forged) == 403
    assert await m.graph.deliver(body, sign=False) == 403
    # Signed with another app's secret.
    raw = json.dumps(body).encode()
    other = "sha256=" + hmac.new(b"another secret", raw, hashlib.sha256).hexdigest()
    assert await m.graph.deliver_raw(raw, signature=other) == 403
    assert await _count(m.url, Reporter) == 0
    assert await _count(m.url, ProcessedUpdate) == 0
    assert m.graph.page_messages(user) == []
    # The same delivery, signed by Meta (the person did write: the window opens), is taken.
    user.thread.last_interaction = m.graph.now()
    assert await m.graph.deliver(body) == 200
    assert m.graph.page_messages(user)
    # A subscription check with a wrong verify token is refused too.
    assert not await m.graph.verify_webhook("not-the-token")


async def test_duplicate_deliveries_create_one_report(m: Messenger) -> None:
    user = m.graph.user(locale="en_US")
    await begin(m, user)
    answers = {**ANSWERS["account_freeze"], "media": ("photo", make_png())}
    review = await fill_report(m, user, "account_freeze", answers, language="en")
    # The photo's delivery comes again (Meta retries what it thinks failed): still one file.
    image_delivery = next(
        index for index, (_, raw, _) in enumerate(m.graph.deliveries) if b'"attachments"' in raw
    )
    sent_before = len(m.graph.page_messages(user))
    assert await m.graph.redeliver(image_delivery) == 200
    assert len(m.graph.page_messages(user)) == sent_before
    assert "1 file" in (m.graph.page_messages(user)[-2].text or "")
    code = await submit(m, user, review)
    assert await m.graph.redeliver() == 200  # the Send press, again
    assert await m.graph.redeliver() == 200  # returns once the bot has acted on it
    reports = await _rows(m.url, select(Report))
    assert [r.public_code for r in reports] == [code]


async def _reported(m: Messenger, locale: str = "ru_RU") -> tuple[Any, str, Any]:
    user = m.graph.user(locale=locale)
    await begin(m, user, ref=REF)
    review = await fill_report(m, user, "detention", ANSWERS["detention"], language="ru")
    code = await submit(m, user, review)
    card = await m.tg.wait_for_bot_message(m.group, lambda msg: code in (msg.text or ""))
    return user, code, card


async def test_moderator_question_inside_the_window_and_the_answer_comes_back(
    m: Messenger,
) -> None:
    moderator = m.tg.user(610_000_001, "Aigerim", language_code="ru")
    m.group.add_member(moderator, "administrator")
    await _make_staff(m, moderator.id)
    user, code, card = await _reported(m)
    await moderator.send_text("Где он сейчас? <b>", chat=m.group, reply_to=card)
    question = await m.graph.wait_for_page_message(
        user, lambda msg: "Где он сейчас?" in (msg.text or "")
    )
    text = question.text or ""
    assert "Где он сейчас? <b>" in text  # shown literally, no markup in Messenger
    assert "Сообщение от команды правозащитников" in text
    assert "Aigerim" not in text
    assert question.messaging_type == "UPDATE" and question.tag is None
    await m.tg.wait_for_bot_message(m.group, lambda msg: "Отправлено" in (msg.text or ""))
    await user.send_text("В ИВС Алматы")
    answer = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "В ИВС Алматы" in (msg.text or "")
    )
    assert answer.reply_to_message_id == card.message_id
    assert code in (answer.text or "")


async def test_a_follow_up_without_a_question_is_offered_and_reaches_the_card(
    m: Messenger,
) -> None:
    user, code, card = await _reported(m)
    await user.send_text(f"{code} перевели в ИВС, адвоката не пускают")
    offer = await m.graph.wait_for_page_message(user, lambda msg: code in (msg.text or ""))
    payloads = [reply["payload"] for reply in offer.quick_replies]
    assert Payload(Action.NEW).encode() in payloads  # a new report stays one tap away
    await user.tap(offer, title=code)
    addition = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "адвоката не пускают" in (msg.text or "")
    )
    assert addition.reply_to_message_id == card.message_id
    assert f"Дополнение от автора обращения {code}" in (addition.text or "")
    await m.graph.wait_for_page_message(user, lambda msg: "Добавлено" in (msg.text or ""))


async def test_moderator_question_outside_the_window_is_refused_plainly(m: Messenger) -> None:
    moderator = m.tg.user(610_000_001, "Aigerim", language_code="ru")
    m.group.add_member(moderator, "administrator")
    await _make_staff(m, moderator.id)
    user, code, card = await _reported(m)
    # The reporter last wrote 25 hours ago.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
    await _execute(m.url, update(Reporter).values(last_seen=long_ago))
    sent_before = len(m.graph.page_messages(user))
    await moderator.send_text("Где он сейчас?", chat=m.group, reply_to=card)
    refusal = await m.tg.wait_for_bot_message(m.group, lambda msg: "24 часов" in (msg.text or ""))
    assert code in (refusal.text or "")
    assert "Facebook Messenger" in (refusal.text or "")
    # The refusal was decided in the same transaction that would have queued the question.
    await settled(m.bot.app)
    assert len(m.graph.page_messages(user)) == sent_before


async def test_window_closing_before_delivery_tells_the_moderators(m: Messenger) -> None:
    moderator = m.tg.user(610_000_001, "Aigerim", language_code="ru")
    m.group.add_member(moderator, "administrator")
    await _make_staff(m, moderator.id)
    user, code, card = await _reported(m)
    # Meta's clock says a day has passed; the bot saw the reporter recently: Meta refuses.
    m.graph.advance(25 * 3600)
    await moderator.send_text("Вы на связи?", chat=m.group, reply_to=card)
    notice = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "не доставлено" in (msg.text or "")
    )
    assert code in (notice.text or "")
    assert "24 часов" in (notice.text or "")
    assert notice.reply_to_message_id == card.message_id
    assert not any("Вы на связи?" in (msg.text or "") for msg in m.graph.page_messages(user))


async def test_blocked_page_is_a_dead_letter_and_the_moderators_are_told(m: Messenger) -> None:
    moderator = m.tg.user(610_000_001, "Aigerim", language_code="ru")
    m.group.add_member(moderator, "administrator")
    await _make_staff(m, moderator.id)
    user, code, card = await _reported(m)
    user.block_page()
    await moderator.send_text("Вы на связи?", chat=m.group, reply_to=card)
    notice = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "не доставлено" in (msg.text or "")
    )
    assert code in (notice.text or "")
    assert "заблокировал" in (notice.text or "")


async def _make_staff(m: Messenger, user_id: int) -> None:
    from storage.models import StaffRole  # noqa: PLC0415
    from storage.repositories import StaffRepository  # noqa: PLC0415

    engine = create_engine(m.url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await StaffRepository(session).set_role(user_id, StaffRole.MODERATOR)
    finally:
        await engine.dispose()


async def test_the_ref_is_counted_by_stats_by_source(
    m: Messenger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = m.graph.user(locale="ru_RU")
    await begin(m, user, ref=REF)
    review = await fill_report(m, user, "detention", ANSWERS["detention"], language="ru")
    await submit(m, user, review)
    # A second report, from another link.
    other = m.graph.user(locale="ru_RU")
    await begin(m, other, ref="telegram_channel")
    review = await fill_report(m, other, "detention", ANSWERS["detention"], language="ru")
    await submit(m, other, review)
    today = dt.datetime.now(ZoneInfo("Asia/Almaty")).date().isoformat()
    output = tmp_path / "by_source.csv"
    monkeypatch.setenv("DATABASE_URL", m.url)
    from bot.cli import main  # noqa: PLC0415

    args = ["stats", "--by", "source", "--submitted", "--all-statuses", "--from", today]
    args += ["--to", today, "--format", "csv", "--output", str(output)]
    assert await asyncio.to_thread(main, args) == 0
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    counts = {row["source"]: int(row["count"]) for row in rows}
    assert counts == {REF: 1, "telegram_channel": 1}


async def test_rate_limit_and_outage_are_retried(
    m: Messenger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.messenger.graph as graph_module  # noqa: PLC0415

    monkeypatch.setattr(graph_module, "RATE_LIMIT_PAUSE", 0.3)
    user = m.graph.user(locale="en_US")
    # A reply in the conversation meets a rate limit: Meta still gets its 200 at once (the
    # event was stored), and the outbox sends the reply when the pause is over.
    m.graph.fail_next(613, message="(#613) Calls to this api have exceeded the rate limit.")
    assert await user.get_started() == 200
    notice = await m.graph.wait_for_page_message(
        user, lambda msg: "Do you agree?" in (msg.text or "")
    )
    assert m.graph.last_page_message(user) is notice
    await settled(m.bot.app)
    await user.tap(payload=payload(Action.CONSENT, value="yes"))
    review = await fill_report(m, user, "summons", ANSWERS["summons"], language="en")
    # The receipt meets a rate limit, then an outage: the outbox tries again and delivers.
    m.graph.fail_next(613, message="(#613) Calls to this api have exceeded the rate limit.")
    m.graph.fail_next(2, status=500)
    code = await submit(m, user, review)
    assert CODE.match(code)
    failed = [call for call in m.graph.calls if not call.ok and call.path == "me/messages"]
    assert [call.code for call in failed][-2:] == [613, 2]


async def test_language_is_asked_when_meta_does_not_say_and_can_be_switched(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    # Without the permission to read people's locale, the bot asks in all three languages.
    async with messenger_bot(
        migrated_url, keyring, tmp_path, graph_options={"share_locale": False}
    ) as m:
        user = m.graph.user(locale="kk_KZ")
        await user.get_started()
        picker = m.graph.last_page_message(user)
        assert picker is not None
        assert "Тілді таңдаңыз" in (picker.text or "")
        assert "Выберите язык" in (picker.text or "")
        assert "Choose a language" in (picker.text or "")
        await user.tap(payload=payload(Action.LANGUAGE, value="kk"))
        notice = m.graph.last_page_message(user)
        assert notice is not None
        assert m.i18n.gettext("Do you agree?", locale="kk") in (notice.text or "")
        await user.tap(payload=payload(Action.CONSENT, value="yes"))
        menu = m.graph.last_page_message(user)
        assert menu is not None
        assert m.i18n.gettext("What do you want to report?", locale="kk") in (menu.text or "")
        # Switch from the persistent menu, which Meta shows in the person's locale.
        await user.menu(m.i18n.gettext("Change the language", locale="kk"))
        await user.tap(payload=payload(Action.LANGUAGE, value="en"))
        menu = m.graph.last_page_message(user)
        assert menu is not None and "What do you want to report?" in (menu.text or "")
        reporters = await _rows(m.url, select(Reporter))
        assert [r.language for r in reporters] == ["en"]


async def test_back_skip_cancel_and_change_an_answer(m: Messenger) -> None:
    user = m.graph.user(locale="en_US")
    await begin(m, user)
    await user.tap(payload=payload(Action.TYPE, value="search"))
    await user.tap(payload=payload(Action.SKIP, "relation"))
    await user.send_text("Marat")
    await user.tap(payload=payload(Action.BACK))
    prompt = m.graph.last_page_message(user)
    assert prompt is not None and step_of(m.i18n, prompt, "search", "en").key == "subject"
    assert "Current answer: Marat" in (prompt.text or "")
    review = await fill_report_from_here(m, user)
    # Change an answer from the review: a carousel of the answers, each with a Change button.
    await user.press(review, payload=payload(Action.EDIT_MENU))
    carousels = [msg for msg in m.graph.page_messages(user) if msg.template_type == "generic"]
    # Twelve answers: a carousel holds ten, so two of them.
    assert [len(c.elements) for c in carousels] == [10, 2]
    carousel = carousels[0]
    assert carousel.elements[1]["subtitle"] == "Әсел Серікқызы"
    await user.press(carousel, payload=payload(Action.EDIT, "subject"))
    await user.send_text("Marat Sh.")
    review = m.graph.last_page_message(user)
    assert review is not None and review.template_type == "button"
    assert "Searched: Marat Sh." in (m.graph.page_messages(user)[-2].text or "")
    await user.press(review, payload=payload(Action.CANCEL))
    cancelled = m.graph.last_page_message(user)
    assert cancelled is not None and "cancelled" in (cancelled.text or "")
    # Buttons stay in the thread: Send on the old review, pressed now, sends nothing.
    assert await user.press(review, payload=payload(Action.SUBMIT)) == 200
    menu = m.graph.last_page_message(user)
    assert menu is not None and "Choose what you want to report." in (menu.text or "")
    assert await _count(m.url, Report) == 0


async def fill_report_from_here(m: Messenger, user: Any) -> Any:
    answers = {**ANSWERS["search"], "region": ("pick", "almaty"), "media": "done"}
    for _ in range(40):
        prompt = m.graph.last_page_message(user)
        if prompt.template_type == "button":
            return prompt
        step = step_of(m.i18n, prompt, "search", "en")
        from tests.messenger_e2e import answer_step  # noqa: PLC0415

        await answer_step(m.graph, user, step, answers.get(step.key))
    raise AssertionError("no review")


async def test_page_comment_gets_a_private_invitation_and_moderators_are_told(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    async with messenger_bot(migrated_url, keyring, tmp_path, facebook_private_replies=True) as m:
        commenter = m.graph.user(locale=None, first_name="Commenter")
        assert await commenter.comment("Вчера задержали моего брата в Алматы") == 200
        assert len(m.graph.private_replies) == 1
        invitation = m.graph.private_replies[0]
        assert "Спасибо за комментарий" in (invitation.text or "")
        notice = await m.tg.wait_for_bot_message(
            m.group, lambda msg: "задержали моего брата" in (msg.text or "")
        )
        assert "facebook.com/" in (notice.text or "")
        # The same comment delivered again: no second reply, no second notice.
        assert await m.graph.redeliver() == 200
        assert len(m.graph.private_replies) == 1


def _jpeg_with_position() -> bytes:
    """A phone photo: EXIF with the camera make and a GPS position (Almaty)."""
    from PIL import Image  # noqa: PLC0415

    exif = Image.Exif()
    exif[0x010F] = "CanaryPhone"
    exif[0x8825] = {1: "N", 2: (43.0, 14.0, 51.0), 3: "E", 4: (76.0, 53.0, 45.0)}
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 30, 30)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


async def test_pictures_reach_the_moderators_rebuilt_without_metadata(m: Messenger) -> None:
    from PIL import Image  # noqa: PLC0415

    user = m.graph.user(locale="ru_RU")
    await begin(m, user)
    photo = _jpeg_with_position()
    assert b"CanaryPhone" in photo
    files = [("image", photo, None), ("file", photo, "IMG_20261120_093000.jpg")]
    answers = {**ANSWERS["detention"], "media": ("files", files)}
    review = await fill_report(m, user, "detention", answers, language="ru")
    code = await submit(m, user, review)
    card = await m.tg.wait_for_bot_message(m.group, lambda msg: code in (msg.text or ""))
    uploads = [
        await m.tg.wait_for_bot_message(m.group, lambda msg: msg.kind == "photo"),
        await m.tg.wait_for_bot_message(m.group, lambda msg: msg.kind == "document"),
    ]
    for message in uploads:
        assert message.reply_to_message_id == card.message_id
        stored = m.tg.files.get(message.file_id or "")
        assert stored is not None
        assert b"CanaryPhone" not in stored.data
        with Image.open(io.BytesIO(stored.data)) as image:
            assert dict(image.getexif()) == {}
    # The camera's file name (a date and time) does not travel either.
    assert "IMG_2026" not in str(uploads[1].document)


async def test_forget_and_wipe_in_messenger(m: Messenger) -> None:
    moderator = m.tg.user(610_000_001, "Aigerim", language_code="ru")
    m.group.add_member(moderator, "administrator")
    await _make_staff(m, moderator.id)
    user, code, card = await _reported(m)
    await user.send_text("/wipe")
    explained = m.graph.last_page_message(user)
    assert explained is not None and "не может удалять сообщения" in (explained.text or "")
    await user.send_text("/forget")
    await user.tap(payload=payload(Action.FORGET, value="yes"))
    done = m.graph.last_page_message(user)
    erased = m.i18n.gettext(
        "Done: the link between you and your reports is erased. If you write again, "
        "you start as a new reporter.",
        locale="ru",
    )
    assert done is not None and done.text == erased
    reporters = await _rows(m.url, select(Reporter))
    assert [r.external_enc for r in reporters] == [None]
    await moderator.send_text("Вы на связи?", chat=m.group, reply_to=card)
    refusal = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "нельзя связаться" in (msg.text or "")
    )
    assert refusal.reply_to_message_id is not None


async def test_human_agent_tag_answers_within_seven_days_where_the_page_has_it(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    async with messenger_bot(
        migrated_url,
        keyring,
        tmp_path,
        graph_options={"human_agent": True},
        facebook_human_agent=True,
    ) as m:
        moderator = m.tg.user(610_000_001, "Aigerim", language_code="ru")
        m.group.add_member(moderator, "administrator")
        await _make_staff(m, moderator.id)
        user, _, card = await _reported(m)
        # Two days later, for the bot and for Meta alike.
        two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        await _execute(m.url, update(Reporter).values(last_seen=two_days_ago))
        m.graph.advance(2 * 24 * 3600)
        await moderator.send_text("Вас отпустили?", chat=m.group, reply_to=card)
        question = await m.graph.wait_for_page_message(
            user, lambda msg: "Вас отпустили?" in (msg.text or "")
        )
        assert (question.messaging_type, question.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")


async def test_a_row_queued_naming_its_tag_is_still_sent_with_it(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    """Rows queued before payloads were channel-neutral named Meta's tag themselves
    (`messenger_tag`); after the upgrade they still go with it (new rows say `human_reply`)."""
    from storage.repositories import OutboxRepository, Reporters  # noqa: PLC0415

    async with messenger_bot(
        migrated_url,
        keyring,
        tmp_path,
        graph_options={"human_agent": True},
        facebook_human_agent=True,
    ) as m:
        user, _, _ = await _reported(m)
        two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        await _execute(m.url, update(Reporter).values(last_seen=two_days_ago))
        m.graph.advance(2 * 24 * 3600)
        async with m.bot.app.sessionmaker() as session, session.begin():
            reporter = await Reporters(session, keyring).find("messenger", user.psid)
            assert reporter is not None
            await OutboxRepository(session, keyring).enqueue(
                kind="question",
                target="reporter",
                payload={
                    "messages": [{"type": "text", "html": "<b>An old question</b>"}],
                    "messenger_tag": "HUMAN_AGENT",
                },
                idempotency_key="test:v1-tag",
                reporter_id=reporter.id,
            )
        m.bot.app.worker.notify()
        question = await m.graph.wait_for_page_message(
            user, lambda msg: "An old question" in (msg.text or "")
        )
        assert (question.messaging_type, question.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
