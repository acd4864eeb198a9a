"""A relative walks through a detention report and a follow-up, in Kazakh, Russian and English.

As a person would, in Chromium on the demo page: choose the language, press START, agree, tap
and type the answers, send, then write what happened since ("перевели в ИВС, адвоката не
пускают") and add it to the report when the bot offers; the moderators' chat must show it under
that report's card. One demo and one browser serve the three walks; every wait is for something
on the page (Playwright's `expect` and `wait_for_function`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.demo import Demo
from tests.demo_browser import BrowserReporter, chromium, running_demo

pytestmark = pytest.mark.asyncio(loop_scope="module")

# What a relative answers, in their language: who they are, the name, when, their own words,
# where, and what they write afterwards. Everything else is skipped, as a hurried person would.
WALKS: dict[str, dict[str, Any]] = {
    "kk": {
        "answers": {
            "relation": ("pick", "family"),
            "subject": "Асқар Демоұлы",
            "when": "кеше кешке",
            "account": "Түнде үйге келіп, інімді алып кетті. Қайда екенін айтпайды.",
            "region": ("pick", "almaty"),
            "contact": ("pick", "chat"),
            "consent": ("pick", "anonymised"),
        },
        "follow_up": "Уақытша ұстау изоляторына ауыстырды, адвокатты кіргізбейді",
    },
    "ru": {
        "answers": {
            "relation": ("pick", "family"),
            "subject": "Ерлан Демов",
            "when": "вчера в 23:40",
            "account": "Ночью пришли домой и увезли сына, куда — не говорят.",
            "region": ("pick", "astana"),
            "contact": ("pick", "chat"),
            "consent": ("pick", "anonymised"),
        },
        "follow_up": "перевели в ИВС, адвоката не пускают",
    },
    "en": {
        "answers": {
            "relation": ("pick", "family"),
            "subject": "Yerlan Demov",
            "when": "yesterday 23:40",
            "account": "They came at night and took my brother; nobody says where.",
            "region": ("pick", "shymkent"),
            "contact": ("pick", "chat"),
            "consent": ("pick", "anonymised"),
        },
        "follow_up": "they moved him to the IVS and won't let the lawyer in",
    },
}
TIMES: dict[str, float] = {}
# What the phones' headers say, per language: no two languages may show the same.
HEADERS: dict[str, tuple[str, ...]] = {}
# The browser's clock is elsewhere than the bot: times on the page must still be the bot's.
BROWSER_TIMEZONE = "America/New_York"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def walk_demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    folder = tmp_path_factory.mktemp("walk") / "demo"
    async with running_demo(folder, language="en", moderator_language="ru") as demo:
        yield demo


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def walk_page(
    walk_demo: Demo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    from playwright.async_api import expect  # noqa: PLC0415 - browser tests only

    profile = tmp_path_factory.mktemp("chromium-profile")
    async with chromium(profile, width=1400, height=900, timezone=BROWSER_TIMEZONE) as context:
        page = context.pages[0] if context.pages else await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(walk_demo.url)
        await expect(page.locator("#conn")).to_have_attribute("data-state", "on")
        yield page
        assert errors == []


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
async def test_a_relative_reports_a_detention_and_the_follow_up_reaches_the_card(
    walk_demo: Demo, walk_page: Any, language: str
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 - browser tests only

    assert walk_demo.app is not None
    i18n = walk_demo.app.i18n

    def gettext(text: str) -> str:
        return i18n.gettext(text, locale=language)

    page = walk_page
    walk = WALKS[language]
    started = time.monotonic()
    # A person who has never written, whose phone is in this language.
    await page.locator("#new-reporter").click()
    reporter = BrowserReporter(page, gettext)
    await expect(reporter.pane.locator(".start")).to_be_visible()
    await page.locator(f'.lang[data-lang="{language}"]').click()
    await expect(page.locator(f'.lang[data-lang="{language}"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(page.locator("html")).to_have_attribute("lang", language)

    # The phones' headers (chat names, roles) are in the page's language too.
    HEADERS[language] = tuple(await page.locator(".phone-head").all_inner_texts())
    assert len(set(HEADERS.values())) == len(HEADERS), HEADERS
    if language != "en":
        assert not any("Report bot" in head or "Moderator" in head for head in HEADERS[language])

    await reporter.report("detention", walk["answers"])
    code = await reporter.receipt_code()
    moderators = page.locator('[data-pane="moderators"]')
    card = moderators.locator('.msg[data-from="bot"]', has_text=code).first
    await expect(card).to_contain_text(walk["answers"]["subject"])

    # Later the relative writes what happened since, not in reply to anything.
    await reporter.type(walk["follow_up"])
    add = "➕ " + gettext("Add to {code}").format(code=code)
    await reporter.pane.get_by_role("button", name=add, exact=True).click()
    added = gettext(
        "Added to your report {code}. The team will see it. You can write more at any "
        "time; /new starts a new report."
    ).format(code=code)
    await expect(reporter.pane.locator('.msg[data-from="bot"]', has_text=added)).to_be_visible()

    # Under the card: the bot's message quoting the card, with the relative's words.
    addition = moderators.locator('.msg[data-from="bot"]:has(.quote)', has_text=walk["follow_up"])
    await expect(addition).to_be_visible()
    card_id = await card.get_attribute("data-id")
    assert card_id is not None
    await expect(addition.locator(".quote")).to_have_attribute("data-reply-to", card_id)
    await expect(addition.locator(".quote")).to_contain_text(code)
    # Times are the bot's (TIMEZONE, Almaty), not the browser's clock.
    sent = walk_demo.emu.message(walk_demo.group, int(card_id)).date
    almaty = dt.datetime.fromtimestamp(sent, walk_demo.app.settings.tz).strftime("%H:%M")
    await expect(card.locator(".meta time")).to_have_text(almaty)

    TIMES[language] = time.monotonic() - started
    print(f"walk {language}: {TIMES[language]:.1f} s")  # noqa: T201 - the figure to report


async def test_switching_the_language_mid_chat_keeps_the_chat(
    walk_demo: Demo, walk_page: Any
) -> None:
    from playwright.async_api import expect  # noqa: PLC0415 - browser tests only

    assert walk_demo.app is not None
    i18n = walk_demo.app.i18n
    page = walk_page
    await page.locator("#new-reporter").click()
    await page.locator('.lang[data-lang="kk"]').click()
    reporter = BrowserReporter(page, lambda text: i18n.gettext(text, locale="kk"))
    await reporter.pane.locator(".start").click()
    kk_consent = reporter.pane.locator(
        '.msg[data-from="bot"]', has_text=i18n.gettext("Do you agree?", locale="kk")
    )
    await expect(kk_consent).to_be_visible()
    await page.locator('.lang[data-lang="ru"]').click()
    # The bot is asked in the chat, as a person would, and answers in Russian; what was said
    # before is still there.
    ru_consent = reporter.pane.locator(
        '.msg[data-from="bot"]', has_text=i18n.gettext("Do you agree?", locale="ru")
    )
    await expect(ru_consent).to_be_visible()
    await expect(reporter.pane.locator(".msg.mine", has_text="/language")).to_be_visible()
    await expect(kk_consent).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
