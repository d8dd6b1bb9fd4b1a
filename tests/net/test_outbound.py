"""The outbound-address policy over real sockets: refusals, allow-list, pinning, caps."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest

from parley.net.outbound import OutboundPolicy, OutboundRefused, PinnedTransport, send
from tests.doubles.receiver import Receiver, Reply

PUBLIC = "93.184.216.34"  # a global address; never connected to here


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/",  # resolved: 127.0.0.1
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[ff02::1]/",
    ],
)
async def test_refuses_non_public_targets(url: str) -> None:
    with pytest.raises(OutboundRefused) as err:
        await OutboundPolicy.from_allow("").check_url(url)
    assert "PARLEY_WEBHOOK_ALLOW" in err.value.message


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///x", "::"])
async def test_refuses_other_schemes_and_hostless_urls(url: str) -> None:
    with pytest.raises(OutboundRefused):
        await OutboundPolicy.from_allow("").check_url(url)


async def test_allow_list_by_ip_cidr_and_host() -> None:
    await OutboundPolicy.from_allow(f"{PUBLIC}").check_url(f"http://{PUBLIC}/")
    await OutboundPolicy.from_allow("127.0.0.1").check_url("http://127.0.0.1:9/")
    await OutboundPolicy.from_allow("10.0.0.0/8").check_url("http://10.9.8.7/")
    await OutboundPolicy.from_allow(" localhost , 10.0.0.0/8").check_url("http://localhost/")
    with pytest.raises(OutboundRefused):
        await OutboundPolicy.from_allow("10.0.0.0/8").check_url("http://127.0.0.1/")
    with pytest.raises(OutboundRefused):
        await OutboundPolicy.from_allow("10.0.0.0/8").check_url("http://192.168.1.1/")
    policy = OutboundPolicy.from_allow("127.0.0.1")
    assert policy.allow_networks == (ipaddress.ip_network("127.0.0.1/32"),)


async def test_a_name_with_one_private_address_is_refused() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return [PUBLIC, "10.0.0.5"]

    with pytest.raises(OutboundRefused) as err:
        await OutboundPolicy.from_allow("", resolver).check_url("http://mixed.example/")
    assert "10.0.0.5" in err.value.message


async def test_connects_to_the_checked_address_with_the_host_header(rx: Receiver) -> None:
    """The name is resolved once, by the policy; the socket goes to that address."""
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    policy = OutboundPolicy.from_allow("127.0.0.1", resolver)
    async with policy.client(timeout=5) as http:
        response = await send(http, "POST", f"http://hooks.example:{rx.port}/x", json={"a": 1})
    assert response.status_code == 200 and response.body == b"ok"
    assert asked == ["hooks.example"]  # not resolvable by the system: the pin was used
    (got,) = rx.received
    assert got.headers["host"] == f"hooks.example:{rx.port}" and got.path == "/x"


async def test_dns_rebinding_after_the_check_is_refused(rx: Receiver) -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])

    async def resolver(host: str, port: int) -> list[str]:
        return next(answers)

    policy = OutboundPolicy.from_allow("", resolver)
    url = f"http://rebind.example:{rx.port}/"
    await policy.check_url(url)  # public at check time
    async with policy.client(timeout=5) as http:
        with pytest.raises(OutboundRefused):
            await send(http, "POST", url, content=b"x")
    assert rx.received == []


async def test_redirects_are_not_followed(rx: Receiver) -> None:
    rx.plan(Reply(302, b"", headers=((b"location", rx.url("/elsewhere").encode()),)))
    async with OutboundPolicy.from_allow("127.0.0.1").client(timeout=5) as http:
        response = await send(http, "GET", rx.url("/start"))
    assert response.status_code == 302
    assert [r.path for r in rx.received] == ["/start"]


async def test_response_body_is_capped(rx: Receiver) -> None:
    rx.plan(Reply(200, b"x" * 1_000_000))
    async with OutboundPolicy.from_allow("127.0.0.1").client(timeout=5) as http:
        response = await send(http, "GET", rx.url(), max_body_bytes=1000)
    assert response.truncated and len(response.body) == 1000


async def test_https_keeps_the_host_name_for_tls() -> None:
    """Pinned to the checked IP, a TLS connection still names (and verifies) the host."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async def resolver(host: str, port: int) -> list[str]:
        return [PUBLIC]

    policy = OutboundPolicy.from_allow("", resolver)
    transport = PinnedTransport(policy, inner=httpx.MockTransport(answer))
    async with httpx.AsyncClient(transport=transport) as http:
        response = await http.post("https://hooks.example/events", content=b"{}")
    assert response.status_code == 204
    (request,) = seen
    assert request.url.host == PUBLIC and request.url.path == "/events"
    assert request.headers["host"] == "hooks.example"
    assert request.extensions["sni_hostname"] == "hooks.example"
