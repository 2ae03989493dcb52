"""The pool's bookkeeping of shared warm workers (``sandbox/host/pool.py``), pinned.

Written for mutation testing (docs/TESTING.md, round 4): each test fails on a mutant of
``pool.py`` that ``test_workspace_workers.py`` let pass. Real workers throughout.
"""

from __future__ import annotations

import http.server
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_sdk._memory_store import MemoryStore
from tests.http_servers import serving

EVENT = {"type": "track", "event": "E", "userId": "u", "messageId": "m1"}


def spec(name: str, source: str, workspace: str = "ws1", **extra: Any) -> InstanceSpec:
    return InstanceSpec(
        key=f"{workspace}:{name}",
        source=source,
        filename="handler.py",
        settings={"name": name, **extra},
        store_scope=f"{workspace}/{name}",
        workspace=workspace,
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait on ``condition`` (polled; a thread's state has no event to wait on)."""
    done = threading.Event()
    for _ in range(3000):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"never happened: {what}")


def in_function(thread: threading.Thread, name: str) -> bool:
    """``thread`` is (blocked) inside a function called ``name``."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False


class Held(http.server.BaseHTTPRequestHandler):
    """Answers only once the test sets ``server.release``."""

    def do_GET(self) -> None:
        self.server.arrived.set()  # type: ignore[attr-defined]
        self.server.release.wait(30)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def held_server() -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Held)
    server.arrived = threading.Event()  # type: ignore[attr-defined]
    server.release = threading.Event()  # type: ignore[attr-defined]
    return server


RECYCLED = """
from functions_sdk import fetch

def on_track(event, settings):
    if event.event == "slow":
        fetch(settings["url"], timeout=30)
        data = b"x" * (512 * 1024 * 1024)  # past the rlimit: MemoryError, then a recycle
        return len(data)
    return "fine"
"""


def test_a_recycled_worker_is_never_handed_to_a_waiting_invocation() -> None:
    """A worker recycled after its invocation (``MemoryError``) is taken out of the
    pool before another invocation can get it: the invocation of the same instance that
    waited for it runs on a fresh worker, and is not killed with the old one."""
    with (
        WorkerPool(max_workers=4, spares=0) as pool,
        serving(held_server()) as server,
    ):
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        instance = replace(
            spec("alpha", RECYCLED, url=url), allow=("127.0.0.1",), timeout=30.0, memory_mb=64
        )
        slow: list[dict[str, Any]] = []
        first = threading.Thread(
            target=lambda: slow.extend(pool.invoke(instance, [{**EVENT, "event": "slow"}]))
        )
        first.start()
        assert server.arrived.wait(30)  # type: ignore[attr-defined]
        fine: list[dict[str, Any]] = []
        second = threading.Thread(target=lambda: fine.extend(pool.invoke(instance, [EVENT])))
        second.start()
        wait_until(lambda: in_function(second, "_wait_for"), "the second invocation waits")
        server.release.set()  # type: ignore[attr-defined]
        first.join(60)
        second.join(60)
        assert [(r["outcome"], r["error"]["type"]) for r in slow] == [("retry", "MemoryError")]
        assert [(r["outcome"], r["result"], r["error"]) for r in fine] == [
            ("delivered", "fine", None)
        ]
        assert pool.starts == 2 and len(pool.worker_pids()) == 1


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=8, spares=0, store=MemoryStore()) as pool:
        yield pool
