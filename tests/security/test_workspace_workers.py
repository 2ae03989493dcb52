"""Warm workers shared by the instances of one workspace (``pool.worker_key``).

A worker may serve, one invocation at a time, every instance of one workspace that runs
the same code with the same memory limit. What must hold, and is proven here with real
workers: instances of different workspaces (or without a workspace) never share a worker;
inside a shared worker each event sees only its own instance's settings, masking uses its
own instance's secrets, module state never carries from one instance's event to
another's, the store stays per instance, and a slow invocation of one instance never
holds up another instance's (a second worker starts for it).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool, worker_key
from functions_sdk._memory_store import MemoryStore
from tests.http_servers import serving

EVENT = {"type": "track", "event": "E", "userId": "u", "messageId": "m1"}

SOURCE = """
from functions_sdk import store
import logging
SEEN = []

def on_track(event, settings):
    SEEN.append(settings["name"])
    logging.getLogger("h").info("key %s", settings["apiKey"])
    before = store.get("mine")
    store.set("mine", settings["name"])
    return {"seen": list(SEEN), "name": settings["name"], "store_before": before,
            "key_length": len(settings["apiKey"])}
"""


def spec(
    name: str, workspace: str, *, source: str = SOURCE, memory_mb: int = 256, **extra: Any
) -> InstanceSpec:
    settings = {"name": name, "apiKey": f"sk_live_{name}_0123456789abcdef", **extra}
    return InstanceSpec(
        key=f"{workspace or 'none'}:{name}",
        source=source,
        filename="handler.py",
        settings=settings,
        secret_names=("apiKey",),
        memory_mb=memory_mb,
        store_scope=f"{workspace}/{name}" if workspace else "",
        workspace=workspace,
    )


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=8, spares=0, store=MemoryStore()) as pool:
        yield pool


def invoke(pool: WorkerPool, instance: InstanceSpec) -> dict[str, Any]:
    [result] = pool.invoke(instance, [EVENT])
    assert result["outcome"] == "delivered", result
    return result


def test_instances_of_one_workspace_share_a_worker_and_nothing_else(pool: WorkerPool) -> None:
    first, second = spec("alpha", "ws1"), spec("beta", "ws1")
    assert worker_key(first) == worker_key(second)
    a1, b1, a2 = invoke(pool, first), invoke(pool, second), invoke(pool, first)
    assert pool.starts == 1 and len(pool.worker_pids()) == 1, "one warm worker for both"
    # Each event: its own instance's settings, a fresh module (SEEN holds one name), and
    # its own instance's store.
    for result, instance in ((a1, first), (b1, second)):
        name = instance.settings["name"]
        assert result["result"] == {
            "seen": [name],
            "name": name,
            "store_before": None,
            "key_length": len(instance.settings["apiKey"]),
        }
    assert a2["result"]["seen"] == ["alpha"] and a2["result"]["store_before"] == "alpha"
    # Masked with the instance's own secret, in its own record only.
    assert len(a1["logs"]) == 1 and len(b1["logs"]) == 1
    assert "sk_live_" not in repr([a1, b1, a2]), "a secret reached a record unmasked"


def test_workspaces_never_share_a_worker(pool: WorkerPool) -> None:
    specs = [spec("alpha", "ws1"), spec("alpha", "ws2"), spec("beta", ""), spec("gamma", "")]
    assert len({worker_key(s) for s in specs}) == 4
    pids = []
    for instance in specs:
        invoke(pool, instance)
        [pid] = pool.worker_pids(instance)
        pids.append(pid)
    assert len(set(pids)) == 4, "each workspace (and each instance without one) its own"
    # The same instance name in another workspace reads its own store, not ws1's.
    assert invoke(pool, spec("alpha", "ws2"))["result"]["store_before"] == "alpha"
    assert pool.store.get("ws1/alpha", "mine") == '"alpha"'


def test_other_code_or_memory_limit_takes_another_worker(pool: WorkerPool) -> None:
    base = spec("alpha", "ws1")
    other_code = spec("beta", "ws1", source=SOURCE + "\n# another version\n")
    other_memory = spec("gamma", "ws1", memory_mb=128)
    assert len({worker_key(s) for s in (base, other_code, other_memory)}) == 3
    for instance in (base, other_code, other_memory):
        invoke(pool, instance)
    assert pool.starts == 3


SLOW = """
from functions_sdk import fetch

def on_track(event, settings):
    if settings["name"] == "slow":
        fetch(settings["url"], timeout=30)
    return settings["name"]
