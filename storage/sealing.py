"""Sealing and server-side encryption (README, "What is stored, and how").

- Report content is sealed to the organisation's public key (libsodium sealed box). The bot holds
  only the public key, so it cannot read its own archive; coordinators open it offline.
- What the bot must read back (drafts, a reporter's chat id, pending outbox payloads) is encrypted
  with the server key (XSalsa20-Poly1305 secret box) and carries the key id.
- Lookups (a reporter's external id, a subject's name) use keyed BLAKE2b hashes with subkeys derived
  from the server key, so a stolen database cannot be joined against a list of Telegram ids.

Where the keys come from (settings, key files) is the application's business: bot/keys.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nacl.encoding import RawEncoder
from nacl.exceptions import CryptoError
from nacl.hash import blake2b
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

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

    def flood_mark(self, external_hash: str) -> str:
        """The account's mark in flood_marks: from its lookup hash, so an erasure (which
        replaces the reporter's lookup hash) does not change it; another key, so the two
        tables cannot be joined without the server key."""
        key = _derive(self.server_key, b"rb-flood")
        return blake2b(external_hash.encode(), key=key, digest_size=16, encoder=RawEncoder).hex()

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
