"""The delivery loop's edges that mutation testing (round 3) found unpinned: what the
loop holds and hands over, and the formats that outlive a process (the idempotency key).

The dispatcher's dependencies are passed in; the real pool runs the code, and
``run_worker`` is driven through its ``wait`` (no sleeps, no timing assertions).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.ports import StoreError
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import DeliveryPolicy, Dispatcher, Settlement, run_worker
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.delivery.ports import Job
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool

ADMIN = Principal("key_admin", None, True)
ECHO = """
def on_track(event, settings):
    return event.event
"""


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.backend = open_embedded(self.data)
        self.delivery = open_delivery(self.data)
        self.pool = WorkerPool(max_workers=2, spares=0)
        self.plane = ControlPlane(self.backend, self.pool)
        _, workspace = self.plane.bootstrap("admin")
        self.ws = workspace.id
        self.source, _ = self.plane.create_source(ADMIN, self.ws, "web")
        self.ingest = Ingest(self.backend.metadata, self.delivery.queue, self.delivery.deliveries)

    def deploy(self, name: str, files: dict[str, str], **kw: Any) -> Any:
        function, _ = self.plane.create_function(ADMIN, self.ws, files=files, name=name)
        return self.plane.deploy(ADMIN, self.ws, function.id, source_id=self.source.id, **kw)

    def send(self, *names: str) -> list[Job]:
        events = [{"type": "track", "event": name, "userId": "u1"} for name in names]
        self.ingest.enqueue(self.source, events)
        return self.delivery.queue.receive(100, visibility_timeout=30)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.pool.close()


def test_a_delivered_event_is_a_duplicate_under_the_stored_idempotency_key(
    world: World,
) -> None:
    """The idempotency record outlives the process that wrote it: after an upgrade or a
    restart, a redelivered event is recognised only if the key is written the same way
    (``functions.deliver``, instance, message, replay). Another persistence layer over
    the same database, configured as documented, finds the record COMPLETED."""
    instance = world.deploy("echo", {"handler.py": ECHO})
    [job] = world.send("Order Completed")
    [settlement] = Dispatcher(world.backend, world.delivery, world.pool).process([job])
    assert (settlement.action, settlement.outcome) == ("ack", "delivered")

    other = open_delivery(world.data).idempotency
    other.configure(IdempotencyConfig(), function_name="functions.deliver")
    key = {"instance_id": instance.id, "message_id": job.body["message_id"], "replay": ""}
    record = other.get_record(data=key)
    assert record.status == "COMPLETED"


class ShortPool:
    """A pool that answers one result fewer than the events it was given (the first
    event's result missing), as a broken worker protocol would."""

    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, spec: InstanceSpec, events: list[Any], batch: bool = False) -> Any:
        self.calls += 1
        done: dict[str, Any] = {"outcome": "delivered", "result": None, "error": None, "logs": []}
        return [dict(done, duration_ms=1.0) for _ in events[1:]]


def test_results_that_do_not_match_the_events_settle_nothing(world: World) -> None:
    """With one result missing, the results cannot be paired with their jobs: pairing
    them anyway could record (and ack) an event as delivered on another's result and
    lose it. The part fails instead: nothing recorded, nothing settled, the jobs come
    back after their visibility timeout."""
    instance = world.deploy("echo", {"handler.py": ECHO})
    jobs = world.send("a", "b")
    pool = ShortPool()
    settled: list[Settlement] = []
    dispatcher = Dispatcher(world.backend, world.delivery, pool)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="zip"):
        dispatcher.process(jobs, settle=settled.extend)
    assert pool.calls == 1
    assert settled == []
    assert world.delivery.deliveries.list(world.ws, instance.id) == []


# -- run_worker, as the deliverer starts it ------------------------------------------------

BATCHED = """
def on_batch(events, settings):
    return [e.event for e in events]

def on_track(event, settings):
    return event.event
"""


