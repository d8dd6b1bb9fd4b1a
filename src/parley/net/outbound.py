"""Calls the server makes to addresses its users give it (event webhooks, webhook tools).

Such a URL must not let a caller reach what only the server can reach: loopback, private
networks, link-local (cloud metadata at 169.254.169.254), multicast, reserved ranges. The
policy resolves the host, refuses the URL unless *every* address it resolves to is public
(or allowed by the operator), and the request then connects to the address that was
checked, so a DNS answer that changes between the check and the connection (rebinding)
cannot get through. Redirects are not followed and response bodies are capped.

    policy = OutboundPolicy.from_allow("127.0.0.1,10.0.0.0/8,hooks.internal")
    await policy.check_url(url)             # raises OutboundRefused(message)
    async with policy.client(timeout=5) as http:   # an httpx.AsyncClient pinned to checked IPs
        response = await send(http, "POST", url, json=body, max_body_bytes=65536)

`PARLEY_WEBHOOK_ALLOW` (comma-separated hosts, IPs and CIDRs) is the operator's allow-list.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class OutboundRefused(Exception):
    """The URL may not be called; `message` says why (safe to show to the caller)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Target:
    """A checked URL: its host and port, and the addresses it may be reached at."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[str, ...]


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class OutboundPolicy:
    """Which addresses outbound calls may reach: public ones, and the operator's allow-list."""

    def __init__(
        self,
        allow_hosts: Iterable[str] = (),
        allow_networks: Iterable[IPNetwork] = (),
        resolver: Resolver | None = None,
    ) -> None:
        self.allow_hosts = frozenset(h.lower().rstrip(".") for h in allow_hosts)
        self.allow_networks = tuple(allow_networks)
        self._resolve = resolver or system_resolver

    @classmethod
    def from_allow(cls, allow: str | None, resolver: Resolver | None = None) -> OutboundPolicy:
        """From a comma-separated allow-list (`PARLEY_WEBHOOK_ALLOW`): host names, IPs, CIDRs."""
        hosts: list[str] = []
        networks: list[IPNetwork] = []
        for item in (allow or "").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.append(item)
        return cls(hosts, networks, resolver)

    @classmethod
    def from_settings(cls, settings: Any) -> OutboundPolicy:
        return cls.from_allow(getattr(settings, "webhook_allow", None))

    def address_allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return _public(ip) or any(ip in net for net in self.allow_networks)

    async def resolve(self, url: str | httpx.URL) -> Target:
        """The URL checked: http(s), a host, every resolved address allowed."""
        try:
            parsed = httpx.URL(url) if isinstance(url, str) else url
        except (httpx.InvalidURL, TypeError) as exc:
            raise OutboundRefused(f"Invalid URL: {exc}.") from None
        if parsed.scheme not in ("http", "https"):
            raise OutboundRefused("Only http:// and https:// URLs can be called.")
        host = parsed.host.lower().rstrip(".")
        if not host:
            raise OutboundRefused("The URL has no host.")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await self._resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise OutboundRefused(f"The host {host!r} cannot be resolved ({exc}).") from None
        if not addresses:
            raise OutboundRefused(f"The host {host!r} has no address.")
        if host not in self.allow_hosts:
            for address in addresses:
                if not self.address_allowed(address):
                    raise OutboundRefused(
                        f"The host {host!r} resolves to {address}, a loopback, private, "
                        "link-local, multicast or reserved address; the server does not "
                        "call those unless the operator allows them (PARLEY_WEBHOOK_ALLOW)."
                    )
        return Target(parsed, host, port, tuple(addresses))

    async def check_url(self, url: str) -> None:
        """Raise `OutboundRefused` unless `url` may be called."""
        await self.resolve(url)

    def client(self, timeout: float, **kwargs: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` whose every request is checked and pinned (no redirects,
        no proxies from the environment)."""
        return httpx.AsyncClient(
            transport=PinnedTransport(self),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"Accept-Encoding": "identity"},  # the body cap counts what is read
            **kwargs,
        )


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks each request's URL with the policy and connects to the checked address;
    the `Host` header and the TLS server name (SNI, certificate check) stay the host's."""

    def __init__(self, policy: OutboundPolicy, inner: httpx.AsyncBaseTransport | None = None):
        self.policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = await self.policy.resolve(request.url)
        if target.addresses[0] != target.host:
            if "host" not in request.headers:
                request.headers["Host"] = request.url.netloc.decode("ascii")
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": target.host}
            request.url = request.url.copy_with(host=target.addresses[0])
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class OutboundResponse:
    status_code: int
    headers: httpx.Headers
    body: bytes
    truncated: bool  # the body was longer than the cap


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    **kwargs: Any,
) -> OutboundResponse:
    """One request on a policy client; reads at most `max_body_bytes` of the answer.
    Raises `OutboundRefused`, or `httpx.HTTPError` (timeouts included)."""
    async with client.stream(method, url, **kwargs) as response:
        body = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > max_body_bytes:
                del body[max_body_bytes:]
                truncated = True
                break
    return OutboundResponse(response.status_code, response.headers, bytes(body), truncated)
