"""An alert card as a moderator sees it on a phone: docs/img/card-390.png, shown in the README.

    uv run python -m tools.screenshot_card [--output FILE] [--language kk|ru|en]

Starts the demo (the real bot and the loopback Telegram emulator, nothing leaves the computer),
lets one simulated relative report a detention through the bot, opens the demo page in Chromium
(/usr/bin/chromium) at a 390 px wide viewport and saves the card with its buttons as a PNG. It
also says how tall the card is against the chat's height on that screen (issue 16: a card's text
in a 390 px wide chat should fit one screen). Run it again whenever the card changes. Emoji
need a colour emoji font (Debian: `apt-get install fonts-noto-color-emoji`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from bot.demo import Demo, DemoOptions
from bot.demo.night import NightReport, NightReporter
from bot.settings import LANGUAGES
from tests.demo_browser import chromium

OUTPUT = Path("docs/img/card-390.png")
WIDTH, HEIGHT = 390, 844  # a common phone's viewport in CSS pixels
# The page speaks the browser's language, as the moderators' phones would.
LOCALES = {"kk": "kk-KZ", "ru": "ru-RU", "en": "en-GB"}
# One relative's report, answered in full (details, a photo) so that the card shows everything.
REPORT = NightReport(
    number=1,
    language="ru",
    form="detention",
    subject="Ерлан Демов",
    region="almaty",
    account="Ночью пришли домой и увезли его, куда — не говорят. Телефон выключен.",
    when="вчера в 23:40",
    photo=True,
    details=True,
    contact="chat",
    consent="anonymised",
    follow_up=None,
    seed=7,
)


async def screenshot(output: Path, language: str) -> str:
    from playwright.async_api import expect  # noqa: PLC0415 - a dev dependency

    with tempfile.TemporaryDirectory(prefix="reportbot-screenshot-") as folder:
        demo = Demo(
            DemoOptions(port=0, data_dir=Path(folder) / "demo", moderator_language=language)
        )
        try:
            await demo.start()
            assert demo.app is not None
            person = NightReporter(demo.emu, demo.app.i18n, demo.night_reporter(REPORT), REPORT)
            code = await person.report()
            async with chromium(
                Path(folder) / "profile",
                width=WIDTH,
                height=HEIGHT,
                locale=LOCALES[language],
                scale=2,  # sharp on a high-density screen, as a phone shows it
            ) as context:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(demo.url)
                moderators = page.locator('[data-pane="moderators"]')
                card = moderators.locator('.msg[data-from="bot"]', has_text=code).first
                await expect(card).to_be_visible()
                await card.scroll_into_view_if_needed()
                chat_height = await moderators.locator(".chat").evaluate("n => n.clientHeight")
                text_height = await card.locator(".bubble").evaluate("n => n.offsetHeight")
                card_height = await card.evaluate("n => n.offsetHeight")
                # The whole card, buttons included, even when it is taller than the chat.
                await moderators.evaluate(
                    "n => { n.style.height = 'auto'; n.querySelector('.chat').style.overflow ="
                    " 'visible'; }"
                )
                output.parent.mkdir(parents=True, exist_ok=True)
                await card.screenshot(path=str(output))
        finally:
            await demo.stop()
    return (
        f"{output}: card {code}, text {text_height} px and with its buttons {card_height} px, "
        f"in a chat {chat_height} px high on a {WIDTH}x{HEIGHT} screen"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"PNG to write ({OUTPUT})")
    parser.add_argument(
        "--language", choices=LANGUAGES, default="ru", help="the moderators' language (ru)"
    )
    args = parser.parse_args(argv)
    sys.stdout.write(asyncio.run(screenshot(args.output, args.language)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
