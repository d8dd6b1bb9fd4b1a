"""Signing a delivery: `Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC is over `f"{t}.{body}"` with the webhook's secret as the key, so a receiver can
check both that the body came from this server and that it is recent (replays of an old
delivery carry an old `t`). `parley.client.webhooks.verify` is the receiver's side.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Parley-Signature"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` signed at `timestamp` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"
