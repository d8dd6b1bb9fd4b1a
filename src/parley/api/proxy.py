"""Forwarded headers, believed only from the proxies in `PARLEY_FORWARDED_ALLOW_IPS`.

From a trusted peer, `X-Forwarded-Proto` sets the scheme and the first `X-Forwarded-For`
the client address (what the access log and limits see); `X-Forwarded-Host` is then used
for `websocket_url`. From anyone else every `X-Forwarded-*` header is dropped before the
app sees it, so a client cannot make the server hand out URLs of its choosing.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted(raw: str) -> tuple[bool, list[Network]]:
    """(trust everyone, networks) from a comma-separated list of IPs/networks or `*`."""
    everyone, nets = False, []
    for item in (p.strip() for p in raw.split(",")):
        if item == "*":
            everyone = True
        elif item:
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue  # a host name: not supported, ignored
    return everyone, nets


class ForwardedHeaders:
    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.everyone, self.networks = parse_trusted(trusted)

    def _trusted(self, host: str | None) -> bool:
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        headers = list(scope.get("headers", []))
        forwarded = {k: v for k, v in headers if k.startswith(b"x-forwarded-")}
        if not forwarded:
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        if not self._trusted(client[0] if client else None):
            scope["headers"] = [(k, v) for k, v in headers if not k.startswith(b"x-forwarded-")]
        else:
            proto = forwarded.get(b"x-forwarded-proto", b"").decode("latin-1")
            proto = proto.split(",")[0].strip().lower()
            if proto in ("http", "https", "ws", "wss"):
                secure = proto in ("https", "wss")
                if scope["type"] == "websocket":
                    scope["scheme"] = "wss" if secure else "ws"
                else:
                    scope["scheme"] = "https" if secure else "http"
            hops = forwarded.get(b"x-forwarded-for", b"").decode("latin-1").split(",")
            if hops[0].strip():
                scope["client"] = (hops[0].strip(), 0)
        await self.app(scope, receive, send)
