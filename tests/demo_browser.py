"""The demo page in Chromium, shared by the browser tests and the card screenshot.

Playwright drives Debian's Chromium (/usr/bin/chromium). `.ci/run` installs it when missing;
locally `apt-get install chromium`. Without it a test is skipped, except under CI, where it
fails: a silently skipped browser test would prove nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.demo import Demo, DemoOptions
from bot.demo.night import step_asked
from handlers.engine.forms import StepKind
from handlers.engine.vocab import INCIDENT_TYPES

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium before the tests")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")


@asynccontextmanager
async def running_demo(data_dir: Path, **options: Any) -> AsyncIterator[Demo]:
    """The whole demo (emulator, bot, page) on a free port, stopped on the way out."""
    demo = Demo(DemoOptions(port=0, data_dir=data_dir, **options))
    try:
        await demo.start()
        yield demo
    finally:
        await demo.stop()
    assert demo.emu.internal_errors == []


@asynccontextmanager
async def chromium(
    profile: Path,
    *,
    width: int = 1400,
    height: int = 900,
    locale: str = "en-GB",
    scale: float = 1,
    timezone: str | None = None,
) -> AsyncIterator[Any]:
    """A headless Chromium context (Playwright's BrowserContext)."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - browser tests only

    executable = chromium_path()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            locale=locale,
            device_scale_factor=scale,
            timezone_id=timezone,
        )
        try:
            yield context
        finally:
            await context.close()


# The newest bot message with buttons that is still a question (an answered one keeps "✓ ..."
# and loses its buttons), known by id and text: the bot may ask the next question by editing
# the message that asked the last one.
_NEWEST_PROMPT = """
([pane, handled]) => {
  const nodes = document.querySelectorAll(`[data-pane="${pane}"] .msg[data-from="bot"]`);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const text = (node.querySelector(".text") || {}).textContent || "";
    const key = node.dataset.id + "|" + text;
    if (handled.includes(key)) return null;
    if (node.querySelector(".kb-btn") && !text.includes("\\n✓ ")) return key;
  }
  return null;
}
"""


class BrowserReporter:
    """A person filling a report in the page's reporter pane, by labels as they read them."""

    def __init__(self, page: Any, gettext: Callable[[str], str]) -> None:
        self.page = page
        self.pane = page.locator('[data-pane="reporter"]')
        self.gettext = gettext
        self.handled: list[str] = []

    async def button(self, message: Any, label: str) -> None:
        await message.get_by_role("button", name=label, exact=True).click()

    async def next_prompt(self) -> Any:
        """Waits (on the page's own updates) for a question not answered yet."""
        handle = await self.page.wait_for_function(
            _NEWEST_PROMPT, arg=["reporter", self.handled], timeout=15_000
        )
        key: str = await handle.json_value()
        self.handled.append(key)
        return self.pane.locator(f'.msg[data-id="{key.split("|", 1)[0]}"]')

    async def type(self, text: str) -> None:
        await self.pane.locator(".input").fill(text)
        await self.pane.locator(".input").press("Enter")

    async def report(
        self, form_key: str, answers: dict[str, Any], photo: bytes | None = None
    ) -> None:
        """START (if the chat is new), consent, the form's questions, Send."""
        gettext = self.gettext
        start = self.pane.locator(".start")
        if await start.is_visible():
            await start.click()
        else:
            await self.type("/new")
        consent = await self.next_prompt()
        await self.button(consent, "✅ " + gettext("I agree"))
        menu = await self.next_prompt()
        kind = INCIDENT_TYPES.get(form_key)
        assert kind is not None
        await self.button(menu, gettext(kind.label))
        uploaded = False
        send = "✅ " + gettext("Send the report")
        confirm = "✅ " + gettext("Yes, that's right")
        for _ in range(40):
            prompt = await self.next_prompt()
            if await prompt.get_by_role("button", name=send, exact=True).count():
                await self.button(prompt, send)
                return
            if await prompt.get_by_role("button", name=confirm, exact=True).count():
                await self.button(prompt, confirm)  # a date read back, as it was meant
                continue
            text = await prompt.locator(".text").inner_text()
            step = step_asked(text, form_key, gettext)
            answer = answers.get(step.key, "skip")
            if step.kind == StepKind.MEDIA and photo is not None and answer == "photo":
                if uploaded:
                    await self.button(prompt, "✔ " + gettext("Done"))
                else:
                    await self.pane.locator(".file").set_input_files(
                        {"name": "protocol.png", "mimeType": "image/png", "buffer": photo}
                    )
                    uploaded = True
            elif answer in ("skip", "photo"):
                await self.button(prompt, gettext("Skip") + " »")
            elif isinstance(answer, tuple):
                vocabulary = step.vocabulary
                assert vocabulary is not None
                option = vocabulary.get(answer[1])
                assert option is not None
                await self.button(prompt, gettext(option.label))
            else:
                await self.type(answer)
        raise AssertionError("the report never reached the review screen")

    async def receipt_code(self) -> str:
        """The code in the bot's receipt, once it is on the page."""
        from playwright.async_api import expect  # noqa: PLC0415 - browser tests only

        receipt = self.pane.locator('.msg[data-from="bot"]', has_text=CODE).last
        await expect(receipt).to_be_visible()
        found = CODE.search(await receipt.inner_text())
        assert found is not None
        return found.group(1)
