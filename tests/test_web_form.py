"""The web form (README, "The web form"): reports from a browser with JavaScript off, no account.

The browser tests drive Debian's Chromium through Playwright, as tests/test_demo.py does, against
the real bot (polling the loopback Telegram emulator, tests/e2e.py) with WEB_FORM on. The bot
listens on 127.0.0.77, so the browser's address is 127.0.0.77; the browser also sends an
X-Forwarded-For that nothing may use. Neither, nor the canary in the answers, may reach the
database or the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import html
import io
import re
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web as aioweb
from aiohttp.test_utils import TestServer
from nacl.public import PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.demo.emulator.files import make_png
from bot.demo.emulator.handles import GroupHandle, UserHandle
from bot.demo.emulator.telegram import TelegramEmulator
from bot.services import messages
from bot.services.card_model import WAVE_LINE, WAVE_NEW_REPORTER_LINE
from bot.services.checkins import CheckinService
from bot.services.context import SafetyPolicy, ServiceContext
from bot.services.messages import Action, Intent
from bot.services.moderation import WEB_ASKED
from handlers.engine import engine
from handlers.engine.forms import FORMS, Step, StepKind
from handlers.engine.vocab import INCIDENT_TYPES
from handlers.web import challenge, pages, routes, words
from handlers.web.pages import ERASE, ERASE_QUESTION, ERASED, WEB_WORDING, action_value
from handlers.web.routes import accept_language
from handlers.web.slots import Busy, Derivations
from storage.db import create_engine, create_sessionmaker
from storage.models import Attachment, ModerationEvent, Report, WebMailbox, WebMessage
from storage.repositories import Drafts, Reporters
from storage.sealing import Keyring, open_sealed
from storage.web import derive_key, new_key, normalise
from tests.demo_browser import CHROMIUM_ARGS, chromium_path
from tests.e2e import RunningBot, moderator_group, outbox_settled, start_bot
from tests.safety import dump_database, service_context, session_for
from tests.test_form_driver import TYPED, Chat, _find, _no, _shown

HOST = "127.0.0.77"  # the browser's address as the bot sees it
FORWARDED = "203.0.113.77"  # an X-Forwarded-For the bot must ignore
USER_AGENT = "CanaryBrowser/77.0 (web-form-test)"
ADMIN_ID = 7_000_017
CODE = re.compile(r"\b([DSFCX]-[0-9A-Z]{4})\b")

# A report in each language: ("pick", option...), "skip" (the default) or text to type.
COMMON = {
    "relation": ("pick", "family"),
    "region": ("pick", "almaty"),
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
}
REPORTS: dict[str, tuple[str, dict[str, Any]]] = {
    "kk": (
        "search",
        {
            "when": "кеше кешке",
            "account": "Таңертең келді, түсіндірмеді.",
            "seized": ("pick", "phones", "computers"),
        },
    ),
    "en": (
        "detention",
        {
            "when": "yesterday 14:30",
            "account": "They came in the morning, no reason given.",
            "agency": ("pick", "knb"),
            "held_where": ("pick", "ivs"),
        },
    ),
    "ru": (
        "detention",
        {
            "when": "вчера 14:30",
            "account": "Пришли утром, без объяснений.",
            "agency": ("pick", "knb"),
        },
    ),
}


# --------------------------------------------------------------------------- without a browser
def test_passphrases_have_64_bits_from_lists_of_distinct_words() -> None:
    for language in ("kk", "ru", "en"):
        listed = words.word_list(language)
        assert len(listed) >= 256, language
        assert len({normalise(word) for word in listed}) == len(listed), language
        assert all(" " not in word and word == word.lower() for word in listed)
        assert words.entropy_bits(language) >= 64
        phrase = words.passphrase(language)
        assert len(phrase.split()) == words.length(language)
        assert all(word in listed for word in phrase.split())


def test_a_passphrase_opens_only_its_key_typed_loosely() -> None:
    salt = bytes(16)
    key = derive_key("қорап жылқы ёлка", salt)
    assert bytes(derive_key("  КОРАП   жылкы елка ", salt).public_key) == bytes(key.public_key)
    assert bytes(derive_key("қорап жылқы", salt).public_key) != bytes(key.public_key)


def test_challenge_is_refused_wrong_early_late_or_forged(keyring: Keyring) -> None:
    now = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)
    a, b, signed = challenge.issue(keyring, now)
    later = now + dt.timedelta(seconds=5)
    assert challenge.check(keyring, signed, str(a + b), later)
    assert not challenge.check(keyring, signed, str(a + b + 1), later)
    assert not challenge.check(keyring, signed, str(a + b), now)  # answered at once: a script
    assert not challenge.check(keyring, signed, str(a + b), now + dt.timedelta(hours=1))
    nonce, issued, _ = signed.split(".")
    assert not challenge.check(keyring, f"{nonce}.{issued}.{'0' * 32}", str(a + b), later)
    assert not challenge.check(keyring, "garbage", "1", later)


def test_accept_language_picks_the_best_of_the_three() -> None:
    assert accept_language("de-DE,kk;q=0.8,ru;q=0.9") == "ru"
    assert accept_language("kk-KZ") == "kk"
    assert accept_language("de, fr") is None


# --------------------------------------------------------------------------- the running bot
@dataclass
class Setup:
    emu: TelegramEmulator
    bot: RunningBot
    group: GroupHandle
    admin: UserHandle
    url: str
    database_url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def setup(
    migrated_url: str,
    keyring: Keyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redacted_log: io.StringIO,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Setup]:
    """The bot with WEB_FORM on; a test passes more settings with indirect parametrisation."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    # A person reads the notice for seconds before answering the sum; the test does not wait.
    monkeypatch.setattr(challenge, "MIN_WAIT", dt.timedelta(0))
    port = _free_port()
    async with TelegramEmulator() as emu:
        group = moderator_group(emu)
        admin = emu.user(ADMIN_ID, "Aigerim", language_code="ru")
        group.add_member(admin)
        bot = await start_bot(
            emu,
            migrated_url,
            keyring,
            tmp_path,
            admin_ids=(ADMIN_ID,),
            web_form=True,
            webhook_host=HOST,
            webhook_port=port,
            **overrides,
        )
        url = f"http://{HOST}:{port}/report/"
        try:
            await _until_serving(url)
            yield Setup(emu, bot, group, admin, url, migrated_url)
        finally:
            await bot.shutdown()
        assert emu.internal_errors == []


