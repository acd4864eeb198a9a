"""The web form's mailboxes (README, "The web form"): a way back to a reporter with no account.

A mailbox belongs to one report. Its passphrase is never stored: argon2id (libsodium's
crypto_pwhash, through PyNaCl) turns passphrase and salt into the seed of a key pair, and only the
public key is kept. The team's messages are sealed to that key (libsodium sealed box), so only
someone who knows the passphrase reads them; checking a passphrase is deriving the key again and
comparing the public halves (slow on purpose, and salted per mailbox).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from dataclasses import dataclass
from typing import Any

from nacl import pwhash
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.utils import random as random_bytes
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Checkin, CheckinState, WebMailbox, WebMessage
from storage.repositories import _insert_ignoring_conflicts
from storage.sealing import Keyring

SALT_BYTES = pwhash.argon2id.SALTBYTES
# libsodium's "interactive" limits (64 MiB, 2 passes): the passphrase's own entropy (README,
# "The web form": at least 64 bits) is what stops an offline search, the cost slows guessing.
OPSLIMIT = pwhash.argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT = pwhash.argon2id.MEMLIMIT_INTERACTIVE


def derive_key(passphrase: str, salt: bytes) -> PrivateKey:
    """The mailbox's private key: argon2id of the normalised passphrase (CPU and memory bound:
    call it in a thread)."""
    seed = pwhash.argon2id.kdf(
        32, normalise(passphrase).encode(), salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT
    )
    return PrivateKey(seed)


# Kazakh letters typed as their Russian look-alikes (a phone without a Kazakh keyboard), and ё.
_FOLD = str.maketrans("әғқңөұүһіё", "агкноуухие")


def normalise(passphrase: str) -> str:
    """Case, spacing and Kazakh letters typed as Russian ones do not matter when a passphrase
    is typed back."""
    return " ".join(passphrase.lower().translate(_FOLD).split())


def new_key(passphrase: str) -> tuple[bytes, bytes]:
    """(salt, public key) for a new mailbox."""
    salt = random_bytes(SALT_BYTES)
    return salt, bytes(derive_key(passphrase, salt).public_key)


def opens(mailbox: WebMailbox, passphrase: str) -> PrivateKey | None:
    """The mailbox's private key if the passphrase is right, else None (constant-time compare)."""
    key = derive_key(passphrase, mailbox.salt)
    return key if hmac.compare_digest(bytes(key.public_key), mailbox.public_key) else None


@dataclass(frozen=True)
class Letter:
    kind: str  # the outbox row's kind: "question", "status", "receipt"...
    text: str
    at: dt.datetime


class WebMailboxes:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def create(
        self, *, report_id: int, reporter_id: int, salt: bytes, public_key: bytes, now: dt.datetime
    ) -> WebMailbox:
        mailbox = WebMailbox(
            report_id=report_id,
            reporter_id=reporter_id,
            salt=salt,
            public_key=public_key,
            created_at=now,
        )
        self.session.add(mailbox)
        await self.session.flush()
        return mailbox

    async def of_report(self, report_id: int) -> WebMailbox | None:
        result = await self.session.execute(
            select(WebMailbox).where(WebMailbox.report_id == report_id).with_for_update()
        )
        return result.scalar_one_or_none()

    async def of_reporter(self, reporter_id: int) -> WebMailbox | None:
        result = await self.session.execute(
            select(WebMailbox).where(WebMailbox.reporter_id == reporter_id).limit(1)
        )
        return result.scalar_one_or_none()

    def _token_hash(self, token: str) -> str:
        return self.keyring.lookup_hash("web-answer", token)

    def allow_answer(self, mailbox: WebMailbox, token: str, until: dt.datetime) -> None:
        mailbox.answer_token = self._token_hash(token)
        mailbox.answer_until = until

    def may_answer(self, mailbox: WebMailbox, token: str, now: dt.datetime) -> bool:
        if mailbox.answer_token is None or mailbox.answer_until is None:
            return False
        if mailbox.answer_until <= now:
            return False
        return hmac.compare_digest(mailbox.answer_token, self._token_hash(token))

    async def deliver(
        self, mailbox_id: int, public_key: bytes, key: str, kind: str, text: str, now: dt.datetime
    ) -> None:
        """Seal one message to the mailbox; a second delivery under the same key is dropped."""
        body = json.dumps({"kind": kind, "text": text}).encode()
        sealed = SealedBox(PublicKey(public_key)).encrypt(body)
        await self.session.execute(
            _insert_ignoring_conflicts(
                self.session,
                WebMessage,
                {
                    "mailbox_id": mailbox_id,
                    "delivery_key": key,
                    "sealed": sealed,
                    "created_at": now,
                },
            )
        )

    async def letters(self, mailbox: WebMailbox, key: PrivateKey) -> list[Letter]:
        result = await self.session.execute(
            select(WebMessage).where(WebMessage.mailbox_id == mailbox.id).order_by(WebMessage.id)
        )
        opened: list[Letter] = []
        box = SealedBox(key)
        for row in result.scalars():
            data: dict[str, Any] = json.loads(box.decrypt(row.sealed))
            opened.append(Letter(str(data.get("kind")), str(data.get("text")), row.created_at))
        return opened

    async def checkins(self, report_id: int) -> list[Checkin]:
        """The report's safety check-ins still open: scheduled, asked, or missed (a late
        "I am safe" still helps the team)."""
        open_states = (CheckinState.SCHEDULED, CheckinState.ASKED, CheckinState.MISSED)
        result = await self.session.execute(
            select(Checkin)
            .where(
                Checkin.report_id == report_id, Checkin.state.in_([s.value for s in open_states])
            )
            .order_by(Checkin.id)
        )
        return list(result.scalars())