class RecordingQueue:
    """The world's queue; records each receive's arguments, and fails the first
    ``failing`` receives as a locked database would."""

    def __init__(self, queue: Any, failing: int = 0) -> None:
        self._queue = queue
        self.failing = failing
        self.receives: list[tuple[int, int]] = []

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        self.receives.append((max_messages, visibility_timeout))
        if self.failing:
            self.failing -= 1
            raise StoreError("database is locked")
        return list(self._queue.receive(max_messages, visibility_timeout))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


class CountingPool:
    """The real pool; records how many events each invoke had, and whether batched."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.calls: list[tuple[int, bool]] = []

    def invoke(self, spec: InstanceSpec, events: list[Any], batch: bool = False) -> Any:
        self.calls.append((len(events), batch))
        return self.pool.invoke(spec, events, batch=batch)


def test_a_crash_between_the_records_and_the_acks_does_not_deliver_twice(
    world: World,
) -> None:
    """A part's records and idempotency results are committed before its acks (they are
    in different files). A process killed between the two commits leaves the job
    unacknowledged with its record written: it comes back after its visibility timeout
    and is acknowledged as already delivered, without running the handler again."""
    instance = world.deploy("echo", {"handler.py": ECHO})
    [job] = world.send("Order Completed")
    pool = CountingPool(world.pool)
    dispatcher = Dispatcher(world.backend, world.delivery, pool)  # type: ignore[arg-type]
    [first] = dispatcher.process([job])  # no settle: as if killed before the acks
    assert (first.action, first.outcome, pool.calls) == ("ack", "delivered", [(1, False)])
    assert world.delivery.queue.counts().in_flight == 1

    later = open_delivery(world.data, clock=lambda: time.time() + 31)  # past visibility
    [again] = later.queue.receive(10, visibility_timeout=30)
    assert again.body["message_id"] == job.body["message_id"]
    [second] = dispatcher.process(
        [again], settle=lambda done: [later.queue.ack(s.job) for s in done]
    )
    assert (second.action, second.reason, pool.calls) == (
        "ack",
        "already delivered (idempotency)",
        [(1, False)],
    )
    assert later.queue.counts().in_flight == 0
    [record] = world.delivery.deliveries.list(world.ws, instance.id)
    assert record.outcome == "delivered"


def looping(world: World, queue: RecordingQueue, visibility: int = 45) -> Dispatcher:
    return Dispatcher(
        world.backend,
        replace(world.delivery, queue=queue),
        CountingPool(world.pool),  # type: ignore[arg-type]
        policy=DeliveryPolicy(visibility_timeout=visibility),
    )


def test_the_loop_with_its_defaults_pauses_up_to_30_seconds_and_idles_briefly(
    world: World,
) -> None:
    """The deliverer starts ``run_worker(dispatcher, stop)``: receives of up to 100 jobs
    under the policy's visibility timeout, failure pauses doubling from 0.1 s to at most
    30 s, 0.05 s when idle. A stop ends the loop without another receive."""
    queue = RecordingQueue(world.delivery.queue, failing=11)
    stop = threading.Event()
    pauses: list[float] = []

    def wait(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 12:
            stop.set()

    run_worker(looping(world, queue), stop, wait=wait)
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 0.05]
    assert queue.receives == [(100, 45)] * 12


class IntermittentQueue(RecordingQueue):
    """Fails the receives whose (1-based) number is in ``failing_at``."""

    def __init__(self, queue: Any, failing_at: set[int]) -> None:
        super().__init__(queue)
        self.failing_at = failing_at

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        self.failing = 1 if len(self.receives) + 1 in self.failing_at else 0
        return super().receive(max_messages, visibility_timeout)


def test_a_failure_after_a_success_starts_a_new_streak(world: World) -> None:
    """A step that works ends the streak: the next failure pauses as the first did
    (and the loop goes on delivering)."""
    queue = IntermittentQueue(world.delivery.queue, failing_at={1, 3})
    stop = threading.Event()
    pauses: list[float] = []

    def wait(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 4:
            stop.set()

    run_worker(looping(world, queue), stop, idle_sleep=1.0, wait=wait)
    assert pauses == [2.0, 1.0, 2.0, 1.0]
    assert len(queue.receives) == 4


def test_held_batches_take_room_and_a_stop_runs_what_is_held(world: World) -> None:
    """Jobs held for a batch count against ``max_messages`` (the next receive asks for
    the room left); a stop runs everything held, as one batch, and settles it on the
    queue: nothing is left in flight."""
    instance = world.deploy("batched", {"handler.py": BATCHED})
    world.plane.update_instance(
        ADMIN, world.ws, instance.id, batch_max_count=5, batch_wait_seconds=30
    )
    world.ingest.enqueue(
        world.source, [{"type": "track", "event": f"e{n}", "userId": "u1"} for n in range(3)]
    )
    queue = RecordingQueue(world.delivery.queue)
    dispatcher = looping(world, queue, visibility=120)
    stop = threading.Event()
    pauses: list[float] = []
    delivered_at_pause: list[int] = []

    def wait(seconds: float) -> None:
        pauses.append(seconds)
        delivered_at_pause.append(len(world.delivery.deliveries.list(world.ws, instance.id)))
        stop.set()

    run_worker(dispatcher, stop, max_messages=4, idle_sleep=0.5, wait=wait)
    assert queue.receives == [(4, 120), (1, 120)]  # 3 held: room for 1 more
    assert (pauses, delivered_at_pause) == ([0.5], [0])  # held, within the batch wait
    assert dispatcher.pool.calls == [(3, True)]  # type: ignore[attr-defined]
    records = world.delivery.deliveries.list(world.ws, instance.id)
    assert sorted(r.outcome for r in records) == ["delivered"] * 3
    counts = world.delivery.queue.counts()
    assert (counts.visible, counts.in_flight, counts.dead) == (0, 0, 0)


@pytest.mark.parametrize(("count", "wait_seconds"), [(3, 30.0), (5, 0.0)])
def test_a_batch_runs_in_the_step_that_fills_it_or_ends_its_wait(
    world: World, count: int, wait_seconds: float
) -> None:
    """Three jobs of a batched instance run in the step that received them when they
    fill its batch (exactly ``batch_max_count``) or when its wait is over (0 s)."""
    instance = world.deploy("batched", {"handler.py": BATCHED})
    world.plane.update_instance(
        ADMIN, world.ws, instance.id, batch_max_count=count, batch_wait_seconds=wait_seconds
    )
    world.ingest.enqueue(
        world.source, [{"type": "track", "event": f"e{n}", "userId": "u1"} for n in range(3)]
    )
    queue = RecordingQueue(world.delivery.queue)
    dispatcher = looping(world, queue)
    stop = threading.Event()
    delivered_at_pause: list[int] = []

    def wait(seconds: float) -> None:
        delivered_at_pause.append(len(world.delivery.deliveries.list(world.ws, instance.id)))
        stop.set()

    run_worker(dispatcher, stop, wait=wait)
    assert delivered_at_pause == [3]
    assert dispatcher.pool.calls == [(3, True)]  # type: ignore[attr-defined]


def test_batching_caps_the_wait_at_half_the_visibility_timeout(world: World) -> None:
    """A held job must run before its lease ends: the wait is at most half the
    visibility timeout. Jobs of a function without ``on_batch``, or of a disabled
    instance, run alone at once."""
    batched = world.deploy("batched", {"handler.py": BATCHED})
    world.plane.update_instance(
        ADMIN, world.ws, batched.id, batch_max_count=7, batch_wait_seconds=30
    )
    echo = world.deploy("echo", {"handler.py": ECHO})
    jobs = {job.body["instance_id"]: job for job in world.send("a")}
    dispatcher = Dispatcher(
        world.backend, world.delivery, world.pool, policy=DeliveryPolicy(visibility_timeout=20)
    )
    assert dispatcher.batching(jobs[batched.id]) == (7, 10.0)
    assert dispatcher.batching(jobs[echo.id]) == (1, 0.0)
    world.plane.update_instance(ADMIN, world.ws, batched.id, enabled=False)
    assert dispatcher.batching(jobs[batched.id]) == (1, 0.0)
    world.plane.update_instance(ADMIN, world.ws, batched.id, enabled=True, batch_wait_seconds=4)
    assert dispatcher.batching(jobs[batched.id]) == (7, 4.0)


def test_a_replay_runs_again_once_per_replay(world: World) -> None:
    """A replayed event (``replay_id``) is not a duplicate of its delivered original: it
    runs, and is recorded under its own id; the same replay received twice runs once."""
    instance = world.deploy("echo", {"handler.py": ECHO})
    [job] = world.send("Order Completed")
    pool = CountingPool(world.pool)
    dispatcher = Dispatcher(world.backend, world.delivery, pool)  # type: ignore[arg-type]
    [first] = dispatcher.process([job])
    replay = replace(job, id="replayed", body={**job.body, "replay_id": "rp_1"})
    [again] = dispatcher.process([replay])
    [duplicate] = dispatcher.process([replace(replay, id="replayed-again")])

    assert [(s.action, s.outcome) for s in (first, again, duplicate)] == [
        ("ack", "delivered"),
        ("ack", "delivered"),
        ("ack", ""),
    ]
    assert pool.calls == [(1, False), (1, False)]
    records = world.delivery.deliveries.list(world.ws, instance.id)
    message = job.body["message_id"]
    assert sorted(r.id for r in records) == [
        f"{instance.id}:{message}:1",
        f"{instance.id}:{message}:1:rp_1",
    ]


def test_batching_follows_the_version_a_replay_names(world: World) -> None:
    """A replay of an earlier version with ``on_batch`` is batched as that version is,
    though the deployed version has no ``on_batch`` (and the other way round)."""
    function, first = world.plane.create_function(
        ADMIN, world.ws, files={"handler.py": BATCHED}, name="batched"
    )
    instance = world.plane.deploy(ADMIN, world.ws, function.id, source_id=world.source.id)
    world.plane.update_instance(
        ADMIN, world.ws, instance.id, batch_max_count=7, batch_wait_seconds=3
    )
    second = world.plane.upload_version(ADMIN, world.ws, function.id, files={"handler.py": ECHO})
    world.plane.deploy(ADMIN, world.ws, function.id, version_id=second.id)
    [job] = world.send("a")
    dispatcher = Dispatcher(world.backend, world.delivery, world.pool)

    assert dispatcher.batching(job) == (1, 0.0)
    replay = replace(job, body={**job.body, "version_id": first.id, "replay_id": "r1"})
    assert dispatcher.batching(replay) == (7, 3.0)
    world.plane.deploy(ADMIN, world.ws, function.id, version_id=first.id)
    replay = replace(job, body={**job.body, "version_id": second.id, "replay_id": "r2"})
    assert dispatcher.batching(replay) == (1, 0.0)


def test_a_replay_of_a_version_importing_an_unpinned_library_gets_its_latest(
    world: World,
) -> None:
    """The deployed version imports no library, so the instance pins none; a replay of
    another version that imports one runs with the library's latest version (not with
    no library at all). The deployed version keeps its pins (none): a library pushed
    since deploy never reaches it."""
    function, _ = world.plane.create_function(
        ADMIN, world.ws, files={"handler.py": ECHO}, name="echo"
    )
    instance = world.plane.deploy(ADMIN, world.ws, function.id, source_id=world.source.id)
    world.plane.push_library(ADMIN, world.ws, "acme_tag", {"__init__.py": "TAG = 'v1'\n"})
    tagged = "import acme_tag\n\ndef on_track(event, settings):\n    return acme_tag.TAG\n"
    second = world.plane.upload_version(ADMIN, world.ws, function.id, files={"handler.py": tagged})
    assert instance.libraries == {}
    [job] = world.send("a")
    replay = replace(job, body={**job.body, "version_id": second.id, "replay_id": "r1"})
    pool = CountingPool(world.pool)
    dispatcher = Dispatcher(world.backend, world.delivery, pool)  # type: ignore[arg-type]

    [settlement] = dispatcher.process([replay])
    assert (settlement.action, settlement.outcome) == ("ack", "delivered"), settlement
    spec = dispatcher.spec_for(world.ws, instance.id)
    assert spec is not None and dict(spec.modules) == {}
    assert dispatcher.spec_for(world.ws, "in_missing") is None
    world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False)
    assert dispatcher.spec_for(world.ws, instance.id) is None


class CountingBlobs:
    """The backend's blob store; counts the reads."""

    def __init__(self, blobs: Any) -> None:
        self._blobs = blobs
        self.reads = 0

    def get(self, key: str) -> bytes:
        self.reads += 1
        data: bytes = self._blobs.get(key)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)


