"""`reportbot demo`: the page's API and websocket, the page itself in Chromium, and the command.

The browser test drives Debian's Chromium through Playwright (`tests/demo_browser.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from bot.demo import (
    MARKER_FILE,
    SEED_SOURCE,
    Demo,
    demo_keyring,
    demo_settings,
    prepare_data_dir,
    seed_demo_reports,
)
from bot.demo.emulator.files import make_png
from bot.demo.night import NightProgress, plan_night, run_night, step_asked
from bot.settings import ConfigError
from handlers.engine.forms import FORMS, StepKind
from handlers.telegram.keyboards import ConsentCB, FlowAction, FlowCB
from storage.db import create_engine, create_sessionmaker, migrate
from storage.models import Report
from tests.demo_browser import CODE, BrowserReporter, chromium, running_demo

# A name that would turn bold (or break the message) if anything rendered it as HTML.
SUBJECT = "Demo <b>Person</b> & Co"
# The detention report both tests make: ("pick", option), "skip", "photo" or text to type.
DETENTION: dict[str, Any] = {
    "relation": ("pick", "family"),
    "subject": SUBJECT,
    "when": "yesterday 14:30",
    "region": ("pick", "almaty"),
    "agency": ("pick", "knb"),
    "held_where": ("pick", "ivs"),
    "account": "They came at night and took him to the IVS.",
    "media": "photo",
    "contact": ("pick", "chat"),
    "consent": ("pick", "anonymised"),
}


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    async with running_demo(tmp_path / "demo", language="en", moderator_language="en") as running:
        yield running


# ---------------------------------------------------------------------------- the API
class PageClient:
    """What the page does, over the same HTTP API and websocket."""

    def __init__(self, demo: Demo, http: aiohttp.ClientSession, ws: Any) -> None:
        self.demo = demo
        self.http = http
        self.ws = ws
        self.state: dict[str, Any] = {}

    async def act(self, **action: Any) -> dict[str, Any]:
        async with self.http.post(self.demo.url + "api/action", json=action) as response:
            body: dict[str, Any] = await response.json()
            assert response.status == 200, body
            return body

    async def upload(self, pane: str, data: bytes, name: str) -> None:
        form = aiohttp.FormData()
        form.add_field("pane", pane)
        form.add_field("file", data, filename=name, content_type="image/png")
        async with self.http.post(self.demo.url + "api/upload", data=form) as response:
            assert response.status == 200, await response.text()

    async def until(
        self,
        predicate: Callable[[dict[str, Any]], Any],
        timeout: float = 10,  # noqa: ASYNC109 - a test helper, as in the emulator
    ) -> Any:
        """The first pushed state (the current one included) for which `predicate` holds."""
        async with asyncio.timeout(timeout):
            while True:
                if self.state:
                    found = predicate(self.state)
                    if found:
                        return found
                message = await self.ws.receive()
                assert message.type == aiohttp.WSMsgType.TEXT, message
                pushed = json.loads(message.data)
                if pushed["type"] == "state":
                    self.state = pushed["state"]

    def messages(self, pane: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state["panes"][pane]["messages"]
        return result


def _prompt_after(handled: set[int]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    def newest_prompt(state: dict[str, Any]) -> dict[str, Any] | None:
        prompts = [
            m for m in state["panes"]["reporter"]["messages"] if m["from_bot"] and m["keyboard"]
        ]
        if prompts and prompts[-1]["id"] not in handled:
            return prompts[-1]
        return None

    return newest_prompt


def _data_of(prompt: dict[str, Any]) -> list[str]:
    return [b["data"] for row in prompt["keyboard"] for b in row if b["data"]]


async def test_report_through_the_page_api_reaches_the_moderator_pane(demo: Demo) -> None:
    assert demo.app is not None
    i18n = demo.app.i18n

    def gettext(text: str) -> str:
        return i18n.gettext(text, locale="en")

    async with aiohttp.ClientSession() as http, http.ws_connect(demo.url + "api/ws") as ws:
        page = PageClient(demo, http, ws)
        await page.until(lambda s: s["panes"]["reporter"]["messages"] == [])
        assert page.state["language"] == "en"
        await page.act(op="text", pane="reporter", text="/start")
        # First the consent notice; nothing is asked before the reporter agrees.
        consent = await page.until(_prompt_after(set()))
        assert gettext("Do you agree?") in consent["text"]
        await page.act(
            op="press",
            pane="reporter",
            message_id=consent["id"],
            data=ConsentCB(answer="yes").pack(),
        )
        menu = await page.until(_prompt_after({consent["id"]}))
        assert gettext("What do you want to report?") in menu["text"]
        await page.act(
            op="press",
            pane="reporter",
            message_id=menu["id"],
            data=FlowCB(action=FlowAction.TYPE, value="detention").pack(),
        )
        handled = {menu["id"]}
        photo = make_png(64, 48, (30, 120, 200))
        for _ in range(40):
            prompt = await page.until(_prompt_after(handled))
            handled.add(prompt["id"])
            submit = FlowCB(action=FlowAction.SUBMIT).pack()
            if submit in _data_of(prompt):
                await page.act(op="press", pane="reporter", message_id=prompt["id"], data=submit)
                break
            step = step_asked(prompt["text"], "detention", gettext)
            answer = DETENTION.get(step.key, "skip")
            if step.kind == StepKind.MEDIA:
                if "Received 1 file" in prompt["text"]:
                    data = FlowCB(action=FlowAction.DONE, step=step.key).pack()
                    await page.act(op="press", pane="reporter", message_id=prompt["id"], data=data)
                else:
                    await page.upload("reporter", photo, "protocol.png")
            elif answer == "skip":
                data = FlowCB(action=FlowAction.SKIP, step=step.key).pack()
                await page.act(op="press", pane="reporter", message_id=prompt["id"], data=data)
            elif isinstance(answer, tuple):
                data = FlowCB(action=FlowAction.PICK, step=step.key, value=answer[1]).pack()
                await page.act(op="press", pane="reporter", message_id=prompt["id"], data=data)
            else:
                await page.act(op="text", pane="reporter", text=answer)
        else:
            raise AssertionError("the report never reached the review screen")

        def receipt(state: dict[str, Any]) -> str | None:
            for message in state["panes"]["reporter"]["messages"]:
                found = CODE.search(message["text"] or "")
                if message["from_bot"] and found:
                    return found.group(1)
            return None

        code = await page.until(receipt)

        def card_and_photo(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
            messages = state["panes"]["moderators"]["messages"]
            card = next((m for m in messages if code in (m["text"] or "")), None)
            photo = next((m for m in messages if m["photo"]), None)
            return (card, photo) if card and photo else None

        card, photo_message = await page.until(card_and_photo)
        # The name arrives as plain text: the page gets text plus entities, never HTML.
        assert SUBJECT in card["text"]
        assert card["text"].startswith("🚨")
        assert any(entity["type"] == "bold" for entity in card["entities"])
        assert photo_message["reply_to"]["id"] == card["id"]
        async with http.get(demo.url + photo_message["photo"]["url"].lstrip("/")) as response:
            assert response.content_type == "image/png"
            sent = await response.read()
        # A new file rebuilt from the pixels (bot/services/media.py), never the reporter's original.
        assert sent != photo
        with Image.open(io.BytesIO(sent)) as got, Image.open(io.BytesIO(photo)) as original:
            assert got.convert("RGB").tobytes() == original.convert("RGB").tobytes()

        # Answered prompts lose their buttons (edits are applied, a moment after the receipt
        # when the last press sent the report); only the receipt keeps its own.
        def tidy(state: dict[str, Any]) -> bool:
            bot_messages = [m for m in state["panes"]["reporter"]["messages"] if m["from_bot"]]
            return sum(1 for m in bot_messages if m["keyboard"]) <= 1

        await page.until(tidy)
        bot_prompts = [m for m in page.messages("reporter") if m["from_bot"]]
        assert any(m["edited"] for m in bot_prompts)

        # A message the bot deletes disappears from the page.
        await demo.app.bot.delete_message(demo.group.id, photo_message["id"])
        await page.until(
            lambda s: all(
                m["id"] != photo_message["id"] for m in s["panes"]["moderators"]["messages"]
            )
        )


async def test_page_refuses_other_hosts_and_cross_site_writes(demo: Demo) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(demo.url) as response:
            assert response.status == 200
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            assert response.charset == "utf-8"
        # DNS rebinding: a foreign name pointing at 127.0.0.1.
        headers = {"Host": f"evil.example:{demo.port}"}
        async with http.get(demo.url + "api/state", headers=headers) as response:
            assert response.status == 403
        # A form post from another site cannot send JSON without a preflight.
        async with http.post(demo.url + "api/action", data="{}") as response:
            assert response.status == 415
        headers = {"Origin": "http://evil.example"}
        async with http.post(
            demo.url + "api/action", json={"op": "new_reporter"}, headers=headers
        ) as response:
            assert response.status == 403
        async with http.post(demo.url + "api/action", json={"op": "fly"}) as response:
            assert response.status == 400
        # A refusal the page words in its own language carries a reason it knows.
        gone = {"op": "press", "pane": "reporter", "message_id": 999999, "data": "x"}
        async with http.post(demo.url + "api/action", json=gone) as response:
            assert response.status == 400
            assert (await response.json())["reason"] == "gone"
        async with http.get(demo.url + "static/../demo.py") as response:
            assert response.status == 404


async def test_language_switch_keeps_the_reporters_chat(demo: Demo) -> None:
    assert demo.app is not None
    i18n = demo.app.i18n
    first = demo.reporter.id
    # Before the first message the phone's language is what the bot will use.
    await demo.perform({"op": "language", "lang": "kk"})
    assert demo.reporter.id == first
    assert demo.reporter.user.language_code == "kk"
    await demo.perform({"op": "text", "pane": "reporter", "text": "/start"})
    consent = await demo.emu.wait_for_bot_message(demo.reporter, lambda m: bool(m.keyboard))
    # The consent notice comes first, in the reporter's language.
    assert i18n.gettext("Do you agree?", locale="kk") in (consent.text or "")
    state = demo.snapshot()
    assert state["language"] == "kk"
    assert [c["command"] for c in state["panes"]["reporter"]["commands"]][:2] == ["start", "new"]
    # After it, a switch asks the bot in the chat (/language and a tap): the same person, the
    # same chat, the earlier messages still there, the notice again in the new language.
    before = [m["id"] for m in demo.snapshot()["panes"]["reporter"]["messages"]]
    await demo.perform({"op": "language", "lang": "ru"})
    assert demo.reporter.id == first
    again = await demo.emu.wait_for_bot_message(
        demo.reporter, lambda m: i18n.gettext("Do you agree?", locale="ru") in (m.text or "")
    )
    assert again.keyboard
    after = [m["id"] for m in demo.snapshot()["panes"]["reporter"]["messages"]]
    assert after[: len(before)] == before
    assert demo.snapshot()["language"] == "ru"
    # "New reporter" is still the way to a person who has never written.
    await demo.perform({"op": "new_reporter"})
    assert demo.reporter.id != first
    assert demo.snapshot()["panes"]["reporter"]["messages"] == []


async def test_busy_night_reports_arrive_through_the_bot_as_cards_and_digests(
    demo: Demo,
) -> None:
    """Simulated people report through the emulator: nothing is written to the database but
    by the bot, and every report reaches the moderators' chat, in a card or in a digest."""
    assert demo.app is not None
    # Every planned answer is one the bot offers (a wrong key would be refused mid-night).
    for plan in plan_night():
        steps = {step.key: step for step in FORMS[plan.form].steps}
        vocabulary = steps["region"].vocabulary
        assert vocabulary is not None
        assert vocabulary.get(plan.region) is not None, plan.region
    plans = plan_night(14)
    assert {p.language for p in plans} == {"kk", "ru", "en"}
    progress = await run_night(demo.emu, demo.app.i18n, demo.night_reporter, plans, NightProgress())
    assert progress.errors == []
    assert progress.sent == len(plans)
    codes = set(progress.codes)
    assert len(codes) == len(plans)

    def announced() -> set[str]:
        text = " ".join(m.content for m in demo.emu.bot_messages(demo.group))
        return {code for code in codes if code in text}

    await demo.emu.wait_until(lambda: announced() == codes, timeout=30)
    digests = [m for m in demo.emu.bot_messages(demo.group) if len(CODE.findall(m.content)) > 2]
    assert digests, "fourteen reports at once are more than a group may receive: a digest"
    async with demo.app.sessionmaker() as session:
        reports = (await session.execute(select(Report))).scalars().all()
    assert {r.public_code for r in reports} == codes
    assert all(r.reporter_id is not None and r.source != SEED_SOURCE for r in reports)
    assert {r.language for r in reports} == {"kk", "ru", "en"}
    assert len({r.incident_type for r in reports}) >= 3
    assert any(r.urgent for r in reports)
    # Two relatives reported the same detained person: the bot's duplicate hint can join them.
    indexes = [r.subject_index for r in reports if r.subject_index]
    assert len(indexes) > len(set(indexes))


