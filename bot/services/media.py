"""Pictures without metadata: photos and image files are rebuilt from their pixels alone.

A phone photo's EXIF block carries the GPS position, the time and the phone's make and serial;
PNG text chunks, XMP and ICC profiles can identify the device or the editing app. Stripping
named tags misses what a new camera app invents, so the image is decoded, turned upright (the
orientation tag goes with the rest) and a new image is made from the pixel values only, then
encoded afresh. Nothing of the original file except its pixels reaches the moderators or the
archive, and the original's file_id is never sent on.

HEIC/HEIF (iPhones) is read through pillow-heif and sent on as JPEG.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

log = logging.getLogger(__name__)

# Extensions of image files people send as documents (to avoid Telegram's compression).
IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "jfif", "png", "heic", "heif", "webp", "tif", "tiff", "gif", "bmp"}
)
JPEG_QUALITY = 90
# Screenshots and scans of documents stay lossless (PNG): JPEG would blur small print.
LOSSLESS_FORMATS = frozenset({"PNG", "GIF", "BMP", "TIFF"})
# Telegram's getFile serves at most 20 MB to bots (core.telegram.org/bots/api#getfile).
DOWNLOAD_LIMIT = 20 * 1024 * 1024

register_heif_opener()
# Pillow's decoders log every EXIF tag they read at DEBUG, values included: the GPS position
# and the phone's make would land in the logs of anyone debugging. They stay at INFO.
logging.getLogger("PIL").setLevel(logging.INFO)


class CannotClean(Exception):
    """An image that could not be rebuilt; it must not be passed on as it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "too_big" or "unreadable"


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    mime: str
    extension: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def is_image(kind: str, mime: str | None, name: str | None) -> bool:
    if kind == "photo":
        return True
    if mime and mime.lower().startswith("image/"):
        return True
    extension = (name or "").rsplit(".", 1)[-1].lower() if name and "." in name else ""
    return extension in IMAGE_EXTENSIONS


def strip_metadata(data: bytes) -> CleanImage:
    """Decode, turn upright and re-encode from the pixels alone. CPU work: run it in a thread."""
    try:
        with warnings.catch_warnings():
            # Pillow warns before refusing a decompression bomb; the refusal is what counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                lossless = opened.format in LOSSLESS_FORMATS
                upright = ImageOps.exif_transpose(opened)
        alpha = upright.mode in ("RGBA", "LA", "PA") or (
            upright.mode == "P" and "transparency" in upright.info
        )
        converted = upright.convert("RGBA" if alpha else "RGB")
        # A new image from raw pixel bytes has no info dictionary: no EXIF, XMP, ICC, comments.
        pixels = Image.frombytes(converted.mode, converted.size, converted.tobytes())
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise CannotClean("unreadable") from exc
    out = io.BytesIO()
    if alpha or lossless:
        pixels.save(out, "PNG", optimize=True)
        return CleanImage(out.getvalue(), "image/png", "png")
    pixels.save(out, "JPEG", quality=JPEG_QUALITY)
    return CleanImage(out.getvalue(), "image/jpeg", "jpg")


async def fetch_clean(bot: Bot, file_id: str, *, size: int | None = None) -> CleanImage:
    """Download a Telegram file and rebuild it without metadata."""
    if size is not None and size > DOWNLOAD_LIMIT:
        raise CannotClean("too_big")
    try:
        buffer = await bot.download(file_id)
    except TelegramBadRequest as exc:
        if "too big" in exc.message.lower():
            raise CannotClean("too_big") from exc
        raise
    if buffer is None:  # only when a destination is given; never here
        raise CannotClean("unreadable")
    data = buffer.read()
    clean = await asyncio.to_thread(strip_metadata, data)
    log.info("image rebuilt without metadata (%d -> %d bytes)", len(data), len(clean.data))
    return clean


async def receive(
    bot: Bot, kind: str, file_id: str, *, size: int | None, mime: str | None, name: str | None
) -> CleanImage | None:
    """What the bot may pass on of a file a reporter sent: a cleaned image, or None when it is
    not an image (a PDF and the like, passed on as Telegram has it).

    Raises CannotClean for an image that cannot be rebuilt: it is refused, never sent as it is.
    """
    if not is_image(kind, mime, name):
        return None
    return await fetch_clean(bot, file_id, size=size)


@dataclass(frozen=True)
class ReceivedFile:
    """A photo or document a reporter sent, fetched and cleaned before the update's transaction
    opens (handlers/telegram/middlewares.py): the download and the decoding never hold a
    database lock."""

    kind: str  # "photo" or "document"
    file_id: str
    mime: str | None
    name: str | None
    clean: CleanImage | None  # the picture rebuilt without metadata; None for other files
    refused: str | None = None  # why a picture could not be cleaned (CannotClean.reason)


async def prefetch_file(bot: Bot, message: Message) -> ReceivedFile | None:
    """The file of a reporter's message, cleaned if it is a picture; None for other messages."""
    if message.photo:
        largest = message.photo[-1]  # Telegram lists the sizes smallest first
        kind, file_id, size, mime, name = "photo", largest.file_id, largest.file_size, None, None
    elif message.document is not None:
        document = message.document
        kind, file_id, size = "document", document.file_id, document.file_size
        mime, name = document.mime_type, document.file_name
    else:
        return None
    try:
        clean = await receive(bot, kind, file_id, size=size, mime=mime, name=name)
    except CannotClean as exc:
        return ReceivedFile(kind, file_id, mime, name, None, exc.reason)
    return ReceivedFile(kind, file_id, mime, name, clean)


def upload_message(image: CleanImage, kind: str, filename_stem: str) -> dict[str, Any]:
    """An outbox message uploading the cleaned image as a new file (bot/outbox/worker.py format)."""
    return {
        "type": f"{kind}_upload",
        "data": base64.b64encode(image.data).decode(),
        "filename": f"{filename_stem}.{image.extension}",
    }
