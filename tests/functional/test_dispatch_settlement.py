"""How the delivery loop settles a group: its writes commit together, and a failure
anywhere leaves the group's jobs on the queue instead of killing the loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.ports import StoreError
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import Dispatcher, Settlement, run_worker
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.delivery.ports import Job
from functions_runtime.sandbox.host.pool import WorkerPool

ADMIN = Principal("key_admin", None, True)
HANDLER = """
def on_track(event, settings):
    return event.event
"""


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.backend = open_embedded(tmp_path / "data")
        self.delivery = open_delivery(tmp_path / "data")
        self.pool = WorkerPool(max_workers=2, spares=0)
        self.plane = ControlPlane(self.backend, self.pool)
        _, workspace = self.plane.bootstrap("admin")
        self.ws = workspace.id
        self.source, _ = self.plane.create_source(ADMIN, self.ws, "web")
        function, _ = self.plane.create_function(
            ADMIN, self.ws, files={"handler.py": HANDLER}, name="echo"
        )
        self.instance = self.plane.deploy(ADMIN, self.ws, function.id, source_id=self.source.id)
        self.ingest = Ingest(self.backend.metadata, self.delivery.queue, self.delivery.deliveries)
        self.dispatcher = Dispatcher(self.backend, self.delivery, self.pool)

    def send(self, count: int) -> None:
        events = [{"type": "track", "event": f"e{n}", "userId": "u1"} for n in range(count)]
        self.ingest.enqueue(self.source, events)

    def records(self) -> list[str]:
        return sorted(r.outcome for r in self.delivery.deliveries.list(self.ws, self.instance.id))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.pool.close()


def test_records_and_acks_of_a_group_are_committed_together(world: World) -> None:
    world.send(5)
    jobs = world.delivery.queue.receive(10, visibility_timeout=30)
    seen: list[list[str]] = []

    def settle(done: list[Settlement]) -> None:
        # Inside the transaction: the records are written, but not yet visible to others.
        seen.append(world.records())
        for settlement in done:
            world.delivery.queue.ack(settlement.job)

    settlements = world.dispatcher.process(jobs, settle=settle)
    assert [s.action for s in settlements] == ["ack"] * 5
    assert seen == [[]]  # one part, settled before its commit
    assert world.records() == ["delivered"] * 5
    counts = world.delivery.queue.counts()
    assert (counts.visible, counts.in_flight) == (0, 0)


def test_a_failed_settlement_rolls_back_the_records_and_keeps_the_jobs(world: World) -> None:
    world.send(3)
    jobs = world.delivery.queue.receive(10, visibility_timeout=30)

    def settle(done: list[Settlement]) -> None:
        for settlement in done:
            world.delivery.queue.ack(settlement.job)
        raise StoreError("disk full")

    with pytest.raises(StoreError, match="disk full"):
        world.dispatcher.process(jobs, settle=settle)
    assert world.records() == []  # nothing recorded without its ack...
    assert world.delivery.queue.counts().in_flight == 3  # ...and no job lost


class FailingOnce(Dispatcher):
    """A dispatcher whose first ``process`` fails the way a locked database would."""

    failures = 0

    def process(
        self, jobs: list[Job], settle: Callable[[list[Settlement]], None] | None = None
    ) -> list[Settlement]:
        if not self.failures:
            self.failures += 1
            raise StoreError("database is locked")
        return super().process(jobs, settle)


def test_the_loop_survives_a_failed_group_and_its_jobs_come_back(world: World) -> None:
    dispatcher = FailingOnce(
        world.backend,
        world.delivery,
        world.pool,
        policy=type(world.dispatcher.policy)(visibility_timeout=1),
    )
    world.send(4)
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(dispatcher, stop))
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while len(world.records()) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert dispatcher.failures == 1
    assert world.records() == ["delivered"] * 4
    assert world.delivery.queue.counts().in_flight == 0


class FlakyQueue:
    """The world's queue, whose first receive fails as a locked database would."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        self.failures = 0

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        if not self.failures:
            self.failures += 1
            raise StoreError("database is locked")
        return list(self._queue.receive(max_messages, visibility_timeout))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def test_the_loop_survives_a_failed_receive(world: World) -> None:
    queue = FlakyQueue(world.delivery.queue)
    dispatcher = Dispatcher(world.backend, replace(world.delivery, queue=queue), world.pool)
    world.send(3)
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(dispatcher, stop))
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while len(world.records()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert queue.failures == 1
    assert world.records() == ["delivered"] * 3
    assert not loop.is_alive()


class LockedQueue:
    """The world's queue, whose first ``failing`` receives raise ``error`` (by default
    a locked database's)."""

    def __init__(self, queue: Any, failing: int) -> None:
        self._queue = queue
        self.failing = failing
        self.error: Exception = StoreError("database is locked")

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        if self.failing:
            self.failing -= 1
            raise self.error
        return list(self._queue.receive(max_messages, visibility_timeout))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def test_the_loop_backs_off_doubling_to_max_pause_then_idles(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Four failed steps in a row pause 2, 4, 5, 5 s (twice ``idle_sleep``, doubling,
    capped at ``max_pause``), one log line each; then the jobs are delivered and an idle
    loop pauses ``idle_sleep``. Run in this thread: ``wait`` records the pauses and
    stops the loop after the sixth."""
    queue = LockedQueue(world.delivery.queue, failing=4)
    dispatcher = Dispatcher(world.backend, replace(world.delivery, queue=queue), world.pool)
    world.send(2)
    stop = threading.Event()
    pauses: list[float] = []

    def wait(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 6:
            stop.set()

    with caplog.at_level("ERROR", logger="functions.delivery"):
        run_worker(dispatcher, stop, idle_sleep=1.0, max_pause=5.0, wait=wait)
    assert pauses == [2.0, 4.0, 5.0, 5.0, 1.0, 1.0]
    assert world.records() == ["delivered", "delivered"]
    assert [r.getMessage() for r in caplog.records] == [
        f"delivery step failed (StoreError: database is locked); {n} in a row, "
        f"next try in {pause:.2f} s"
        for n, pause in zip(range(1, 5), pauses, strict=False)
    ]
    assert [r.exc_info for r in caplog.records] == [None] * 4  # a store error: no traceback


def test_a_bug_is_logged_with_its_traceback_once_a_streak(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    queue = LockedQueue(world.delivery.queue, failing=2)
    queue.error = RuntimeError("a bug\n  spanning lines")
    dispatcher = Dispatcher(world.backend, replace(world.delivery, queue=queue), world.pool)
    world.send(1)
    stop = threading.Event()
    pauses: list[float] = []

    def wait(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            stop.set()

    with caplog.at_level("ERROR", logger="functions.delivery"):
        run_worker(dispatcher, stop, idle_sleep=0.5, max_pause=30.0, wait=wait)
    assert pauses == [1.0, 2.0, 0.5]
    assert world.records() == ["delivered"]
    assert [r.getMessage() for r in caplog.records] == [
        "delivery step failed (RuntimeError: a bug spanning lines); 1 in a row, next try in 1.00 s",
        "delivery step failed (RuntimeError: a bug spanning lines); 2 in a row, next try in 2.00 s",
    ]
    first, second = caplog.records
    assert first.exc_info is not None and first.exc_info[0] is RuntimeError
    assert second.exc_info is None


def test_a_failure_is_logged_on_one_line_of_at_most_500_characters(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    queue = LockedQueue(world.delivery.queue, failing=1)
    queue.error = StoreError("the disk\nis " + "full " * 200)
    dispatcher = Dispatcher(world.backend, replace(world.delivery, queue=queue), world.pool)
    stop = threading.Event()
    with caplog.at_level("ERROR", logger="functions.delivery"):
        run_worker(dispatcher, stop, idle_sleep=1.0, wait=lambda seconds: stop.set())
    what = ("StoreError: the disk is " + "full " * 200)[:500]
    assert [r.getMessage() for r in caplog.records] == [
        f"delivery step failed ({what}); 1 in a row, next try in 2.00 s"
    ]
