"""The web form beside the demo's three phones (issue 17; README, "The web form").

The demo runs the real bot with WEB_FORM on, on its own loopback server; the page links to it
(the form forbids being framed) and a web report reaches the moderators' phone as a card that
says "web form".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aiohttp
import pytest

from handlers.web import challenge
from tests.demo_browser import running_demo
from tests.test_web_form import COMMON, REPORTS, WebReporter


async def test_the_demo_serves_its_web_form_with_the_forms_own_headers(tmp_path: Path) -> None:
    async with running_demo(tmp_path / "demo") as demo:
        url = demo.snapshot()["web_form"]
        assert url == f"http://127.0.0.1:{demo.web_port}/report/"
        assert demo.web_port not in (0, demo.port)
        async with aiohttp.ClientSession() as http, http.get(url + "?lang=kk") as response:
            page = await response.text()
            assert response.status == 200
            assert '<html lang="kk">' in page and 'name="challenge"' in page
            assert response.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_a_report_from_the_demo_pages_web_form_reaches_the_moderators_phone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 - browser tests only

    from tests.demo_browser import chromium  # noqa: PLC0415

    # A person reads the notice for seconds before answering the sum; the test does not wait.
    monkeypatch.setattr(challenge, "MIN_WAIT", dt.timedelta(0))
    async with (
        running_demo(tmp_path / "demo", language="ru", moderator_language="ru") as demo,
        chromium(tmp_path / "profile", locale="ru-RU") as context,
    ):
        assert demo.app is not None
        page = context.pages[0] if context.pages else await context.new_page()
        await page.goto(demo.url)
        link = page.get_by_role("link", name="Открыть веб-форму")
        await expect(link).to_have_attribute("href", demo.web_form_url + "?lang=ru")
        async with context.expect_page() as opened:
            await link.click()
        form = await opened.value
        await form.wait_for_load_state()
        assert form.url == demo.web_form_url + "?lang=ru"
        assert await form.locator("html").get_attribute("lang") == "ru"

        reporter = WebReporter(form, demo.app.i18n.gettext, "ru")
        await reporter.start(demo.web_form_url)
        form_key, answers = REPORTS["ru"]
        code, _ = await reporter.report(form_key, {**COMMON, **answers, "subject": "Нурлан"}, [])
        card = page.locator('[data-pane="moderators"] .msg[data-from="bot"]', has_text=code).first
        await expect(card).to_contain_text("веб-форма")
        await expect(card).to_contain_text("Нурлан")
        await page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
