"""Webhook header secrets, encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key is `PARLEY_SECRET_KEY` (a Fernet key: `python -c "from cryptography.fernet
import Fernet; print(Fernet.generate_key().decode())"`) or, without it, a key file
`secret.key` created in the data directory on first use (mode 0600). Several servers
sharing one database must share the key: set PARLEY_SECRET_KEY on each.
Stored values look like `fernet:<token>`; the API never returns them (`"***"`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "fernet:"
REDACTED = "***"


class SecretError(Exception):
    pass


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, settings: Any) -> SecretBox:
        configured = getattr(settings, "secret_key", None)
        if configured:
            return cls(configured.encode())
        path = Path(settings.data_dir) / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(Fernet.generate_key())
        for _ in range(50):  # the other process may still be writing it
            key = path.read_bytes().strip()
            if key:
                return cls(key)
            time.sleep(0.01)
        raise SecretError(f"{path} is empty; delete it or set PARLEY_SECRET_KEY")

    def seal(self, value: str) -> str:
        if value.startswith(PREFIX):
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value  # stored before encryption existed
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretError(
                "a header secret cannot be decrypted (PARLEY_SECRET_KEY changed?); "
                "create the tool again"
            ) from None
