"""The pool's bookkeeping of shared warm workers (``sandbox/host/pool.py``), pinned.

Written for mutation testing (docs/TESTING.md, round 4): each test fails on a mutant of
``pool.py`` that ``test_workspace_workers.py`` let pass. Real workers throughout.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool, worker_key
from functions_runtime.sandbox.host.zygote_client import Launcher
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
    """``thread`` is (blocked) inside a function whose name holds ``name``."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if name in frame.f_code.co_name:  # mutmut renames functions: a part of it
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


QUICK = """
def on_track(event, settings):
    return settings["name"]
"""


def failure(message: str) -> dict[str, Any]:
    return {
        "outcome": "retry",
        "result": None,
        "error": {"type": "IsolationError", "message": message, "line": None},
        "logs": [],
        "requests": [],
        "duration_ms": 0.0,
    }


def test_strict_isolation_runs_nothing_in_a_worker_without_a_required_layer() -> None:
    instance = spec("alpha", QUICK)
    with WorkerPool(spares=0, require=("no_new_privs", "no_such_layer")) as pool:
        lacking = "strict isolation: the worker lacks no_such_layer; no code was run"
        assert pool.invoke(instance, [EVENT, EVENT]) == [failure(lacking)] * 2
        assert pool.worker_pids() == [], "the worker without the layer was kept"
        assert pool.invoke(instance, [EVENT]) == [failure(lacking)]
        assert pool.starts == 2, "a missing layer is not a refusal of the code: tried again"
    with WorkerPool(spares=0, require=("no_new_privs", "layer_a", "layer_b")) as pool:
        lacking = "strict isolation: the worker lacks layer_a, layer_b; no code was run"
        assert pool.invoke(instance, [EVENT]) == [failure(lacking)]
    with WorkerPool(spares=0, require=("no_new_privs",)) as pool:
        [result] = pool.invoke(instance, [EVENT])
        assert (result["outcome"], result["result"]) == ("delivered", "alpha")
        assert len(pool.worker_pids()) == 1


def test_strict_isolation_requires_the_zygotes_namespaces() -> None:
    """``namespaces`` is the zygote's report, not the worker's: a worker forked from a
    zygote in its namespaces has them, an exec'ed one never does; every spare is forked
    from the zygote too (a spare started another way would lack them)."""
    instance = spec("alpha", QUICK, workspace="wsa")
    with WorkerPool(spares=1) as pool:
        pool.invoke(instance, [EVENT])
        if not pool._workers or not next(iter(pool._workers)).namespaces:
            pytest.skip("the zygote has no namespaces here")
    with WorkerPool(spares=1, require=("namespaces", "no_new_privs")) as pool:
        for name in ("alpha", "beta", "gamma"):  # the 2nd and 3rd take the spare
            [result] = pool.invoke(spec(name, QUICK, workspace=name), [EVENT])
            assert (result["outcome"], result["result"]) == ("delivered", name), result
        assert (pool.starts, pool.spare_hits) == (3, 2)
        pool._spares_settled()  # spares start on a helper thread
        assert len(pool._spare) == 1, "more spares than asked for"
    with WorkerPool(spares=0, require=("namespaces",), launcher=Launcher(fork=False)) as pool:
        lacking = "strict isolation: the worker lacks namespaces; no code was run"
        assert pool.invoke(instance, [EVENT]) == [failure(lacking)]


