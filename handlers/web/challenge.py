"""A challenge that needs no JavaScript and no address (README, "The web form", flood control).

The start page asks a small sum in words and carries the question signed with a key derived
from the server key (a keyed hash), with the time it was asked. The answer is accepted once,
between MIN_WAIT and MAX_AGE after it was asked: a person reads the notice first, a script
must wait too. It stops no determined programmer by itself; with the token's own limits (a
browser's reports an hour, messages a minute) and the global ones it makes each fake report
cost a fresh token, a wait and a solved sum. Nothing in it depends on the client's address.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from storage.sealing import Keyring

MIN_WAIT = dt.timedelta(seconds=2)
MAX_AGE = dt.timedelta(minutes=30)


def _sign(keyring: Keyring, nonce: str, issued: int, answer: int) -> str:
    return keyring.lookup_hash("web-challenge", f"{nonce}:{issued}:{answer}")


def issue(keyring: Keyring, now: dt.datetime) -> tuple[int, int, str]:
    """(a, b, signed): the sum a + b to ask, and the hidden field that checks the answer."""
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    nonce = secrets.token_urlsafe(12)
    issued = int(now.timestamp())
    return a, b, f"{nonce}.{issued}.{_sign(keyring, nonce, issued, a + b)}"


def nonce_of(signed: str) -> str:
    return signed.split(".", 1)[0][:32]


def check(
    keyring: Keyring,
    signed: str,
    answer: str,
    now: dt.datetime,
    *,
    min_wait: dt.timedelta | None = None,
) -> bool:
    """Whether `answer` solves the challenge, in time (its one use is checked by the caller)."""
    parts = signed.split(".")
    if len(parts) != 3 or not parts[1].isdecimal() or len(parts[1]) > 12:
        return False
    nonce, issued_text, signature = parts
    digits = answer.strip()
    if not digits.isdecimal() or len(digits) > 3:
        return False
    issued = dt.datetime.fromtimestamp(int(issued_text), dt.UTC)
    wait = MIN_WAIT if min_wait is None else min_wait
    if not issued + wait <= now <= issued + MAX_AGE:
        return False
    expected = _sign(keyring, nonce, int(issued_text), int(digits))
    return hmac.compare_digest(expected, signature)
