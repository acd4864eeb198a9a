"""File storage for the emulator plus tiny image helpers for tests."""

from __future__ import annotations

import mimetypes
import secrets
import struct
import zlib

from bot.demo.emulator.models import StoredFile

#: Size used for photos whose dimensions can't be read from a PNG/JPEG header.
DEFAULT_PHOTO_SIZE = (800, 600)
#: getFile refuses files larger than this (as the public Bot API does).
DOWNLOAD_LIMIT = 20 * 1024 * 1024
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
DOCUMENT_UPLOAD_LIMIT = 50 * 1024 * 1024

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG or JPEG header, or None."""
    if data.startswith(_PNG_MAGIC) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return None


def make_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid solid-colour PNG (decodable by any image library)."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _PNG_MAGIC
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def make_jpeg_header(width: int = 640, height: int = 480) -> bytes:
    """JPEG-looking bytes (SOI, APP0, SOF0, EOI) whose header gives ``width``x``height``.

    Not a decodable image: enough for the emulator and for code that only stores bytes.
    """
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = (
        b"\xff\xc0"
        + struct.pack(">HBHHB", 17, 8, height, width, 3)
        + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


class FileStore:
    """Assigns file_id / file_unique_id / file_path and keeps the bytes."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self._counter = 0

    def add(
        self,
        data: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        self._counter += 1
        prefix = "AgAC" if kind == "photo" else "BQAC"
        file_id = f"{prefix}{self._counter:05d}{secrets.token_urlsafe(18)}"
        unique = f"AQAD{self._counter:05d}{secrets.token_urlsafe(6)}"
        width = height = None
        if kind == "photo":
            width, height = image_size(data) or DEFAULT_PHOTO_SIZE
            mime_type = None
            extension = ".png" if data.startswith(_PNG_MAGIC) else ".jpg"
        else:
            if mime_type is None and file_name:
                mime_type = mimetypes.guess_type(file_name)[0]
            mime_type = mime_type or "application/octet-stream"
            extension = ""
            if file_name and "." in file_name:
                extension = "." + file_name.rsplit(".", 1)[1][:10]
        path = f"{kind}s/file_{self._counter}{extension}"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            data=data,
            kind=kind,
            file_path=path,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self.by_id[file_id] = stored
        self.by_path[path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self.by_id.get(file_id)