class KeepAlive(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the connection stays open in the broker's pool

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


FETCH = """
from functions_sdk import fetch

def on_track(event, settings):
    return fetch(settings["url"]).status
"""


def test_an_evicted_worker_closes_the_connections_of_every_instance_it_served() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    with WorkerPool(max_workers=1, spares=0) as pool, serving(server):
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        alpha, beta = (
            replace(spec(name, FETCH, url=url), allow=("127.0.0.1",)) for name in ("alpha", "beta")
        )
        for instance in (alpha, beta):
            [result] = pool.invoke(instance, [EVENT])
            assert result["result"] == 200, result
        assert pool.starts == 1
        assert [pool.broker.idle_connections(s.key) for s in (alpha, beta)] == [1, 1]
        [other] = pool.invoke(spec("gamma", QUICK), [EVENT])  # other code: evicts the first
        assert other["result"] == "gamma"
        assert (pool.starts, pool.evictions, len(pool.worker_pids())) == (2, 1, 1)
        assert [pool.broker.idle_connections(s.key) for s in (alpha, beta)] == [0, 0]
        assert pool.worker_pids(alpha) == []


def test_a_busy_worker_is_never_evicted() -> None:
    with WorkerPool(max_workers=2, spares=0) as pool, serving(held_server()) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        slow = replace(spec("slow", ONE_SLOW, url=url), allow=("127.0.0.1",), timeout=30.0)
        results: list[dict[str, Any]] = []
        thread = threading.Thread(target=lambda: results.extend(pool.invoke(slow, [EVENT])))
        thread.start()
        try:
            assert server.arrived.wait(30)  # type: ignore[attr-defined]
            # Another instance of the same code: a second worker of the key.
            [other] = pool.invoke(spec("other", ONE_SLOW, url=url), [EVENT])
            assert other["result"] == "other" and len(pool.worker_pids(slow)) == 2
            # The busy worker is the least recently used: the idle one behind it goes.
            for n, name in enumerate(("third", "fourth")):
                code = QUICK + f"\n# code {n}\n"
                [other] = pool.invoke(spec(name, code, workspace=name), [EVENT])
                assert other["result"] == name
            assert (pool.evictions, len(pool.worker_pids())) == (2, 2)
            assert len(pool.worker_pids(slow)) == 1, "the busy worker was evicted (or lost)"
        finally:
            server.release.set()  # type: ignore[attr-defined]
            thread.join(60)
        assert [r["outcome"] for r in results] == ["delivered"]


ONE_SLOW = """
from functions_sdk import fetch

def on_track(event, settings):
    if settings["name"] == "slow":
        fetch(settings["url"], timeout=30)
    return settings["name"]
"""

SLOW = """
from functions_sdk import fetch

def on_track(event, settings):
    fetch(settings["url"], timeout=30)
    return settings["name"]
"""


def state(pid: int) -> str:
    """The process's state letter (``Z``: ended, not reaped yet)."""
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def test_a_worker_that_died_while_idle_is_replaced_before_the_next_event() -> None:
    # Exec'ed, not forked: the pytest process is the worker's parent, so its state is
    # read here without waiting for a zygote's report.
    with WorkerPool(spares=0, launcher=Launcher(fork=False)) as pool:
        instance = spec("alpha", QUICK)
        pool.invoke(instance, [EVENT])
        [pid] = pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: state(pid) == "Z", "the killed worker has ended")
        [result] = pool.invoke(instance, [EVENT])
        assert (result["outcome"], result["result"]) == ("delivered", "alpha"), result
        assert pool.starts == 2
        assert len(pool.worker_pids()) == 1 and pool.worker_pids() != [pid]


BOTH = """
def on_track(event, settings):
    return "track"

def on_batch(events, settings):
    return ["batch" for _ in events]
"""


def test_a_batch_runs_on_batch_only_when_asked() -> None:
    with WorkerPool(spares=0) as pool:
        instance = spec("alpha", BOTH)
        assert [r["result"] for r in pool.invoke(instance, [EVENT, EVENT])] == ["track"] * 2
        batch = pool.invoke(instance, [EVENT, EVENT], batch=True)
        assert [r["result"] for r in batch] == ["batch"] * 2


def test_strict_isolation_without_a_zygote_runs_nothing() -> None:
    """No exec'ed worker outside the zygote's namespaces when they are required."""
    launcher = Launcher(zygote_command=[sys.executable, "-c", "pass"], exec_fallback=False)
    with WorkerPool(spares=1, launcher=launcher) as pool:
        results = pool.invoke(spec("alpha", QUICK), [EVENT, EVENT])
        lacking = "the zygote cannot start workers (no exec fallback)"
        assert results == [failure(lacking)] * 2
        assert (pool.starts, pool.worker_pids()) == (0, [])


