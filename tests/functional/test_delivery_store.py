"""``functions_sdk.store`` on the delivery path: the dispatcher scopes each instance's
store to ``<workspace>/<instance>`` (SQLite under the data dir), kept across events
and seen by every process on the directory, never shared between instances."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import Dispatcher
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.embedded.store import open_store
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.sandbox.host.pool import WorkerPool

ADMIN = Principal("key_admin", None, True)
COUNTER = """
from functions_sdk import store

def on_track(event, settings):
    return store.incr("seen")
"""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def pool(data: Path) -> Iterator[WorkerPool]:
    open_delivery(data)  # makes the directory
    store = open_store(data)
    with WorkerPool(max_workers=2, spares=0, store=store) as pool:
        yield pool
    store.close()


def test_each_instance_counts_its_own_events(data: Path, pool: WorkerPool) -> None:
    backend, delivery = open_embedded(data), open_delivery(data)
    plane = ControlPlane(backend, pool)
    _, workspace = plane.bootstrap("admin")
    ws = workspace.id
    source, _ = plane.create_source(ADMIN, ws, "web")
    function, _ = plane.create_function(ADMIN, ws, files={"handler.py": COUNTER}, name="c")
    first = plane.deploy(ADMIN, ws, function.id, source_id=source.id)
    second = plane.deploy(ADMIN, ws, function.id, source_id=source.id)
    ingest = Ingest(backend.metadata, delivery.queue, delivery.deliveries)
    dispatcher = Dispatcher(backend, delivery, pool)

    def deliver(count: int) -> None:
        events = [{"type": "track", "event": "e", "userId": "u"} for _ in range(count)]
        ingest.enqueue(source, events)
        jobs = delivery.queue.receive(50, visibility_timeout=30)
        settlements = dispatcher.process(jobs)
        assert {s.action for s in settlements} == {"ack"}
        for settlement in settlements:
            delivery.queue.ack(settlement.job)

    deliver(3)  # each event goes to both instances
    store = open_store(data)  # what another delivery process would see
    assert store.get(f"{ws}/{first.id}", "seen") == "3"
    assert store.get(f"{ws}/{second.id}", "seen") == "3"
    deliver(1)
    assert store.get(f"{ws}/{first.id}", "seen") == "4"
    assert store.get(f"{ws}/{second.id}", "seen") == "4"
    store.close()
