"""HTTPS through the broker against a real TLS server (``sandbox/host/connections.py``,
``PinnedTLSConnection``): TCP goes to the checked address, TLS names the URL's host.

A certificate authority and a certificate for ``localhost`` are made here (the
``cryptography`` package the runtime already uses for secrets); the server listens on
127.0.0.1 and every name is answered by a resolver passed in. What must hold: a
certificate for the URL's host, from a trusted authority, is accepted and its
connection kept alive; a certificate for another name, or from an authority the
broker does not trust, is refused before any request is sent, as a retry with the
reason.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from functions_runtime.sandbox.host.broker import Broker
from tests.http_servers import serving

ALLOW = ("localhost", "other.test")


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _authority_and_leaf(folder: Path) -> tuple[Path, Path, Path]:
    """A CA (its certificate) and a certificate + key for ``localhost`` it signed."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("functions test CA"))
        .issuer_name(_name("functions test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.peers.add(self.client_address)
            self.server.hosts.append(self.headers.get("Host", ""))
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"secure")


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.lock = threading.Lock()
        self.peers: set[tuple[str, int]] = set()
        self.hosts: list[str] = []

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # The handshake in the request's own thread (``do_handshake_on_connect``), so a
        # client that refuses the certificate never holds up the accepting loop.
        return self.context.wrap_socket(sock, server_side=True), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that refuse the certificate hang up mid-handshake


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return _authority_and_leaf(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki: tuple[Path, Path, Path]) -> Iterator[_TLSServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki[1], pki[2])
    with serving(_TLSServer(context)) as srv:
        yield srv


def _trusting(pki: tuple[Path, Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki[0]))
    return context


def _loopback(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def _get(broker: Broker, url: str) -> dict[str, Any]:
    session = broker.session("i", allow=ALLOW, secrets=())
    answer: dict[str, Any] = session.fetch(
        {"op": "fetch", "url": url, "method": "GET", "headers": []}
    )
    return answer


def test_a_trusted_certificate_for_the_urls_host_is_accepted_and_kept(
    server: _TLSServer, pki: tuple[Path, Path, Path]
) -> None:
    broker = Broker(resolver=_loopback, tls_context=_trusting(pki))
    url = f"https://localhost:{server.server_address[1]}/"
    for _ in range(2):
        answer = _get(broker, url)
        assert (answer.get("status"), answer.get("body")) == (200, "secure"), answer
    assert len(server.peers) == 1  # one handshake, one kept-alive connection
    assert server.hosts == [f"localhost:{server.server_address[1]}"] * 2
    broker.close()


def test_a_certificate_for_another_name_is_refused(
    server: _TLSServer, pki: tuple[Path, Path, Path]
) -> None:
    # other.test resolves to the same address: TLS must still name other.test, and the
    # certificate (for localhost) must not do for it.
    broker = Broker(resolver=_loopback, tls_context=_trusting(pki))
    answer = _get(broker, f"https://other.test:{server.server_address[1]}/")
    assert answer["error"]["type"] == "RetryError"
    assert "TLS certificate check failed" in answer["record"]["error"]
    assert "other.test" in answer["record"]["error"]
    assert server.hosts == []  # no request was sent
    broker.close()


def test_a_certificate_from_an_untrusted_authority_is_refused(server: _TLSServer) -> None:
    broker = Broker(resolver=_loopback)  # the system's authorities only
    answer = _get(broker, f"https://localhost:{server.server_address[1]}/")
    assert answer["error"]["type"] == "RetryError"
    assert "TLS certificate check failed" in answer["record"]["error"]
    assert server.hosts == []
    broker.close()


def test_an_ip_literal_url_is_checked_against_the_ip(
    server: _TLSServer, pki: tuple[Path, Path, Path]
) -> None:
    # The certificate names localhost only; https://127.0.0.1 must not pass for it.
    broker = Broker(resolver=_loopback, tls_context=_trusting(pki))
    session = broker.session("i", allow=("127.0.0.1",), secrets=())
    answer = session.fetch(
        {
            "op": "fetch",
            "url": f"https://{ipaddress.ip_address('127.0.0.1')}:{server.server_address[1]}/",
            "method": "GET",
            "headers": [],
        }
    )
    assert answer["error"]["type"] == "RetryError"
    assert "TLS certificate check failed" in answer["record"]["error"]
    broker.close()
