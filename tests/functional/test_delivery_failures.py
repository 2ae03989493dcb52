"""Delivery's failure paths and policy edges, each pinned by what reaches the sink.

The dispatcher's dependencies are passed in: a :class:`ScriptedPool` stands in for the
sandbox where a test needs a given result (invalid code, a crash), the real pool runs
the code everywhere else, and a real HTTP sink on 127.0.0.1 (port 0) shows what a
destination actually sent.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import DeliveryPolicy, Dispatcher
from functions_runtime.delivery.embedded import RECORDS_FILE, open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.delivery.ports import Job
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool

ADMIN = Principal("key_admin", None, True)
ECHO = """
def on_track(event, settings):
    return event.event
"""
INSERT = """
def on_track(event, settings):
    event.properties["email"] = "***scrubbed***"
    return event
"""
INSERT_MANIFEST = 'name = "scrub"\nkind = "insert"\n'
BATCHED = """
def on_batch(events, settings):
    return [e.event for e in events]

def on_track(event, settings):
    return event.event
"""


def posting(url: str) -> str:
    """A destination that POSTs the event's properties to ``url``."""
    return f"""
from functions_sdk import fetch

def on_track(event, settings):
    fetch("{url}", method="POST", json=dict(event.properties))
    return {{"sent": True}}
"""


class DispatcherDied(BaseException):
    """The delivery process dies in the middle of a job (nothing below catches it)."""


class ScriptedPool:
    """A pool whose invoke answers from ``script`` (or delegates to a real pool)."""

    def __init__(self, real: WorkerPool | None = None) -> None:
        self.real = real
        self.calls: list[tuple[InstanceSpec, list[Any], bool]] = []
        self.script: Callable[[InstanceSpec, list[Any]], list[dict[str, Any]]] | None = None

    def invoke(self, spec: InstanceSpec, events: list[Any], batch: bool = False) -> Any:
        self.calls.append((spec, list(events), batch))
        if self.script is not None:
            return self.script(spec, events)
        assert self.real is not None
        return self.real.invoke(spec, events, batch=batch)


def result(outcome: str, error_type: str | None = None) -> dict[str, Any]:
    error = {"type": error_type, "message": "scripted", "line": None} if error_type else None
    return {
        "outcome": outcome,
        "result": None,
        "error": error,
        "logs": [],
        "requests": [],
        "duration_ms": 1.0,
    }


class World:
    def __init__(self, tmp_path: Path, clock: Callable[[], float] = time.time) -> None:
        self.backend = open_embedded(tmp_path / "data")
        self.delivery = open_delivery(tmp_path / "data", clock=clock)
        self.pool = WorkerPool(max_workers=4, spares=0)
        self.scripted = ScriptedPool(self.pool)
        self.plane = ControlPlane(self.backend, self.pool)
        _, workspace = self.plane.bootstrap("admin")
        self.ws = workspace.id
        self.source, _ = self.plane.create_source(ADMIN, self.ws, "web")
        self.ingest = Ingest(self.backend.metadata, self.delivery.queue, self.delivery.deliveries)

    def dispatcher(self, clock: Callable[[], datetime] | None = None, **policy: Any) -> Dispatcher:
        return Dispatcher(
            self.backend,
            self.delivery,
            self.scripted,  # type: ignore[arg-type]
            policy=DeliveryPolicy(**policy),
            allow=("127.0.0.1",),
            clock=clock or (lambda: datetime.now(UTC)),
            rng=random.Random(7),
        )

    def deploy(self, name: str, files: dict[str, str], **kw: Any) -> Any:
        function, _ = self.plane.create_function(ADMIN, self.ws, files=files, name=name)
        return self.plane.deploy(ADMIN, self.ws, function.id, **kw)

    def send(self, *names: str, **properties: Any) -> list[Job]:
        events = [
            {"type": "track", "event": name, "userId": "u1", "properties": dict(properties)}
            for name in names
        ]
        self.ingest.enqueue(self.source, events)
        return self.delivery.queue.receive(100, visibility_timeout=30)

    def outcomes(self, instance_id: str) -> list[str]:
        return sorted(r.outcome for r in self.delivery.deliveries.list(self.ws, instance_id))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.pool.close()


