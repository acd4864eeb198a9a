"""Image metadata: moderators get images rebuilt from pixels; the original never goes on."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from PIL import Image, PngImagePlugin

from bot.demo.emulator.telegram import TelegramEmulator
from bot.services.media import CannotClean, is_image, strip_metadata
from storage.models import Attachment, Report
from storage.sealing import Keyring, open_sealed
from tests.e2e import fill_report, moderator_group, submit
from tests.safety import CANARY_MAKE, GPS, GPS_IFD, LIMITS, OTHER, bot_running, jpeg_with_gps, rows


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "43.2389 N, 76.8897 E canary")
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (10, 10, 10)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def assert_clean(data: bytes) -> None:
    assert b"Exif" not in data
    assert CANARY_MAKE.encode() not in data
    assert b"canary" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert dict(image.getexif()) == {}
        assert not {"exif", "xmp", "icc_profile", "comment", "Location"} & set(image.info)


def test_jpeg_loses_exif_and_gps_and_is_turned_upright() -> None:
    original = jpeg_with_gps((64, 48))
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get_ifd(GPS_IFD)  # the fixture really carries a position
    clean = strip_metadata(original)
    assert clean.mime == "image/jpeg"
    assert_clean(clean.data)
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.size == (48, 64)  # the orientation was applied to the pixels


def test_png_text_chunks_are_dropped_and_png_stays_lossless() -> None:
    clean = strip_metadata(png_with_text())
    assert clean.mime == "image/png"
    assert_clean(clean.data)


def test_heic_is_read_and_sent_on_as_jpeg() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    image = Image.new("RGB", (32, 32), (200, 10, 10))
    exif = Image.Exif()
    exif[0x010F] = CANARY_MAKE
    exif[GPS_IFD] = GPS
    out = io.BytesIO()
    try:
        image.save(out, "HEIF", exif=exif.tobytes())
    except (KeyError, OSError, ValueError) as exc:  # libheif built without an encoder
        pytest.skip(f"no HEIF encoder here: {exc}")
    assert pillow_heif.is_supported(out.getvalue())
    clean = strip_metadata(out.getvalue())
    assert clean.mime == "image/jpeg"
    assert_clean(clean.data)


def test_what_cannot_be_read_is_refused_not_passed_on() -> None:
    with pytest.raises(CannotClean):
        strip_metadata(b"\xff\xd8\xff\xe1 not really a jpeg")
    assert is_image("document", "image/heic", "IMG_0001.HEIC")
    assert is_image("document", None, "scan.jpeg")
    assert not is_image("document", "application/pdf", "summons.pdf")


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(rate_limits=LIMITS) as emulator:
        yield emulator
        assert emulator.internal_errors == []


async def test_photo_and_image_file_reach_moderators_without_metadata(
    emu: TelegramEmulator,
    migrated_url: str,
    keyring: Keyring,
    org_private_key: PrivateKey,
    tmp_path: Path,
) -> None:
    group = moderator_group(emu)
    user = emu.user(language_code="en")
    answers = {
        **OTHER,
        "agency": ("pick", "knb"),
        "appointment": "tomorrow 10:00",
        "summons_photo": ("photo", jpeg_with_gps()),
        # Sent as a file to avoid Telegram's compression: the EXIF block would survive that.
        "media": ("document", jpeg_with_gps((80, 60)), "IMG_20261121_093012.jpg"),
        "checkin": ("pick", "no"),
    }
    async with bot_running(emu, migrated_url, keyring, tmp_path) as bot:
        review = await fill_report(emu, bot.app.i18n, user, "summons", answers, language="en")
        assert "1 file" in (review.text or "")
        await submit(emu, user, review)
        await emu.wait_for_bot_message(group, lambda m: m.kind == "document", timeout=10)
    original_ids = {m.file_id for m in emu.chat_messages(user) if m.kind in ("photo", "document")}
    assert len(original_ids) == 2

    forwarded = [m for m in emu.chat_messages(group) if m.kind in ("photo", "document")]
    assert [m.kind for m in forwarded] == ["photo", "document"]
    for message in forwarded:
        assert message.file_id not in original_ids
        stored = emu.files.get(message.file_id or "")
        assert stored is not None
        assert_clean(stored.data)
    # Neither original's file_id went into any request: nothing was forwarded or re-sent by id.
    for call in emu.calls:
        if call.method.startswith(("send", "copy", "forward")):
            assert not {str(v) for v in call.params.values()} & original_ids, call.method
    # Camera file names carry the time the picture was taken: not passed on either.
    assert all("IMG_2026" not in str(call.params) for call in emu.calls if call.ok)

    (report,) = await rows(migrated_url, Report)
    sealed = open_sealed(org_private_key, report.sealed_payload)
    items = [*sealed["answers"]["summons_photo"], *sealed["answers"]["media"]]
    assert [item["kind"] for item in items] == ["photo", "document"]
    for item in items:
        assert "file_id" not in item
        assert "name" not in item
        assert item["metadata_removed"] is True
        assert len(item["sha256"]) == 64
    assert await rows(migrated_url, Attachment) == []  # taken into the alert, then gone