def test_demo_settings_ignore_the_environment_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql+asyncpg://real/reports\n")
    monkeypatch.setenv("BOT_TOKEN", "123:real-token")
    monkeypatch.setenv("ORG_PUBLIC_KEY", "real")
    folder = prepare_data_dir(tmp_path / "demo")
    settings = demo_settings(folder, telegram_api_url="http://127.0.0.1:9", moderator_language="kk")
    assert settings.database_url == folder.database_url
    assert str(folder.path) in settings.effective_database_url
    assert settings.org_public_key is None
    assert settings.bot_token is not None
    assert "DEMO" in settings.bot_token.get_secret_value()


def test_data_folder_must_be_empty_or_the_demos_own(tmp_path: Path) -> None:
    real = tmp_path / "data"
    real.mkdir()
    (real / "reportbot.db").write_bytes(b"real reports")
    with pytest.raises(ConfigError, match="not empty"):
        prepare_data_dir(real)
    fresh = prepare_data_dir(tmp_path / "new")
    assert (fresh.path / MARKER_FILE).is_file()
    assert not fresh.temporary
    assert prepare_data_dir(tmp_path / "new").path == fresh.path  # reused: it is the demo's
    temporary = prepare_data_dir(None)
    assert temporary.temporary
    assert (temporary.path / MARKER_FILE).is_file()
    (temporary.path / MARKER_FILE).unlink()
    temporary.path.rmdir()


