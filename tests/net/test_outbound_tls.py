"""HTTPS through the pinned address: the socket goes to the checked IP while TLS
verifies the certificate against the URL's name (SNI), so pinning breaks no HTTPS
webhook — against a real TLS server on 127.0.0.1 with a certificate for a name."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from parley.net.outbound import OutboundPolicy

NAME = "hooks.example.test"


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    cert, key = _certificate(tmp_path)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Host", ""))
            body = b'{"ok": "tls"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1]), cert, seen
    server.shutdown()


async def test_https_to_the_pinned_address_verifies_the_name(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    port, cert, seen = tls_server

    async def resolver(host: str, port: int) -> list[str]:
        assert host == NAME
        return ["127.0.0.1"]

    policy = OutboundPolicy(["127.0.0.1"], resolver)
    trust = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(verify=trust) as client:
        status, _, body = await policy.fetch(client, "GET", f"https://{NAME}:{port}/x")
        assert (status, body) == (200, b'{"ok": "tls"}')
        assert seen == [f"{NAME}:{port}"]
        # a certificate for another name is still refused: verification is real
        other = OutboundPolicy(["127.0.0.1"], lambda h, p: resolver(NAME, p))
        with pytest.raises(httpx.ConnectError):
            await other.fetch(client, "GET", f"https://other.example.test:{port}/x")
