"""The command line as a person meets it: clear one-line errors, keys, migrations, a real run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.demo.emulator.ratelimit import RateLimitConfig
from bot.demo.emulator.telegram import TelegramEmulator
from bot.i18n import create_i18n
from tests.e2e import MODERATOR_CHAT_ID, TOKEN, fill_report, moderator_group, submit

SETTINGS_VARIABLES = (
    "BOT_TOKEN",
    "MODERATOR_CHAT_ID",
    "DATABASE_URL",
    "TELEGRAM_API_URL",
    "ORG_PUBLIC_KEY",
    "SERVER_KEY",
    "DATA_DIR",
    "ADMIN_IDS",
)


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_VARIABLES}
    env.update(values)
    return env


def _reportbot(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_without_token_says_so_in_one_line(tmp_path: Path) -> None:
    result = _reportbot(tmp_path, "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "BOT_TOKEN" in lines[0]
    assert "BotFather" in lines[0]
    assert "Traceback" not in result.stderr


def test_run_without_moderator_chat_says_how_to_find_it(tmp_path: Path) -> None:
    result = _reportbot(tmp_path, "run", BOT_TOKEN=TOKEN)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "MODERATOR_CHAT_ID" in result.stderr
    assert "getUpdates" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MODERATOR_CHAT_ID", "moderators"),
        ("DATABASE_URL", "mysql://x"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("ADMIN_IDS", "1,two"),
    ],
)
def test_malformed_setting_names_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    env = {"BOT_TOKEN": TOKEN, "MODERATOR_CHAT_ID": "-100123", variable: value}
    result = _reportbot(tmp_path, "run", **env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"reportbot: {variable} is malformed")
    assert "Traceback" not in result.stderr


def test_keygen_writes_private_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = _reportbot(tmp_path, "keygen", DATA_DIR="keys")
    assert result.returncode == 0
    private = tmp_path / "keys" / "org_private.key"
    assert str(private) in result.stderr
    assert "OFF this host" in result.stderr
    assert private.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys" / "server.key").stat().st_mode & 0o777 == 0o600
    again = _reportbot(tmp_path, "keygen", DATA_DIR="keys")
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_migrate_creates_the_embedded_database(tmp_path: Path) -> None:
    result = _reportbot(tmp_path, "migrate", DATA_DIR="data")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "reportbot.db").exists()


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    limits = RateLimitConfig(private_per_second=10, private_burst=30)
    async with TelegramEmulator(rate_limits=limits) as emulator:
        yield emulator


async def test_reportbot_run_serves_a_whole_report(emu: TelegramEmulator, tmp_path: Path) -> None:
    group = moderator_group(emu)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=_env(
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=emu.base_url,
            MODERATOR_CHAT_ID=str(MODERATOR_CHAT_ID),
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        user = emu.user(language_code="kk")
        # The bot sets its command menu right before it starts polling.
        await emu.wait_until(lambda: len(emu.calls_to("setMyCommands")) == 4, timeout=30)
        answers = {
            "subject": "Серік",
            "bank": ("pick", "halyk"),
            "noticed": "бүгін",
            "media": "done",
            "contact": ("pick", "none"),
            "consent": ("pick", "anonymised"),
        }
        review = await fill_report(
            emu, create_i18n(), user, "account_freeze", answers, language="kk"
        )
        await submit(emu, user, review)
        card = await emu.wait_for_bot_message(
            group, lambda m: "Серік" in (m.text or ""), timeout=15
        )
        assert "F-" in (card.text or "")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    log = stderr.decode()
    assert "org_private.key" in log  # first start: keys generated, and it says where
    assert (tmp_path / "data" / "reportbot.db").exists()
    assert "Серік" not in log
