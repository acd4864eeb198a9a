"""What Meta's Messenger Platform really does, and what the bot does about it (docs/platforms.md).

Each test drives the real bot against the Graph emulator, which follows Meta's documentation
(bot/demo/emulator/graph.py names the page for each behaviour): the 24-hour window and message
tags, error codes 2 and 551, standby events, several entries in one POST, redelivery of a
delivery not answered in time, the Messenger Profile API's rate limit and the 2,000-character
text limit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.demo.emulator.graph import PROFILE_RATE, GraphEmulator
from bot.services.checkins import CheckinScheduler
from bot.services.moderation import (
    PRESS_ANSWER_LIMIT,
    REACH_CLOSED,
    REACH_OPEN,
    REACH_QUESTIONS_ONLY,
)
from bot.services.reach import HUMAN_AGENT_TAG, reply_tag
from handlers.messenger.delivery import HELD_BY_INBOX
from handlers.messenger.graph import (
    THREAD_HELD_PAUSE,
    ErrorKind,
    GraphClient,
    GraphError,
    classify,
)
from handlers.messenger.render import Action
from handlers.messenger.webhook import PROFILE_RUN
from handlers.telegram.cards import ModCB
from storage.models import (
    Checkin,
    CheckinState,
    Outbox,
    OutboxState,
    ProcessedUpdate,
    Reporter,
    ScheduledRun,
)
from storage.sealing import Keyring
from tests.e2e import outbox_settled
from tests.messenger_e2e import (
    APP_SECRET,
    PAGE_TOKEN,
    Messenger,
    begin,
    fill_report,
    messenger_bot,
    payload,
    settled,
    submit,
)
from tests.test_messenger import ANSWERS, REF, _execute, _make_staff, _reported, _rows
from tests.test_messenger import m as m  # noqa: PLC0414 - the shared fixture

TEXT_LIMIT = 2000


async def _moderator(m: Messenger) -> Any:
    moderator = m.tg.user(610_000_001, "Aigerim", language_code="ru")
    m.group.add_member(moderator, "administrator")
    await _make_staff(m, moderator.id)
    return moderator


def _sends(graph: GraphEmulator) -> list[Any]:
    return [call for call in graph.calls if call.path == "me/messages"]


# --- the 24-hour window ----------------------------------------------------------------------


def _appointment(after: dt.timedelta) -> str:
    """An appointment `after` from now, typed as a person in Almaty would ("06.12 10:00")."""
    local = (dt.datetime.now(dt.UTC) + after).astimezone(dt.timezone(dt.timedelta(hours=5)))
    return local.strftime("%d.%m %H:%M")


async def _summons(m: Messenger, appointment: str) -> tuple[Any, str, str]:
    user = m.graph.user(locale="ru_RU")
    await begin(m, user, ref=REF)
    answers = {**ANSWERS["summons"], "appointment": appointment, "checkin": ("pick", "yes")}
    review = await fill_report(m, user, "summons", answers, language="ru")
    code = await submit(m, user, review)
    receipt = m.graph.last_page_message(user)
    assert receipt is not None
    texts = [msg.text or "" for msg in m.graph.page_messages(user) if code in (msg.text or "")]
    return user, code, "\n".join(texts)


async def test_a_check_in_outside_the_window_is_replaced_by_asking_to_write_back(
    m: Messenger,
) -> None:
    """Meta lets a Page message a person unasked only within 24 hours of their last message
    (policy-overview#24hours_window), and no tag lets a bot's check-in through later: an
    appointment three days away gets no check-in (so no "no answer" alarm), and the receipt asks
    the reporter to write back after it. One within the window is scheduled as before."""
    ru = m.i18n.gettext
    write_back = ru(
        "Facebook Messenger lets the bot write to you only within 24 hours of your last message, "
        "so it cannot check on you after the appointment. Please write here after {when} to say "
        "you are back and safe; if you need help, write that.",
        locale="ru",
    ).split("{when}")[0]
    _, far, receipt = await _summons(m, _appointment(dt.timedelta(days=3)))
    assert write_back in receipt
    checkins = await _rows(m.url, select(Checkin))
    assert checkins == []
    _, near, receipt = await _summons(m, _appointment(dt.timedelta(hours=2)))
    assert write_back not in receipt
    checkins = await _rows(m.url, select(Checkin))
    assert [c.state for c in checkins] == [CheckinState.SCHEDULED.value]
    assert far != near


async def test_a_check_in_due_after_the_window_closed_is_not_asked_and_raises_no_alarm(
    m: Messenger,
) -> None:
    """A check-in scheduled in the window, due when it has closed (the bot was down for a day):
    it is not sent to fail at Meta, no "no answer" alarm follows, and the card says so."""
    user, code, _ = await _summons(m, _appointment(dt.timedelta(hours=2)))
    [checkin] = await _rows(m.url, select(Checkin))
    now = dt.datetime.now(dt.UTC)
    await _execute(m.url, update(Reporter).values(last_seen=now - dt.timedelta(hours=25)))
    await _execute(m.url, update(Checkin).values(due_at=now - dt.timedelta(minutes=1)))
    sent_before = len(m.graph.page_messages(user))
    app = m.bot.app
    scheduler = CheckinScheduler(sessionmaker=app.sessionmaker, context=app.context)
    await scheduler.run_due()
    notice = await m.tg.wait_for_bot_message(
        m.group, lambda msg: code in (msg.text or "") and "24 час" in (msg.text or "")
    )
    assert "проверку безопасности" in (notice.text or "")
    [after] = await _rows(m.url, select(Checkin).where(Checkin.id == checkin.id))
    assert after.state == CheckinState.CANCELLED.value
    # Later passes find nothing to alarm about.
    done = await scheduler.run_due()
    assert done["alarm_unanswered"] == 0
    await settled(app)
    assert len(m.graph.page_messages(user)) == sent_before
    kinds = [row.kind for row in await _rows(m.url, select(Outbox))]
    assert "checkin" not in kinds and "checkin_alarm" in kinds  # the notice, not a missed alarm
    assert not any("без ответа" in (msg.text or "") for msg in m.tg.bot_messages(m.group))


async def test_a_status_message_outside_the_window_is_not_sent_and_the_card_says_so(
    m: Messenger,
) -> None:
    """A status notice is automated: outside the window it is not sent at all (Meta would
    refuse it with (#10) 2018278), and the moderators see it was not delivered."""
    moderator = await _moderator(m)
    user, code, card = await _reported(m)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
    await _execute(m.url, update(Reporter).values(last_seen=long_ago))
    m.graph.advance(25 * 3600)
    sends_before = len(_sends(m.graph))
    from handlers.telegram.cards import ModCB  # noqa: PLC0415

    report = ModCB.unpack(card.keyboard[0][0]["callback_data"]).report
    for action in ("take", "verify"):
        query = await moderator.press(card, ModCB(action=action, report=report).pack(), force=True)
        answer = await m.tg.wait_for_callback_answer(query)
        assert not answer.show_alert, answer.text
    notice = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "не доставлено" in (msg.text or "") and code in (msg.text or "")
    )
    assert "24 часов" in (notice.text or "")
    assert notice.reply_to_message_id == card.message_id
    # Nothing was asked of Meta: the window was checked before sending.
    assert len(_sends(m.graph)) == sends_before
    assert len(m.graph.page_messages(user)) > 0


async def test_a_refused_human_agent_tag_is_shown_on_the_card(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    """FACEBOOK_HUMAN_AGENT says Meta granted the tag, but the Page does not have it: Meta
    refuses the tagged message (message-tags page); the moderators are told under the card
    instead of the message vanishing as a dead letter."""
    async with messenger_bot(
        migrated_url, keyring, tmp_path, facebook_human_agent=True, messenger_sources=(REF,)
    ) as m:
        moderator = await _moderator(m)
        user, code, card = await _reported(m)
        two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        await _execute(m.url, update(Reporter).values(last_seen=two_days_ago))
        m.graph.advance(2 * 24 * 3600)
        await moderator.send_text("Вас отпустили?", chat=m.group, reply_to=card)
        sent = await m.tg.wait_for_bot_message(
            m.group, lambda msg: "Отправлено" in (msg.text or "")
        )
        # The moderator learns until when the reporter can be reached (7 days with the tag).
        until = m.bot.app.context.moderators_t.datetime(two_days_ago + dt.timedelta(days=7))
        assert until in (sent.text or "")
        notice = await m.tg.wait_for_bot_message(
            m.group, lambda msg: "Human Agent" in (msg.text or "")
        )
        assert code in (notice.text or "") and notice.reply_to_message_id == card.message_id
        assert not any("Вас отпустили?" in (msg.text or "") for msg in m.graph.page_messages(user))
        # Meta names no error of its own for it: past 24 hours the tag earns nothing, and the
        # message is refused as any outside the window (error-codes page, permission errors).
        refused = [c for c in _sends(m.graph) if not c.ok]
        assert [(c.code, c.subcode) for c in refused] == [(10, 2018278)]


async def test_inside_the_window_the_moderator_learns_until_when_the_reporter_is_reachable(
    m: Messenger,
) -> None:
    moderator = await _moderator(m)
    _, _, card = await _reported(m)
    [reporter] = await _rows(m.url, select(Reporter))
    await moderator.send_text("Где он сейчас?", chat=m.group, reply_to=card)
    sent = await m.tg.wait_for_bot_message(m.group, lambda msg: "Отправлено" in (msg.text or ""))
    until = m.bot.app.context.moderators_t.datetime(reporter.last_seen + dt.timedelta(hours=24))
    assert "Facebook Messenger" in (sent.text or "") and until in (sent.text or "")


# --- people who cannot be reached ------------------------------------------------------------


async def test_error_code_2_is_tried_a_few_times_then_shown_as_maybe_blocked(
    m: Messenger,
) -> None:
    """Meta's error-codes page: code 2 "An unexpected error has occurred" may also mean the
    person blocked the Page. The question is tried three times, not ten, and the moderators
    are told, instead of it being dropped without a word."""
    moderator = await _moderator(m)
    user, code, card = await _reported(m)
    user.block_page(code=2)
    await moderator.send_text("Вы на связи?", chat=m.group, reply_to=card)
    notice = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "не доставлено" in (msg.text or ""), timeout=30
    )
    assert code in (notice.text or "") and "заблокировал" in (notice.text or "")
    assert notice.reply_to_message_id == card.message_id
    refused = [c for c in _sends(m.graph) if not c.ok]
    assert [c.code for c in refused] == [2, 2, 2]


# --- webhook deliveries ----------------------------------------------------------------------


async def test_standby_events_are_counted_and_not_answered_over_the_page_inbox(
    m: Messenger, caplog: pytest.LogCaptureFixture
) -> None:
    """While the Page inbox holds the thread (handover protocol), the person's messages come as
    standby events: the bot does not answer over the human, and logs only how many."""
    user, _, _ = await _reported(m)
    sent_before = len(m.graph.page_messages(user))
    m.graph.hand_to_inbox(user)
    with caplog.at_level(logging.INFO, logger="handlers.messenger.webhook"):
        assert await user.send_text("Мне нужен адвокат, позвоните") == 200
    await settled(m.bot.app)
    assert len(m.graph.page_messages(user)) == sent_before
    assert m.bot.app.messenger is not None and m.bot.app.messenger.standby_events == 1
    lines = [r.getMessage() for r in caplog.records if "standby" in r.getMessage()]
    assert lines == ["Messenger webhook: 1 standby event(s), not answered"]
    assert not any(
        "адвокат" in r.getMessage() or user.psid in r.getMessage() for r in caplog.records
    )
    # The thread comes back to the bot: it answers again.
    m.graph.take_back(user)
    await user.send_text("/help")
    assert len(m.graph.page_messages(user)) > sent_before


async def test_several_entries_in_one_post_are_each_handled_once(m: Messenger) -> None:
    """Meta batches entries (webhooks page): two people in one POST each get their answer, once;
    the same POST again changes nothing."""
    first, second = m.graph.user(locale="ru_RU"), m.graph.user(locale="kk_KZ")
    async with m.graph.batched():
        await first.get_started(ref=REF)
        await second.get_started(ref=REF)
    assert m.graph.deliveries[-1][0] == 200
    assert m.graph.deliveries[-1][1].count(b'"messaging"') == 2
    await settled(m.bot.app)
    answers = [len(m.graph.page_messages(user)) for user in (first, second)]
    assert all(count >= 1 for count in answers)
    assert await m.graph.redeliver() == 200
    await settled(m.bot.app)
    assert [len(m.graph.page_messages(user)) for user in (first, second)] == answers
    assert len(await _rows(m.url, select(ProcessedUpdate))) == 2


async def test_a_delivery_answered_too_late_is_sent_again_and_acted_on_once(m: Messenger) -> None:
    """Meta resends a delivery whose 200 it did not see in time (webhooks page). The webhook
    stored the first one; the second changes nothing, and the person gets one answer."""
    user = m.graph.user(locale="ru_RU")
    await begin(m, user, ref=REF)
    before = len(m.graph.deliveries)
    sent_before = len(m.graph.page_messages(user))
    m.graph.late_answers = 1
    assert await user.tap(payload=payload(Action.TYPE, value="detention")) == 200
    await settled(m.bot.app)
    statuses = [status for status, _, _ in m.graph.deliveries[before:]]
    assert statuses == [0, 200]
    assert m.graph.deliveries[-1][1] == m.graph.deliveries[-2][1]
    assert len(m.graph.page_messages(user)) == sent_before + 1


# --- the Messenger Profile API ---------------------------------------------------------------


async def test_the_profile_is_set_once_per_content_whatever_the_replicas(m: Messenger) -> None:
    """At most 10 profile calls in 10 minutes per Page (messenger-profile-api): the bot sets it
    only when its content changed, whichever replica starts, and never beyond the limit."""
    channel = m.bot.app.messenger
    assert channel is not None
    profile_calls = [c for c in m.graph.calls if c.path == "me/messenger_profile"]
    assert len(profile_calls) == 1
    # Five more replicas start with the same content: none calls Meta.
    for _ in range(5):
        assert await channel.setup_profile() is False
    assert len([c for c in m.graph.calls if c.path == "me/messenger_profile"]) == 1
    # The start's own set-up records its run once Meta has answered, which may be just after
    # the emulator saw the call: wait for that record.
    async with asyncio.timeout(10):
        while True:
            [run] = await _rows(m.url, select(ScheduledRun).where(ScheduledRun.kind == PROFILE_RUN))
            if run.done_at is not None:
                break
            await asyncio.sleep(0.05)
    # New content (a new release's greeting) is sent once.
    channel.profile = lambda: {"greeting": [{"locale": "default", "text": "Новый текст"}]}  # type: ignore[method-assign]
    assert await channel.setup_profile() is True
    assert await channel.setup_profile() is False
    assert m.graph.profile["greeting"][0]["text"] == "Новый текст"


async def test_the_profile_api_rate_limit_is_kept_by_the_client_and_enforced_by_meta() -> None:
    async with GraphEmulator(app_secret=APP_SECRET, page_token=PAGE_TOKEN) as graph:
        client = GraphClient(base_url=graph.base_url, page_token=PAGE_TOKEN, app_secret=APP_SECRET)
        try:
            profile = {"get_started": {"payload": "start"}}
            for _ in range(PROFILE_RATE[0]):
                await client.set_messenger_profile(profile)
            with pytest.raises(GraphError) as refused:
                await client.set_messenger_profile(profile)
            assert refused.value.code == 613
        finally:
            await client.close()
        # The client did not spend an eleventh call; Meta itself would refuse one.
        assert len(graph.calls) == PROFILE_RATE[0]
        other = GraphClient(base_url=graph.base_url, page_token=PAGE_TOKEN, app_secret=APP_SECRET)
        try:
            with pytest.raises(GraphError) as by_meta:
                await other.set_messenger_profile(profile)
            assert by_meta.value.code == 613
        finally:
            await other.close()
        assert [c.code for c in graph.calls if not c.ok] == [613]


# --- text length -----------------------------------------------------------------------------


async def test_a_long_question_reaches_a_messenger_reporter_whole_cut_between_sentences(
    m: Messenger,
) -> None:
    """Messenger takes 2,000 characters a message (send-messages page): a longer question goes
    as several messages, cut after a sentence, never dropped."""
    moderator = await _moderator(m)
    user, _, card = await _reported(m)
    sentences = [f"Вопрос номер {n}: где и когда вы видели его в последний раз?" for n in range(60)]
    question = " ".join(sentences)
    assert len(question) > TEXT_LIMIT
    sent_before = len(m.graph.page_messages(user))
    await moderator.send_text(question, chat=m.group, reply_to=card)
    await m.graph.wait_for_page_message(
        user, lambda msg: "Вопрос номер 59" in (msg.text or ""), after=0
    )
    await settled(m.bot.app)
    parts = [msg.text or "" for msg in m.graph.page_messages(user)[sent_before:]]
    assert len(parts) >= 2 and all(len(part) <= TEXT_LIMIT for part in parts)
    joined = " ".join(parts)
    assert all(sentence in joined for sentence in sentences)
    for part in parts[:-1]:
        assert part.rstrip().endswith("?"), part[-40:]


def test_meta_error_codes_are_sorted_as_the_error_codes_page_describes_them() -> None:
    assert classify(400, 551, 1545041) == ErrorKind.UNAVAILABLE
    assert classify(400, 2, None) == ErrorKind.MAYBE_BLOCKED
    assert classify(500, 2, None) == ErrorKind.TRANSIENT  # a server fault is only that
    assert classify(400, 10, 2018278) == ErrorKind.WINDOW_CLOSED
    assert classify(400, 10, None, tagged=True) == ErrorKind.TAG_REFUSED
    # A tag the Page may not use earns nothing: refused as outside the window (error codes).
    assert classify(400, 10, 2018278, tagged=True) == ErrorKind.TAG_REFUSED
    assert classify(400, 200, None, tagged=True) == ErrorKind.TAG_REFUSED
    assert classify(400, 200, 1545041, tagged=True) == ErrorKind.UNAVAILABLE
    # Handover protocol: another app holds the thread; the message waits, uncounted.
    held = GraphError(400, 10, 2018300, tagged=True)
    assert held.kind == ErrorKind.THREAD_HELD and held.retryable
    assert held.retry_after == THREAD_HELD_PAUSE
    assert classify(400, 10, None) == ErrorKind.REJECTED
    maybe_blocked = GraphError(400, 2)
    assert [maybe_blocked.retry_after_attempts(n) for n in (1, 2, 3)] == [True, True, False]
    assert GraphError(503).retry_after_attempts(9)


# --- until when the reporter can be reached --------------------------------------------------


async def _press(m: Messenger, moderator: Any, card: Any, action: str) -> Any:
    report = ModCB.unpack(card.keyboard[0][0]["callback_data"]).report
    query = await moderator.press(card, ModCB(action=action, report=report).pack(), force=True)
    return await m.tg.wait_for_callback_answer(query)


async def test_the_status_button_says_until_when_the_reporter_can_be_reached_at_press_time(
    m: Messenger,
) -> None:
    """Cards keep no text to rewrite, and a date written on one would go stale as the reporter
    writes again: the status button says it, worked out when it is pressed from the reporter's
    last message (24 hours: policy-overview#24hours_window)."""
    moderator = await _moderator(m)
    user, _, card = await _reported(m)
    t = m.bot.app.context.moderators_t
    [reporter] = await _rows(m.url, select(Reporter))
    answer = await _press(m, moderator, card, "status")
    reach = t(REACH_OPEN, until=t.datetime(reporter.last_seen + dt.timedelta(hours=24)))
    assert not answer.show_alert and reach in (answer.text or "")
    # A day later nothing can reach them, and the button says since when.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    await _execute(m.url, update(Reporter).values(last_seen=long_ago))
    answer = await _press(m, moderator, card, "take")
    answer = await _press(m, moderator, card, "status")
    closed = t(REACH_CLOSED, since=t.datetime(long_ago + dt.timedelta(hours=24)))
    assert closed in (answer.text or "") and "Aigerim" in (answer.text or "")
    assert len(answer.text or "") <= PRESS_ANSWER_LIMIT
    # The reporter writes again: the next press says the new time.
    m.graph.advance(30 * 3600)
    await user.send_text("Я дома, всё в порядке")
    await settled(m.bot.app)
    [reporter] = await _rows(m.url, select(Reporter))
    assert reporter.last_seen > long_ago + dt.timedelta(hours=24)
    answer = await _press(m, moderator, card, "status")
    reach = t(REACH_OPEN, until=t.datetime(reporter.last_seen + dt.timedelta(hours=24)))
    assert reach in (answer.text or "")


async def test_needs_info_says_until_when_the_reporter_can_be_reached(m: Messenger) -> None:
    moderator = await _moderator(m)
    _, code, card = await _reported(m)
    await _press(m, moderator, card, "take")
    await _press(m, moderator, card, "needs_info")
    prompt = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "Что нужно знать команде?" in (msg.text or "")
    )
    await outbox_settled(m.bot.app)  # the prompt's message id is recorded
    await moderator.send_text("Какой номер ИВС?", chat=m.group, reply_to=prompt)
    sent = await m.tg.wait_for_bot_message(
        m.group, lambda msg: "нужна информация" in (msg.text or "") and code in (msg.text or "")
    )
    [reporter] = await _rows(m.url, select(Reporter))
    t = m.bot.app.context.moderators_t
    reach = t(REACH_OPEN, until=t.datetime(reporter.last_seen + dt.timedelta(hours=24)))
    assert reach in (sent.text or "")


# --- the Page inbox holds the thread ---------------------------------------------------------


async def test_a_thread_the_page_inbox_holds_is_not_written_over_and_the_message_waits(
    m: Messenger,
) -> None:
    """Handover protocol: while the Page inbox controls the thread, Meta refuses other apps'
    sends with (#10) 2018300. A team question is not lost: the moderators are told once, under
    the card, that it waits; a status notice queued after it waits behind it (one chat's
    messages keep their order); both go once the thread is back, in order."""
    moderator = await _moderator(m)
    user, code, card = await _reported(m)
    m.graph.hand_to_inbox(user)
    sent_before = len(m.graph.page_messages(user))
    last_seq = m.graph.page_messages(user)[-1].seq
    t = m.bot.app.context.moderators_t
    waiting = t(HELD_BY_INBOX, code=code)

    def held(msg: Any) -> bool:
        return waiting in (msg.text or "")

    await moderator.send_text("Вы в безопасности?", chat=m.group, reply_to=card)
    notice = await m.tg.wait_for_bot_message(m.group, held)
    assert notice.reply_to_message_id == card.message_id
    await _press(m, moderator, card, "take")
    await _press(m, moderator, card, "verify")
    wanted = Outbox.kind.in_(("question", "status"))
    rows = await _rows(m.url, select(Outbox).where(wanted).order_by(Outbox.id))
    assert [row.kind for row in rows] == ["question", "status"]
    # Waiting is not failing: no attempt counted, nothing dead, nothing reached the thread.
    assert all(row.state == OutboxState.PENDING.value and row.attempts == 0 for row in rows)
    assert len(m.graph.page_messages(user)) == sent_before
    assert {(c.code, c.subcode) for c in _sends(m.graph) if not c.ok} == {(10, 2018300)}
    # The conversation is marked Done in the inbox: at their next try, both go, in order.
    m.graph.take_back(user)
    now = dt.datetime.now(dt.UTC)
    ids = [row.id for row in rows]
    await _execute(m.url, update(Outbox).where(Outbox.id.in_(ids)).values(next_attempt_at=now))
    m.bot.app.worker.notify()
    question = "Вы в безопасности?"

    def status(msg: Any) -> bool:
        return code in (msg.text or "") and question not in (msg.text or "")

    await m.graph.wait_for_page_message(user, status, after=last_seq)
    texts = [msg.text or "" for msg in m.graph.page_messages(user)[sent_before:]]
    assert len(texts) == 2 and question in texts[0] and code in texts[1]
    assert len([msg for msg in m.tg.bot_messages(m.group) if held(msg)]) == 1


# --- a question queued inside the window, sent after it ---------------------------------------


async def test_a_question_queued_inside_the_window_and_sent_after_it_goes_with_human_agent(
    migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    """The tag is decided when the question is sent: queued untagged a minute before the 24
    hours end, it is sent (after a rate limit's pause) once they have, with HUMAN_AGENT where the
    Page has it (message-tags page), instead of being stopped as outside the window."""
    async with messenger_bot(
        migrated_url,
        keyring,
        tmp_path,
        graph_options={"human_agent": True},
        facebook_human_agent=True,
        messenger_sources=(REF,),
    ) as m:
        moderator = await _moderator(m)
        user, _, card = await _reported(m)
        almost = dt.datetime.now(dt.UTC) - dt.timedelta(hours=23, minutes=59)
        await _execute(m.url, update(Reporter).values(last_seen=almost))
        # A rate limit holds the question back (Meta asks for a pause: graph.py, 30 s).
        m.graph.fail_next(4, message="(#4) Application request limit reached")
        await moderator.send_text("Вас отпустили?", chat=m.group, reply_to=card)
        await m.tg.wait_for_bot_message(m.group, lambda msg: "Отправлено" in (msg.text or ""))

        # The refused try is recorded (a retry after Meta's pause) before the test moves the
        # row's time: moved earlier, the worker's record of the retry would move it back.
        async def retry_recorded() -> Outbox | None:
            rows = await _rows(m.url, select(Outbox).where(Outbox.kind == "question"))
            return rows[0] if rows and rows[0].last_error and not rows[0].claimed_until else None

        deadline = asyncio.get_running_loop().time() + 15
        while (row := await retry_recorded()) is None:
            assert asyncio.get_running_loop().time() < deadline, "the refused try was not recorded"
            await asyncio.sleep(0.1)
        # Meta's clock and the bot's both move past the 24 hours before the retry.
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=24, minutes=5)
        await _execute(m.url, update(Reporter).values(last_seen=past))
        m.graph.advance(24 * 3600 + 300)
        await _execute(
            m.url,
            update(Outbox)
            .where(Outbox.id == row.id)
            .values(next_attempt_at=dt.datetime.now(dt.UTC)),
        )
        m.bot.app.worker.notify()
        question = await m.graph.wait_for_page_message(
            user, lambda msg: "Вас отпустили?" in (msg.text or ""), after=0
        )
        assert (question.messaging_type, question.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
        assert not any("24 час" in (msg.text or "") for msg in m.tg.bot_messages(m.group))
        # The status button says that only the team's questions reach the reporter now, and
        # until when (7 days), within the 200 characters of a press's answer.
        t = m.bot.app.context.moderators_t
        answer = await _press(m, moderator, card, "status")
        human = t.datetime(past + dt.timedelta(days=7))
        assert t(REACH_QUESTIONS_ONLY, human=human) in (answer.text or "")
        assert len(answer.text or "") <= PRESS_ANSWER_LIMIT


def test_a_team_answer_gets_its_tag_from_the_window_at_sending_time() -> None:
    """Untagged within 24 hours, HUMAN_AGENT after, within 7 days, only where the Page has the
    feature (message-tags page); nothing after (the window check then stops it)."""
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    hours = dt.timedelta(hours=1)
    assert reply_tag(now - 23 * hours, now, human_agent=True) is None
    assert reply_tag(now - 25 * hours, now, human_agent=True) == HUMAN_AGENT_TAG
    assert reply_tag(now - 25 * hours, now, human_agent=False) is None
    assert reply_tag(now - 8 * 24 * hours, now, human_agent=True) is None
