"""The bot's keys: from settings, else from files in DATA_DIR; made on first start.

The crypto itself is storage/sealing.py; this module only finds the key material, and says in
one line (ConfigError) what is wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey, PublicKey
from nacl.utils import random as random_bytes

from bot.settings import ConfigError, Settings
from storage.sealing import Keyring

ORG_PUBLIC_FILE = "org_public.key"
ORG_PRIVATE_FILE = "org_private.key"
SERVER_KEY_FILE = "server.key"
SUBJECT_KEY_FILE = "subject.key"


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


@dataclass(frozen=True)
class OfflinePair:
    public_path: Path
    private_path: Path
    public_key: str  # base64, as ORG_PUBLIC_KEY takes it


def generate_offline_pair(directory: Path) -> OfflinePair:
    """The organisation's key pair, written on the coordinators' machine (`keygen --offline`).

    Only the public key goes to the host (ORG_PUBLIC_KEY); the host makes its own server key on
    its first start. Existing files are never replaced: a lost private key loses the archive.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    public_path, private_path = directory / ORG_PUBLIC_FILE, directory / ORG_PRIVATE_FILE
    for path in (public_path, private_path):
        if path.exists():
            raise ConfigError(f"{path} already exists; refusing to replace a key pair.")
    private = PrivateKey.generate()
    public = _b64(bytes(private.public_key))
    _write_secret(private_path, _b64(bytes(private)) + "\n", exclusive=True)
    public_path.write_text(public + "\n")
    return OfflinePair(public_path, private_path, public)


class MissingServerKey(ConfigError):
    """ORG_PUBLIC_KEY is known and no server key exists yet: the host makes one."""


def generate_server_keys(data_dir: Path) -> Path:
    """The host's own server and subject keys, for a public key made offline."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SERVER_KEY_FILE
    _write_secret(path, _b64(random_bytes(32)) + "\n", exclusive=True)
    subject_path = data_dir / SUBJECT_KEY_FILE
    if not subject_path.exists():
        _write_secret(subject_path, _b64(random_bytes(32)) + "\n", exclusive=True)
    return path


def private_key_on_host(data_dir: Path) -> Path | None:
    """The organisation's private key file in DATA_DIR, if it is (still) there."""
    path = data_dir / ORG_PRIVATE_FILE
    return path if path.exists() else None


def _write_secret(path: Path, text: str, *, exclusive: bool = False) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags | os.O_NOFOLLOW, 0o600)
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
        if settings.server_key is None and not server_file.exists():
            raise MissingServerKey("no server key yet: one is made in DATA_DIR.")
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