"""


class Held:
    """A server on 127.0.0.1 that holds every GET until ``release`` is set."""

    def __init__(self) -> None:
        self.arrived, self.release = threading.Event(), threading.Event()
        self.url = ""


@pytest.fixture
def held() -> Iterator[Held]:
    state = Held()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.arrived.set()
            state.release.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        state.url = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            yield state
        finally:
            state.release.set()


def slow_and_quick(held: Held, quick_workspace: str) -> tuple[InstanceSpec, InstanceSpec]:
    slow = replace(spec("slow", "ws1", source=SLOW, url=held.url), allow=("127.0.0.1",))
    return replace(slow, timeout=30.0), spec("quick", quick_workspace, source=SLOW, url=held.url)


def start_slow(
    pool: WorkerPool, held: Held, slow: InstanceSpec
) -> tuple[threading.Thread, list[Any]]:
    results: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: results.extend(pool.invoke(slow, [EVENT])))
    thread.start()
    assert held.arrived.wait(30), "the slow instance's request never reached the server"
    return thread, results


def test_a_slow_instance_does_not_hold_up_another_of_its_workspace(
    pool: WorkerPool, held: Held
) -> None:
    slow, quick = slow_and_quick(held, "ws1")
    invoke(pool, quick)  # warm: the one worker of this code is now idle
    thread, results = start_slow(pool, held, slow)
    # The warm worker is busy with "slow": "quick" gets a second one at once.
    assert invoke(pool, quick)["result"] == "quick"
    assert not results, "the slow invocation finished before it was released"
    assert len(pool.worker_pids(quick)) == 2
    held.release.set()
    thread.join(30)
    assert [r["outcome"] for r in results] == ["delivered"]


def test_the_pool_is_back_within_its_bound_once_busy_workers_are_free(held: Held) -> None:
    with WorkerPool(max_workers=1, spares=0) as pool:
        slow, quick = slow_and_quick(held, "ws2")
        thread, results = start_slow(pool, held, slow)
        [busy] = pool.worker_pids()
        # The only worker is busy (never evicted): another workspace's instance gets a
        # second one, past the bound, and that one goes as soon as it is done.
        assert invoke(pool, quick)["result"] == "quick"
        assert pool.starts == 2
        assert (pool.worker_pids(), pool.evictions) == ([busy], 1)
        held.release.set()
        thread.join(30)
        assert [r["outcome"] for r in results] == ["delivered"]
        assert (pool.worker_pids(), pool.evictions) == ([busy], 1)


def test_one_instance_runs_its_invocations_one_after_another(pool: WorkerPool) -> None:
    instance = spec("alpha", "ws1")
    done: list[str] = []

    def run() -> None:
        for _ in range(5):
            done.append(invoke(pool, instance)["result"]["name"])

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert done == ["alpha"] * 20
    assert len(pool.worker_pids(instance)) == 1, "one instance never spreads over workers"


def test_a_crash_in_one_instance_leaves_the_workspace_served(pool: WorkerPool) -> None:
    source = """
def on_track(event, settings):
    if settings["name"] == "boom":
        data = b"x" * (512 * 1024 * 1024)  # past the rlimit: MemoryError, then a recycle
        return len(data)
    return settings["name"]
"""
    # (``raise MemoryError`` in the handler is a NameError: the name is not in the
    # sandbox's builtins, and the worker is not recycled after it.)
    boom = spec("boom", "ws1", source=source, memory_mb=64)
    fine = spec("fine", "ws1", source=source, memory_mb=64)
    assert invoke(pool, fine)["result"] == "fine"
    [failed] = pool.invoke(boom, [EVENT])
    assert (failed["outcome"], failed["error"]["type"]) == ("retry", "MemoryError"), failed
    assert pool.worker_pids(fine) == [], "the recycled worker is gone"
    assert invoke(pool, fine)["result"] == "fine"
    assert pool.starts == 2


def test_many_threads_many_instances_few_workers() -> None:
    """Three workspaces, four instances each, four threads, a pool of two: workers are
    shared, evicted and started under contention; every event is delivered with its own
    instance's settings, no lock is left held, and the pool ends within its bound."""
    source = "def on_track(event, settings):\n    return [settings['name'], event.userId]\n"
    specs = [spec(f"i{i}", f"ws{w}", source=source) for w in range(3) for i in range(4)]
    failures: list[str] = []
    with WorkerPool(max_workers=2, spares=0) as pool:

        def run(offset: int) -> None:
            for n in range(24):
                instance = specs[(offset * 5 + n * 7) % len(specs)]
                event = {**EVENT, "userId": f"t{offset}-{n}"}
                [result] = pool.invoke(instance, [event])
                expected = [instance.settings["name"], event["userId"]]
                if result["outcome"] != "delivered" or result["result"] != expected:
                    failures.append(f"{instance.key}: {result}")

        threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "an invocation never returned"
        assert failures == []
        assert pool.evictions > 0, "the pool of two never had to evict"
        assert len(pool.worker_pids()) <= 2
        assert not any(w.lock.locked() for w in pool._workers), "a worker's lock was left held"
        keys = {worker_key(s) for s in specs}
        assert len(keys) == 3
        for worker, key in pool._workers.items():  # each last ran an instance of its key
            assert key in keys and worker.running in {s.key for s in specs if worker_key(s) == key}