async def test_seed_fills_weeks_of_fake_reports_only_in_a_demo_folder(tmp_path: Path) -> None:
    folder = prepare_data_dir(tmp_path / "demo")
    settings = demo_settings(folder, telegram_api_url="http://127.0.0.1:9", moderator_language="en")
    keyring = demo_keyring(settings)
    await migrate(settings.effective_database_url)
    engine = create_engine(settings.effective_database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        now = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC)
        added = await seed_demo_reports(sessionmaker, settings, keyring, now=now)
        assert added >= 30
        assert await seed_demo_reports(sessionmaker, settings, keyring, now=now) == 0
        async with sessionmaker() as session:
            reports = (await session.execute(select(Report))).scalars().all()
        assert len(reports) == added
        assert {r.source for r in reports} == {SEED_SOURCE}
        assert {r.incident_type for r in reports} == set(FORMS)
        assert {"verified", "new"} <= {r.status for r in reports}
        dates = [r.incident_date for r in reports if r.incident_date]
        weeks = {d.isocalendar()[:2] for d in dates}
        assert len(weeks) >= 5
        assert max(dates) < now.date()  # nothing in the future, nothing today
        assert all(r.created_at <= now for r in reports)
        # The folder marker is what makes a database the demo's own.
        (folder.path / MARKER_FILE).unlink()
        with pytest.raises(ConfigError, match="refusing to seed"):
            await seed_demo_reports(sessionmaker, settings, keyring, now=now)
    finally:
        await engine.dispose()
    real = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"})
    with pytest.raises(ConfigError, match="refusing to seed"):
        await seed_demo_reports(sessionmaker, real, keyring, now=now)


