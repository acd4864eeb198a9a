"""Webhook signatures: Meta signs every POST with the app secret (X-Hub-Signature-256).

https://developers.facebook.com/docs/messenger-platform/webhooks#validate-payloads: the header is
`sha256=` and the hex HMAC-SHA256 of the raw request body, keyed with the app secret. It must be
computed over the bytes as received: re-serialised JSON would not match (Meta escapes non-ASCII
characters as \\uXXXX).
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def signature_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether the header is the body's signature; constant-time, so it leaks nothing."""
    if not header or not header.startswith(PREFIX):
        return False
    expected = sign(body, app_secret).encode()
    return hmac.compare_digest(expected, header.strip().lower().encode("utf-8", "replace"))


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """The proof Graph asks for when the app requires it: HMAC-SHA256 of the token."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
