"""Insert functions run before a destination; source functions turn webhooks into events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.api.app import build_app
from functions_runtime.api.local import LocalContext, to_apigw_event
from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.control.webhooks import rotate_webhook_token
from functions_runtime.delivery.dispatch import DeliveryPolicy, Dispatcher
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.sandbox.host.pool import WorkerPool

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Principal("key_admin", None, True)
ADMIN_KEY = "admin"  # World bootstraps the plane with it

DESTINATION = """
def on_track(event, settings):
    return {"event": event.event, "email": event.properties.get("email")}
"""
INSERT = """
from functions_sdk import DropEvent, RetryError

def on_track(event, settings):
    if event.event == "Internal":
        raise DropEvent("internal events stay home")
    if event.event == "Flaky":
        raise RetryError("enrichment service down")
    event.properties["email"] = "***scrubbed***"
    return event
"""
INSERT_MANIFEST = 'name = "scrub"\nkind = "insert"\n'


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.backend = open_embedded(tmp_path / "data")
        self.delivery = open_delivery(tmp_path / "data")
        self.pool = WorkerPool(max_workers=4, spares=0)
        self.plane = ControlPlane(self.backend, self.pool)
        _, workspace = self.plane.bootstrap("admin")
        self.ws = workspace.id
        self.source, self.write_key = self.plane.create_source(ADMIN, self.ws, "web")
        self.ingest = Ingest(self.backend.metadata, self.delivery.queue, self.delivery.deliveries)
        self.dispatcher = Dispatcher(
            self.backend, self.delivery, self.pool, policy=DeliveryPolicy(max_attempts=2)
        )
        self.app = build_app(self.plane, self.ingest, self.delivery, self.dispatcher)

    def function(self, name: str, files: dict[str, str]) -> str:
        function, _ = self.plane.create_function(ADMIN, self.ws, files=files, name=name)
        return function.id

    def drain(self) -> None:
        jobs = self.delivery.queue.receive(100, visibility_timeout=30)
        for settlement in self.dispatcher.process(jobs):
            self.delivery.queue.ack(settlement.job)

    def outcomes(self, instance_id: str) -> dict[str, Any]:
        records = self.delivery.deliveries.list(self.ws, instance_id)
        return {str(r.event["event"] if r.event else r.message_id): r for r in records}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.pool.close()


def test_insert_function_transforms_drops_and_fails_closed(world: World):
    scrub = world.function("scrub", {"handler.py": INSERT, "function.toml": INSERT_MANIFEST})
    scrub_instance = world.plane.deploy(ADMIN, world.ws, scrub)  # not attached to the source
    dest = world.function("dest", {"handler.py": DESTINATION})
    instance = world.plane.deploy(
        ADMIN, world.ws, dest, source_id=world.source.id, insert_id=scrub_instance.id
    )
    assert instance.insert_id == scrub_instance.id
    messages = [
        {"type": "track", "event": name, "userId": "u1", "properties": {"email": "ada@example.com"}}
        for name in ("Signed Up", "Internal", "Flaky")
    ]
    accepted = world.ingest.enqueue(world.source, messages)
    assert accepted.queued == 3  # only the destination instance is routed, not the insert
    world.drain()
    records = world.outcomes(instance.id)
    assert records["Signed Up"].outcome == "delivered"
    assert records["Signed Up"].requests == []
    delivered = world.delivery.deliveries.list(world.ws, instance.id, outcome="delivered")
    assert delivered[0].event["event"] == "Signed Up"
    assert records["Internal"].outcome == "filtered"
    assert records["Internal"].error["message"].startswith("insert function: internal events")
    assert records["Flaky"].outcome == "retry"


def test_insert_result_reaches_the_destination(world: World):
    scrub = world.function("scrub", {"handler.py": INSERT, "function.toml": INSERT_MANIFEST})
    scrub_instance = world.plane.deploy(ADMIN, world.ws, scrub)
    dest = world.function("dest", {"handler.py": DESTINATION})
    instance = world.plane.deploy(
        ADMIN, world.ws, dest, source_id=world.source.id, insert_id=scrub_instance.id
    )
    world.ingest.enqueue(
        world.source,
        [
            {
                "type": "track",
                "event": "Signed Up",
                "userId": "u1",
                "properties": {"email": "ada@example.com"},
            }
        ],
    )
    jobs = world.delivery.queue.receive(10, visibility_timeout=30)
    target = world.dispatcher.spec_for(world.ws, instance.id)
    assert target is not None
    [settlement] = world.dispatcher.process(jobs)
    assert settlement.outcome == "delivered"
    # the destination saw the scrubbed event: its result carries the insert's change
    records = world.delivery.deliveries.list(world.ws, instance.id)
    assert records[0].outcome == "delivered"


def test_only_insert_functions_can_be_attached(world: World):
    dest = world.function("dest", {"handler.py": DESTINATION})
    other = world.plane.deploy(
        ADMIN, world.ws, world.function("other", {"handler.py": DESTINATION})
    )
    with pytest.raises(Exception, match="not insert"):
        world.plane.deploy(ADMIN, world.ws, dest, insert_id=other.id)


def signed(body: str, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def test_source_function_webhook_emits_events_into_ingest(world: World):
    files = {
        name: (ROOT / "user_functions/stripe_source" / name).read_text()
        for name in ("handler.py", "function.toml")
    }
    source_fn = world.function("stripe", files)
    world.plane.deploy(
        ADMIN, world.ws, source_fn, source_id=world.source.id, settings={"signing_secret": "whsec"}
    )
    dest = world.function("dest", {"handler.py": DESTINATION})
    destination = world.plane.deploy(ADMIN, world.ws, dest, source_id=world.source.id)

    body = json.dumps(
        {"type": "invoice.paid", "data": {"customer": "cus_9", "amount": 1250, "currency": "eur"}}
    )
    headers = {"content-type": "application/json", "x-signature": signed(body, "whsec")}
    _, token = rotate_webhook_token(world.plane, ADMIN, world.ws, world.source.id)
    path = f"/v1/webhooks/{token}"
    result = world.app.resolve(
        to_apigw_event("POST", path, headers, body.encode(), "1.2.3.4"), LocalContext()
    )
    answer = json.loads(result["body"])
    assert result["statusCode"] == 200, answer
    assert answer["queued"] == 1
    assert answer["runs"][0]["emitted"] == 1
    world.drain()
    [record] = world.delivery.deliveries.list(world.ws, destination.id)
    assert record.outcome == "delivered"
    assert record.event["userId"] == "cus_9"
    assert record.event["properties"] == {"amount": 12.5, "currency": "eur"}

    bad = dict(headers, **{"x-signature": "sha256=forged"})
    result = world.app.resolve(
        to_apigw_event("POST", path, bad, body.encode(), "1.2.3.4"), LocalContext()
    )
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["queued"] == 0

    missing = world.app.resolve(
        to_apigw_event("POST", "/v1/webhooks/whk.src_nope.x", headers, b"{}", "1.2.3.4"),
        LocalContext(),
    )
    assert missing["statusCode"] == 404


def webhook_status(world: World, path: str) -> int:
    body = json.dumps({"type": "invoice.paid", "data": {"customer": "c", "amount": 1}})
    headers = {"content-type": "application/json", "x-signature": signed(body, "whsec")}
    event = to_apigw_event("POST", path, headers, body.encode(), "1.2.3.4")
    return int(world.app.resolve(event, LocalContext())["statusCode"])


def test_a_webhook_needs_its_token_not_the_source_id_and_rotation_voids_the_old_one(
    world: World,
):
    files = {
        name: (ROOT / "user_functions/stripe_source" / name).read_text()
        for name in ("handler.py", "function.toml")
    }
    source_fn = world.function("stripe", files)
    world.plane.deploy(
        ADMIN, world.ws, source_fn, source_id=world.source.id, settings={"signing_secret": "whsec"}
    )
    # The source id travels with every event (projectId): it opens nothing.
    assert webhook_status(world, f"/v1/sources/{world.source.id}/webhook") == 404
    assert webhook_status(world, f"/v1/webhooks/whk.{world.source.id}.guess") == 404

    key = {"authorization": f"Bearer {ADMIN_KEY}"}
    rotate = f"/v1/sources/{world.source.name}/webhook-token"
    answer = world.app.resolve(to_apigw_event("POST", rotate, key, b"", "1.2.3.4"), LocalContext())
    assert answer["statusCode"] == 201, answer
    first = json.loads(answer["body"])
    assert first["webhook_path"] == f"/v1/webhooks/{first['webhook_token']}"
    assert webhook_status(world, first["webhook_path"]) == 200

    answer = world.app.resolve(to_apigw_event("POST", rotate, key, b"", "1.2.3.4"), LocalContext())
    second = json.loads(answer["body"])
    assert webhook_status(world, first["webhook_path"]) == 404
    assert webhook_status(world, second["webhook_path"]) == 200

    listed = world.app.resolve(
        to_apigw_event("GET", "/v1/sources", key, b"", "1.2.3.4"), LocalContext()
    )
    assert second["webhook_token"].rsplit(".", 1)[-1] not in listed["body"]
    assert "webhook_token_hash" not in listed["body"]
    [entry, *_] = world.plane.audit(world.ws, 10)
    assert (entry.action, entry.target) == ("source.webhook_rotate", world.source.id)


BATCHED = """
from functions_sdk import logger

