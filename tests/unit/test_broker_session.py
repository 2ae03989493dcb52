"""The host's network broker (``sandbox/host/broker.py``) called the way the worker
host calls it: one :class:`Session` per invocation answering request messages.

What a handler gets back (status, text or base64 body, the error's type, message and
status), what is recorded (at most ``RECORD_LIMIT`` requests, then one marker), the
handler's own deadline, and the per-instance connection pools (kept alive, bounded,
least recently used closed first, never shared, closed when the instance goes). Names
are answered by a resolver passed in; the one server is started here on 127.0.0.1
(port 0). test_http.py covers the same broker through ``fetch``.
"""

from __future__ import annotations

import base64
import gzip
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from functions_runtime.sandbox.host.broker import RECORD_LIMIT, Broker, Session, _host_header
from functions_runtime.sandbox.host.connections import IDLE_SECONDS
from functions_runtime.sandbox.host.ssrf import Target
from tests.http_servers import serving

LOOPBACK = ("127.0.0.0/8",)
SECRET = "s3cr3t-value"


def _no_dns(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"unexpected name lookup: {args!r}")


def _loopback_dns(*addresses: str) -> Any:
    """Every name resolves to ``addresses`` (all loopback)."""

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def _message(url: str, method: str = "GET", **fields: Any) -> dict[str, Any]:
    return {"op": "fetch", "url": url, "method": method, "headers": [], **fields}


def _mocked(mocks: list[dict[str, Any]], broker: Broker | None = None) -> Session:
    broker = broker or Broker(resolver=_no_dns)
    return broker.session("i", allow=(), secrets=(SECRET,), mocks=mocks)


# --------------------------------------------------------------------------- a keep-alive server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        self.server.peers.append(self.client_address)
        self.server.hosts.append(self.headers.get("Host", ""))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/lie"):  # declares more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"z" * 50)
            self.close_connection = True
            return
        if self.path.startswith("/once"):  # answers as if kept alive, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"once")
            self.close_connection = True
            return
        if self.path.startswith("/close"):  # says it closes
            self.send_response(200)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"close")
            self.close_connection = True
            return
        if self.path.startswith("/hangup"):  # reads the request, closes without a word
            self.close_connection = True
            return
        if self.path.startswith("/hold"):  # no answer until the test is over
            self.server.release.wait(60)
            self.close_connection = True
            return
        if self.path.startswith("/gzip"):
            body = gzip.compress(b"hello")
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/together"):  # answers once two requests are in
            with self.server.arrived:
                self.server.inside += 1
                self.server.arrived.notify_all()
                together = self.server.arrived.wait_for(lambda: self.server.inside >= 2, 10)
            body = b"together" if together else b"alone"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/trickle"):  # 40 bytes in small pieces, no length
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"t")
                self.wfile.flush()
                if self.server.release.wait(0.01):
                    break
            self.close_connection = True
            return
        if self.path.startswith("/drip"):  # one byte at a time, slowly
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"d")
                self.wfile.flush()
                if self.server.release.wait(0.1):
                    break
            self.close_connection = True
            return
        size = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/bytes/") else 2
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"x" * size)

    do_GET = do_HEAD = do_POST = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.peers: list[tuple[str, int]] = []
        self.hosts: list[str] = []
        self.release = threading.Event()
        self.arrived = threading.Condition()
        self.inside = 0
        self.open_connections = 0

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.open_connections += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.open_connections -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early are expected


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server()) as srv:
        yield srv


def _port(server: _Server) -> int:
    port: int = server.server_address[1]
    return port


# --------------------------------------------------------------------------- answers


def test_a_text_answer_and_a_binary_one() -> None:
    session = _mocked(
        [
            {"url": "https://api.test/text", "body": "héllo", "headers": {"X-A": "1"}},
            {"url": "https://api.test/bin", "body": b"\xff\x00"},
        ]
    )
    text = session.fetch(_message("https://api.test/text"))
    record = text.pop("record")
    assert text == {
        "status": 200,
        "headers": [["x-a", "1"]],
        "body": "héllo",
        "body_b64": False,
        "url": "https://api.test/text",
    }
    assert record["status"] == 200 and record["error"] is None
    assert sorted(record) == [
        "duration_ms", "error", "method", "request_body", "request_headers", "response",
        "status", "url",
    ]  # fmt: skip
    assert record["duration_ms"] > 0.0  # measured, not the 0.0 of a new record
    binary = session.fetch(_message("https://api.test/bin"))
    assert (binary["body"], binary["body_b64"]) == ("/wA=", True)


