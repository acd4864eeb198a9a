"""Pictures without metadata: photos and image files are rebuilt from their pixels alone.

A phone photo's EXIF block carries the GPS position, the time and the phone's make and serial;
PNG text chunks, XMP and ICC profiles can identify the device or the editing app. Stripping
named tags misses what a new camera app invents, so the image is decoded, turned upright (the
orientation tag goes with the rest) and a new image is made from the pixel values only, then
encoded afresh. Nothing of the original file except its pixels reaches the moderators or the
archive, and the original's file_id is never sent on.

HEIC/HEIF (iPhones) is read through pillow-heif and sent on as JPEG.

A file is treated by what its first bytes say it is, never by the MIME type or name the client
gave (both are the sender's to choose): a short list of picture formats is decoded, and only
with the decoder of the format its bytes name (`Image.open(..., formats=[...])`), so EPS and the
other formats Pillow would hand to Ghostscript or a rarely used decoder are never opened. A
picture of more than MAX_PIXELS is refused before its pixels are decoded: a 20 KB PNG can
declare 13000x13000 pixels and would take gigabytes to decode (Pillow, "Image.open",
DecompressionBombWarning). PDFs lose their document information and XMP metadata (pypdf); what
is on their pages stays, and the reporter is told so. Other files (documents, videos) go on as
they are, and the reporter is told that first (README, Reporter safety).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Final

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from handlers.engine.text import N_

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

# The largest picture decoded: a 48-megapixel phone photo fits, and decoding one takes a few
# hundred MB at most. Pillow only warns between MAX_IMAGE_PIXELS and twice that; here the
# warning is an error, and the size is checked from the header before any pixel is decoded.
MAX_PIXELS: Final = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# The picture formats accepted, as Pillow names them; each is recognised by its first bytes.
PICTURE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "HEIF")
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})

register_heif_opener()
# Pillow's decoders log every EXIF tag they read at DEBUG, values included: the GPS position
# and the phone's make would land in the logs of anyone debugging. They stay at INFO.
logging.getLogger("PIL").setLevel(logging.INFO)


# Why a file was refused, said to the reporter in their language (Telegram and Messenger).
REFUSALS = {
    "too_big": N_("This file is too big for the bot (more than 20 MB). Please send a smaller one."),
    "too_many_pixels": N_(
        "This picture has too many pixels (more than 50 megapixels) for the bot to check it for "
        "hidden data, such as the place where it was taken, so it was not accepted. Please send "
        "a smaller picture or a screenshot of it."
    ),
    "unreadable": N_(
        "This picture could not be checked for hidden data, such as the place where it was "
        "taken, so it was not accepted. Please send it as a photo or a screenshot instead."
    ),
}
# What the reporter is told about a file that is passed on (Examined.notice).
NOTICES = {
    "pdf": N_(
        "The PDF's hidden data (author, program, dates) was removed. What is on its pages goes "
        "to the team as it is, including photos inside it and any names on them."
    ),
    "as_is": N_(
        "The bot cannot remove hidden data from this kind of file, so it goes to the team as it "
        "is: documents and videos can keep the author's name, the device, and the place and time "
        "they were made. If that could identify you, delete the file from this chat and send a "
        "screenshot or a photo of it instead."
    ),
}


class CannotClean(Exception):
    """An image that could not be rebuilt; it must not be passed on as it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "too_big", "too_many_pixels" or "unreadable"


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    mime: str
    extension: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def sniff(data: bytes) -> str | None:
    """The format a file's first bytes name: one of PICTURE_FORMATS, "PDF", or None."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "PDF"
    return None


def is_image(kind: str, mime: str | None, name: str | None) -> bool:
    """Whether the sender calls it a picture. Only to refuse what claims to be one and is not:
    what is decoded is chosen by content (sniff)."""
    if kind == "photo":
        return True
    if mime and mime.lower().startswith("image/"):
        return True
    extension = (name or "").rsplit(".", 1)[-1].lower() if name and "." in name else ""
    return extension in IMAGE_EXTENSIONS


def strip_metadata(data: bytes) -> CleanImage:
    """Decode, turn upright and re-encode from the pixels alone. CPU work: run it in a thread.

    Raises CannotClean for anything that is not one of PICTURE_FORMATS by its first bytes, and
    for a picture of more than MAX_PIXELS (checked from the header, before decoding)."""
    kind = sniff(data)
    if kind not in PICTURE_FORMATS:
        raise CannotClean("unreadable")
    try:
        with warnings.catch_warnings():
            # Pillow only warns about a decompression bomb below twice its limit: an error here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise CannotClean("too_many_pixels")
                opened.load()
                lossless = opened.format in LOSSLESS_FORMATS
                upright = ImageOps.exif_transpose(opened)
        alpha = upright.mode in ("RGBA", "LA", "PA") or (
            upright.mode == "P" and "transparency" in upright.info
        )
        converted = upright.convert("RGBA" if alpha else "RGB")
        # A new image from raw pixel bytes has no info dictionary: no EXIF, XMP, ICC, comments.
        pixels = Image.frombytes(converted.mode, converted.size, converted.tobytes())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CannotClean("too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CannotClean("unreadable") from exc
    out = io.BytesIO()
    if alpha or lossless:
        pixels.save(out, "PNG", optimize=True)
        return CleanImage(out.getvalue(), "image/png", "png")
    pixels.save(out, "JPEG", quality=JPEG_QUALITY)
    return CleanImage(out.getvalue(), "image/jpeg", "jpg")


def strip_pdf_metadata(data: bytes) -> CleanImage:
    """A PDF without its document information (author, producer, dates) and XMP metadata.

    Only the container's metadata goes: text, pictures and fonts on the pages stay as they are.
    Raises CannotClean when pypdf cannot rewrite it (encrypted, broken)."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise CannotClean("unreadable")
        writer = PdfWriter(clone_from=reader)
        writer.metadata = None
        for holder in [writer._root_object, *writer.pages]:
            for key in ("/Metadata", "/PieceInfo"):
                holder.pop(key, None)
        out = io.BytesIO()
        writer.write(out)
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CannotClean("unreadable") from exc
    return CleanImage(out.getvalue(), "application/pdf", "pdf")