async def _until_serving(url: str) -> None:
    async with asyncio.timeout(15), aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


async def test_pages_are_sent_with_strict_headers_and_no_cookie_before_starting(
    setup: Setup, redacted_log: io.StringIO
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(setup.url, headers={"Accept-Language": "kk"}) as response:
            page = await response.text()
            headers = response.headers
        async with http.get(setup.url + "form") as expired:
            assert expired.status == 410
        # A body that breaks the form reader: a page, and a log line without the address
        # (aiohttp's own would name it).
        broken = {"Content-Type": "multipart/form-data; boundary=zz", "Accept-Language": "en"}
        async with http.post(setup.url + "form", data=b"--yy\r\nnot a part", headers=broken) as bad:
            assert bad.status == 500
            assert "Please try again in a minute" in await bad.text()
            assert bad.headers["Cache-Control"] == "no-store"
    assert "web form: /report/form failed" in redacted_log.getvalue()
    assert "Error handling request" not in redacted_log.getvalue()
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers
    assert '<html lang="kk">' in page
    assert "<script" not in page
    assert re.search(r'(src|href)="(https?:)?//', page) is None  # nothing from elsewhere


async def _start(
    http: aiohttp.ClientSession, url: str
) -> tuple[dict[str, str], aiohttp.ClientResponse]:
    """Answers the start page's sum; returns the form sent and the response."""
    async with http.get(url) as response:
        page = await response.text()
    signed = re.search(r'name="challenge" value="([^"]+)"', page)
    label = re.search(r'<label for="answer">([^<]+)</label>', page)
    assert signed is not None and label is not None
    a, b = (int(n) for n in re.findall(r"\d+", label.group(1))[:2])
    form = {"challenge": signed.group(1), "answer": str(a + b), "lang": "en"}
    async with http.post(url + "start", data=form) as started:
        await started.read()
        return form, started


async def test_a_challenge_opens_one_draft_token_and_the_cookie_is_strict(setup: Setup) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the bot is at an IP address here
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        solved, started = await _start(http, setup.url)
        cookie = started.cookies["rb_draft"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/report/"
        assert 0 < int(cookie["max-age"]) <= 3 * 3600
        async with http.get(setup.url + "form") as form:
            assert form.status == 200
            assert "Detention" in await form.text()
        # The same solved challenge again: refused, no second token.
        async with (
            aiohttp.ClientSession() as other,
            other.post(setup.url + "start", data=solved) as again,
        ):
            assert "rb_draft" not in again.cookies
            assert "wrong or too late" in await again.text()


async def test_passphrase_guesses_are_limited_per_code_whether_or_not_it_exists(
    setup: Setup,
) -> None:
    async with aiohttp.ClientSession() as http:
        statuses = []
        for attempt in range(12):
            guess = {"code": "D-AAAA", "passphrase": f"apple pear {attempt}", "lang": "en"}
            async with http.post(setup.url + "mailbox", data=guess) as response:
                statuses.append(response.status)
        assert statuses == [403] * 10 + [429] * 2
        other = {"code": "D-CCCC", "passphrase": "apple pear", "lang": "en"}
        async with http.post(setup.url + "mailbox", data=other) as response:
            assert response.status == 403  # another code is not locked out


async def _post_through(
    http: aiohttp.ClientSession,
    url: str,
    answers: dict[str, str],
    form_key: str = "other",
    *,
    send: bool = True,
) -> str:
    """Answers each question page by its step (the hidden field), as a form post: a "pick:"
    answer presses that option's button (the form's action, pages.action_value), any other is
    typed; returns the page after sending (`send`), or the review."""
    async with http.post(url + "form", data={"do": f"form::{form_key}"}) as response:
        page = await response.text()
    for _ in range(30):
        step = re.search(r'name="step" value="([^"]*)"', page)
        if step is None:
            return page
        key = step.group(1)
        confirm = f"pick:{key}:{engine.CONFIRM}"
        if f'value="{confirm}"' in page:
            form = {"do": confirm}
        elif key == "review" and not send:
            return page
        elif key == "review":
            form = {"do": "submit", "step": key, "lang": "en"}
        elif key in answers:
            value = answers[key]
            pick = value.startswith("pick:")
            form = {"do": f"pick:{key}:{value[5:]}"} if pick else {"do": "text", "text": value}
            form["step"] = key
        else:
            form = {"do": f"done:{key}" if key == "media" else f"skip:{key}", "step": key}
        async with http.post(url + "form", data=form) as response:
            page = await response.text()
    raise AssertionError(f"the report was never sent: {page[-1500:]}")


# A report of threats, typed as little as the form allows.
THREATS = {
    "other_kind": "pick:threats",
    "subject": "Somebody",
    "when": "yesterday",
    "contact": "pick:none",
    "consent": "pick:anonymised",
}


async def _sent_from_a_browser_of_its_own(url: str, *, contact: str) -> str:
    """THREATS from a fresh browser (its own draft token); the page after sending."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _start(http, url)
        return await _post_through(http, url, {**THREATS, "contact": f"pick:{contact}"})


async def test_after_sending_the_draft_token_leads_nowhere(setup: Setup) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        _, started = await _start(http, setup.url)
        token = started.cookies["rb_draft"].value
        sent = await _post_through(http, setup.url, THREATS)
        code = CODE.search(sent)
        assert code is not None
        assert "Your passphrase" not in sent  # no contact wanted: no mailbox, no passphrase
    # The old token, sent by hand: the server no longer knows it.
    async with aiohttp.ClientSession() as http:
        cookie = {"Cookie": f"rb_draft={token}"}
        async with http.get(setup.url + "form", headers=cookie) as again:
            assert again.status == 410
    await outbox_settled(setup.bot.app)
    engine = create_engine(setup.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            report = (await session.execute(select(Report))).scalar_one()
    finally:
        await engine.dispose()
    assert (report.public_code, report.channel, report.contact) == (code.group(1), "web", "none")


async def test_a_summons_check_in_is_answered_from_the_mailbox(setup: Setup) -> None:
    """ "Are you back and safe?" reaches the web reporter's mailbox; "I need help" there alerts
    the team under the card, as the chat's button does."""
    s = setup
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        await _start(http, s.url)
        answers = {
            "subject": "Somebody",
            "appointment": "tomorrow 10:00",
            "contact": "pick:chat",
            "checkin": "pick:yes",
            "consent": "pick:anonymised",
        }
        sent = await _post_through(http, s.url, answers, "summons")
        assert "The bot will check on you on" in sent
        assert "come back to this page with your code and passphrase" in sent
        code, passphrase = re.findall(r"<strong>([^<]+)</strong>", sent)[:2]
        await outbox_settled(s.bot.app)  # the receipt is in the mailbox
        letters = await _mailbox_letters(s.database_url)
        # The appointment has passed, and the check-in delay with it.
        async with s.bot.app.sessionmaker() as session, session.begin():
            asked = await CheckinService(session, s.bot.app.context).ask_due(
                s.bot.app.context.now() + dt.timedelta(days=2)
            )
        assert asked == 1
        s.bot.app.worker.notify()
        await _until_letters(s.database_url, more_than=letters)
        login = {"code": code, "passphrase": passphrase, "lang": "en"}
        async with http.post(s.url + "mailbox", data=login) as response:
            mailbox = await response.text()
        assert mailbox.count("Are you back and safe?") == 2  # the message, and its buttons
        token = re.search(r'name="token" value="([^"]+)"', mailbox)
        checkin = re.search(r'name="checkin" value="(\d+)"', mailbox)
        assert token is not None and checkin is not None
        help_ = {"do": "help", "code": code, "token": token.group(1), "lang": "en"}
        help_["checkin"] = checkin.group(1)
        async with http.post(s.url + "checkin", data=help_) as response:
            assert "The team has been alerted" in await response.text()
    alarm = await s.emu.wait_for_bot_message(s.group, lambda m: f"🆘 {code}" in (m.text or ""))
    pressed = (
        "🆘 {code}: at the safety check-in after the summons the reporter pressed “I need help”."
    )
    expected = s.bot.app.i18n.gettext(pressed, locale="ru").format(code=code)
    assert expected in (alarm.text or "")


# --------------------------------------------------------------------------- in Chromium
Check = Callable[[Any], Awaitable[None]]


async def _no_check(_page: Any) -> None:
    return None


class WebReporter:
    """A person at a phone-sized browser with JavaScript off, reading the page's words."""

    def __init__(self, page: Any, gettext: Any, language: str) -> None:
        self.page = page
        self.gettext = gettext
        self.language = language

    def _(self, text: str) -> str:
        """The page's words: the catalog's, with the web's wording where a chat's would be."""
        return str(self.gettext(WEB_WORDING.get(text, text), locale=self.language))

    async def press(self, label: str) -> None:
        await self.page.get_by_role("button", name=label, exact=True).first.click()

    async def start(self, url: str) -> None:
        await self.page.goto(url)
        label = await self.page.locator('label[for="answer"]').inner_text()
        a, b = (int(n) for n in re.findall(r"\d+", label)[:2])
        await self.page.get_by_label(label).fill(str(a + b))
        await self.press(self._("I agree, start"))

    def step(self, heading: str, form_key: str) -> Step:
        steps = [s for s in FORMS[form_key].steps if self._(s.question) in heading]
        assert steps, f"no question of {form_key} in {heading!r}"
        return max(steps, key=lambda s: len(s.question))

    async def report(
        self,
        form_key: str,
        answers: dict[str, Any],
        files: list[tuple[str, str, bytes]],
        *,
        check: Check | None = None,
        edit: tuple[str, str] | None = None,
    ) -> tuple[str, str]:
        """Files a report; returns (code, passphrase) from the page after sending. `files` are
        attached one by one (name, MIME type, bytes); `check` looks at every page on the way;
        `edit` (step, text) changes an answer from the review screen."""
        answers = dict(answers)
        check = check or _no_check
        await check(self.page)
        kind = INCIDENT_TYPES.get(form_key)
        assert kind is not None
        await self.press(self._(kind.label))
        review = self._("Please check your report:")
        waiting = list(files)
        for _ in range(40):
            await check(self.page)
            heading = await self.page.locator("h1").first.inner_text()
            if review in heading and edit is not None:
                # Change one answer from the review screen, then come back to it.
                key, answers[key] = edit
                changed = FORMS[form_key].step(key)
                assert changed is not None
                await self.press(f"{self._('Change this answer')}: {self._(changed.label)}")
                edit = None
                continue
            if review in heading:
                await self.press(self._("Send the report"))
                break
            confirm = self.page.get_by_role("button", name=self._("Yes, that's right"))
            if await confirm.count():
                await confirm.click()
                continue
            step = self.step(heading, form_key)
            answer = answers.get(step.key, "skip")
            if step.kind == StepKind.MEDIA and waiting:
                name, mime, data = waiting.pop(0)
                field = self.page.get_by_label(self._("Photo or PDF document"))
                await field.set_input_files({"name": name, "mimeType": mime, "buffer": data})
                await self.press(self._("Attach"))
                if not mime.startswith("image/"):
                    refused = self._("Only photos and PDF documents can be sent here.")
                    await self.page.get_by_text(refused).wait_for()
            elif step.kind == StepKind.MEDIA:
                await self.press(self._("Done"))
            elif step.kind == StepKind.MULTI:
                assert step.vocabulary is not None
                for key in answer[1:]:
                    option = step.vocabulary.get(key)
                    assert option is not None
                    await self.page.get_by_label(self._(option.label), exact=True).check()
                await self.press(self._("Next"))
            elif answer == "skip":
                await self.press(self._("Skip"))
            elif isinstance(answer, tuple):
                assert step.vocabulary is not None
                option = step.vocabulary.get(answer[1])
                assert option is not None
                await self.press(self._(option.label))
            else:
                await self.page.locator("#text").fill(answer)
                await self.press(self._("Next"))
        else:
            raise AssertionError("the report never reached the review screen")
        secret = self.page.locator(".secret strong")
        code, passphrase = await secret.nth(0).inner_text(), await secret.nth(1).inner_text()
        assert CODE.fullmatch(code), code
        return code, passphrase

    async def answer_team(self, url: str, code: str, passphrase: str, question: str) -> None:
        await self.page.goto(url + "mailbox")
        await self.page.get_by_label(self._("Report code")).fill(code.lower())
        await self.page.get_by_label(self._("Your passphrase")).fill(passphrase.upper())
        await self.press(self._("Open"))
        await self.page.get_by_text(question).wait_for()
        await self.page.get_by_label(self._("Your answer")).fill(f"Ответ {code} <b>жирный</b>")
        await self.press(self._("Send the answer"))
        sent = self._("Thank you, your answer was passed to the team.")
        await self.page.get_by_text(sent).wait_for()


async def _mailbox_letters(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(WebMessage)) or 0)
    finally:
        await engine.dispose()


async def _until_letters(database_url: str, *, more_than: int) -> None:
    """Until the outbox has put a new message into a web mailbox."""
    async with asyncio.timeout(15):
        while True:
            if await _mailbox_letters(database_url) > more_than:
                return
            await asyncio.sleep(0.05)


async def test_reports_in_three_languages_without_javascript_and_an_answer_reaches_the_card(
    setup: Setup, redacted_log: io.StringIO
) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    s = setup
    i18n = s.bot.app.i18n
    photo = make_png(120, 80, (200, 60, 40))
    codes: list[str] = []
    requested: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path()), headless=True, args=CHROMIUM_ARGS
        )
        try:
            for language, locale in (("kk", "kk-KZ"), ("en", "en-GB"), ("ru", "ru-RU")):
                canary = f"Canary{language.upper()}Subject"
                context = await browser.new_context(
                    java_script_enabled=False,
                    locale=locale,
                    viewport={"width": 390, "height": 844},
                    user_agent=USER_AGENT,
                    extra_http_headers={"X-Forwarded-For": FORWARDED},
                )
                page = await context.new_page()
                page.on("request", lambda request: requested.append(request.url))
                reporter = WebReporter(page, i18n.gettext, language)
                await reporter.start(s.url)
                form_key, answers = REPORTS[language]
                answers = {**COMMON, **answers, "subject": canary}
                # A text file is refused (no way to clean it); the photo goes, rebuilt.
                files = [
                    ("notes.txt", "text/plain", b"plain notes"),
                    ("IMG_0001.png", "image/png", photo),
                ]
                edit = ("account", f"{canary}: changed on review") if language == "en" else None
                code, passphrase = await reporter.report(form_key, answers, files, edit=edit)
                codes.append(code)
                assert len(passphrase.split()) == words.length(language)
                # Nothing on a phone's width scrolls sideways.
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390
                card = await s.emu.wait_for_bot_message(
                    s.group, lambda m, code=code: code in (m.text or "") and bool(m.keyboard)
                )
                assert canary in (card.text or "")
                if edit is not None:
                    assert edit[1] in (card.text or "")
                await outbox_settled(s.bot.app)
                if language == "ru":
                    before = await _mailbox_letters(s.database_url)
                    question = "Где он сейчас? <b>"
                    await s.admin.send_text(question, chat=s.group, reply_to=card)
                    await _until_letters(s.database_url, more_than=before)
                    await reporter.answer_team(s.url, code, passphrase, question)
                    answer = await s.emu.wait_for_bot_message(
                        s.group, lambda m, code=code: f"Ответ {code}" in (m.text or "")
                    )
                    assert answer.reply_to_message_id == card.message_id
                    heading = i18n.gettext("Answer from the reporter of {code}:", locale="ru")
                    assert heading.format(code=code) in (answer.text or "")
                    assert "<b>жирный</b>" in (answer.text or "")  # escaped, shown as typed
                await context.close()
        finally:
            await browser.close()
    # Every request the pages made went to the bot: no font, script or picture from elsewhere.
    assert requested
    assert [url for url in requested if not url.startswith(s.url)] == []
    await outbox_settled(s.bot.app)
    dump, tables = await dump_database(s.database_url)
    assert {"web_mailboxes", "web_messages"} <= tables
    # The server says once where it listens (its own address, which the browser's shares here).
    logs = "\n".join(
        line for line in redacted_log.getvalue().splitlines() if "listening on" not in line
    )
    for secret in ("Canary", HOST, FORWARDED, USER_AGENT, "Где он сейчас"):
        assert secret.encode() not in dump, secret
        assert secret.encode().hex() not in dump.decode("latin-1"), secret
        assert secret not in logs, secret
    engine = create_engine(s.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            channels = (await session.execute(select(Report.channel))).scalars().all()
    finally:
        await engine.dispose()
    assert channels == ["web", "web", "web"]


async def test_every_page_passes_an_accessibility_check_at_a_phone_width(setup: Setup) -> None:
    """axe-core (WCAG 2.1 A and AA: labels, contrast, names, language) on every page a
    reporter sees. axe runs as a script, so this browser has JavaScript on (and ignores the
    page's CSP for the checker alone); the pages themselves have no script."""
    from axe_playwright_python.async_playwright import Axe  # noqa: PLC0415
    from playwright.async_api import async_playwright  # noqa: PLC0415

    s = setup
    axe = Axe()
    seen: dict[str, list[str]] = {}

    async def check(page: Any) -> None:
        heading = await page.locator("h1").first.inner_text()
        results = await axe.run(
            page,
            options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}},
        )
        seen[heading] = [v["id"] for v in results.response["violations"]]
        # Focus is visible: what the Tab key reaches first gets the stylesheet's outline.
        await page.keyboard.press("Tab")
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", heading

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path()), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                locale="kk-KZ", viewport={"width": 390, "height": 844}, bypass_csp=True
            )
            page = await context.new_page()
            reporter = WebReporter(page, s.bot.app.i18n.gettext, "kk")
            await page.goto(s.url)
            await check(page)
            await reporter.start(s.url)
            form_key, answers = REPORTS["kk"]
            answers = {**COMMON, **answers, "subject": "Нурлан"}
            photo = ("IMG_0002.png", "image/png", make_png(60, 40))
            code, passphrase = await reporter.report(form_key, answers, [photo], check=check)
            await check(page)  # the code and the passphrase
            await page.goto(s.url + "mailbox")
            await check(page)
            await page.get_by_label(reporter._("Report code")).fill(code)
            await page.get_by_label(reporter._("Your passphrase")).fill(passphrase)
            await reporter.press(reporter._("Open"))
            await check(page)
            await reporter.press(reporter._(ERASE))  # are you sure?
            await check(page)
            await reporter.press(reporter._("Yes, erase"))
            await page.get_by_text(reporter._(ERASED)).wait_for()
        finally:
            await browser.close()
    assert reporter._(ERASE) in seen
    assert len(seen) >= 10, sorted(seen)
    assert {heading: ids for heading, ids in seen.items() if ids} == {}