def test_an_error_answer_names_the_request_and_is_masked() -> None:
    session = _mocked([])
    answer = session.fetch(_message(f"https://api.test/x?q={SECRET}", method="DELETE"))
    assert answer["error"] == {
        "type": "FetchError",
        "message": "no mock response for DELETE https://api.test/x?q=***; "
        "add one to the test's responses",
        "status": None,
    }
    assert answer["record"]["error"] == "no mock response"
    refused = session.fetch(_message(f"ftp://api.test/{SECRET}"))
    assert refused["error"] == {
        "type": "FetchError",
        "message": "GET ftp://api.test/*** failed: unsupported URL scheme 'ftp': "
        "only http:// and https:// URLs can be fetched",
        "status": None,
    }
    assert refused["record"]["error"] == (
        "unsupported URL scheme 'ftp': only http:// and https:// URLs can be fetched"
    )


@pytest.mark.parametrize(
    ("status", "retried"),
    [(429, True), (500, True), (503, True), (599, True), (428, False), (430, False),
     (499, False), (501, False), (505, False), (600, False), (200, False)],
)  # fmt: skip
def test_retry_on_status_retries_429_and_5xx_but_501_and_505(status: int, retried: bool) -> None:
    session = _mocked([{"url": "https://api.test/s", "status": status}])
    answer = session.fetch(_message("https://api.test/s", retry_on_status=True))
    if retried:
        assert answer["error"] == {
            "type": "RetryError",
            "message": f"GET https://api.test/s answered {status}",
            "status": status,
        }
        assert answer["record"]["status"] == status
        assert answer["record"]["error"] == f"answered {status}"
    else:
        assert answer["status"] == status
        assert "error" not in answer


def test_the_handlers_time_limit_comes_first() -> None:
    session = _mocked([{"url": None, "body": "never"}])
    answer = session.fetch(_message("https://api.test/x"), deadline=time.monotonic() - 0.001)
    assert answer["error"] == {
        "type": "RetryError",
        "message": "GET https://api.test/x failed: the handler's time limit was reached",
        "status": None,
    }
    soon = session.fetch(_message("https://api.test/x"), deadline=time.monotonic() + 0.9)
    assert soon["body"] == "never"
    assert session.fetch(_message("https://api.test/x"), deadline=time.monotonic() + 60)[
        "body"
    ] == ("never")


def test_an_invalid_allow_list_is_the_handlers_error() -> None:
    session = Broker(resolver=_no_dns).session("i", allow=("not a host",), secrets=())
    answer = session.fetch(_message("http://10.0.0.1/"))
    assert answer["error"]["type"] == "FetchError"
    assert answer["record"]["error"] == (
        "invalid HTTP allow list: invalid allow-list entry 'not a host': expected a host "
        "name, an IP address or a CIDR network"
    )


def test_a_refusal_keeps_its_class() -> None:
    session = Broker(resolver=_no_dns).session("i", allow=(), secrets=())
    answer = session.fetch(_message("http://10.0.0.1/"))
    assert answer["error"]["type"] == "RequestBlocked"
    assert answer["record"]["error"] == (
        "refused to connect to 10.0.0.1: private address; "
        "set FUNCTIONS_HTTP_ALLOW or pass --allow-host to allow it"
    )


# --------------------------------------------------------------------------- records


def test_records_are_taken_once_and_bounded() -> None:
    session = _mocked([{"url": None}])
    for _ in range(RECORD_LIMIT + 3):
        assert session.fetch(_message("https://api.test/x"))["record"]["status"] == 200
    records = session.take_records()
    assert len(records) == RECORD_LIMIT + 1
    assert records[-1] == {
        "method": None,
        "url": None,
        "status": None,
        "duration_ms": 0.0,
        "request_headers": {},
        "request_body": None,
        "error": "[3 more requests not recorded: at most 100 per invocation]",
        "response": None,
    }
    assert all(r["url"] == "https://api.test/x" for r in records[:-1])
    assert session.take_records() == []
    session.fetch(_message("https://api.test/y"))
    [again] = session.take_records()  # the count started over
    assert again["url"] == "https://api.test/y"
    for _ in range(RECORD_LIMIT + 1):
        session.fetch(_message("https://api.test/z"))
    assert session.take_records()[-1]["error"] == (
        "[1 more requests not recorded: at most 100 per invocation]"
    )


def test_exactly_the_record_limit_needs_no_marker() -> None:
    session = _mocked([{"url": None}])
    for _ in range(RECORD_LIMIT):
        session.fetch(_message("https://api.test/x"))
    assert len(session.take_records()) == RECORD_LIMIT


