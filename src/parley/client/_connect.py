"""Opening one stream connection, up to its `session_started`, with errors mapped.

A refusal before the upgrade (HTTP 4xx with the API's error body) becomes the same
`ParleyError` the REST calls raise; a socket closed before `session_started` (e.g. 1011,
speech recognition unavailable) becomes `stream_refused` with the close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from parley.client._http import USER_AGENT
from parley.client.errors import (
    INVALID_RESPONSE,
    STREAM_REFUSED,
    TIMEOUT,
    ParleyError,
    connection_error,
    error_from_body,
)

PING_INTERVAL_S = 20.0
CLOSE_TIMEOUT_S = 5.0


async def open_stream(
    url: str, headers: dict[str, str], open_timeout: float
) -> tuple[ClientConnection, list[dict[str, Any]]]:
    """The open connection and the JSON events up to and including `session_started`."""
    try:
        ws = await connect(
            url,
            additional_headers=headers,
            user_agent_header=USER_AGENT,
            compression=None,  # audio does not compress; save the CPU
            max_size=None,
            open_timeout=open_timeout,
            ping_interval=PING_INTERVAL_S,
            close_timeout=CLOSE_TIMEOUT_S,
        )
    except InvalidStatus as exc:
        response = exc.response
        raise error_from_body(response.status_code, bytes(response.body or b"")) from None
    except InvalidURI as exc:
        raise ParleyError(None, "invalid_url", str(exc)) from None
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise connection_error(exc, "opening the stream") from exc
    try:
        early = await asyncio.wait_for(_until_started(ws), open_timeout)
    except TimeoutError:
        await _abandon(ws)
        raise ParleyError(None, TIMEOUT, "no session_started from the server in time") from None
    except BaseException:
        await _abandon(ws)
        raise
    return ws, early


async def _abandon(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT_S)


async def _until_started(ws: ClientConnection) -> list[dict[str, Any]]:
    early: list[dict[str, Any]] = []
    try:
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                continue  # no audio comes before session_started
            try:
                data = json.loads(message)
            except ValueError:
                raise ParleyError(None, INVALID_RESPONSE, "a stream message is not JSON") from None
            if isinstance(data, dict):
                early.append(data)
                if data.get("type") == "session_started":
                    return early
    except ConnectionClosed:
        errors = [e for e in early if e.get("type") == "error"]
        why = (
            str(errors[-1].get("message"))
            if errors
            else ws.close_reason or "the server closed the stream before it started"
        )
        raise ParleyError(None, STREAM_REFUSED, why, close_code=ws.close_code) from None
