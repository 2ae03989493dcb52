"""The network broker through real workers: fetch frames on the pipe, host records,
kept-alive connections per instance, and one slow endpoint not stalling another
instance. Every server is started here on 127.0.0.1 (port 0)."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from tests.http_servers import serving

TRACK = {"type": "track", "event": "Signed Up", "userId": "u1"}
WAIT = 20.0  # generous bound on waits for events (never reached when things work)

FETCH_SOURCE = """
from functions_sdk import fetch

def on_track(event, settings):
    response = fetch(settings["url"], method="POST", json={"user": event.userId,
                     "token": settings["token"]}, headers={"X-Trace": settings["token"]})
    return {"status": response.status, "body": response.json()}
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.peers.add(self.client_address)
        if self.path.startswith("/slow"):
            self.server.entered.set()
            self.server.release.wait(WAIT)
        out = json.dumps({"echo": json.loads(body or b"null"), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "session=abc")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.peers: set[tuple[str, int]] = set()
        self.entered = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server()) as srv:
        yield srv


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=4) as p:
        yield p


def _spec(
    key: str, url: str, *, token: str = "tok-0123456789", timeout: float = 5.0
) -> InstanceSpec:
    return InstanceSpec(
        key=key,
        source=textwrap.dedent(FETCH_SOURCE),
        filename="handler.py",
        settings={"url": url, "token": token},
        secret_names=("token",),
        allow=("127.0.0.1",),
        timeout=timeout,
    )


def test_fetch_goes_through_the_host_and_records_the_answer(
    pool: WorkerPool, server: _Server
) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/in"
    [result] = pool.invoke(_spec("a", url), [TRACK])
    assert result["outcome"] == "delivered", result["error"]
    # Data is not masked: the endpoint got the secret, the handler got the answer.
    assert result["result"]["body"]["echo"] == {"user": "u1", "token": "tok-0123456789"}
    [record] = result["requests"]
    assert record["status"] == 200
    assert record["request_headers"]["X-Trace"] == "***"
    assert record["request_body"] == '{"user":"u1","token":"***"}'
    response = record["response"]
    assert response["status"] == 200
    assert response["headers"]["Set-Cookie"] == "***"
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"])["echo"] == {"user": "u1", "token": "***"}
    assert "tok-0123456789" not in json.dumps(result["requests"])


def test_connections_are_kept_alive_per_instance(pool: WorkerPool, server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/in"
    for _ in range(3):
        assert pool.invoke(_spec("a", url), [TRACK])[0]["outcome"] == "delivered"
    assert len(server.peers) == 1  # three requests, one connection
    assert pool.broker.idle_connections("a") == 1
    # Another instance never gets instance a's connection.
    assert pool.invoke(_spec("b", url), [TRACK])[0]["outcome"] == "delivered"
    assert len(server.peers) == 2
    assert pool.broker.idle_connections("b") == 1


def test_a_slow_endpoint_does_not_stall_another_instance(pool: WorkerPool, server: _Server) -> None:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    slow_results: list[dict[str, Any]] = []
    slow = threading.Thread(
        target=lambda: slow_results.extend(
            pool.invoke(_spec("slow", f"{base}/slow", timeout=WAIT + 5), [TRACK])
        )
    )
    slow.start()
    try:
        assert server.entered.wait(WAIT), "the slow request never reached the endpoint"
        # Instance "slow" is now waiting on its endpoint, inside the host's broker.
        [fast] = pool.invoke(_spec("fast", f"{base}/fast"), [TRACK])
        assert fast["outcome"] == "delivered", fast["error"]
        assert slow.is_alive() and not slow_results  # still held by its endpoint
    finally:
        server.release.set()
        slow.join(WAIT)
    assert slow_results and slow_results[0]["outcome"] == "delivered"


def test_mock_responses_are_answered_by_the_host(pool: WorkerPool) -> None:
    mocks = [{"method": "POST", "url": "https://api.test/*", "status": 201, "json": {"ok": 1}}]
    spec = _spec("m", "https://api.test/in")
    results = pool.invoke(spec, [TRACK, TRACK], mocks=mocks)
    assert [r["result"]["status"] for r in results] == [201, 201]
    assert [len(r["requests"]) for r in results] == [1, 1]  # each event its own records
    assert results[0]["requests"][0]["response"]["body"] == '{"ok":1}'


def test_requests_before_a_timeout_are_recorded(pool: WorkerPool, server: _Server) -> None:
    src = """
    from functions_sdk import fetch

    def on_track(event, settings):
        fetch(settings["url"], method="POST", json={})
        while True:
            pass
    """
    url = f"http://127.0.0.1:{server.server_address[1]}/in"
    spec = InstanceSpec(
        key="t", source=textwrap.dedent(src), filename="handler.py",
        settings={"url": url}, allow=("127.0.0.1",), timeout=1.0,
    )  # fmt: skip
    [result] = pool.invoke(spec, [TRACK])
    assert result["error"]["type"] == "TimeoutError"
    assert [r["status"] for r in result["requests"]] == [200]