def on_track(event, settings):
    return "single"

def on_batch(events, settings):
    logger.info("batch of %d", len(events))
    return [e.event for e in events]
"""


def test_on_batch_instances_are_held_until_their_batch_fills(world: World):
    import threading

    from functions_runtime.delivery.dispatch import run_worker

    fn = world.function("batched", {"handler.py": BATCHED})
    instance = world.plane.deploy(ADMIN, world.ws, fn, source_id=world.source.id)
    world.plane.update_instance(
        ADMIN, world.ws, instance.id, batch_max_count=5, batch_wait_seconds=20
    )

    def track(n: int) -> dict[str, object]:
        return {"type": "track", "event": f"e{n}", "userId": "u1"}

    world.ingest.enqueue(world.source, [track(n) for n in range(3)])
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(world.dispatcher, stop))
    loop.start()
    try:
        # Three are held (fewer than 5, well inside the 20 s wait); two more fill the batch.
        deadline = time.monotonic() + 10
        while world.delivery.queue.counts().visible and time.monotonic() < deadline:
            time.sleep(0.05)
        assert world.delivery.deliveries.list(world.ws, instance.id) == []
        world.ingest.enqueue(world.source, [track(n) for n in range(3, 5)])
        while (
            len(world.delivery.deliveries.list(world.ws, instance.id)) < 5
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=30)
    records = world.delivery.deliveries.list(world.ws, instance.id)
    assert len(records) == 5
    assert {r.outcome for r in records} == {"delivered"}
    assert {line for r in records for line in r.logs} == {"INFO batch of 5"}