# --------------------------------------------------------------------------- erasing, and floods
async def test_derivations_run_two_at_a_time_and_a_flood_is_refused_not_queued() -> None:
    """argon2id takes 64 MiB a time (storage/web.py): at most two run, in threads (the event
    loop goes on), and past the queue a press is refused at once."""
    derivations = Derivations(at_once=2, waiting=3)
    release = threading.Event()
    loop = asyncio.get_running_loop()
    started: asyncio.Queue[int] = asyncio.Queue()

    def work(number: int) -> int:
        loop.call_soon_threadsafe(started.put_nowait, number)
        release.wait(10)
        return number

    tasks = [asyncio.create_task(derivations.run(work, number)) for number in range(5)]
    async with asyncio.timeout(10):
        assert {await started.get(), await started.get()} == {0, 1}
    assert started.empty() and derivations.running == 2
    with pytest.raises(Busy):
        await derivations.run(work, 5)
    release.set()
    assert await asyncio.gather(*tasks) == [0, 1, 2, 3, 4]
    assert derivations.most_running == 2
    assert derivations.running == 0
    await derivations.run(work, 6)  # the queue is free again


@pytest.mark.parametrize("setup", [{"flood_messages_per_minute": 5}], indirect=True)
async def test_send_presses_derive_nothing_without_a_live_token_or_past_its_rate(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived: list[str] = []

    def counted(phrase: str) -> tuple[bytes, bytes]:
        derived.append(phrase)
        return new_key(phrase)

    monkeypatch.setattr(routes, "new_key", counted)
    press = {"do": "submit", "step": "review", "lang": "en"}
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(setup.url + "form", data=press) as response:
                assert response.status == 410
    assert derived == []
    jar = aiohttp.CookieJar(unsafe=True)
    statuses = []
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        await _start(http, setup.url)
        for _ in range(8):
            async with http.post(setup.url + "form", data=press) as response:
                statuses.append(response.status)
    # Five presses a minute are this token's rate: the rest are refused before any derivation.
    assert statuses == [200] * 5 + [429] * 3
    assert len(derived) == 5


@pytest.mark.parametrize("setup", [{"wave_reports": 2}], indirect=True)
async def test_a_web_card_says_so_and_erasing_the_mailbox_erases_like_forget(
    setup: Setup,
) -> None:
    """The card says "web form" and, in a wave, not "first wrote minutes before" (every web
    reporter is new); the team's question waits in the mailbox and the moderator is told so;
    "erase my mailbox" from the mailbox erases the link as /forget does, mailbox included."""
    s = setup
    i18n = s.bot.app.i18n

    def ru(text: str) -> str:
        return str(i18n.gettext(text, locale="ru"))

    await _sent_from_a_browser_of_its_own(s.url, contact="none")  # of two, the second is a wave
    sent = await _sent_from_a_browser_of_its_own(s.url, contact="chat")
    async with aiohttp.ClientSession() as http:
        code, passphrase = re.findall(r"<strong>([^<]+)</strong>", sent)[:2]
        # The receipt on the page speaks of this site, not of a chat.
        assert "they leave them here, on this site" in sent and "write to you here" not in sent
        card = await s.emu.wait_for_bot_message(
            s.group, lambda m: code in (m.text or "") and bool(m.keyboard)
        )
        first_line, text = (card.text or "").split("\n")[0], card.text or ""
        assert f"🌐 {ru('web form')}" in first_line
        assert ru(WAVE_LINE) in text and ru(WAVE_NEW_REPORTER_LINE) not in text
        await outbox_settled(s.bot.app)  # the receipt is in the mailbox
        before = await _mailbox_letters(s.database_url)
        await s.admin.send_text("Где он сейчас?", chat=s.group, reply_to=card)
        told = ru(WEB_ASKED).format(code=code)
        await s.emu.wait_for_bot_message(s.group, lambda m: told in (m.text or ""))
        await _until_letters(s.database_url, more_than=before)

        login = {"code": code, "passphrase": passphrase, "lang": "en"}
        async with http.post(s.url + "mailbox", data=login) as response:
            mailbox = await response.text()
        assert "Где он сейчас?" in mailbox
        # Said for the page the reporter reads it on: there is no message to reply to.
        assert "Answer in the box below." in mailbox and "Reply to this message" not in mailbox
        token = re.search(r'name="token" value="([^"]+)"', mailbox)
        assert token is not None
        hidden = {"code": code, "token": token.group(1), "lang": "en"}
        async with http.post(s.url + "forget", data={**hidden, "do": "ask"}) as response:
            asked = await response.text()
        question = str(i18n.gettext(ERASE_QUESTION, locale="en")).format(code=code)
        assert html.escape(question.split("\n")[0]) in asked
        assert await _mailbox_letters(s.database_url) > 0  # asking erases nothing
        async with http.post(s.url + "forget", data={**hidden, "do": "erase"}) as response:
            assert html.escape(str(i18n.gettext(ERASED, locale="en"))) in await response.text()
        # Code and passphrase open nothing now, and the answer token leads nowhere.
        async with http.post(s.url + "mailbox", data=login) as response:
            assert response.status == 403
        async with http.post(s.url + "answer", data={**hidden, "text": "still here"}) as response:
            assert "This page has expired" in await response.text()
    async with session_for(s.database_url) as session:
        report = (
            await session.execute(select(Report).where(Report.public_code == code))
        ).scalar_one()
        left = [
            int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (WebMailbox, WebMessage)
        ]
        erased = (
            await session.execute(
                select(ModerationEvent.note).where(ModerationEvent.action == "erased")
            )
        ).scalars()
        assert (report.reporter_id, report.intake_flags, left) == (None, "wave", [0, 0])
        assert list(erased) == ["forget"]
    # The team's next question finds nobody, as after /forget.
    await s.admin.send_text("Вы здесь?", chat=s.group, reply_to=card)
    gone = ru("The reporter can no longer be reached.")
    await s.emu.wait_for_bot_message(s.group, lambda m: gone in (m.text or ""))


def _sum_of(page: str) -> dict[str, str]:
    """The challenge on a page, answered."""
    signed = re.search(r'name="challenge" value="([^"]+)"', page)
    label = re.search(r'<label for="answer">([^<]+)</label>', page)
    assert signed is not None and label is not None
    a, b = (int(n) for n in re.findall(r"\d+", label.group(1))[:2])
    return {"challenge": signed.group(1), "answer": str(a + b)}


async def test_a_flood_of_guesses_asks_the_sum_and_locks_nobody_out(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the soft limit for everyone, a login needs the start page's sum as well (once per
    sum); the reporter still gets in, where a hard global limit would have shut them out."""
    monkeypatch.setattr(routes, "GUESSES_BEFORE_CHALLENGE", 3)
    s = setup
    sent = await _sent_from_a_browser_of_its_own(s.url, contact="chat")
    code, passphrase = re.findall(r"<strong>([^<]+)</strong>", sent)[:2]
    async with aiohttp.ClientSession() as http:
        for other in ("D-AAAA", "D-CCCC", "D-DDDD"):  # someone guessing at random
            guess = {"code": other, "passphrase": "apple pear", "lang": "en"}
            async with http.post(s.url + "mailbox", data=guess) as response:
                assert response.status == 403
        login = {"code": code, "passphrase": passphrase, "lang": "en"}
        async with http.post(s.url + "mailbox", data=login) as response:
            asked = await response.text()
            assert response.status == 429
        assert "Please answer the check below as well" in asked
        assert f'name="code" value="{code}"' in asked and passphrase not in asked
        solved = {**login, **_sum_of(asked)}
        async with http.post(s.url + "mailbox", data=solved) as response:
            assert response.status == 200
            assert f"Messages about your report {code}" in await response.text()
        async with http.post(s.url + "mailbox", data=solved) as response:
            assert response.status == 429  # one sum, one attempt
            assert "wrong or too late" in await response.text()


# --------------------------------------------------------------------------- one form driver
@dataclass
class Poster:
    """A browser on the web form (its own draft token), mounted on a server of its own."""

    http: aiohttp.ClientSession
    url: str
    token: str = ""
    reporter_id: int = 0
    page: str = ""

    async def post(self, data: dict[str, Any] | aiohttp.FormData) -> str:
        async with self.http.post(self.url + "form", data=data) as response:
            assert response.status == 200, await response.text()
            self.page = await response.text()
        return self.page

    def step(self) -> str:
        found = re.search(r'name="step" value="([^"]*)"', self.page)
        return found.group(1) if found else ""


async def _stored_draft(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, reporter_id: int
) -> dict[str, Any] | None:
    async with sessions() as db:
        stored = await Drafts(db, keyring).load(reporter_id, dt.datetime.now(dt.UTC))
    return None if stored is None else dict(stored.state)


@contextlib.asynccontextmanager
async def _web_form(
    sessions: async_sessionmaker[AsyncSession],
    context: ServiceContext,
    notify: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Poster]:
    """The web form's routes on a server of their own, and a browser that answered the sum;
    `notify`: the outbox worker's wake-up."""
    monkeypatch.setattr(challenge, "MIN_WAIT", dt.timedelta(0))
    form = routes.WebForm(
        context=context, sessionmaker=sessions, moderator_chat_id=-1001, notify=notify
    )
    app = aioweb.Application()
    app.add_routes(form.routes())
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        browser = Poster(http, str(server.make_url("/report/")))
        _, started = await _start(http, browser.url)
        browser.token = started.cookies["rb_draft"].value
        browser.page = await started.text()  # the form's first page: what to report
        async with sessions() as db:
            found = await Reporters(db, context.keyring).find("web", browser.token)
            assert found is not None
            browser.reporter_id = found.id
        yield browser


async def test_one_script_through_the_web_form_and_telegram_stores_the_same(
    db_engine: AsyncEngine,
    keyring: Keyring,
    org_private_key: PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The web form and Telegram drive the report form through one driver
    (bot/services/form.py): the same presses and answers, a page's button posted on the web, a
    button's callback data on Telegram, leave the same stored draft after every one (a
    cancellation, Back, a typed date confirmed, several things ticked at once on the page and
    one by one in the chat, an answer changed from the review) and send the same answers."""
    context = service_context(keyring)
    sessions = create_sessionmaker(db_engine)
    chat = Chat("telegram", "5550077", sessions, context)
    woken = asyncio.Event()  # the outbox worker's wake-up, once a card is queued
    async with _web_form(sessions, context, woken.set, monkeypatch) as browser:
        said = await chat.new()
        async with sessions() as db:
            found = await Reporters(db, keyring).find("telegram", chat.chat)
            assert found is not None
            telegram_id = found.id

        async def same_drafts() -> dict[str, Any] | None:
            on_telegram = await _stored_draft(sessions, keyring, telegram_id)
            on_the_web = await _stored_draft(sessions, keyring, browser.reporter_id)
            assert on_the_web == on_telegram
            return on_the_web

        async def press(action: Action | None) -> messages.Message | None:
            """The button pressed in the chat and on the page."""
            assert action is not None, "the button the script wants is not offered"
            answer = await chat.press(action)
            if action.intent is Intent.CHOOSE_FORM:
                value = action_value(action.intent, value=action.args[0])
            else:
                value = action_value(action.intent, *action.args)
            assert f'value="{value}"' in browser.page  # the page offers the same button
            await browser.post({"do": value, "step": browser.step()})
            await same_drafts()
            forms = [message for message in answer if messages.form_hints(message)]
            return forms[-1] if forms else None

        async def type_(text: str) -> messages.Message:
            answer = await chat.type(text)
            await browser.post({"do": "text", "text": text, "step": browser.step()})
            await same_drafts()
            return _shown(answer)

        shown = await press(_find(_shown(said), Intent.CHOOSE_FORM, "search"))
        assert shown is not None
        assert await press(_find(shown, Intent.CANCEL)) is None
        assert "cancelled" in browser.page
        assert await same_drafts() is None
        said = await chat.new()
        shown = await press(_find(_shown(said), Intent.CHOOSE_FORM, "search"))
        went_back = changed = False
        done: set[str] = set()  # what the script did besides answering and skipping
        for _ in range(60):
            assert shown is not None
            hints = messages.form_hints(shown)
            part, step = hints.get("part"), str(hints.get("step") or "")
            assert browser.step() == (step or ("review" if part == "review" else ""))
            choices = messages.choices(shown)
            if part == "review" and not changed:
                # The chat opens the list of answers first; the page shows them with the review.
                listed = _shown(await chat.press(_find(shown, Intent.EDIT_MENU) or _no()))
                shown = await press(_find(listed, Intent.EDIT, "subject"))
            elif part == "review":
                break
            elif step == "subject" and changed is False and chat.updates > 20:
                shown = await type_("Марат Б.")
                changed = True
            elif not went_back and step == "account":
                shown = await press(_find(shown, Intent.BACK))
                went_back = True
            elif confirm := _find(shown, Intent.PICK, step, engine.CONFIRM):
                shown = await press(confirm)
                done.add("confirmed")
            elif choices and _find(shown, Intent.DONE, step):  # several things seized
                await chat.press(choices[0])
                await chat.press(choices[1])
                finished = _find(_shown(chat.said[-1]), Intent.DONE, step)
                said = await chat.press(finished or _no())
                ticked = aiohttp.FormData()
                for option in (choices[0], choices[1]):
                    ticked.add_field("option", option.args[1])
                ticked.add_field("do", action_value(Intent.DONE, step))
                ticked.add_field("step", step)
                await browser.post(ticked)
                stored = await same_drafts()
                assert stored is not None and len(stored["answers"][step]) == 2
                done.add("ticked")
                shown = _shown(said)
            elif choices:
                shown = await press(choices[0])
            elif step in TYPED:
                # "yesterday at 5" is 05:00 or 17:00: read back, to be confirmed.
                shown = await type_("yesterday at 5" if step == "when" else TYPED[step])
            else:  # files, or a question to skip
                shown = await press(
                    _find(shown, Intent.DONE, step) or _find(shown, Intent.SKIP, step)
                )
        else:
            raise AssertionError("the review was never reached")
        assert went_back and changed and done == {"confirmed", "ticked"}
        stored = await same_drafts()
        assert stored is not None and stored["answers"]["subject"] == "Марат Б."

        await chat.press(_find(shown, Intent.SUBMIT) or _no())
        sent = await browser.post({"do": action_value(Intent.SUBMIT), "step": "review"})
        assert CODE.search(sent) is not None
    await asyncio.wait_for(woken.wait(), 5)
    assert await same_drafts() is None
    async with sessions() as db:
        reports = list((await db.execute(select(Report).order_by(Report.id))).scalars())
    assert [report.channel for report in reports] == ["telegram", "web"]
    on_telegram, on_the_web = (open_sealed(org_private_key, r.sealed_payload) for r in reports)
    assert on_the_web["answers"] == on_telegram["answers"]
    assert on_the_web["answers"]["subject"] == "Марат Б."
    kept = ("incident_type", "region", "consent", "contact", "urgent", "language")
    assert [getattr(reports[1], name) for name in kept] == [
        getattr(reports[0], name) for name in kept
    ]


async def test_a_refused_send_keeps_the_draft_and_shows_the_review_with_why(
    db_engine: AsyncEngine, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the reports an account may send in an hour (here none), Send stores nothing: the
    page is the review again with the reason, the draft is as it was, and the draft token still
    leads to it (the driver's refusal, bot/services/flood.py)."""
    context = dataclasses.replace(service_context(keyring), policy=SafetyPolicy(reports_per_hour=0))
    sessions = create_sessionmaker(db_engine)
    woken = asyncio.Event()
    async with _web_form(sessions, context, woken.set, monkeypatch) as browser:
        review = await _post_through(browser.http, browser.url, THREATS, send=False)
        assert 'name="step" value="review"' in review
        kept = await _stored_draft(sessions, keyring, browser.reporter_id)
        assert kept is not None and kept["answers"]["subject"] == "Somebody"
        refused = await browser.post({"do": action_value(Intent.SUBMIT), "step": "review"})
        assert "Your report is kept: please press Send again later." in html.unescape(refused)
        assert 'name="step" value="review"' in refused and "Somebody" in refused
        assert await _stored_draft(sessions, keyring, browser.reporter_id) == kept
        async with browser.http.get(browser.url + "form") as again:
            assert again.status == 200
            assert 'name="step" value="review"' in await again.text()
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Report)) == 0
    assert not woken.is_set()  # no card was queued