def test_a_second_invocation_of_a_busy_instance_waits_for_its_worker() -> None:
    """One instance's invocations run one after another on its worker: the second
    waits for the first (no second worker), then runs with its own event."""
    with WorkerPool(max_workers=4, spares=0) as pool, serving(held_server()) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        instance = replace(spec("slow", SLOW, url=url), allow=("127.0.0.1",), timeout=30.0)
        quick = replace(instance, settings={**instance.settings, "name": "quick"})
        first: list[dict[str, Any]] = []
        second: list[dict[str, Any]] = []
        one = threading.Thread(target=lambda: first.extend(pool.invoke(instance, [EVENT])))
        one.start()
        assert server.arrived.wait(30)  # type: ignore[attr-defined]
        two = threading.Thread(target=lambda: second.extend(pool.invoke(quick, [EVENT])))
        two.start()
        wait_until(lambda: in_function(two, "_wait_for"), "the second invocation waits")
        assert not first and not second
        server.release.set()  # type: ignore[attr-defined]
        one.join(60)
        two.join(60)
        assert [(r["outcome"], r["result"]) for r in first] == [("delivered", "slow")]
        assert [(r["outcome"], r["result"]) for r in second] == [("delivered", "quick")]
        assert pool.starts == 1 and len(pool.worker_pids()) == 1


def test_a_worker_that_fails_to_start_is_invalid_and_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a refusal of the code: nothing is remembered, the next event starts a worker."""
    folder = Path(tempfile.mkdtemp(prefix="failing-worker-"))
    try:
        folder.chmod(0o755)
        executable = folder / "python"
        executable.write_text("#!/bin/sh\nexit 3\n")
        executable.chmod(0o755)
        monkeypatch.setattr(sys, "executable", str(executable))
        with WorkerPool(spares=0, launcher=Launcher(fork=False)) as pool:
            instance = spec("alpha", QUICK)
            for starts in (1, 2):
                results = pool.invoke(instance, [EVENT, EVENT])
                assert [(r["outcome"], r["error"]["type"]) for r in results] == [
                    ("invalid", "InvalidFunction")
                ] * 2
                [problem] = results[0]["problems"]
                assert problem.startswith("handler.py:1: the worker failed to start: the worker ")
                assert (pool.starts, pool.worker_pids()) == (starts, [])
    finally:
        shutil.rmtree(folder)


def test_each_new_worker_takes_the_prestarted_spare() -> None:
    with WorkerPool(spares=1) as pool:
        for name in ("alpha", "beta", "gamma"):
            [result] = pool.invoke(spec(name, QUICK, workspace=name), [EVENT])
            assert result["result"] == name
        assert (pool.starts, pool.spare_hits, len(pool.worker_pids())) == (3, 2, 3)


def test_the_code_key_names_the_kind_and_the_file_too() -> None:
    base = spec("alpha", QUICK)
    keys = {
        worker_key(s)
        for s in (base, replace(base, kind="insert"), replace(base, filename="other.py"))
    }
    assert len(keys) == 3, "a worker bound to one kind or file would run another's"
    assert worker_key(replace(base, key="ws1:beta", settings={"name": "beta"})) in keys


COUNTER = """
from functions_sdk import store

def on_track(event, settings):
    return store.incr("n")
"""


def test_a_pool_without_a_store_keeps_one_in_memory() -> None:
    """``functions invoke``: no configured store, yet store calls work, per scope."""
    with WorkerPool(spares=0) as pool:
        alpha, beta = spec("alpha", COUNTER), spec("beta", COUNTER)
        runs = [pool.invoke(s, [EVENT])[0] for s in (alpha, alpha, beta)]
        assert [(r["outcome"], r["result"]) for r in runs] == [
            ("delivered", 1),
            ("delivered", 2),
            ("delivered", 1),
        ], runs
