"""``functions serve``'s HTTP layer: what hostile or careless clients do to it.

Each test runs the real server (:class:`LocalApiServer`) on 127.0.0.1, port 0, with a
small Powertools resolver (or the real API for the OpenAPI document), and talks to it
over sockets.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from functions_runtime.api.app import OpenApiDocument, build_app, openapi_json
from functions_runtime.api.local import LocalApiServer, ServerLimits
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.sandbox.host.pool import WorkerPool

DEADLINE = 30.0  # a bound on every wait, so that a broken server fails instead of hanging
BIG = 32 * 1024 * 1024


class Routes:
    """A resolver factory with an echo route and a route that waits to be released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.paths: list[str] = []

    def __call__(self) -> APIGatewayHttpResolver:
        app = APIGatewayHttpResolver()

        @app.post("/echo")
        def echo() -> Response[str]:
            self.paths.append("/echo")
            body = app.current_event.body or ""
            return Response(200, "application/json", json.dumps({"body": body}))

        @app.get("/ping")
        def ping() -> dict[str, bool]:
            self.paths.append("/ping")
            return {"ok": True}

        @app.get("/slow")
        def slow() -> dict[str, bool]:
            self.entered.set()
            assert self.release.wait(DEADLINE)
            return {"ok": True}

        @app.get("/big")
        def big() -> Response[str]:  # more than a socket's send buffer takes at once
            return Response(200, "text/plain", "x" * BIG)

        @app.not_found
        def not_found(exc: Exception) -> Response[str]:
            self.paths.append(app.current_event.raw_path)
            return Response(404, "application/json", "{}")

        return app


@contextmanager
def running(
    factory: Callable[[], APIGatewayHttpResolver],
    limits: ServerLimits | None = None,
    poll_interval: float = 0.05,
) -> Iterator[LocalApiServer]:
    server = LocalApiServer(("127.0.0.1", 0), factory, limits)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(DEADLINE)


def connect(server: LocalApiServer) -> socket.socket:
    return socket.create_connection(server.server_address, timeout=DEADLINE)


def get(server: LocalApiServer, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*server.server_address, timeout=DEADLINE)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def read_until_closed(conn: socket.socket) -> bytes:
    """What the server sent before it closed the connection (a reset counts as closed)."""
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# -- slow clients ----------------------------------------------------------------------


def test_a_slow_loris_connection_times_out_and_does_not_block_others():
    limits = ServerLimits(read_timeout=1.0, idle_timeout=60.0, cleanup_interval=0.1, threads=2)
    with running(Routes(), limits) as server:
        closed = []
        stop = threading.Event()

        def trickle(conn: socket.socket) -> None:
            """One header byte at a time, forever: never idle, never complete."""
            try:
                conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
                while not stop.wait(0.05):
                    conn.sendall(b"X")
            except OSError:
                closed.append(conn)

        slow = [connect(server) for _ in range(40)]  # more than the pool has threads
        trickles = [threading.Thread(target=trickle, args=(c,)) for c in slow]
        for thread in trickles:
            thread.start()
        try:
            # Others are served while the slow ones are open...
            for _ in range(5):
                assert get(server, "/ping") == (200, b'{"ok":true}')
            # ... and every slow one is closed by the server, not answered.
            for conn in slow:
                assert read_until_closed(conn) == b""
        finally:
            stop.set()
            for thread in trickles:
                thread.join(DEADLINE)
            for conn in slow:
                conn.close()
        assert get(server, "/ping")[0] == 200


def test_an_idle_half_sent_request_is_closed():
    limits = ServerLimits(read_timeout=1.0, idle_timeout=60.0, cleanup_interval=0.1)
    with running(Routes(), limits) as server, connect(server) as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert read_until_closed(conn) == b""


