"""Sealing and server-side encryption (DESIGN.md section 3, principle 3).

- Report content is sealed to the organisation's public key (libsodium sealed box). The bot holds
  only the public key, so it cannot read its own archive; coordinators open it offline.
- What the bot must read back (drafts, a reporter's chat id, pending outbox payloads) is encrypted
  with the server key (XSalsa20-Poly1305 secret box) and carries the key id.
- Lookups (a reporter's external id, a subject's name) use keyed BLAKE2b hashes with subkeys derived
  from the server key, so a stolen database cannot be joined against a list of Telegram ids.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.encoding import RawEncoder
from nacl.exceptions import CryptoError
from nacl.hash import blake2b
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

from bot.settings import ConfigError, Settings

ORG_PUBLIC_FILE = "org_public.key"
ORG_PRIVATE_FILE = "org_private.key"
SERVER_KEY_FILE = "server.key"
SUBJECT_KEY_FILE = "subject.key"
# Subject hashes are cut to 32 bits: enough to hint "possibly the same person" among recent
# reports, too short to confirm a guessed name against the database with any certainty.
SUBJECT_INDEX_HEX = 8


def key_id_of(material: bytes) -> str:
    """A short, stable, non-secret identifier of a key, stored beside what it encrypts."""
    return blake2b(material, digest_size=4, person=b"reportbot-kid", encoder=RawEncoder).hex()


def _derive(server_key: bytes, purpose: bytes) -> bytes:
    return blake2b(
        b"",
        key=server_key,
        digest_size=32,
        person=purpose[:16].ljust(16, b"\0"),
        encoder=RawEncoder,
    )


class DecryptError(Exception):
    """Encrypted data could not be opened: wrong key, or tampered."""


@dataclass(frozen=True)
class Keyring:
    org_public: PublicKey
    server_key: bytes
    # Its own key (not derived from the server key), so rotating one does not expose the other.
    subject_key: bytes

    @property
    def org_key_id(self) -> str:
        return key_id_of(bytes(self.org_public))

    @property
    def server_key_id(self) -> str:
        return key_id_of(self.server_key)

    # --- sealed archive ----------------------------------------------------------------------
    def seal(self, payload: dict[str, Any]) -> bytes:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return SealedBox(self.org_public).encrypt(data)

    # --- server-side encryption ----------------------------------------------------------------
    def _box(self) -> SecretBox:
        return SecretBox(_derive(self.server_key, b"rb-encrypt"))

    def encrypt(self, data: bytes) -> bytes:
        return bytes(self._box().encrypt(data))

    def decrypt(self, data: bytes) -> bytes:
        try:
            return self._box().decrypt(data)
        except CryptoError as exc:
            raise DecryptError("cannot decrypt with the configured server key") from exc

    def encrypt_json(self, value: Any) -> bytes:
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())

    def decrypt_json(self, data: bytes) -> Any:
        return json.loads(self.decrypt(data))

    # --- keyed hashes --------------------------------------------------------------------------
    def lookup_hash(self, channel: str, external_id: str | int) -> str:
        key = _derive(self.server_key, b"rb-lookup")
        message = f"{channel}:{external_id}".encode()
        return blake2b(message, key=key, digest_size=16, encoder=RawEncoder).hex()

    def subject_index(self, name: str) -> str | None:
        """A truncated keyed hash of a normalised name, for duplicate hints."""
        normalised = normalise_name(name)
        if not normalised:
            return None
        digest = blake2b(
            normalised.encode(), key=self.subject_key, digest_size=16, encoder=RawEncoder
        )
        return digest.hex()[:SUBJECT_INDEX_HEX]


_NAME_FOLD = str.maketrans({"ё": "е", "й": "и", "ъ": "", "ь": ""})


def normalise_name(name: str) -> str:
    """Case, punctuation, word order and ё/й spelling do not change who a name means."""
    words = [
        "".join(ch for ch in word if ch.isalpha()).translate(_NAME_FOLD)
        for word in name.casefold().split()
    ]
    return " ".join(sorted(word for word in words if len(word) > 1))


def open_sealed(private_key: PrivateKey, sealed: bytes) -> dict[str, Any]:
    """Open a sealed payload offline (export); raises DecryptError on a wrong key."""
    try:
        data = SealedBox(private_key).decrypt(sealed)
    except CryptoError as exc:
        raise DecryptError("this private key does not open the archive") from exc
    result: dict[str, Any] = json.loads(data)
    return result


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _unb64(value: str, variable: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{variable} is malformed: not base64.") from None
    if len(raw) != size:
        raise ConfigError(f"{variable} is malformed: expected {size} bytes, got {len(raw)}.")
    return raw


@dataclass(frozen=True)
class GeneratedKeys:
    public_path: Path
    private_path: Path
    server_path: Path


def generate_keys(data_dir: Path, *, overwrite: bool = False) -> GeneratedKeys:
    """Write a new organisation key pair and server key into data_dir (private files 0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = GeneratedKeys(
        data_dir / ORG_PUBLIC_FILE, data_dir / ORG_PRIVATE_FILE, data_dir / SERVER_KEY_FILE
    )
    existing = [p for p in (paths.public_path, paths.server_path) if p.exists()]
    subject_path = data_dir / SUBJECT_KEY_FILE
    if existing and not overwrite:
        raise ConfigError(
            f"{existing[0]} already exists; refusing to replace keys that may seal existing "
            "reports (use --force to rotate)."
        )
    private = PrivateKey.generate()
    _write_secret(paths.private_path, _b64(bytes(private)) + "\n")
    paths.public_path.write_text(_b64(bytes(private.public_key)) + "\n")
    _write_secret(paths.server_path, _b64(random_bytes(32)) + "\n")
    _write_secret(subject_path, _b64(random_bytes(32)) + "\n")
    return paths


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def load_private_key(path: Path) -> PrivateKey:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the private key {path}: {exc.strerror}.") from None
    return PrivateKey(_unb64(text, str(path), 32))


def load_keyring(settings: Settings) -> Keyring | None:
    """Keys from settings, else from DATA_DIR; None when neither exists (first start)."""
    public_text = settings.org_public_key.get_secret_value() if settings.org_public_key else None
    server_text = settings.server_key.get_secret_value() if settings.server_key else None
    public_file = settings.data_dir / ORG_PUBLIC_FILE
    server_file = settings.data_dir / SERVER_KEY_FILE
    if public_text is None and public_file.exists():
        public_text = public_file.read_text()
    if server_text is None and server_file.exists():
        server_text = server_file.read_text()
    if public_text is None and server_text is None:
        return None
    if public_text is None:
        raise ConfigError("ORG_PUBLIC_KEY is not set but SERVER_KEY is: set both, or neither.")
    if server_text is None:
        raise ConfigError("SERVER_KEY is not set but ORG_PUBLIC_KEY is: set both, or neither.")
    return Keyring(
        org_public=PublicKey(_unb64(public_text, "ORG_PUBLIC_KEY", 32)),
        server_key=_unb64(server_text, "SERVER_KEY", 32),
        subject_key=_load_subject_key(settings),
    )


def _load_subject_key(settings: Settings) -> bytes:
    if settings.subject_key is not None:
        return _unb64(settings.subject_key.get_secret_value(), "SUBJECT_KEY", 32)
    path = settings.data_dir / SUBJECT_KEY_FILE
    if not path.exists():
        # Installations keyed before duplicate hints existed get their subject key now.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _write_secret(path, _b64(random_bytes(32)) + "\n")
    return _unb64(path.read_text(), str(path), 32)