def test_an_instance_is_built_once_per_revision_not_once_per_event(world: World) -> None:
    """The code, libraries and sealed settings are read and decrypted once per instance
    revision (on AWS: S3 and KMS calls), not for every group of events."""
    instance = world.deploy("echo", {"handler.py": ECHO})
    blobs = CountingBlobs(world.backend.blobs)
    backend = replace(world.backend, blobs=blobs)
    dispatcher = Dispatcher(backend, world.delivery, world.pool)
    for name in ("a", "b", "c"):
        [settlement] = dispatcher.process(world.send(name))
        assert settlement.outcome == "delivered"
    assert blobs.reads == 1
    world.plane.update_instance(ADMIN, world.ws, instance.id, batch_max_count=3)
    dispatcher.process(world.send("d"))
    assert blobs.reads == 2


SECRET_TOKEN = 'name = "leaky"\n[settings.token]\ntype = "string"\nsecret = true\n'
LOGS_TOKEN = """
def on_track(event, settings):
    print("token is", settings.get_str("token"))
    return settings.get_str("token")
"""


def test_a_setting_once_secret_stays_masked_in_delivery_logs(world: World) -> None:
    """A version whose manifest no longer calls ``token`` secret still runs with it
    masked: what the handler prints of it never reaches the delivery record."""
    function, _ = world.plane.create_function(
        ADMIN,
        world.ws,
        files={"handler.py": LOGS_TOKEN, "function.toml": SECRET_TOKEN},
        name="leaky",
    )
    world.plane.deploy(
        ADMIN, world.ws, function.id, source_id=world.source.id, settings={"token": "s3cr3t-v"}
    )
    plain = SECRET_TOKEN.replace("secret = true", "secret = false")
    version = world.plane.upload_version(
        ADMIN, world.ws, function.id, files={"handler.py": LOGS_TOKEN, "function.toml": plain}
    )
    instance = world.plane.deploy(ADMIN, world.ws, function.id, version_id=version.id)
    [settlement] = Dispatcher(world.backend, world.delivery, world.pool).process(world.send("a"))
    assert settlement.outcome == "delivered"
    [record] = world.delivery.deliveries.list(world.ws, instance.id)
    assert record.logs and "s3cr3t-v" not in " ".join(record.logs)


