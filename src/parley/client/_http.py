"""Configuration and the HTTP layer: one `Call` executed over httpx, sync or async.

Every failure comes out as `ParleyError`: API errors with their status, type and param;
network errors and timeouts with `status=None`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

from parley import __version__
from parley.client._calls import Call, path_segment
from parley.client.errors import INVALID_RESPONSE, ParleyError, connection_error, error_from_body

T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
USER_AGENT = f"parley-python/{__version__}"


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and how to authenticate (shared by REST and streams)."""

    base_url: str
    api_key: str | None
    timeout: float

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None, timeout: float) -> ClientConfig:
        url = base_url or os.environ.get("PARLEY_BASE_URL") or DEFAULT_BASE_URL
        key = api_key if api_key is not None else os.environ.get("PARLEY_API_KEY") or None
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
        return cls(url.rstrip("/"), key, float(timeout))

    def headers(self) -> dict[str, str]:
        out = {"User-Agent": USER_AGENT}
        if self.api_key:
            out["Authorization"] = f"Bearer {self.api_key}"
        return out

    def stream_url(self, session_id: str, params: dict[str, Any]) -> str:
        """The stream's WebSocket URL, derived from `base_url` (http → ws, https → wss)."""
        ws_base = "ws" + self.base_url[len("http") :]
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{ws_base}/v1/conversations/{path_segment(session_id)}/stream?{query}"


def _parse(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise error_from_body(response.status_code, response.content)
    if call.text:
        return call.parse(response.text)
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParleyError(
            response.status_code, INVALID_RESPONSE, f"the server's answer is not JSON: {exc}"
        ) from None
    try:
        return call.parse(data)
    except ParleyError:
        raise
    except (TypeError, ValueError) as exc:
        raise ParleyError(
            response.status_code, INVALID_RESPONSE, f"unexpected answer: {exc}"
        ) from None


def _what(call: Call[Any]) -> str:
    return f"{call.method} {call.path}"


class SyncHTTP:
    def __init__(self, config: ClientConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self._owned = client is None
        self._client = client or httpx.Client(timeout=config.timeout)

    def call(self, call: Call[T]) -> T:
        try:
            response = self._client.request(
                call.method,
                self.config.base_url + call.path,
                json=call.json,
                params=call.params,
                headers=self.config.headers(),
            )
        except httpx.HTTPError as exc:
            raise connection_error(exc, _what(call)) from exc
        return _parse(call, response)

    def close(self) -> None:
        if self._owned:
            self._client.close()


class AsyncHTTP:
    def __init__(self, config: ClientConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._owned = client is None
        self._client = client or httpx.AsyncClient(timeout=config.timeout)

    async def call(self, call: Call[T]) -> T:
        try:
            response = await self._client.request(
                call.method,
                self.config.base_url + call.path,
                json=call.json,
                params=call.params,
                headers=self.config.headers(),
            )
        except httpx.HTTPError as exc:
            raise connection_error(exc, _what(call)) from exc
        return _parse(call, response)

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()