async def test_reportbot_demo_command_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    # From another folder, with a real-looking DATABASE_URL that the demo must ignore.
    env = {**os.environ, "DATABASE_URL": "postgresql+asyncpg://nobody@192.0.2.1/real"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        "--port",
        "0",
        "--seed",
        "--busy-night",
        "3",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    url = data_dir = None
    try:
        # Importing aiogram alone takes seconds on a slow machine.
        async with asyncio.timeout(60):
            while not output or "Ctrl-C" not in output[-1]:
                line = (await process.stdout.readline()).decode()
                assert line, "".join(output)
                output.append(line)
                if found := re.search(r"Open (http://127\.0\.0\.1:\d+/)", line):
                    url = found.group(1)
                if found := re.search(r"Demo data: (.+) \(temporary", line):
                    data_dir = Path(found.group(1))
        assert url is not None
        assert data_dir is not None
        assert data_dir.is_dir()
        assert (data_dir / MARKER_FILE).is_file()
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                assert response.status == 200
                assert "/static/demo.js" in await response.text()
            async with http.get(url + "api/state") as response:
                state = await response.json()
        assert state["seeded"] > 0
        # Three simulated people are reporting; stopping in the middle of the night is clean.
        assert state["night"]["total"] == 3
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            rest = (await process.stdout.read()).decode()
            code = await process.wait()
    assert code == 0, "".join(output) + rest
    assert "Demo stopped." in rest
    assert not data_dir.exists()  # the temporary folder went with the demo
    assert "Traceback" not in "".join(output) + rest


# ---------------------------------------------------------------------------- in Chromium
async def test_browser_reports_a_detention_that_is_verified_and_the_reporter_is_told(
    demo: Demo, tmp_path: Path
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 - browser tests only

    assert demo.app is not None
    i18n = demo.app.i18n

    def gettext(text: str) -> str:
        return i18n.gettext(text, locale="en")

    photo = make_png(120, 80, (200, 60, 40))
    async with chromium(tmp_path / "chromium-profile") as context:
        page = context.pages[0] if context.pages else await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(demo.url)
        reporter = BrowserReporter(page, gettext)
        moderators = page.locator('[data-pane="moderators"]')
        await expect(page.locator("#conn")).to_have_attribute("data-state", "on")
        await expect(reporter.pane.locator(".start")).to_have_text("START")

        await reporter.report("detention", DETENTION, photo)

        receipt = reporter.pane.locator('.msg[data-from="bot"]', has_text=CODE)
        await expect(receipt).to_have_count(1)
        found = CODE.search(await receipt.inner_text())
        assert found is not None
        code = found.group(1)
        # The card is the first message naming the code (answers to moderators follow).
        card = moderators.locator('.msg[data-from="bot"]', has_text=code).first
        await expect(card).to_contain_text(SUBJECT)  # literally, tags and all
        await expect(card.locator("b", has_text=re.compile(r"^Person$"))).to_have_count(0)
        image = moderators.locator("img.photo")
        await expect(image).to_be_visible()
        await page.wait_for_function(
            "() => { const i = document.querySelector('[data-pane=moderators] img.photo');"
            " return i && i.complete && i.naturalWidth === 120; }"
        )

        # The moderator replies to the card: the message quotes it in the group.
        await card.hover()
        await card.locator(".reply-btn").click()
        await moderators.locator(".input").fill("Is he still at the IVS?")
        await moderators.locator(".input").press("Enter")
        reply = moderators.locator(".msg.mine:has(.quote)", has_text="Is he still at the IVS?")
        await expect(reply.locator(".quote")).to_contain_text(code)
        # ... and the bot passes it on to the reporter, signed by the team.
        relayed = reporter.pane.locator('.msg[data-from="bot"]', has_text="still at the IVS")
        await expect(relayed).to_be_visible()

        # "Ask the reporter" changes nothing on the card: its button is free again once the
        # bot has answered the press, and the question prompt is there.
        ask = card.get_by_role("button", name=gettext("Ask the reporter"), exact=True)
        await ask.click()
        prompt = gettext(
            "Reply to this message with your question for the reporter of {code}."
        ).format(code=code)
        await expect(moderators.locator('.msg[data-from="bot"]', has_text=prompt)).to_be_visible()
        await expect(ask).not_to_have_class(re.compile(r"\bbusy\b"))

        # The moderator takes the report and verifies it from the card: the card changes in
        # place and the reporter, who allowed contact in this chat, is told.
        await expect(card.get_by_role("button", name=gettext("Verify"))).to_have_count(0)
        await card.get_by_role("button", name=gettext("Take"), exact=True).click()
        await card.get_by_role("button", name=gettext("Verify"), exact=True).click()
        await expect(card.get_by_role("button", name=gettext("Reopen"))).to_be_visible()
        await expect(card.get_by_role("button", name=gettext("Verify"))).to_have_count(0)
        told = gettext(
            "Your report {code} has been checked and verified by the human-rights team. Thank you."
        ).format(code=code)
        status = reporter.pane.locator('.msg[data-from="bot"]', has_text=told)
        await expect(status).to_have_count(1)

        # Later the reporter writes a new fact, not in reply to anything: it reaches the
        # team under the card (the team's question is still open, so it goes straight on).
        await reporter.type("They moved him to the IVS; no lawyer is let in.")
        addition = moderators.locator('.msg[data-from="bot"]', has_text="no lawyer is let in")
        await expect(addition).to_contain_text(code)
        await expect(addition.locator(".quote")).to_contain_text(code)

        desktop = tmp_path / "demo-desktop.png"
        await page.screenshot(path=str(desktop))
        await page.set_viewport_size({"width": 390, "height": 844})
        await expect(card).to_be_attached()
        phone = tmp_path / "demo-phone.png"
        await page.screenshot(path=str(phone), full_page=True)
        print(f"demo screenshots: {desktop} {phone}")  # noqa: T201 - test artifacts
        assert errors == []