def _first_pause_and_end(world: World, dispatcher: Dispatcher, *instance_ids: str) -> list[Any]:
    """Run the loop to its first pause (then stop); the delivery records of each
    instance at that pause, and at the end."""
    stop = threading.Event()
    seen: list[list[int]] = []

    def wait(seconds: float) -> None:
        seen.append([len(world.delivery.deliveries.list(world.ws, i)) for i in instance_ids])
        stop.set()

    run_worker(dispatcher, stop, wait=wait)
    end = [len(world.delivery.deliveries.list(world.ws, i)) for i in instance_ids]
    return [seen, end]


def test_each_instance_is_held_apart(world: World) -> None:
    """One event for a batched instance and a plain one: the plain one's job runs at
    once, the batched one's is held for its batch (then run by the stop)."""
    batched = world.deploy("batched", {"handler.py": BATCHED})
    world.plane.update_instance(
        ADMIN, world.ws, batched.id, batch_max_count=5, batch_wait_seconds=30
    )
    plain = world.deploy("echo", {"handler.py": ECHO})
    world.ingest.enqueue(world.source, [{"type": "track", "event": "e", "userId": "u1"}])
    dispatcher = Dispatcher(world.backend, world.delivery, world.pool)
    assert _first_pause_and_end(world, dispatcher, batched.id, plain.id) == [[[0, 1]], [1, 1]]