# -- a crash after the in-progress save --------------------------------------------------


def test_a_crash_after_the_claim_retries_the_event_then_delivers_it(tmp_path: Path) -> None:
    """A crashed claim holds the message for exactly the visibility timeout.

    The delivery store's clock runs ``ahead`` seconds before the wall clock: Powertools
    stamps the in-progress expiry with the wall clock, the store decides with its own, so
    moving ``ahead`` is moving time for the claim and nothing else."""
    ahead = 0.0
    world = World(tmp_path, clock=lambda: time.time() + ahead)
    try:
        instance = world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
        dispatcher = world.dispatcher(visibility_timeout=10)
        [job] = world.send("Order Completed")

        def die(spec: InstanceSpec, events: list[Any]) -> list[dict[str, Any]]:
            raise DispatcherDied

        world.scripted.script = die
        with pytest.raises(DispatcherDied):  # claimed (saved in progress), then gone
            dispatcher.process([job])
        world.scripted.script = None

        # Received again while its claim is in progress (9 s of the 10 passed): retried
        # after the base delay, never acked, nothing recorded, nothing run.
        ahead = 9.0
        [busy] = dispatcher.process([replace(job, receive_count=2)])
        assert (busy.action, busy.delay, busy.outcome) == ("retry", 1, ""), busy
        assert world.outcomes(instance.id) == []
        assert world.scripted.calls[1:] == []

        # Once the claim has expired (11 s: the visibility timeout is over, well within
        # the idempotency window and the backends' own 30 s default), it runs.
        ahead = 11.0
        [settlement] = dispatcher.process([replace(job, receive_count=3)])
        assert (settlement.action, settlement.outcome) == ("ack", "delivered"), settlement
        assert world.outcomes(instance.id) == ["delivered"]
        # and a duplicate after that is acked without running again
        calls = len(world.scripted.calls)
        [duplicate] = dispatcher.process([replace(job, receive_count=9)])
        assert (duplicate.action, duplicate.outcome) == ("ack", "")
        assert len(world.scripted.calls) == calls
    finally:
        world.pool.close()


# -- insert functions ----------------------------------------------------------------------


def _with_insert(world: World, sink: Any) -> tuple[Any, Any]:
    scrub = world.deploy("scrub", {"handler.py": INSERT, "function.toml": INSERT_MANIFEST})
    dest = world.deploy(
        "dest", {"handler.py": posting(sink.url)}, source_id=world.source.id, insert_id=scrub.id
    )
    return scrub, dest


def test_the_destination_receives_the_event_the_insert_returned(world: World, sink: Any) -> None:
    _, dest = _with_insert(world, sink)
    jobs = world.send("Signed Up", email="ada@example.com", plan="pro")
    [settlement] = world.dispatcher().process(jobs)
    assert settlement.outcome == "delivered", settlement
    [received] = sink.received
    assert json.loads(received.body) == {"email": "***scrubbed***", "plan": "pro"}
    assert world.outcomes(dest.id) == ["delivered"]


def test_a_disabled_insert_instance_stops_delivery(world: World, sink: Any) -> None:
    scrub, dest = _with_insert(world, sink)
    world.plane.update_instance(ADMIN, world.ws, scrub.id, enabled=False)
    jobs = world.send("Signed Up", email="ada@example.com")
    [settlement] = world.dispatcher().process(jobs)
    assert (settlement.action, settlement.outcome) == ("retry", "retry"), settlement
    assert sink.received == []
    [record] = world.delivery.deliveries.list(world.ws, dest.id)
    assert record.error is not None and record.error["type"] == "InsertUnavailable"


def test_a_missing_insert_instance_stops_delivery(world: World, sink: Any) -> None:
    _, dest = _with_insert(world, sink)
    current = world.backend.metadata.get_instance(world.ws, dest.id)
    assert current is not None
    world.backend.metadata.update_instance(
        current.model_copy(update={"insert_id": "ins_gone", "revision": current.revision + 1}),
        expected_revision=current.revision,
    )
    jobs = world.send("Signed Up", email="ada@example.com")
    [settlement] = world.dispatcher().process(jobs)
    assert (settlement.action, settlement.outcome) == ("retry", "retry"), settlement
    assert sink.received == []


