"""Public identifiers: a prefix and 12 lowercase alphanumerics (`conv_abc123def456`)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_KEY_ALPHABET = string.ascii_letters + string.digits

CONVERSATION = "conv"
AGENT = "agt"
AGENT_SESSION = "ses"
ACCOUNT = "acct"


def new_id(prefix: str, length: int = 12) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def new_api_key() -> str:
    """A fresh API key: `prl_` and 40 base62 characters (238 bits)."""
    return "prl_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))


def turn_id(seq: int) -> str:
    """`turn_001`, `turn_002`, … (more digits past 999)."""
    return f"turn_{seq:03d}"
