"""A double of Twilio's REST API (the Call resource), over real HTTP on 127.0.0.1.

It speaks what the official `twilio` client sends and expects:
`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`, HTTP Basic auth with the
account sid and auth token, a form-encoded body (`Twiml=…`), and answers the Call
resource as JSON — or Twilio's error body (`code`, `message`, `more_info`, `status`).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tests.doubles.threaded import ThreadedServer

_CALL = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/(CA[0-9a-zA-Z]{32})\.json$")


@dataclass
class CallUpdate:
    account_sid: str
    call_sid: str
    form: dict[str, str]
    user_agent: str


class TwilioAPI(ThreadedServer):
    thread_name = "twilio-api-double"

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.updates: list[CallUpdate] = []
        self.live_calls: set[str] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def asgi_app(self) -> Any:
        return self._app

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, answer = self._handle(scope["method"], scope["path"], headers, body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    def _error(self, status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
        more = f"https://www.twilio.com/docs/errors/{code}"
        return status, {"code": code, "message": message, "more_info": more, "status": status}

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return self._error(401, 20003, "Authenticate")
        match = _CALL.match(path)
        if method != "POST" or match is None or match.group(1) != self.account_sid:
            return self._error(404, 20404, f"The requested resource {path} was not found")
        if "application/x-www-form-urlencoded" not in headers.get("content-type", ""):
            return self._error(400, 20001, "Content-Type must be form-encoded")
        call_sid = match.group(2)
        if call_sid not in self.live_calls:
            return self._error(404, 20404, f"The requested resource {path} was not found")
        form = dict(parse_qsl(body.decode()))
        self.updates.append(
            CallUpdate(match.group(1), call_sid, form, headers.get("user-agent", ""))
        )
        return 200, {
            "sid": call_sid,
            "account_sid": self.account_sid,
            "status": "in-progress",
            "direction": "inbound",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call_sid}.json",
        }