# -- policy edges -------------------------------------------------------------------------


def test_invalid_code_is_dead_lettered_at_once(world: World) -> None:
    instance = world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    world.scripted.script = lambda spec, events: [result("invalid", "CompileError")]
    [job] = world.send("Order Completed")
    [settlement] = world.dispatcher(max_attempts=8).process([job])
    assert (settlement.action, settlement.outcome) == ("dead", "failed"), settlement
    assert world.outcomes(instance.id) == ["failed"]


def test_an_event_older_than_max_age_is_dead_lettered_on_a_retry(world: World) -> None:
    world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    world.scripted.script = lambda spec, events: [result("retry", "RetryError")]
    [job] = world.send("Order Completed")
    dispatcher = world.dispatcher(max_attempts=8, max_age=timedelta(hours=1))
    # The window (1 h) plus its grace for queue delays (a tenth of it: 6 min).
    young = replace(job, sent_at=datetime.now(UTC) - timedelta(minutes=65))
    assert dispatcher.process([young])[0].action == "retry"
    old = replace(job, receive_count=2, sent_at=datetime.now(UTC) - timedelta(minutes=67))
    [settlement] = dispatcher.process([old])
    assert (settlement.action, settlement.outcome) == ("dead", "failed"), settlement


def test_the_last_attempt_is_dead_lettered(world: World) -> None:
    world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    world.scripted.script = lambda spec, events: [result("retry", "RetryError")]
    [job] = world.send("Order Completed")
    dispatcher = world.dispatcher(max_attempts=3)
    assert dispatcher.process([replace(job, receive_count=2)])[0].action == "retry"
    assert dispatcher.process([replace(job, receive_count=3)])[0].action == "dead"