async def _on_when(
    browser: Poster, sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> dict[str, Any]:
    """A report of threats with its subject typed, page by page: the draft is on the date
    ("when"); the draft as stored."""
    await browser.post({"do": action_value(Intent.CHOOSE_FORM, value="other")})
    kind = browser.step()
    await browser.post({"do": action_value(Intent.PICK, kind, "threats"), "step": kind})
    while (step := browser.step()) != "subject":  # skipped, as _post_through does
        await browser.post({"do": action_value(Intent.SKIP, step), "step": step})
        assert browser.step() != step
    await browser.post({"do": pages.TEXT, "text": "Somebody", "step": "subject"})
    assert browser.step() == "when"
    stored = await _stored_draft(sessions, keyring, browser.reporter_id)
    assert stored is not None and stored["step"] == "when"
    assert stored["answers"]["subject"] == "Somebody" and "when" not in stored["answers"]
    return stored


async def test_a_typed_answer_or_a_file_from_a_stale_page_changes_nothing(
    db_engine: AsyncEngine, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name typed on the subject's page in an older tab, posted when the draft is on the
    date, answers nothing: the draft is as it was, the page is the date's question with the
    note; so is Enter in the text field, and a picture attached on an older page (nothing
    stored for it)."""
    sessions = create_sessionmaker(db_engine)
    async with _web_form(sessions, service_context(keyring), lambda: None, monkeypatch) as browser:
        kept = await _on_when(browser, sessions, keyring)
        stale_posts: list[dict[str, Any] | aiohttp.FormData] = [
            {"do": pages.TEXT, "text": "Aidos Serikov", "step": "subject"},
            {"text": "Aidos Serikov", "step": "subject"},  # Enter, no button
            {"do": pages.TEXT, "text": "Aidos Serikov"},  # a page naming no step
        ]
        upload = aiohttp.FormData()
        upload.add_field("do", pages.UPLOAD)
        upload.add_field("step", "media")
        upload.add_field("file", make_png(), filename="x.png", content_type="image/png")
        stale_posts.append(upload)
        for post in stale_posts:
            page = html.unescape(await browser.post(post))
            assert page.count(pages.STALE) == 1
            assert browser.step() == "when"
            assert "Aidos" not in page
            assert await _stored_draft(sessions, keyring, browser.reporter_id) == kept
        async with sessions() as db:
            assert await db.scalar(select(func.count()).select_from(Attachment)) == 0


async def test_a_typed_answer_from_the_current_page_is_answered(
    db_engine: AsyncEngine, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page of the step the draft is on still answers it: the date is stored, the next
    question is shown, and no note says the page was out of date."""
    sessions = create_sessionmaker(db_engine)
    async with _web_form(sessions, service_context(keyring), lambda: None, monkeypatch) as browser:
        await _on_when(browser, sessions, keyring)
        page = html.unescape(
            await browser.post({"do": pages.TEXT, "text": "yesterday", "step": "when"})
        )
        assert pages.STALE not in page
        assert browser.step() not in ("when", "subject")
        stored = await _stored_draft(sessions, keyring, browser.reporter_id)
        assert stored is not None and stored["answers"].get("when")
        assert stored["answers"]["subject"] == "Somebody"
