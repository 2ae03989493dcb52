"""``functions serve``'s delivery processes: they deliver, come back when killed, and
never outlive the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bench.procstat import descendants
from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import DeliveryPolicy
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.sandbox.host.pool import WorkerPool
from functions_runtime.server.deliverer import DeliveryProcesses, _policy, _policy_json

ADMIN = Principal("key_admin", None, True)
HANDLER = """
def on_track(event, settings):
    return event.event
"""


class World:
    def __init__(self, data_dir: Path, functions: int = 1) -> None:
        """``functions`` functions (each its own code), each deployed to the one source:
        every event sent goes to each of them."""
        self.data_dir = data_dir
        backend = open_embedded(data_dir)
        self.delivery = open_delivery(data_dir)
        with WorkerPool(max_workers=1, spares=0) as pool:
            plane = ControlPlane(backend, pool)
            _, workspace = plane.bootstrap("admin")
            self.ws = workspace.id
            self.source, _ = plane.create_source(ADMIN, self.ws, "web")
            self.instances = []
            for n in range(functions):
                code = HANDLER + f"\n# function {n}\n"
                function, _ = plane.create_function(
                    ADMIN, self.ws, files={"handler.py": code}, name=f"echo{n}"
                )
                self.instances.append(
                    plane.deploy(ADMIN, self.ws, function.id, source_id=self.source.id)
                )
            self.instance = self.instances[0]
        self.ingest = Ingest(backend.metadata, self.delivery.queue, self.delivery.deliveries)

    def send(self, first: int, count: int) -> None:
        events = [
            {"type": "track", "event": f"e{n}", "userId": "u1", "messageId": f"m{n}"}
            for n in range(first, first + count)
        ]
        self.ingest.enqueue(self.source, events)

    def delivered(self, instance: int = 0) -> int:
        records = self.delivery.deliveries.list(self.ws, self.instances[instance].id, limit=1000)
        return len({r.message_id for r in records if r.outcome == "delivered"})

    def delivered_records(self, instance: int = 0) -> int:
        """Delivery records with outcome ``delivered``: one per event unless one went twice."""
        records = self.delivery.deliveries.list(self.ws, self.instances[instance].id, limit=1000)
        return sum(r.outcome == "delivered" for r in records)

    def queue_counts(self) -> tuple[int, int, int]:
        counts = self.delivery.queue.counts()
        return counts.visible, counts.in_flight, counts.dead


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "data")


@pytest.fixture
def processes(world: World) -> Iterator[DeliveryProcesses]:
    deliverers = DeliveryProcesses(
        1, world.data_dir, (), threads=2, policy=DeliveryPolicy(visibility_timeout=2)
    )
    deliverers.start()
    yield deliverers
    deliverers.stop(timeout=30)


def test_a_killed_delivery_process_is_replaced_and_nothing_is_lost(
    world: World, processes: DeliveryProcesses
) -> None:
    world.send(0, 20)
    assert wait_until(lambda: world.delivered() == 20)
    [first] = processes.pids()
    os.kill(first, signal.SIGKILL)
    world.send(20, 20)
    assert wait_until(lambda: processes.pids() != [first])
    assert wait_until(lambda: world.delivered() == 40)
    # The queue drains too. A job whose visibility (2 s here) ran out while a slow
    # machine still ran it was received again, found in progress and put back for a
    # retry; it settles as a duplicate once received again, never delivered twice.
    assert wait_until(lambda: world.queue_counts() == (0, 0, 0)), world.queue_counts()
    assert world.delivered_records() == 40


def test_stop_ends_every_delivery_process(world: World) -> None:
    deliverers = DeliveryProcesses(2, world.data_dir, (), threads=1, policy=DeliveryPolicy())
    deliverers.start()
    pids = deliverers.pids()
    deliverers.stop(timeout=30)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_delivery_process_exits_when_its_parent_goes(world: World) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_runtime.server.deliverer",
            "--data-dir",
            str(world.data_dir),
        ],
        stdin=subprocess.PIPE,
    )
    try:
        world.send(0, 3)
        assert wait_until(lambda: world.delivered() == 3)
        assert child.stdin is not None
        child.stdin.close()  # what the kernel does when the parent dies
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_policy_reaches_the_child_unchanged() -> None:
    policy = DeliveryPolicy(
        max_attempts=3, max_age=timedelta(minutes=90), base_delay=0.5, visibility_timeout=7
    )
    assert _policy(_policy_json(policy)) == policy


def test_delivery_processes_and_their_workers_run_below_serves_priority(world: World) -> None:
    deliverers = DeliveryProcesses(
        1, world.data_dir, (), threads=1, policy=DeliveryPolicy(), niceness=7
    )
    deliverers.start()
    try:
        world.send(0, 2)
        assert wait_until(lambda: world.delivered() == 2)  # its zygote and a worker ran
        [child] = deliverers.pids()
        family = [child, *descendants(child)]
        assert len(family) >= 3  # the process, its zygote, a sandbox worker
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert {os.getpriority(os.PRIO_PROCESS, pid) - ours for pid in family} == {7}
    finally:
        deliverers.stop(timeout=30)


def test_a_delivery_process_keeps_at_most_its_warm_workers(tmp_path: Path) -> None:
    # Two functions (two codes: no worker can serve both) on one source, one delivery
    # loop: with one warm worker, each function's worker evicts the other's. The
    # zygote's children are that worker and at most one spare, never both functions'.
    world = World(tmp_path / "data", functions=2)
    deliverers = DeliveryProcesses(
        1, world.data_dir, (), threads=1, policy=DeliveryPolicy(), warm_workers=1
    )
    deliverers.start()
    try:
        for first in range(0, 12, 3):
            world.send(first, 3)
            sent = first + 3
            assert wait_until(lambda n=sent: world.delivered(0) == world.delivered(1) == n)
        [child] = deliverers.pids()

        def workers() -> int:
            # Sandbox workers are the leaves of the process's tree: the zygote (two
            # processes when it has a pid namespace of its own) is not one.
            return sum(1 for pid in descendants(child) if not descendants(pid))

        # An evicted worker is killed on a helper thread, just after the eviction.
        assert wait_until(lambda: 1 <= workers() <= 2, timeout=10), workers()
    finally:
        deliverers.stop(timeout=30)