class _Top(random.Random):
    """Always draws the top of the range: the backoff's ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_grows_to_fill_the_window_and_is_capped() -> None:
    policy = DeliveryPolicy(base_delay=1.0, max_attempts=8, max_age=timedelta(hours=4))
    tops = [policy.backoff(n, _Top()) for n in range(1, 8)]
    assert tops == sorted(tops) and tops[0] == 1
    assert abs(sum(tops) - 4 * 3600) <= len(tops)  # whole seconds
    assert policy.backoff(30, _Top()) == tops[-1]  # never past the last wait
    assert all(1 <= policy.backoff(n, random.Random(n)) <= tops[-1] for n in range(1, 40))


def test_the_target_cache_follows_the_instance_revision(world: World) -> None:
    files = {
        "handler.py": "def on_track(event, settings):\n    return settings.get('tag')\n",
        "function.toml": 'name = "tagged"\n[settings.tag]\ntype = "string"\n',
    }
    instance = world.deploy("tagged", files, source_id=world.source.id, settings={"tag": "one"})
    dispatcher = world.dispatcher()
    dispatcher.process(world.send("a"))
    world.plane.update_instance(ADMIN, world.ws, instance.id, settings={"tag": "two"})
    dispatcher.process(world.send("b"))
    tags = [spec.settings.get("tag") for spec, _, _ in world.scripted.calls]
    assert tags == ["one", "two"]


def test_batches_are_split_at_batch_max_count(world: World) -> None:
    instance = world.deploy("batched", {"handler.py": BATCHED}, source_id=world.source.id)
    world.plane.update_instance(ADMIN, world.ws, instance.id, batch_max_count=2)
    jobs = world.send("a", "b", "c", "d", "e")
    settlements = world.dispatcher().process(jobs)
    assert [s.outcome for s in settlements] == ["delivered"] * 5
    assert [(len(events), batch) for _, events, batch in world.scripted.calls] == [
        (2, True),
        (2, True),
        (1, True),
    ]


def test_an_event_for_an_instance_disabled_after_queueing_is_filtered_not_run(
    world: World,
) -> None:
    """Queued, then the instance is disabled: the event is acknowledged and recorded as
    filtered with the reason (never run, never retried, never lost without a trace)."""
    instance = world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    [job] = world.send("Order Completed")
    world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False)
    ran: list[Any] = []

    def run(spec: InstanceSpec, events: list[Any]) -> list[dict[str, Any]]:
        ran.append(events)
        return [result("delivered")]

    world.scripted.script = run
    [settlement] = world.dispatcher().process([job])
    assert (settlement.action, settlement.outcome) == ("ack", "filtered"), settlement
    assert ran == []
    [record] = world.delivery.deliveries.list(world.ws, instance.id)
    assert (record.outcome, record.message_id) == ("filtered", job.body["message_id"])
    assert record.error == {
        "type": "InstanceUnavailable",
        "line": None,
        "message": "the instance was deleted or disabled; event not delivered",
    }


def test_a_claim_is_held_for_the_visibility_timeout(world: World, tmp_path: Path) -> None:
    """The in-progress record of a claimed job expires ``visibility_timeout`` after the
    claim: long enough that a redelivery meanwhile waits, short enough that a crashed
    delivery is run again after it (not after the whole idempotency window)."""
    world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    [job] = world.send("Order Completed")

    def die(spec: InstanceSpec, events: list[Any]) -> list[dict[str, Any]]:
        raise DispatcherDied

    world.scripted.script = die
    before = datetime.now(UTC).timestamp() * 1000
    with pytest.raises(DispatcherDied):
        world.dispatcher(visibility_timeout=120).process([job])
    after = datetime.now(UTC).timestamp() * 1000
    db = sqlite3.connect(tmp_path / "data" / RECORDS_FILE)
    try:
        [(status, expiry)] = db.execute(
            "SELECT status, in_progress_expiry FROM idempotency"
        ).fetchall()
    finally:
        db.close()
    assert status == "INPROGRESS"
    assert expiry is not None
    assert before + 120_000 - 1 <= expiry <= after + 120_000 + 1


# -- what each settlement records -------------------------------------------------------------


def sandbox(
    outcome: str, error: dict[str, Any] | None, *, message: str = "scripted"
) -> dict[str, Any]:
    """A full sandbox result: logs, requests and duration as a real invoke returns them."""
    return {
        "outcome": outcome,
        "result": {"ok": True} if outcome == "delivered" else None,
        "error": error,
        "logs": [f"{outcome}: {message}"],
        "requests": [{"method": "POST", "url": "https://example.com/hook", "status": 200}],
        "duration_ms": 12.5,
    }


def test_each_outcome_is_recorded_with_what_the_sandbox_returned(world: World) -> None:
    instance = world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    long = "m" * 600
    results = {
        "delivered": sandbox("delivered", None),
        "rejected": sandbox("rejected", {"type": "ValidationError", "message": "no", "line": 3}),
        "invalid": sandbox("invalid", {"type": "CompileError", "message": long, "line": 1}),
        "retry": sandbox("retry", {"type": "RetryError", "message": "later", "line": 2}),
        "exhausted": sandbox("retry", {"type": "RetryError", "message": "again", "line": 2}),
        "bare": sandbox("retry", None),
    }
    world.scripted.script = lambda spec, events: [results[e["event"]] for e in events]
    jobs = {job.body["event"]["event"]: job for job in world.send(*results)}
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    dispatcher = world.dispatcher(clock=lambda: now, max_attempts=3)
    ordered = [
        replace(jobs[name], receive_count=3 if name in ("exhausted", "bare") else 1)
        for name in results
    ]
    settled = {s.job.body["event"]["event"]: s for s in dispatcher.process(ordered)}
    assert (settled["delivered"].action, settled["delivered"].outcome) == ("ack", "delivered")
    assert (settled["rejected"].action, settled["rejected"].outcome) == ("ack", "rejected")
    invalid = settled["invalid"]
    assert (invalid.action, invalid.outcome) == ("dead", "failed")
    assert invalid.reason == ("CompileError: " + long)[:500]
    assert len(invalid.reason) == 500
    retry = settled["retry"]
    assert (retry.action, retry.outcome, retry.reason) == ("retry", "retry", "")
    assert retry.delay == dispatcher.policy.schedule().wait(1, random.Random(7))
    assert (settled["exhausted"].action, settled["exhausted"].reason) == (
        "dead",
        "retries exhausted after 3 attempts: RetryError: again",
    )
    assert (settled["bare"].action, settled["bare"].reason) == (
        "dead",
        "retries exhausted after 3 attempts: retry: ",
    )

    records = {r.event["event"]: r for r in world.delivery.deliveries.list(world.ws, instance.id)}
    expected_outcome = {
        "delivered": "delivered",
        "rejected": "rejected",
        "invalid": "failed",
        "retry": "retry",
        "exhausted": "failed",
        "bare": "failed",
    }
    for name, record in records.items():
        job = next(j for j in ordered if j.body["event"]["event"] == name)
        assert record.outcome == expected_outcome[name], name
        # a failure without an error says so with an empty one
        assert record.error == (results[name]["error"] if name != "bare" else {}), name
        assert (record.logs, record.requests, record.duration_ms) == (
            results[name]["logs"],
            results[name]["requests"],
            12.5,
        ), name
        assert (record.attempt, record.at, record.version_id) == (
            job.receive_count,
            now,
            instance.version_id,
        ), name
        assert record.id == f"{instance.id}:{job.body['message_id']}:{job.receive_count}"
        assert (record.message_id, record.event_type, record.workspace_id) == (
            job.body["message_id"],
            "track",
            world.ws,
        )
        assert record.event == job.body["event"]
    assert sorted(records) == sorted(results)


def test_an_event_exactly_at_its_window_is_dead_lettered(world: World) -> None:
    world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    world.scripted.script = lambda spec, events: [result("retry", "RetryError")]
    [job] = world.send("Order Completed")
    deadline = world.dispatcher().policy.schedule().deadline_seconds
    at = job.sent_at + timedelta(seconds=deadline)
    before = world.dispatcher(clock=lambda: at - timedelta(seconds=1))
    assert before.process([job])[0].action == "retry"
    [settlement] = world.dispatcher(clock=lambda: at).process([replace(job, receive_count=2)])
    assert (settlement.action, settlement.outcome) == ("dead", "failed"), settlement


def test_an_insert_forwards_each_returned_event_and_settles_the_others_itself(
    world: World,
) -> None:
    """Scripted insert results, one per event: two forwarded (replaced by what the
    insert returned), one returning nothing (rejected), one failing (retried with its
    error), one filtered. Only the forwarded ones reach the destination, in one call."""
    scrub = world.deploy("scrub", {"handler.py": INSERT, "function.toml": INSERT_MANIFEST})
    dest = world.deploy("dest", {"handler.py": ECHO}, source_id=world.source.id, insert_id=scrub.id)
    inserted = {
        "a": sandbox("delivered", None) | {"result": {"type": "track", "event": "A2"}},
        "b": sandbox("delivered", None) | {"result": {"type": "track", "event": "B2"}},
        "none": sandbox("delivered", None) | {"result": None},
        "flaky": sandbox("retry", {"type": "RetryError", "message": "busy", "line": 4}),
        "drop": sandbox("filtered", {"type": "Filtered", "message": "internal", "line": 5}),
        "terse": sandbox("rejected", {"type": "ValueError", "line": 6}),
    }

    def script(spec: InstanceSpec, events: list[Any]) -> list[dict[str, Any]]:
        if spec.key.startswith(scrub.id):
            return [inserted[e["event"]] for e in events]
        return [sandbox("delivered", None) for _ in events]

    world.scripted.script = script
    jobs = world.send(*inserted)
    settled = {s.job.body["event"]["event"]: s for s in world.dispatcher().process(jobs)}
    assert {name: (s.action, s.outcome) for name, s in settled.items()} == {
        "a": ("ack", "delivered"),
        "b": ("ack", "delivered"),
        "none": ("ack", "rejected"),
        "flaky": ("retry", "retry"),
        "drop": ("ack", "filtered"),
        "terse": ("ack", "rejected"),
    }
    [to_insert, to_dest] = world.scripted.calls
    assert (to_insert[0].key.startswith(scrub.id), to_insert[2]) == (True, False)
    assert [e["event"] for e in to_insert[1]] == list(inserted)
    assert to_dest[1] == [{"type": "track", "event": "A2"}, {"type": "track", "event": "B2"}]
    errors = {r.event["event"]: r.error for r in world.delivery.deliveries.list(world.ws, dest.id)}
    assert errors == {
        "a": None,
        "b": None,
        "none": {
            "type": "ValidationError",
            "line": None,
            "message": "insert function: the insert function must return the event to forward",
        },
        "flaky": {"type": "RetryError", "line": 4, "message": "insert function: busy"},
        "drop": {"type": "Filtered", "line": 5, "message": "insert function: internal"},
        "terse": {"type": "ValueError", "line": 6, "message": "insert function: "},
    }


def test_a_missing_insert_is_recorded_as_unavailable_and_retried(world: World) -> None:
    dest = world.deploy("dest", {"handler.py": ECHO}, source_id=world.source.id)
    current = world.backend.metadata.get_instance(world.ws, dest.id)
    assert current is not None
    world.backend.metadata.update_instance(
        current.model_copy(update={"insert_id": "ins_gone", "revision": current.revision + 1}),
        expected_revision=current.revision,
    )
    [job] = world.send("Signed Up")
    [settlement] = world.dispatcher().process([job])
    assert (settlement.action, settlement.outcome) == ("retry", "retry")
    assert world.scripted.calls == []
    [record] = world.delivery.deliveries.list(world.ws, dest.id)
    assert (record.outcome, record.logs, record.requests, record.duration_ms) == (
        "retry",
        [],
        [],
        0.0,
    )
    assert record.error == {
        "type": "InsertUnavailable",
        "line": None,
        "message": "insert instance ins_gone is missing or disabled",
    }


def test_a_job_naming_a_version_runs_that_version(world: World) -> None:
    """A replay's job names the version to run: it runs that one, not the deployed one."""
    function, first = world.plane.create_function(
        ADMIN, world.ws, files={"handler.py": ECHO}, name="echo"
    )
    instance = world.plane.deploy(ADMIN, world.ws, function.id, source_id=world.source.id)
    second = world.plane.upload_version(
        ADMIN, world.ws, function.id, files={"handler.py": ECHO + "\n# v2\n"}
    )
    instance = world.plane.deploy(ADMIN, world.ws, function.id, version_id=second.id)
    assert instance.version_id == second.id
    world.scripted.script = lambda spec, events: [sandbox("delivered", None) for _ in events]
    [job] = world.send("Replayed")
    replay = replace(job, body={**job.body, "version_id": first.id, "replay_id": "r1"})
    [settlement] = world.dispatcher().process([replay])
    assert (settlement.action, settlement.outcome) == ("ack", "delivered")
    [(spec, _, _)] = world.scripted.calls
    assert spec.key.split(":")[1] == first.id
    [record] = world.delivery.deliveries.list(world.ws, instance.id)
    assert (record.version_id, record.id) == (
        first.id,
        f"{instance.id}:{job.body['message_id']}:1:r1",
    )