# -- framing -----------------------------------------------------------------------------


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_the_body_not_a_second_request():
    routes = Routes()
    # What a proxy that honours Transfer-Encoding forwards as one request's body.
    hidden = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with running(routes) as server, connect(server) as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b'{"a": ', b"1}", hidden)
        )
        conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = read_until_closed(conn)
    first, _, rest = answers.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ")
    body = json.loads(rest[: rest.index(b"HTTP/1.1 ")])
    assert body == {"body": '{"a": 1}' + hidden.decode()}
    assert answers.count(b"HTTP/1.1 ") == 2
    assert routes.paths == ["/echo", "/ping"]


def test_an_oversize_body_gets_a_readable_413():
    with running(Routes()) as server:  # 6 MB, as API Gateway
        conn = http.client.HTTPConnection(*server.server_address, timeout=DEADLINE)
        body = b"x" * (7 * 1024 * 1024)
        conn.request("POST", "/echo", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "payload_too_large"
        # The body was read: the connection still serves the next request.
        conn.request("GET", "/ping")
        assert conn.getresponse().read() == b'{"ok":true}'
        conn.close()


def test_the_servers_own_body_limit_is_the_one_refused():
    limits = ServerLimits(max_body=1024, drain_limit=4096)
    with running(Routes(), limits) as server:
        conn = http.client.HTTPConnection(*server.server_address, timeout=DEADLINE)
        conn.request("POST", "/echo", body=b"x" * 2048, headers={"Content-Type": "text/plain"})
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["message"] == "body over 0 MB"
        conn.close()


# -- waking the I/O thread ------------------------------------------------------------------
# The server skips waking its I/O thread after an answer when that thread is already
# polling the connection (local._Server). With a poll that never times out by itself, a
# wake-up skipped wrongly leaves the client waiting: its socket timeout fails the test.

NEVER = 3600.0
CLIENT_WAIT = 10.0


def answers(conn: socket.socket, count: int) -> list[bytes]:
    """``count`` responses (status line to body) read off a keep-alive connection."""
    reader = conn.makefile("rb")
    out = []
    for _ in range(count):
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = reader.readline()
            assert line, "the server closed the connection"
            head += line
        length = next(
            int(h.split(b":")[1])
            for h in head.split(b"\r\n")
            if h.lower().startswith(b"content-length")
        )
        out.append(head.split(b"\r\n")[0] + b" " + reader.read(length))
    return out


@contextmanager
def never_polled_again(routes: Routes) -> Iterator[tuple[LocalApiServer, socket.socket]]:
    """A server whose I/O thread wakes only when told to, and a connection to it."""
    with (
        running(routes, poll_interval=NEVER) as server,
        socket.create_connection(server.server_address, timeout=CLIENT_WAIT) as conn,
    ):
        yield server, conn


def test_keep_alive_requests_one_after_another_are_all_answered():
    with never_polled_again(Routes()) as (_, conn):
        for _ in range(20):
            conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answers(conn, 1) == [b'HTTP/1.1 200 OK {"ok":true}']


def test_pipelined_requests_and_the_one_after_them_are_answered():
    routes = Routes()
    with never_polled_again(routes) as (_, conn):
        # Three at once: the I/O thread stops reading while two wait (lookahead 1).
        conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        assert len(answers(conn, 3)) == 3
        conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answers(conn, 1) == [b'HTTP/1.1 200 OK {"ok":true}']
    assert routes.paths == ["/ping"] * 4


def test_an_answer_bigger_than_the_send_buffer_arrives_whole():
    with never_polled_again(Routes()) as (_, conn):
        for _ in range(2):
            conn.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            [answer] = answers(conn, 1)
            assert answer == b"HTTP/1.1 200 OK " + b"x" * BIG


def test_connection_close_is_honoured_after_the_answer():
    with never_polled_again(Routes()) as (server, conn):
        conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_until_closed(conn)
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b'{"ok":true}')
        wait_for(lambda: server.open_connections() == 0)


# -- a client that hangs up ----------------------------------------------------------------


