"""Kept-alive connections and the address policy (``sandbox/host/broker.py``,
``connections.py``, ``ssrf.py``).

A request that finds a kept-alive connection of its instance to its origin goes on it
without a new lookup: the connection's address was checked when it was made, and no
lookup means no answer to rebind. What must hold: the policy as it is *now* is asked
again for that address (an allow list that no longer admits it closes the connection,
and the request is refused as a new one would be); a connection is reused only for its
own instance and its own scheme, host and port; and a request with no kept connection
resolves and checks as before. Names are answered by a resolver passed in; the server
is started here on 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from functions_runtime.sandbox.host.broker import Broker
from tests.http_servers import serving

LOOPBACK = ("127.0.0.0/8",)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.peers.append(self.client_address)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.peers: list[tuple[str, int]] = []


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server()) as srv:
        yield srv


class _Resolver:
    """Every name is 127.0.0.1; counts the lookups."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def _get(broker: Broker, instance: str, url: str, allow: tuple[str, ...] = LOOPBACK) -> Any:
    session = broker.session(instance, allow=allow, secrets=())
    return session.fetch({"op": "fetch", "url": url, "method": "GET", "headers": []})


def test_a_kept_connection_carries_the_next_request_without_a_lookup(server: _Server) -> None:
    resolver = _Resolver()
    broker = Broker(resolver=resolver)
    url = f"http://api.test:{server.server_address[1]}/"
    for _ in range(3):
        assert _get(broker, "a", url)["body"] == "ok"
    assert resolver.lookups == ["api.test"]  # once, to connect
    assert len(set(server.peers)) == 1
    broker.close()


def test_a_kept_connection_is_refused_once_the_policy_no_longer_admits_it(
    server: _Server,
) -> None:
    resolver = _Resolver()
    broker = Broker(resolver=resolver)
    url = f"http://api.test:{server.server_address[1]}/"
    assert _get(broker, "a", url)["body"] == "ok"
    assert broker.idle_connections("a") == 1
    refused = _get(broker, "a", url, allow=())  # the operator took loopback away
    assert refused["error"]["type"] == "RequestBlocked"
    assert "127.0.0.1" in refused["error"]["message"]
    assert broker.idle_connections("a") == 0  # closed, not kept for a later allow list
    assert len(server.peers) == 1  # nothing more reached the server
    assert resolver.lookups == ["api.test", "api.test"]
    broker.close()


def test_a_kept_connection_serves_only_its_instance_and_its_origin(server: _Server) -> None:
    resolver = _Resolver()
    broker = Broker(resolver=resolver)
    port = server.server_address[1]
    assert _get(broker, "a", f"http://api.test:{port}/")["body"] == "ok"
    assert _get(broker, "b", f"http://api.test:{port}/")["body"] == "ok"  # another instance
    assert _get(broker, "a", f"http://other.test:{port}/")["body"] == "ok"  # another host
    assert len(set(server.peers)) == 3
    assert resolver.lookups == ["api.test", "api.test", "other.test"]
    assert _get(broker, "a", f"https://api.test:{port}/", allow=LOOPBACK)["error"]["type"] == (
        "RetryError"  # another scheme: a new (TLS) connection, which this server refuses
    )
    assert resolver.lookups[-1] == "api.test"
    broker.close()
