"""The receiver's side of Parley's event webhooks: check a delivery's signature.

    from parley.client.webhooks import verify

    if not verify(secret, request.headers["Parley-Signature"], await request.body()):
        return 400   # not from your Parley server, altered, or older than 5 minutes

The header is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`; pass the
body exactly as received (its bytes, before any JSON parsing).
"""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE_S = 300


def verify(
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True if `header` signs `body` with `secret`, at most `tolerance_s` ago."""
    if not header:
        return False
    raw = body.encode() if isinstance(body, str) else body
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