def test_a_client_disconnect_logs_one_line_and_no_traceback(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
):
    routes = Routes()
    caplog.set_level(logging.INFO)
    with running(routes) as server:
        conn = connect(server)
        conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert routes.entered.wait(DEADLINE)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset, as a client killed mid-request sends
        wait_for(lambda: server.open_connections() == 0)
        routes.release.set()
        wait_for(lambda: bool(caplog.records))
        assert get(server, "/ping")[0] == 200
    lines = [r for r in caplog.records if r.name.startswith("waitress")]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert "disconnected" in lines[0].getMessage()
    assert lines[0].exc_info is None
    assert "Traceback" not in capfd.readouterr().err


# -- the OpenAPI document ----------------------------------------------------------------------


def test_concurrent_openapi_requests_build_the_document_once(tmp_path: Path):
    builds = []

    def counting(app: APIGatewayHttpResolver) -> str:
        builds.append(app)
        return openapi_json(app)

    document = OpenApiDocument(counting)
    with WorkerPool(max_workers=1) as pool:
        plane = ControlPlane(open_embedded(tmp_path), pool)
        limits = ServerLimits(threads=8)
        with running(lambda: build_app(plane, openapi=document), limits) as server:
            answers: list[tuple[int, bytes]] = []
            clients = [
                threading.Thread(target=lambda: answers.append(get(server, "/openapi.json")))
                for _ in range(24)
            ]
            for client in clients:
                client.start()
            for client in clients:
                client.join(DEADLINE)
    assert len(answers) == 24
    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1
    assert json.loads(answers[0][1])["info"]["title"] == "Functions control plane"
    assert len(builds) == 1


# -- shutdown, descriptors, connections ---------------------------------------------------


def test_shutdown_finishes_sending_a_big_answer_in_progress_then_closes():
    """The answer outgrows the socket's buffer, so only the draining I/O loop can
    finish sending it: the client must get all of it before the server closes. The
    connection's descriptor is over 1024, so that loop must poll too (not select)."""
    entered, release = threading.Event(), threading.Event()

    def factory() -> APIGatewayHttpResolver:
        app = APIGatewayHttpResolver()

        @app.get("/slow-big")
        def slow_big() -> Response[str]:
            entered.set()
            assert release.wait(DEADLINE)
            return Response(200, "text/plain", "x" * BIG)

        return app

    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        _shutdown_during_a_big_answer(factory, entered, release)
    finally:
        for fd in spare:
            os.close(fd)


def _shutdown_during_a_big_answer(
    factory: Callable[[], APIGatewayHttpResolver],
    entered: threading.Event,
    release: threading.Event,
) -> None:
    server = LocalApiServer(("127.0.0.1", 0), factory, ServerLimits(threads=2))
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    loop.start()
    address = server.server_address
    got: list[tuple[int, bytes]] = []
    client = threading.Thread(target=lambda: got.append(get(server, "/slow-big")))
    client.start()
    assert entered.wait(DEADLINE)
    stopping = threading.Thread(target=server.shutdown)
    stopping.start()
    wait_for(lambda: not server._server.accepting)  # draining: no new connections taken
    release.set()
    for thread in (client, stopping, loop):
        thread.join(DEADLINE)
        assert not thread.is_alive()
    assert [(status, len(body)) for status, body in got] == [(200, BIG)]
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=DEADLINE).close()


def test_connections_on_descriptors_above_1024_are_served():
    """The I/O loop polls (select() cannot watch a descriptor over FD_SETSIZE)."""
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with running(Routes()) as server:
            assert server._server.socket.fileno() > 1024  # type: ignore[union-attr]
            assert get(server, "/ping") == (200, b'{"ok":true}')
    finally:
        for fd in spare:
            os.close(fd)


def test_open_connections_counts_each_connected_client_once():
    with running(Routes()) as server, connect(server) as one, connect(server) as two:
        wait_for(lambda: server.open_connections() == 2)
        one.close()
        wait_for(lambda: server.open_connections() == 1)
        assert two.fileno() >= 0
