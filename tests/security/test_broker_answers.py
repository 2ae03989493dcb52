"""A hostile endpoint's answers, as the broker's parser reads them (``sandbox/host/wire.py``).

The host parses every answer a handler's ``fetch`` gets, so an endpoint the handler
calls is the attacker here: it may plant a second answer behind the first, hoping the
next request on the kept-alive connection reads it, or send headers without end to
make the host hold them. The server is started here, on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions_runtime.sandbox.host.broker import Broker

LOOPBACK = ("127.0.0.0/8",)
REAL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"
PLANTED = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nplanted"


class _Endpoint:
    """Answers each request it reads with ``answer(n)`` (n: the request's number on its
    connection), on as many connections as it is given."""

    def __init__(self, answer: Callable[[int], bytes]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answer = answer
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            n = 0
            while True:
                try:
                    data = conn.recv(65536)
                    if not data:
                        return
                    n += 1
                    conn.sendall(self.answer(n))
                except OSError:
                    return


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[_Endpoint]:
    served = _Endpoint(request.param)
    yield served
    served.listener.close()


def _get(broker: Broker, port: int) -> Any:
    session = broker.session("in_1", allow=LOOPBACK, secrets=())
    message = {"op": "fetch", "url": f"http://127.0.0.1:{port}/", "method": "GET", "headers": []}
    return session.fetch(message)


@pytest.mark.parametrize("endpoint", [lambda n: REAL + PLANTED], indirect=True)
def test_an_answer_planted_behind_the_real_one_is_never_read(endpoint: _Endpoint) -> None:
    broker = Broker()
    try:
        for _ in range(3):
            assert _get(broker, endpoint.port)["body"] == "real"
        assert endpoint.connections == 3  # none was kept: each carried something extra
        assert broker.idle_connections("in_1") == 0
    finally:
        broker.close()


def _endless_headers(n: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 900) for i in range(400))


@pytest.mark.parametrize("endpoint", [_endless_headers], indirect=True)
def test_headers_past_the_bound_are_refused_not_held(endpoint: _Endpoint) -> None:
    broker = Broker()
    try:
        answer = _get(broker, endpoint.port)
        assert answer["error"]["type"] == "RetryError"
        assert "invalid HTTP response from 127.0.0.1" in answer["error"]["message"]
        assert broker.idle_connections("in_1") == 0
    finally:
        broker.close()
