"""The outbound policy: refused addresses, pinning to the checked address, no redirects,
capped (and decompressed-capped) bodies — against a real local HTTP server."""

from __future__ import annotations

import gzip
import ipaddress
import zlib
from collections.abc import Iterator

import pytest

from parley.config import Settings
from parley.net.outbound import (
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    ResponseTooLarge,
    is_public,
)
from tests.net.webserver import WebServer


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


BLOCKED = [
    "127.0.0.1",
    "127.9.9.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.1.2.3/",
        "http://0.0.0.0:80/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://localhost/",
        "ftp://example.com/",
        "http://user:pw@example.com/",
        "http:///nohost",
    ],
)
async def test_check_url_refuses_internal_targets(url: str) -> None:
    with pytest.raises(OutboundRefused):
        await OutboundPolicy([]).check_url(url)


async def test_a_name_resolving_to_any_internal_address_is_refused() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with pytest.raises(OutboundRefused, match="127.0.0.1"):
        await OutboundPolicy([], resolver=resolver).check_url("http://mixed.example/")


async def test_allow_list_networks_and_hosts() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["10.1.2.3"]

    await OutboundPolicy(["10.0.0.0/8"], resolver).check_url("http://svc.internal/")
    await OutboundPolicy(["svc.internal"], resolver).check_url("http://svc.internal/")
    await OutboundPolicy(["*.internal"], resolver).check_url("http://a.svc.internal/")
    with pytest.raises(OutboundRefused):
        await OutboundPolicy(["192.168.0.0/16", "other.internal"], resolver).check_url(
            "http://svc.internal/"
        )
    settings = Settings(webhook_allow="127.0.0.1, 10.0.0.0/8")
    await OutboundPolicy.from_settings(settings).check_url("http://127.0.0.1:9/")


async def test_fetch_refuses_loopback_without_connecting(web: WebServer) -> None:
    with pytest.raises(OutboundRefused):
        await OutboundPolicy([]).fetch(None, "GET", web.url + "/secret")
    assert web.requests == []


async def test_fetch_connects_to_the_checked_address_keeping_the_name(web: WebServer) -> None:
    """DNS rebinding: the name is resolved once, checked, and that address is dialled.
    `rebind.test` exists only in this resolver; a second lookup would give a public
    address here and would not reach the local server."""
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["93.184.216.34"]

    policy = OutboundPolicy(["127.0.0.1"], resolver)
    status, _headers, body = await policy.fetch(
        None, "POST", f"http://rebind.test:{web.port}/hook", json={"a": 1}
    )
    assert (status, body) == (200, b'{"ok": true}')
    assert calls == ["rebind.test"]
    assert web.requests[0]["headers"]["host"] == f"rebind.test:{web.port}"
    assert web.requests[0]["body"] == b'{"a": 1}' or web.requests[0]["body"] == b'{"a":1}'


async def test_redirects_are_not_followed(web: WebServer) -> None:
    web.answer = (302, {"Location": "http://169.254.169.254/latest/"}, b"")
    status, headers, _ = await OutboundPolicy(["127.0.0.1"]).fetch(None, "GET", web.url + "/r")
    assert status == 302 and headers["location"].startswith("http://169.254.169.254")
    assert len(web.requests) == 1


async def test_body_over_the_cap_is_refused(web: WebServer) -> None:
    web.answer = (200, {}, b"x" * 50_000)
    policy = OutboundPolicy(["127.0.0.1"])
    with pytest.raises(ResponseTooLarge):
        await policy.fetch(None, "GET", web.url, max_bytes=10_000)
    _, _, body = await policy.fetch(None, "GET", web.url, max_bytes=50_000)
    assert len(body) == 50_000


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_refused_while_small(web: WebServer, encoding: str) -> None:
    plain = b"\0" * (64 * 1024 * 1024)  # 64 MiB of zeros
    packed = gzip.compress(plain, 9) if encoding == "gzip" else zlib.compress(plain, 9)
    assert len(packed) < 200_000
    web.answer = (200, {"Content-Encoding": encoding}, packed)
    with pytest.raises(ResponseTooLarge):
        await OutboundPolicy(["127.0.0.1"]).fetch(None, "GET", web.url, max_bytes=1_000_000)


async def test_small_compressed_answers_are_decoded(web: WebServer) -> None:
    web.answer = (200, {"Content-Encoding": "gzip"}, gzip.compress(b'{"status": "ok"}'))
    _, _, body = await OutboundPolicy(["127.0.0.1"]).fetch(None, "GET", web.url)
    assert body == b'{"status": "ok"}'


async def test_unknown_encodings_are_refused(web: WebServer) -> None:
    web.answer = (200, {"Content-Encoding": "br"}, b"\x0b\x02\x80")
    with pytest.raises(OutboundError):
        await OutboundPolicy(["127.0.0.1"]).fetch(None, "GET", web.url)


async def test_the_timeout_bounds_the_whole_call() -> None:
    import asyncio

    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["93.184.216.34"]

    with pytest.raises(TimeoutError):
        await OutboundPolicy([], slow).fetch(None, "GET", "http://slow.example/", timeout=0.2)