# --------------------------------------------------------------------------- the network


@pytest.mark.parametrize(
    ("scheme", "host", "port", "header"),
    [
        ("http", "api.test", 80, "api.test"),
        ("https", "api.test", 443, "api.test"),
        ("http", "api.test", 443, "api.test:443"),
        ("https", "api.test", 80, "api.test:80"),
        ("http", "::1", 80, "[::1]"),
        ("https", "::1", 8443, "[::1]:8443"),
    ],
)
def test_the_host_header_names_the_url_host(scheme: str, host: str, port: int, header: str) -> None:
    assert _host_header(Target(scheme, host, port, "/")) == header


def test_a_refused_address_falls_back_to_the_next(server: _Server) -> None:
    # Nothing listens on 127.0.0.2 at this port: the second address answers.
    broker = Broker(resolver=_loopback_dns("127.0.0.2", "127.0.0.1"))
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://api.test:{_port(server)}/bytes/3"))
    assert answer["body"] == "xxx"
    assert server.hosts == [f"api.test:{_port(server)}"]
    broker.close()


def test_every_address_refused_is_a_retry(server: _Server) -> None:
    broker = Broker(resolver=_loopback_dns("127.0.0.2", "127.0.0.3"))
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://api.test:{_port(server)}/"))
    assert answer["error"]["type"] == "RetryError"
    assert answer["record"]["error"] == f"connection refused by api.test:{_port(server)}"
    assert server.peers == []


def test_a_head_answer_may_declare_more_than_the_limit(server: _Server) -> None:
    broker = Broker(max_response_bytes=100)
    session = broker.session("i", allow=LOOPBACK, secrets=())
    base = f"http://127.0.0.1:{_port(server)}"
    head = session.fetch(_message(f"{base}/bytes/101", method="HEAD"))
    assert (head["status"], head["body"]) == (200, "")
    assert session.fetch(_message(f"{base}/bytes/100"))["body"] == "x" * 100
    big = session.fetch(_message(f"{base}/bytes/101"))
    assert big["record"]["error"] == "response from 127.0.0.1 exceeded 100 bytes"
    broker.close()


def test_a_declared_length_over_the_limit_is_refused_before_reading(server: _Server) -> None:
    broker = Broker(max_response_bytes=100)
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://127.0.0.1:{_port(server)}/lie"))
    assert answer["record"]["error"] == "response from 127.0.0.1 exceeded 100 bytes"
    assert answer["error"]["type"] == "FetchError"
    assert answer["record"]["status"] is None
    broker.close()


def test_the_timeout_bounds_the_whole_read(server: _Server) -> None:
    # Each byte comes well within the timeout; the whole answer does not.
    broker = Broker()
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://127.0.0.1:{_port(server)}/drip", timeout=0.5))
    assert answer["error"]["type"] == "RetryError"
    assert answer["record"]["error"] == "timed out after 0.5 s"
    broker.close()


def test_connections_are_kept_per_instance_and_closed_when_it_goes(server: _Server) -> None:
    broker = Broker(resolver=_no_dns)
    url = f"http://127.0.0.1:{_port(server)}/"
    first = broker.session("a", allow=LOOPBACK, secrets=())
    for _ in range(3):
        assert first.fetch(_message(url))["status"] == 200
    assert len(set(server.peers)) == 1
    assert broker.idle_connections("a") == 1
    other = broker.session("b", allow=LOOPBACK, secrets=())
    assert other.fetch(_message(url))["status"] == 200
    assert len(set(server.peers)) == 2  # never instance a's connection
    assert broker.idle_connections("b") == 1
    broker.forget("a")
    assert broker.idle_connections("a") == 0
    assert broker.idle_connections("b") == 1
    assert first.fetch(_message(url))["status"] == 200
    assert len(set(server.peers)) == 3  # a new connection for a
    broker.close()
    assert broker.idle_connections("a") == broker.idle_connections("b") == 0
    assert broker.idle_connections("never") == 0
    broker.forget("never")  # an instance without connections: nothing to close


def test_the_least_recently_used_origin_is_closed_first(server: _Server) -> None:
    broker = Broker(resolver=_loopback_dns("127.0.0.1"), origins_per_instance=2)
    session = broker.session("a", allow=LOOPBACK, secrets=())
    port = _port(server)

    def get(host: str) -> tuple[str, int]:
        assert session.fetch(_message(f"http://{host}:{port}/"))["status"] == 200
        return server.peers[-1]

    one, two = get("one.test"), get("two.test")
    assert get("one.test") == one  # one is now the most recently used
    get("three.test")  # two pools at most: two's is closed
    assert broker.idle_connections("a") == 2
    assert get("one.test") == one
    assert get("two.test") != two
    broker.close()


