"""The worker has no network of its own: ``fetch`` is performed by the host (issue 11).

While a handler's request is in flight (the endpoint holds it), the worker process
holds no socket: its only descriptors are its pipes and /dev/null. The connection to
the endpoint is the host's. Before the broker, the worker opened the connection itself
and this test failed.
"""

from __future__ import annotations

import os
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from tests.http_servers import serving

WAIT = 20.0
SOURCE = """
from functions_sdk import fetch

def on_track(event, settings):
    return {"status": fetch(settings["url"], timeout=25).status}
"""


class _Held(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.entered.set()
        self.server.release.wait(WAIT)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Held)
        self.entered = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server()) as srv:
        yield srv


def _sockets(pid: int) -> list[str]:
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return [link for link in links if link.startswith("socket:")]


def test_worker_holds_no_socket_while_its_fetch_is_in_flight(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/held"
    spec = InstanceSpec(
        key="held", source=textwrap.dedent(SOURCE), filename="handler.py",
        settings={"url": url}, allow=("127.0.0.1",), timeout=WAIT + 5,
    )  # fmt: skip
    results: list[dict[str, Any]] = []
    with WorkerPool(max_workers=2, spares=0) as pool:
        thread = threading.Thread(target=lambda: results.extend(pool.invoke(spec, [{
            "type": "track", "event": "e", "userId": "u"}])))  # fmt: skip
        thread.start()
        try:
            assert server.entered.wait(WAIT), "the request never reached the endpoint"
            [worker_pid] = pool.worker_pids()
            assert _sockets(worker_pid) == []
            assert _sockets(os.getpid()), "the host holds the endpoint's connection"
        finally:
            server.release.set()
            thread.join(WAIT)
    assert results and results[0]["outcome"] == "delivered", results
    assert results[0]["result"] == {"status": 204}


METHOD_SOURCE = """
from functions_sdk import fetch

def on_track(event, settings):
    fetch(settings["url"], method=settings["token"])
"""


def test_a_secret_sent_as_the_method_is_recorded_masked(server: _Server) -> None:
    # The broker refuses the method, and records the request: the record masks the
    # secret as the handler wrote it (it once upper-cased the method first, so a
    # lower-case secret was recorded in capitals, unmasked).
    token = "lower-case-secret-token"
    url = f"http://127.0.0.1:{server.server_address[1]}/held"
    spec = InstanceSpec(
        key="method", source=textwrap.dedent(METHOD_SOURCE), filename="handler.py",
        settings={"url": url, "token": token}, secret_names=("token",),
        allow=("127.0.0.1",), timeout=WAIT,
    )  # fmt: skip
    with WorkerPool(max_workers=1, spares=0) as pool:
        [result] = pool.invoke(spec, [{"type": "track", "event": "e", "userId": "u"}])
    assert result["outcome"] != "delivered", result
    [request] = result["requests"]
    assert request["method"] == "***", request
    assert token not in repr(result) and token.upper() not in repr(result), result
    assert not server.entered.is_set()  # refused before any connection