def test_a_group_larger_than_one_claim_transaction_runs_whole(world: World) -> None:
    instance = world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    world.scripted.script = lambda spec, events: [sandbox("delivered", None) for _ in events]
    names = [f"e{i}" for i in range(23)]
    jobs = world.send(*names)
    settlements = world.dispatcher().process(jobs)
    assert [s.job.id for s in settlements] == [job.id for job in jobs]
    assert {(s.action, s.outcome) for s in settlements} == {("ack", "delivered")}
    assert [e["event"] for _, events, _ in world.scripted.calls for e in events] == names
    assert len(world.delivery.deliveries.list(world.ws, instance.id)) == 23


def test_a_queued_event_that_is_not_an_object_is_recorded_without_a_type(world: World) -> None:
    """A job written to the queue by something other than ingest (an old release, a
    hand-made replay) whose event is not an object: run, and recorded with no type."""
    instance = world.deploy("echo", {"handler.py": ECHO}, source_id=world.source.id)
    body = {"workspace_id": world.ws, "instance_id": instance.id, "message_id": "m-odd"}
    world.delivery.queue.send([{**body, "event": "not an object"}])
    [job] = world.delivery.queue.receive(1, visibility_timeout=30)
    world.scripted.script = lambda spec, events: [sandbox("rejected", None) for _ in events]
    [settlement] = world.dispatcher().process([job])
    assert (settlement.action, settlement.outcome) == ("ack", "rejected")
    [record] = world.delivery.deliveries.list(world.ws, instance.id)
    assert (record.message_id, record.event_type, record.event) == (
        "m-odd",
        None,
        "not an object",
    )