def test_the_least_recently_used_instance_is_closed_past_the_bound(server: _Server) -> None:
    """A shared worker may serve many instances: the broker bounds how many keep
    connections, whatever the pool's worker count."""
    broker = Broker(resolver=_no_dns, instances=2)
    url = f"http://127.0.0.1:{_port(server)}/"

    def get(instance: str) -> None:
        session = broker.session(instance, allow=LOOPBACK, secrets=())
        assert session.fetch(_message(url))["status"] == 200

    get("a"), get("b"), get("a")  # a is now the most recently used
    get("c")  # two instances at most: b's connections are closed
    assert [broker.idle_connections(i) for i in "abc"] == [1, 0, 1]
    broker.close()


def test_a_connection_the_server_closed_while_idle_is_not_used_again(server: _Server) -> None:
    # The server hangs up after its answer without saying so: the next request must go
    # out on a new connection, not fail on the dead one.
    broker = Broker()
    session = broker.session("a", allow=LOOPBACK, secrets=())
    base = f"http://127.0.0.1:{_port(server)}"
    assert session.fetch(_message(f"{base}/once"))["body"] == "once"
    assert broker.idle_connections("a") == 1
    deadline = time.monotonic() + 10
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)  # until the server's side is closed
    assert session.fetch(_message(f"{base}/bytes/3"))["body"] == "xxx"
    assert len(set(server.peers)) == 2
    assert broker.idle_connections("a") == 1
    broker.close()


def test_a_connection_idle_longer_than_the_bound_is_not_used_again(server: _Server) -> None:
    # A load balancer or NAT may forget an idle connection without a word: past
    # IDLE_SECONDS a kept connection is closed rather than trusted.
    now = [100.0]
    broker = Broker(clock=lambda: now[0])
    session = broker.session("a", allow=LOOPBACK, secrets=())
    url = f"http://127.0.0.1:{_port(server)}/bytes/2"
    assert session.fetch(_message(url))["body"] == "xx"
    now[0] += IDLE_SECONDS  # exactly the bound: still kept
    assert session.fetch(_message(url))["body"] == "xx"
    assert len(set(server.peers)) == 1
    now[0] += IDLE_SECONDS + 0.001
    assert session.fetch(_message(url))["body"] == "xx"
    assert len(set(server.peers)) == 2  # a new connection; the old one was closed
    assert broker.idle_connections("a") == 1
    broker.close()


def test_an_answer_that_says_close_is_not_kept_and_head_is(server: _Server) -> None:
    broker = Broker()
    session = broker.session("a", allow=LOOPBACK, secrets=())
    base = f"http://127.0.0.1:{_port(server)}"
    assert session.fetch(_message(f"{base}/close"))["body"] == "close"
    assert broker.idle_connections("a") == 0
    for _ in range(2):
        assert session.fetch(_message(f"{base}/bytes/9", method="HEAD"))["status"] == 200
    assert broker.idle_connections("a") == 1
    assert len(set(server.peers)) == 2  # the two HEADs shared one connection
    broker.close()


