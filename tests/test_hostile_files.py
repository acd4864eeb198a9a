"""Hostile files (issue 14, findings 4 and 9): a pixel bomb is refused from its header, what is
decoded is chosen by the file's bytes, and PDFs lose their metadata."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiogram import Bot
from PIL import Image
from pypdf import PdfReader, PdfWriter

from bot.demo.emulator.telegram import TelegramEmulator
from bot.services.media import (
    REFUSALS,
    CannotClean,
    examine,
    is_image,
    receive,
    sniff,
    strip_metadata,
)
from storage.models import Attachment
from storage.sealing import Keyring
from tests.e2e import moderator_group
from tests.safety import CANARY_MAKE, LIMITS, agree, bot_running, jpeg_with_gps, rows
from tests.test_media import assert_clean

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
)


def png_bomb(path: Path) -> int:
    """A 13000x13000 PNG of about 20 KB: one bit a pixel, all the same."""
    Image.new("1", (13000, 13000), 0).save(path, "PNG", optimize=True)
    return path.stat().st_size


MEASURE = """
import json, resource, sys, time
from bot.services.media import CannotClean, strip_metadata
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    strip_metadata(data)
    outcome = "accepted"
except CannotClean as exc:
    outcome = exc.reason
elapsed = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "seconds": elapsed, "grown_kb": after - before}))
"""


def test_a_small_png_of_169_megapixels_is_refused_quickly_in_little_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    assert png_bomb(bomb) < 64 * 1024
    # A fresh process, so its peak resident memory is this decoding's alone.
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(bomb)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    measured = json.loads(run.stdout)
    assert measured["outcome"] == "too_many_pixels"
    assert measured["seconds"] < 1.0
    assert measured["grown_kb"] < 50 * 1024  # before: 2.3 GB and 8 s


def test_pillows_warning_zone_is_an_error_too() -> None:
    # Between MAX_IMAGE_PIXELS and twice that Pillow only warns; it is refused all the same.
    out = io.BytesIO()
    Image.new("1", (8000, 8000), 0).save(out, "PNG")
    with pytest.raises(CannotClean) as refused:
        strip_metadata(out.getvalue())
    assert refused.value.reason == "too_many_pixels"


def test_an_eps_named_jpg_is_refused_and_never_opened_by_pillow() -> None:
    assert is_image("document", "image/jpeg", "photo.jpg")
    assert sniff(EPS) is None
    with pytest.raises(CannotClean) as refused:
        examine(EPS, claims_picture=True)
    assert refused.value.reason == "unreadable"
    with pytest.raises(CannotClean):
        strip_metadata(EPS)


def test_an_eps_named_pdf_goes_on_as_it_is_with_a_notice() -> None:
    examined = examine(EPS, claims_picture=False)
    assert examined.clean is None
    assert examined.notice == "as_is"


def test_a_jpeg_named_pdf_is_cleaned_as_a_jpeg() -> None:
    original = jpeg_with_gps((64, 48))
    assert not is_image("document", "application/pdf", "summons.pdf")
    examined = examine(original, claims_picture=False)
    assert examined.clean is not None
    assert examined.clean.mime == "image/jpeg"
    assert_clean(examined.clean.data)


def pdf_with_metadata() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Author": "Canary Person", "/Producer": CANARY_MAKE})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_loses_its_document_information_and_the_reporter_is_told() -> None:
    original = pdf_with_metadata()
    assert b"Canary Person" in original
    examined = examine(original, claims_picture=False)
    assert examined.clean is not None and examined.notice == "pdf"
    assert examined.clean.mime == "application/pdf"
    assert b"Canary Person" not in examined.clean.data
    assert CANARY_MAKE.encode() not in examined.clean.data
    assert len(PdfReader(io.BytesIO(examined.clean.data)).pages) == 1


class FakeBot:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.downloads = 0

    async def download(self, file_id: str) -> io.BytesIO:
        self.downloads += 1
        return io.BytesIO(self.data)


async def test_the_stated_size_is_checked_before_downloading() -> None:
    fake = FakeBot(b"")
    bot = cast(Bot, fake)
    with pytest.raises(CannotClean) as refused:
        await receive(bot, "document", "x", size=21 * 1024 * 1024, mime=None, name="a.jpg")
    assert refused.value.reason == "too_big"
    big: Any = await receive(bot, "document", "x", size=21 * 1024 * 1024, mime=None, name="a.mp4")
    assert big.clean is None and big.notice == "as_is"
    assert fake.downloads == 0


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_the_reporter_is_told_in_their_language_and_nothing_reaches_the_team(
    emu: TelegramEmulator, migrated_url: str, keyring: Keyring, tmp_path: Path
) -> None:
    group = moderator_group(emu)
    user = emu.user(language_code="ru")
    png_bomb(tmp_path / "bomb.png")
    async with bot_running(emu, migrated_url, keyring, tmp_path) as bot:
        await agree(emu, user)
        await user.send_document((tmp_path / "bomb.png").read_bytes(), "scan.png")
        expected = bot.app.i18n.gettext(REFUSALS["too_many_pixels"], locale="ru")
        told = await emu.wait_for_bot_message(user, lambda m: "50" in (m.text or ""))
        assert told.text == expected
        await user.send_document(EPS, "IMG_0001.jpg", "image/jpeg")
        unreadable = bot.app.i18n.gettext(REFUSALS["unreadable"], locale="ru")
        await emu.wait_for_bot_message(user, lambda m: m.text == unreadable)
    assert [m for m in emu.chat_messages(group) if m.kind in ("photo", "document")] == []
    assert await rows(migrated_url, Attachment) == []
