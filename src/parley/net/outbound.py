"""Outbound HTTP that is safe by default: what the server calls on a user's say-so
(webhook tools, event webhooks).

    url ─▶ resolve the host once ─▶ every address public (or allow-listed)? ─▶ connect to
           that checked address (Host header and TLS SNI keep the name) ─▶ no redirects ─▶
           the body read as a stream, at most `max_bytes` (decompressed too)

Refused by default: loopback, private (RFC 1918, ULA), link-local (169.254.0.0/16, the
cloud metadata service, fe80::/10), shared (100.64.0.0/10), multicast, reserved,
unspecified and documentation addresses, and IPv4-mapped / NAT64 IPv6 forms of them —
anything `ipaddress` does not call global. Because the request goes to the address that
was checked, a name that resolves to a public address for the check and to 127.0.0.1 a
moment later (DNS rebinding) cannot get through.

`PARLEY_WEBHOOK_ALLOW` (comma-separated) lets some through: IP addresses or networks
(`127.0.0.1`, `10.0.0.0/8`), host names (`tools.internal`, or `*.internal` for its
subdomains), or `*` for everything (development only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_TIMEOUT_S = 10.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundError(Exception):
    """An outbound request that was not made or whose answer was not taken."""


class OutboundRefused(OutboundError):
    """The URL's address is not one the server may call."""


class ResponseTooLarge(OutboundError):
    """The answer was larger than the cap (counted after decompression)."""


def _embedded_v4(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, IPv4-compatible or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet (unicast, global)."""
    inner = _embedded_v4(ip)
    for candidate in {ip, inner}:
        if (
            not candidate.is_global
            or candidate.is_multicast
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_private
            or candidate.is_reserved
            or candidate.is_unspecified
        ):
            return False
    return True


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class OutboundPolicy:
    """Which addresses outbound requests may reach, and a fetch that keeps to it."""

    def __init__(self, allow: list[str], resolver: Resolver | None = None) -> None:
        self.allow_all = False
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.hosts: set[str] = set()
        self.suffixes: list[str] = []
        for raw in allow:
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                self.allow_all = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                self.suffixes.append(entry[1:])
            else:
                self.hosts.add(entry.rstrip("."))
        self._resolve = resolver or system_resolver

    @classmethod
    def from_settings(cls, settings: Any) -> OutboundPolicy:
        raw = getattr(settings, "webhook_allow", "") or ""
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return cls([str(i) for i in items])

    def allows_host(self, host: str) -> bool:
        return self._host_allowed(host)

    def allows_address(self, ip: IPAddress) -> bool:
        return self._address_allowed(ip)

    def _host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return self.allow_all or host in self.hosts or any(host.endswith(s) for s in self.suffixes)

    def _address_allowed(self, ip: IPAddress) -> bool:
        if self.allow_all or is_public(ip):
            return True
        return any(ip in net or _embedded_v4(ip) in net for net in self.networks)

    async def resolve(self, url: str) -> tuple[httpx.URL, str]:
        """(the URL, the checked address to connect to); raises OutboundRefused."""
        try:
            parts = urlsplit(url)
            port = parts.port
            parsed = httpx.URL(url)
        except (ValueError, httpx.InvalidURL) as exc:
            raise OutboundRefused(f"not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parsed.host:
            raise OutboundRefused("only http:// and https:// URLs with a host are called")
        if parts.username or parts.password:
            raise OutboundRefused("URLs with credentials in them are not called")
        host = parsed.host
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self._resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise OutboundRefused(f"the host {host!r} does not resolve ({exc})") from None
            if not addresses:
                raise OutboundRefused(f"the host {host!r} does not resolve")
        host_ok = literal is None and self._host_allowed(host)
        checked: list[str] = []
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            if not host_ok and not self._address_allowed(ip):
                raise OutboundRefused(
                    f"{host!r} resolves to {ip}, a loopback, private, link-local or reserved "
                    "address; the server does not call those unless PARLEY_WEBHOOK_ALLOW "
                    "lists them"
                )
            checked.append(str(ip))
        return parsed, checked[0]

    async def check_url(self, url: str) -> None:
        """Raise OutboundRefused unless the URL may be called now."""
        await self.resolve(url)

    async def fetch(
        self,
        client: httpx.AsyncClient | None,
        method: str,
        url: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 - the agreed API
        **kw: Any,
    ) -> tuple[int, httpx.Headers, bytes]:
        """Make the request to the checked address: (status, headers, body).

        Redirects are not followed (a 3xx comes back as it is); the body is read as a
        stream and refused (ResponseTooLarge) beyond `max_bytes`, decompressed bytes
        counted, so a small gzip bomb stays small. `timeout` bounds the whole call."""
        async with asyncio.timeout(timeout):
            parsed, address = await self.resolve(url)
            own = client is None
            http = client or httpx.AsyncClient(trust_env=False, follow_redirects=False)
            try:
                headers = httpx.Headers(kw.pop("headers", None) or {})
                headers["accept-encoding"] = "gzip, deflate, identity"
                request = http.build_request(method, parsed, headers=headers, timeout=timeout, **kw)
                request.url = request.url.copy_with(host=address)
                # The Host header was set from the name; TLS checks the certificate
                # against the name too (SNI), while the socket goes to `address`.
                request.extensions = {**request.extensions, "sni_hostname": parsed.host}
                response = await http.send(request, stream=True, follow_redirects=False)
                try:
                    body = await _read_capped(response, max_bytes)
                finally:
                    await response.aclose()
            finally:
                if own:
                    await http.aclose()
        return response.status_code, response.headers, body


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        decoder = None
    elif encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    else:
        raise OutboundError(f"the response is encoded as {encoding!r}, which is not accepted")
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        if decoder is None:
            data = raw
        else:
            try:
                # Never inflate more than the room left (+1 to notice going over).
                data = decoder.decompress(raw, max_bytes - size + 1)
            except zlib.error as exc:
                raise OutboundError(f"the response is not valid {encoding} ({exc})") from None
        size += len(data)
        if size > max_bytes or (decoder is not None and decoder.unconsumed_tail):
            raise ResponseTooLarge(f"the response is larger than {max_bytes} bytes")
        chunks.append(data)
    if decoder is not None:
        tail = decoder.flush()
        if size + len(tail) > max_bytes:
            raise ResponseTooLarge(f"the response is larger than {max_bytes} bytes")
        chunks.append(tail)
    return b"".join(chunks)
