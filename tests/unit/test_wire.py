"""The broker's HTTP exchange (``sandbox/host/wire.py``): the request as written, and
answers of every shape read from the other end of a socket pair."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from functions_runtime.sandbox.host.wire import TooLarge, exchange, request_bytes

REQUEST = b"GET / HTTP/1.1\r\nHost: api.test\r\n\r\n"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    yield client, server
    client.close()
    server.close()


def answered(
    pair: tuple[socket.socket, socket.socket],
    answer: bytes,
    *,
    close: bool = False,
    head_only: bool = False,
    limit: int = 1000,
) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    client, server = pair
    server.sendall(answer)
    if close:
        server.shutdown(socket.SHUT_WR)
    result = exchange(
        client, REQUEST, head_only=head_only, limit=limit, deadline=time.monotonic() + 5
    )
    assert server.recv(1000) == REQUEST  # sent whole, in one piece
    return result


def test_the_request_is_written_as_http_client_wrote_it() -> None:
    headers = {"Content-Type": "application/json", "X-Note": "caf\u00e9"}
    assert request_bytes("POST", "/v1/a?b=1", "api.test:8080", headers, b'{"a":1}') == (
        b"POST /v1/a?b=1 HTTP/1.1\r\nHost: api.test:8080\r\nAccept-Encoding: identity\r\n"
        b"Content-Type: application/json\r\nX-Note: caf\xc3\xa9\r\nContent-Length: 7\r\n"
        b'\r\n{"a":1}'
    )
    assert request_bytes("GET", "/", "api.test", {"accept-encoding": "gzip"}, None) == (
        b"GET / HTTP/1.1\r\nHost: api.test\r\naccept-encoding: gzip\r\n\r\n"
    )
    for method in ("POST", "PUT", "PATCH"):
        assert request_bytes(method, "/", "a", {}, None).endswith(b"Content-Length: 0\r\n\r\n")
    assert b"Content-Length" not in request_bytes("DELETE", "/", "a", {}, None)


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX: 1", "/\x00", "/\x7f"])
def test_a_request_target_with_spaces_or_controls_is_refused(target: str) -> None:
    with pytest.raises(http.client.InvalidURL):
        request_bytes("GET", target, "api.test", {}, None)


def test_a_sized_answer_keeps_the_connection(pair: tuple[socket.socket, socket.socket]) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Name: caf\xe9\r\n\r\nhi"
    status, headers, body, keep = answered(pair, answer)
    assert (status, body, keep) == (200, b"hi", True)
    assert headers == [("Content-Length", "2"), ("X-Name", "caf\u00e9")]


def test_interim_answers_are_skipped(pair: tuple[socket.socket, socket.socket]) -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    assert answered(pair, answer) == (201, [("Content-Length", "2")], b"ok", True)


def test_a_chunked_answer_is_joined(pair: tuple[socket.socket, socket.socket]) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3\r\n th\r\n0\r\n\r\n"
    )
    assert answered(pair, answer)[2:] == (b"hi th", True)


def test_an_answer_that_runs_until_the_close_is_read_to_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    status, _, body, keep = answered(pair, b"HTTP/1.0 200 OK\r\n\r\nall of it", close=True)
    assert (status, body, keep) == (200, b"all of it", False)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxGARBAGE",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["close", "http-1.0", "garbage-after", "unasked-answer-after"],
)
def test_a_connection_is_not_kept_after_a_close_or_anything_extra(
    pair: tuple[socket.socket, socket.socket], answer: bytes
) -> None:
    status, _, body, keep = answered(pair, answer)
    assert (status, body, keep) == (200, b"x", False)


def test_a_head_answer_ends_with_its_headers(pair: tuple[socket.socket, socket.socket]) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    assert answered(pair, answer, head_only=True, limit=10) == (
        200,
        [("Content-Length", "5000")],
        b"",
        True,
    )


def test_a_head_answer_with_a_body_is_not_kept(pair: tuple[socket.socket, socket.socket]) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    assert answered(pair, answer, head_only=True)[3] is False


def test_no_content_has_no_body(pair: tuple[socket.socket, socket.socket]) -> None:
    assert answered(pair, b"HTTP/1.1 204 No Content\r\n\r\n") == (204, [], b"", True)


def test_a_declared_length_over_the_limit_is_refused_before_its_body(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    with pytest.raises(TooLarge):
        answered(pair, b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", limit=10)


def test_a_body_over_the_limit_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    chunks = b"".join(b"5\r\nhello\r\n" for _ in range(3))
    with pytest.raises(TooLarge):
        answered(pair, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks, limit=10)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            http.client.IncompleteRead,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Le", http.client.IncompleteRead),
    ],
    ids=["nothing", "short-length", "short-chunks", "short-headers"],
)
def test_an_answer_cut_short_by_the_close_is_an_error(
    pair: tuple[socket.socket, socket.socket], answer: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        answered(pair, answer, close=True)


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["not-http", "two-lengths", "folded-header"],
)
def test_an_answer_that_is_not_clean_http_is_refused(
    pair: tuple[socket.socket, socket.socket], answer: bytes
) -> None:
    with pytest.raises(http.client.HTTPException):
        answered(pair, answer)


def test_the_deadline_bounds_the_wait(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"HTTP/1.1 200 OK\r\n")  # and nothing more
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        exchange(client, REQUEST, head_only=False, limit=10, deadline=started + 0.2)
    assert time.monotonic() - started < 2


def test_answers_with_too_many_headers_are_refused(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    headers = b"".join(b"X-%d: 1\r\n" % n for n in range(101))
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        answered(pair, b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n")


def test_headers_that_never_end_are_refused_at_a_bound() -> None:
    """A hostile endpoint streaming headers for the whole timeout holds no more than
    the bound in the host (the answers here are sent from a thread as they are read)."""
    client, server = socket.socketpair()

    def stream() -> None:
        try:
            server.sendall(b"HTTP/1.1 200 OK\r\nX: ")
            for _ in range(400):  # one header value of 400 KB, never ended
                server.sendall(b"a" * 1000)
        except OSError:
            pass

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    with pytest.raises(http.client.LineTooLong):
        exchange(client, REQUEST, head_only=False, limit=10, deadline=time.monotonic() + 5)
    client.close()
    thread.join(5)
    server.close()