async def download(bot: Bot, file_id: str, *, size: int | None = None) -> bytes:
    """A Telegram file's bytes; the size Telegram states is checked before downloading."""
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
    data: bytes = buffer.read(DOWNLOAD_LIMIT + 1)
    if len(data) > DOWNLOAD_LIMIT:
        raise CannotClean("too_big")
    return data


async def fetch_clean(bot: Bot, file_id: str, *, size: int | None = None) -> CleanImage:
    """Download a Telegram file and rebuild it without metadata."""
    data = await download(bot, file_id, size=size)
    clean = await asyncio.to_thread(strip_metadata, data)
    log.info("image rebuilt without metadata (%d -> %d bytes)", len(data), len(clean.data))
    return clean


@dataclass(frozen=True)
class Examined:
    """What may be passed on of a file: a cleaned copy, or None for the original as it is;
    `notice` names what the reporter is told first (a key of NOTICES), if anything."""

    clean: CleanImage | None
    notice: str | None = None


def examine(data: bytes, *, claims_picture: bool) -> Examined:
    """Clean a downloaded file by what its bytes are. CPU work: run it in a thread.

    Raises CannotClean for a picture that cannot be rebuilt, and for a file that calls itself a
    picture and is not one of PICTURE_FORMATS (an EPS named .jpg): never passed on as it is."""
    kind = sniff(data)
    if kind in PICTURE_FORMATS or claims_picture:
        return Examined(strip_metadata(data))
    if kind == "PDF":
        try:
            return Examined(strip_pdf_metadata(data), "pdf")
        except CannotClean:
            return Examined(None, "as_is")
    return Examined(None, "as_is")


async def receive(
    bot: Bot, kind: str, file_id: str, *, size: int | None, mime: str | None, name: str | None
) -> Examined:
    """What the bot may pass on of a file a reporter sent (see `examine`). A document too large
    to download (over Telegram's 20 MB for bots) goes on as it is, unless it calls itself a
    picture; the reporter is told either way.

    Raises CannotClean for a picture that cannot be rebuilt: it is refused, never sent as it is.
    """
    claims_picture = is_image(kind, mime, name)
    if size is not None and size > DOWNLOAD_LIMIT and not claims_picture:
        return Examined(None, "as_is")
    data = await download(bot, file_id, size=size)
    examined = await asyncio.to_thread(examine, data, claims_picture=claims_picture)
    if examined.clean is not None:
        cleaned = len(examined.clean.data)
        log.info("file rebuilt without metadata (%d -> %d bytes)", len(data), cleaned)
    return examined


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
    notice: str | None = None  # what the reporter is told about the file (a key of NOTICES)


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
        examined = await receive(bot, kind, file_id, size=size, mime=mime, name=name)
    except CannotClean as exc:
        return ReceivedFile(kind, file_id, mime, name, None, exc.reason)
    return ReceivedFile(kind, file_id, mime, name, examined.clean, notice=examined.notice)


def upload_message(image: CleanImage, kind: str, filename_stem: str) -> dict[str, Any]:
    """An outbox message uploading the cleaned image as a new file (bot/outbox/worker.py format)."""
    return {
        "type": f"{kind}_upload",
        "data": base64.b64encode(image.data).decode(),
        "filename": f"{filename_stem}.{image.extension}",
    }