def test_a_body_shorter_than_declared_is_an_incomplete_response(server: _Server) -> None:
    broker = Broker()
    session = broker.session("a", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://127.0.0.1:{_port(server)}/lie"))
    assert answer["error"]["type"] == "RetryError"
    assert answer["record"]["error"] == "incomplete response from 127.0.0.1"
    assert broker.idle_connections("a") == 0
    broker.close()


def test_a_failed_read_does_not_leave_the_connection_for_reuse(server: _Server) -> None:
    broker = Broker(max_response_bytes=10)
    session = broker.session("a", allow=LOOPBACK, secrets=())
    base = f"http://127.0.0.1:{_port(server)}"
    assert "error" in session.fetch(_message(f"{base}/bytes/50"))
    assert session.fetch(_message(f"{base}/bytes/5"))["body"] == "xxxxx"
    assert len(set(server.peers)) == 2  # the half-read connection was closed, not reused
    broker.close()


@pytest.mark.parametrize("per_origin", [1, 2])
def test_requests_of_one_instance_never_wait_for_a_pooled_connection(
    server: _Server, per_origin: int
) -> None:
    # Two requests at once to one origin both go out at once (a connection is opened
    # beyond the pool's size rather than waited for); at most `per_origin` are kept.
    broker = Broker(connections_per_origin=per_origin)
    session = broker.session("a", allow=LOOPBACK, secrets=())
    url = f"http://127.0.0.1:{_port(server)}/together"
    bodies: list[str] = []
    threads = [
        threading.Thread(target=lambda: bodies.append(session.fetch(_message(url))["body"]))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert bodies == ["together", "together"]
    assert broker.idle_connections("a") == per_origin
    broker.close()


def _in_thread(session: Session, message: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``message``, failing the test if none comes within 30 s (the
    requests here have timeouts under a second)."""
    answers: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: answers.append(session.fetch(message)))
    thread.start()
    thread.join(30)
    assert answers, "the broker is still waiting"
    return answers[0]


def test_an_endpoint_that_never_answers_is_a_timeout(server: _Server) -> None:
    broker = Broker()
    session = broker.session("i", allow=LOOPBACK, secrets=())
    url = f"http://127.0.0.1:{_port(server)}/hold"
    started = time.perf_counter()
    answer = _in_thread(session, _message(url, timeout=0.3))
    outer_ms = (time.perf_counter() - started) * 1000
    assert answer["error"]["type"] == "RetryError"
    assert answer["record"]["error"] == "timed out after 0.3 s"
    # the recorded duration: the time waited, in milliseconds (within the test's own)
    duration = answer["record"]["duration_ms"]
    assert isinstance(duration, float)
    assert 300 <= duration <= outer_ms
    broker.close()


def test_an_endpoint_that_hangs_up_without_answering_is_a_retry(server: _Server) -> None:
    broker = Broker()
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://127.0.0.1:{_port(server)}/hangup"))
    cause = "127.0.0.1 closed the connection without answering"
    assert answer["error"]["type"] == "RetryError"
    assert answer["record"]["error"] == cause
    assert (
        answer["error"]["message"] == f"GET http://127.0.0.1:{_port(server)}/hangup failed: {cause}"
    )
    assert broker.idle_connections("i") == 0
    broker.close()


def test_a_timeout_under_a_second_is_enough_for_a_quick_answer(server: _Server) -> None:
    broker = Broker()
    session = broker.session("i", allow=LOOPBACK, secrets=())
    url = f"http://127.0.0.1:{_port(server)}/bytes/3"
    assert session.fetch(_message(url, timeout=0.9))["body"] == "xxx"
    broker.close()


def test_an_encoded_body_is_handed_over_as_sent(server: _Server) -> None:
    # The broker does not undo Content-Encoding: the size cap counts the bytes sent,
    # and the handler gets them as they came.
    broker = Broker()
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://127.0.0.1:{_port(server)}/gzip"))
    assert answer["body_b64"] is True
    assert gzip.decompress(base64.b64decode(answer["body"])) == b"hello"
    assert ["content-encoding", "gzip"] in [[k.lower(), v] for k, v in answer["headers"]]
    broker.close()


@pytest.fixture
def unanswered(server: _Server) -> Iterator[str]:
    """127.0.0.2 at the server's port, where a connection is never accepted: one
    connection fills the listen queue, so later handshakes get no answer."""
    hole = socket.socket()
    hole.bind(("127.0.0.2", _port(server)))
    hole.listen(0)
    filler = socket.create_connection(("127.0.0.2", _port(server)), timeout=5)
    try:
        yield "127.0.0.2"
    finally:
        filler.close()
        hole.close()


def test_a_connection_that_is_never_accepted_is_a_timeout(server: _Server, unanswered: str) -> None:
    # The first address takes the whole timeout; the second one is not tried.
    broker = Broker(resolver=_loopback_dns(unanswered, "127.0.0.1"))
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = _in_thread(session, _message(f"http://api.test:{_port(server)}/", timeout=0.4))
    assert answer["error"]["type"] == "RetryError"
    assert answer["record"]["error"] == "timed out after 0.4 s"
    assert server.peers == []
    broker.close()


def test_a_body_in_small_pieces_is_capped_on_the_total(server: _Server) -> None:
    broker = Broker(max_response_bytes=10)
    session = broker.session("i", allow=LOOPBACK, secrets=())
    answer = session.fetch(_message(f"http://127.0.0.1:{_port(server)}/trickle"))
    assert answer["record"]["error"] == "response from 127.0.0.1 exceeded 10 bytes"
    roomy = Broker(max_response_bytes=40).session("i", allow=LOOPBACK, secrets=())
    assert roomy.fetch(_message(f"http://127.0.0.1:{_port(server)}/trickle"))["body"] == "t" * 40
    broker.close()