def test_a_replay_is_held_apart_from_the_deployed_version(world: World) -> None:
    """A replay of a batched version, a replay of a plain one, and a new event for the
    deployed plain version, all of one instance: the replay of the batched version is
    held for its batch, the others run at once."""
    function, first = world.plane.create_function(
        ADMIN, world.ws, files={"handler.py": BATCHED}, name="batched"
    )
    instance = world.plane.deploy(ADMIN, world.ws, function.id, source_id=world.source.id)
    world.plane.update_instance(
        ADMIN, world.ws, instance.id, batch_max_count=5, batch_wait_seconds=30
    )
    second = world.plane.upload_version(ADMIN, world.ws, function.id, files={"handler.py": ECHO})
    world.plane.deploy(ADMIN, world.ws, function.id, version_id=second.id)
    world.ingest.enqueue(world.source, [{"type": "track", "event": "new", "userId": "u1"}])
    [job] = world.delivery.queue.receive(1, visibility_timeout=0)
    replayed = {**job.body, "message_id": "m-old", "version_id": first.id, "replay_id": "r1"}
    plain = {**job.body, "message_id": "m-plain", "version_id": second.id, "replay_id": "r1"}
    world.delivery.queue.send([replayed, plain])
    dispatcher = Dispatcher(world.backend, world.delivery, world.pool)

    [seen, end] = _first_pause_and_end(world, dispatcher, instance.id)
    assert (seen, end) == ([[2]], [3])
    records = world.delivery.deliveries.list(world.ws, instance.id)
    assert {(r.message_id, r.version_id) for r in records} == {
        (job.body["message_id"], second.id),
        ("m-plain", second.id),
        ("m-old", first.id),
    }


