"""The organisation's private key off the host (issue 14, finding 2): made offline, only the
public key printed; while a private key sits in DATA_DIR the moderator chat is told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli import _ensure_keys
from bot.demo.emulator.telegram import TelegramEmulator
from bot.keys import ORG_PRIVATE_FILE, ORG_PUBLIC_FILE, SERVER_KEY_FILE, generate_offline_pair
from bot.settings import ConfigError, load_settings
from storage.sealing import Keyring
from tests.e2e import moderator_group
from tests.safety import LIMITS, bot_running
from tests.test_cli import _reportbot


def test_keygen_offline_prints_only_the_public_key_line(tmp_path: Path) -> None:
    result = _reportbot(tmp_path, "keygen", "--offline", "coordinators", DATA_DIR="data")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ORG_PUBLIC_KEY=")
    private = tmp_path / "coordinators" / ORG_PRIVATE_FILE
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_text().strip() not in result.stdout + result.stderr
    assert lines[0].removeprefix("ORG_PUBLIC_KEY=") == (
        (tmp_path / "coordinators" / ORG_PUBLIC_FILE).read_text().strip()
    )
    assert not (tmp_path / "data").exists()  # nothing written where the bot lives
    again = _reportbot(tmp_path, "keygen", "--offline", "coordinators")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_host_given_only_the_public_key_makes_its_server_key_and_no_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = generate_offline_pair(tmp_path / "offline")
    settings = load_settings(data_dir=tmp_path / "data", org_public_key=pair.public_key)
    keyring = _ensure_keys(settings)
    assert (tmp_path / "data" / SERVER_KEY_FILE).exists()
    assert not (tmp_path / "data" / ORG_PRIVATE_FILE).exists()
    assert "PRIVATE" not in capsys.readouterr().err
    assert keyring.org_public is not None
    # A second start keeps the same server key.
    assert _ensure_keys(settings).server_key == keyring.server_key
    with pytest.raises(ConfigError):
        generate_offline_pair(tmp_path / "offline")


def test_every_start_with_the_private_key_on_the_host_is_loud(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    _ensure_keys(settings)  # a first start: keys made, as before, for someone trying the bot
    assert "OFF this host" in capsys.readouterr().err
    _ensure_keys(settings)  # and again at the next start, not only when the key was written
    assert "OFF this host" in capsys.readouterr().err


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_the_moderator_chat_is_told_while_the_private_key_is_on_the_host(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    (tmp_path / ORG_PRIVATE_FILE).write_text("not read, only found\n")
    async with bot_running(emu, migrated_url, keyring, tmp_path, moderator_language="en"):
        told = await emu.wait_for_bot_message(
            group, lambda m: "private key" in (m.text or ""), timeout=10
        )
    assert "every day" in (told.text or "")
    assert str(tmp_path / ORG_PRIVATE_FILE) in (told.text or "")
