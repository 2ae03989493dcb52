"""A sandbox worker runs on its host thread's CPU during a load and an invocation
(``sandbox/host/affinity.py``), and the host thread runs anywhere again after."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from functions_runtime.sandbox.host import affinity
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool

CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
needs_two_cpus = pytest.mark.skipif(
    len(CPUS) < 2 or affinity.current_cpu() is None, reason="needs two CPUs and sched_getcpu"
)

SOURCE = "def on_track(event, settings):\n    return {'n': len(event.properties)}\n"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        yield child
        child.kill()


def in_thread(work: Any) -> Any:
    """``work()`` in a fresh thread (its affinity is its own), and what it returned."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join(30)
    return out[0]


def test_the_switch_reads_the_environment():
    assert affinity.enabled({}) is (affinity.current_cpu() is not None)
    for off in ("off", "0", "false", "No"):
        assert affinity.enabled({affinity.ENV: off}) is False


@needs_two_cpus
def test_together_puts_the_worker_on_the_callers_cpu_and_frees_the_caller_after(sleeper):
    follower = affinity.CpuFollower(sleeper.pid)

    def work() -> tuple[set[int], set[int], int | None, set[int]]:
        with follower.together():
            inside = os.sched_getaffinity(0)
            worker = os.sched_getaffinity(sleeper.pid)
            cpu = affinity.current_cpu()
        return inside, worker, cpu, os.sched_getaffinity(0)

    inside, worker, cpu, after = in_thread(work)
    assert inside == worker == {cpu}
    assert after == CPUS


@needs_two_cpus
def test_an_inactive_follower_moves_nothing(sleeper):
    follower = affinity.CpuFollower(sleeper.pid, active=False)

    def work() -> tuple[set[int], set[int]]:
        with follower.together():
            return os.sched_getaffinity(0), os.sched_getaffinity(sleeper.pid)

    assert in_thread(work) == (CPUS, CPUS)


@needs_two_cpus
def test_a_worker_that_is_gone_stops_the_following_and_fails_nothing():
    with subprocess.Popen([sys.executable, "-c", "pass"]) as child:
        child.wait()
    follower = affinity.CpuFollower(child.pid)  # reaped: the pid names nobody now
    with follower.together():
        pass
    assert follower.cpu is None
    with follower.together():  # no second try
        assert os.sched_getaffinity(0) == CPUS


def spec() -> InstanceSpec:
    return InstanceSpec(key="affinity", source=SOURCE, settings={}, filename="affinity.py")


def events(n: int) -> list[dict[str, Any]]:
    return [
        {"type": "track", "event": "E", "userId": "u1", "properties": {"i": i}} for i in range(n)
    ]


@needs_two_cpus
@pytest.mark.parametrize("switch", ["on", "off"])
def test_the_pool_keeps_each_worker_on_its_callers_cpu(monkeypatch, switch):
    monkeypatch.setenv(affinity.ENV, switch)

    def work() -> tuple[list[set[int]], set[int], list[Any]]:
        with WorkerPool(max_workers=2) as pool:
            results = pool.invoke(spec(), events(3), batch=False)
            masks = [os.sched_getaffinity(pid) for pid in pool.worker_pids()]
            return masks, os.sched_getaffinity(0), results

    masks, caller, results = in_thread(work)
    assert [r["outcome"] for r in results] == ["delivered"] * 3
    assert caller == CPUS  # the caller is free again between invocations
    assert masks, "a worker ran"
    if switch == "on":
        assert all(len(mask) == 1 and mask <= CPUS for mask in masks)
    else:
        assert all(mask == CPUS for mask in masks)