DOWN = """
from functions_sdk import RetryError

def on_track(event, settings):
    raise RetryError("the endpoint is down")
"""


class StoppingQueue(RecordingQueue):
    """Sets ``stop`` at its ``after``-th receive."""

    def __init__(self, queue: Any, stop: threading.Event, after: int) -> None:
        super().__init__(queue)
        self.stop, self.after = stop, after

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        if len(self.receives) + 1 >= self.after:
            self.stop.set()
        return super().receive(max_messages, visibility_timeout)


def test_the_loop_settles_a_retry_as_a_retry_and_a_last_attempt_as_dead(world: World) -> None:
    """Through the loop: a failed attempt with attempts left is hidden for its wait (in
    flight, not dead); the last attempt goes to the dead letters with its reason."""
    down = world.deploy("down", {"handler.py": DOWN})
    once = world.deploy(
        "once", {"handler.py": DOWN, "function.toml": 'name = "once"\n[retry]\nattempts = 1\n'}
    )
    world.ingest.enqueue(world.source, [{"type": "track", "event": "e", "userId": "u1"}])
    stop = threading.Event()
    queue = StoppingQueue(world.delivery.queue, stop, after=3)  # a bound, should it spin
    dispatcher = Dispatcher(world.backend, replace(world.delivery, queue=queue), world.pool)
    run_worker(dispatcher, stop, wait=lambda seconds: stop.set())
    assert len(queue.receives) == 2  # the jobs, then nothing: a pause, the stop
    counts = world.delivery.queue.counts()
    assert (counts.visible, counts.in_flight, counts.dead) == (0, 1, 1)
    [dead] = world.delivery.queue.take_dead(lambda body: True)
    assert dead.body["instance_id"] == once.id
    assert dead.reason.startswith("retries exhausted after 1 attempts: ")
    outcomes = [
        [r.outcome for r in world.delivery.deliveries.list(world.ws, i.id)] for i in (down, once)
    ]
    assert outcomes == [["retry"], ["failed"]]
