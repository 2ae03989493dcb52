"""One event must not stop others: a job whose delivery record cannot be written as it
stands is settled on its own (its content made safe, or dead-lettered with the reason),
never failing the group it was received with; on the embedded and the AWS backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import Dispatcher, Settlement
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.delivery.ports import Delivery, DeliveryBackend, DeliveryStore, Job
from functions_runtime.json_limits import MAX_DEPTH, TOO_DEEP
from functions_runtime.sandbox.host.pool import WorkerPool
from tests.backends import make_delivery

ADMIN = Principal("key_admin", None, True)
HANDLER = """
from functions_sdk import logger

def on_track(event, settings):
    if event.event == "surrogate":
        logger.info("lone surrogate: \\ud800")
    return event.event
"""


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


class World:
    def __init__(self, tmp_path: Path, delivery: DeliveryBackend) -> None:
        self.backend = open_embedded(tmp_path / "data")
        self.delivery = delivery
        self.pool = WorkerPool(max_workers=2, spares=0)
        self.plane = ControlPlane(self.backend, self.pool)
        _, workspace = self.plane.bootstrap("admin")
        self.ws = workspace.id
        self.source, _ = self.plane.create_source(ADMIN, self.ws, "web")
        function, _ = self.plane.create_function(
            ADMIN, self.ws, files={"handler.py": HANDLER}, name="echo"
        )
        self.instance = self.plane.deploy(ADMIN, self.ws, function.id, source_id=self.source.id)
        self.ingest = Ingest(self.backend.metadata, delivery.queue, delivery.deliveries)

    def dispatcher(self, delivery: DeliveryBackend | None = None) -> Dispatcher:
        return Dispatcher(self.backend, delivery or self.delivery, self.pool)

    def queue_raw(self, events: list[dict[str, Any]]) -> None:
        """Queue events as they are (as ingest did before it bounded nesting)."""
        self.delivery.queue.send(
            [
                {
                    "workspace_id": self.ws,
                    "instance_id": self.instance.id,
                    "message_id": f"m{n}",
                    "event": event,
                    "received_at": "2024-01-01T00:00:00+00:00",
                }
                for n, event in enumerate(events)
            ]
        )

    def receive(self) -> list[Job]:
        jobs: list[Job] = []
        for _ in range(5):  # SQS (moto) may answer a receive with fewer than it has
            jobs += self.delivery.queue.receive(10, visibility_timeout=30)
        return jobs

    def records(self) -> dict[str, Delivery]:
        found = self.delivery.deliveries.list(self.ws, self.instance.id)
        return {record.message_id: record for record in found}


@pytest.fixture(params=["embedded", "aws"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with make_delivery(request.param, tmp_path / "data") as delivery:
        w = World(tmp_path, delivery)
        try:
            yield w
        finally:
            w.pool.close()


def track(name: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "userId": "u1", **fields}


def acked(settlements: list[Settlement]) -> dict[str, str]:
    return {str(s.job.body["message_id"]): s.action for s in settlements}


def test_a_handler_logging_a_lone_surrogate_is_recorded_with_it_escaped(world: World) -> None:
    world.queue_raw([track("ok"), track("surrogate"), track("ok")])

    settlements = world.dispatcher().process(world.receive())

    assert acked(settlements) == {"m0": "ack", "m1": "ack", "m2": "ack"}
    records = world.records()
    assert {r.outcome for r in records.values()} == {"delivered"}
    assert any("lone surrogate: \\ud800" in line for line in records["m1"].logs)


def test_an_event_holding_a_lone_surrogate_is_recorded_with_it_escaped(world: World) -> None:
    """Valid JSON, not valid UTF-8: the queue's parse does not call such an event plain
    (``Job.plain``), so its record mends it instead of failing to be written."""
    world.queue_raw([track("ok"), track("odd", properties={"name": "Zo\ud800"}), track("ok")])

    jobs = world.receive()
    settlements = world.dispatcher().process(jobs)

    assert acked(settlements) == {"m0": "ack", "m1": "ack", "m2": "ack"}
    odd = world.records()["m1"]
    assert odd.outcome == "delivered"
    assert odd.event["properties"] == {"name": "Zo\\ud800"}
    plain = {str(job.body["message_id"]): job.plain for job in jobs}
    assert plain == {"m0": True, "m1": False, "m2": True}  # both queues parse it so


def test_an_event_nested_past_the_serialisers_limits_does_not_stop_its_group(
    world: World,
) -> None:
    world.queue_raw([track("ok"), track("deep", properties=nested(300)), track("ok")])

    settlements = world.dispatcher().process(world.receive())

    assert acked(settlements) == {"m0": "ack", "m1": "ack", "m2": "ack"}
    deep = world.records()["m1"]
    assert deep.outcome == "delivered"
    assert TOO_DEEP in deep.model_dump_json()  # cut at MAX_DEPTH levels in the record
    levels, value = 1, deep.event
    while isinstance(value, dict) and value:
        value, levels = next(iter(value.values())), levels + 1
    assert levels <= MAX_DEPTH + 1


class RefusingStore:
    """The backend's delivery store, which cannot write the records of one message (as
    a record no serialiser takes would fail)."""

    def __init__(self, store: DeliveryStore, message_id: str) -> None:
        self._store = store
        self._refuse = message_id

    def record(self, delivery: Delivery) -> None:
        if delivery.message_id == self._refuse and delivery.outcome != "failed":
            raise ValueError("Maximum serialization depth exceeded")
        self._store.record(delivery)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_job_whose_record_cannot_be_written_is_dead_lettered_alone(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = RefusingStore(world.delivery.deliveries, "m1")
    dispatcher = world.dispatcher(replace(world.delivery, deliveries=refusing))
    world.queue_raw([track("ok"), track("ok"), track("ok")])

    with caplog.at_level("ERROR", logger="functions.delivery"):
        settlements = dispatcher.process(world.receive())

    assert acked(settlements) == {"m0": "ack", "m1": "dead", "m2": "ack"}
    dead = next(s for s in settlements if s.action == "dead")
    reason = "its delivery could not be recorded: ValueError: Maximum serialization depth exceeded"
    assert (dead.reason, dead.outcome) == (reason, "failed")
    records = world.records()
    assert records["m1"].outcome == "failed"
    assert records["m1"].error == {"type": "RecordFailed", "line": None, "message": reason}
    assert records["m1"].duration_ms > 0  # the run's own duration, kept
    assert records["m1"].version_id == world.instance.version_id  # the version that ran
    [logged] = caplog.records
    assert logged.getMessage() == f"the delivery of job {dead.job.id} could not be recorded"
    assert logged.exc_info is not None and logged.exc_info[0] is ValueError
    assert [records[m].outcome for m in ("m0", "m2")] == ["delivered", "delivered"]


def test_instances_of_one_function_in_a_workspace_share_a_warm_worker(world: World) -> None:
    """The dispatcher names each instance's workspace, so instances of one function
    there are served by one warm worker (``pool.worker_key``), each with its own
    settings and store; the sandbox side is proven in tests/security/test_workspace_workers.py."""
    other, _ = world.plane.create_source(ADMIN, world.ws, "app")
    second = world.plane.deploy(ADMIN, world.ws, world.instance.function_id, source_id=other.id)
    dispatcher = world.dispatcher()
    specs = [dispatcher.spec_for(world.ws, i.id) for i in (world.instance, second)]
    assert [s.workspace if s else None for s in specs] == [world.ws, world.ws]
    assert [s.store_scope if s else None for s in specs] == [
        f"{world.ws}/{world.instance.id}",
        f"{world.ws}/{second.id}",
    ]
    for spec in specs:
        assert spec is not None
        [result] = world.pool.invoke(spec, [{"type": "track", "event": "E", "userId": "u"}])
        assert result["outcome"] == "delivered", result
    assert len(world.pool.worker_pids()) == 1
