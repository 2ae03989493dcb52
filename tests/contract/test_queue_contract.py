"""One queue contract for the embedded (SQLite) queue and SQS (moto)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.idempotency import (
    IdempotencyConfig,
    idempotent_function,
)

from functions_runtime.delivery.ports import Delivery, DeliveryBackend, Job, Queue
from tests.backends import BACKENDS, make_delivery


@pytest.fixture(params=BACKENDS)
def delivery(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryBackend]:
    with make_delivery(request.param, tmp_path / "data") as backend:
        yield backend


def body(n: int, instance: str = "in_1") -> dict[str, object]:
    return {"instance_id": instance, "message_id": f"m{n}", "event": {"type": "track", "n": n}}


def test_send_receive_ack(delivery: DeliveryBackend):
    q = delivery.queue
    q.send([body(1)])
    [job] = q.receive(10, visibility_timeout=30)
    assert job.body == body(1)
    assert job.receive_count == 1
    assert abs((datetime.now(UTC) - job.sent_at).total_seconds()) < 30
    assert q.receive(10, visibility_timeout=30) == []  # hidden while in flight
    q.ack(job)
    assert q.counts().visible == 0 and q.counts().in_flight == 0


def test_many_messages_all_arrive_once(delivery: DeliveryBackend):
    q = delivery.queue
    q.send([body(n) for n in range(25)])
    seen = []
    for _ in range(10):
        jobs = q.receive(10, visibility_timeout=30)
        for job in jobs:
            seen.append(job.body["message_id"])
            q.ack(job)
        if len(seen) == 25:
            break
    assert sorted(seen) == sorted(f"m{n}" for n in range(25))


def received(q: Queue, deadline_seconds: float = 30.0) -> list[Job]:
    """The next job once it becomes visible (polled: the condition, not a fixed sleep)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        jobs = q.receive(1, visibility_timeout=30)
        if jobs:
            return list(jobs)
        time.sleep(0.05)
    raise AssertionError("no job became visible")


def test_visibility_timeout_returns_unacked_jobs(delivery: DeliveryBackend):
    q = delivery.queue
    q.send([body(1)])
    [first] = q.receive(1, visibility_timeout=1)
    assert q.receive(1, visibility_timeout=30) == []  # leased: not visible
    [again] = received(q)
    assert again.body == first.body
    assert again.receive_count == 2


def test_retry_delays_and_counts_attempts(delivery: DeliveryBackend):
    q = delivery.queue
    q.send([body(1)])
    [job] = q.receive(1, visibility_timeout=30)
    q.retry(job, delay_seconds=1)
    assert q.receive(1, visibility_timeout=30) == []
    [again] = received(q)
    assert again.receive_count == 2


def test_delayed_send(delivery: DeliveryBackend):
    q = delivery.queue
    q.send([body(1)], delay_seconds=1)
    assert q.receive(1, visibility_timeout=30) == []
    assert len(received(q)) == 1


def test_dead_letters_are_kept_and_taken_for_replay(delivery: DeliveryBackend):
    q = delivery.queue
    q.send([body(1, "in_a"), body(2, "in_b"), body(3, "in_a")])
    jobs = []
    while len(jobs) < 3:
        jobs.extend(q.receive(10, visibility_timeout=30))
    for job in jobs:
        q.dead_letter(job, reason="retries exhausted: 503")
    assert q.receive(10, visibility_timeout=30) == []
    assert q.counts().dead == 3
    taken = q.take_dead(lambda b: b["instance_id"] == "in_a")
    assert sorted(d.body["message_id"] for d in taken) == ["m1", "m3"]
    assert {d.reason for d in taken} == {"retries exhausted: 503"}
    assert q.take_dead(lambda b: b["instance_id"] == "in_a") == []
    [left] = q.take_dead(lambda b: True)
    assert left.body["message_id"] == "m2"


def test_concurrent_receivers_never_share_a_job(delivery: DeliveryBackend):
    q = delivery.queue
    q.send([body(n) for n in range(30)])
    got: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        for _ in range(6):
            for job in q.receive(5, visibility_timeout=30):
                with lock:
                    got.append(job.body["message_id"])
                q.ack(job)

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got))


def delivery_record(
    n: int, outcome: str, ms: float, instance: str = "in_1", ws: str = "ws_1", minutes: int = 0
) -> Delivery:
    return Delivery(
        id=f"{instance}:m{n}:1",
        workspace_id=ws,
        instance_id=instance,
        message_id=f"m{n}",
        event_type="track",
        outcome=outcome,
        attempt=1,
        duration_ms=ms,  # type: ignore[arg-type]
        at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes + n),
        logs=[f"log {n}"],
        requests=[{"method": "POST", "status": 200}],
        event={"type": "track", "n": n},
    )


def test_delivery_records_newest_first_with_filters(delivery: DeliveryBackend):
    store = delivery.deliveries
    outcomes = ["delivered", "rejected", "delivered", "filtered", "failed"]
    for n, outcome in enumerate(outcomes):
        store.record(delivery_record(n, outcome, ms=float(n + 1)))
    store.record(delivery_record(9, "delivered", 1.0, instance="in_other"))
    store.record(delivery_record(8, "delivered", 1.0, ws="ws_other"))
    listed = store.list("ws_1", "in_1")
    assert [d.message_id for d in listed] == ["m4", "m3", "m2", "m1", "m0"]
    assert listed[0] == delivery_record(4, "failed", 5.0)
    assert [d.message_id for d in store.list("ws_1", "in_1", outcome="delivered")] == ["m2", "m0"]
    assert [d.message_id for d in store.list("ws_1", "in_1", limit=2)] == ["m4", "m3"]
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=3)
    assert [d.message_id for d in store.list("ws_1", "in_1", since=since)] == ["m4", "m3"]
    assert [d.message_id for d in store.list("ws_other", "in_1")] == ["m8"]  # scoped


def test_delivery_stats(delivery: DeliveryBackend):
    store = delivery.deliveries
    for n in range(20):
        store.record(delivery_record(n, "delivered" if n % 4 else "rejected", ms=float(n + 1)))
    stats = store.stats("ws_1", "in_1")
    assert stats.counts == {"delivered": 15, "rejected": 5}
    assert stats.total == 20
    assert stats.p50_ms is not None and 10.0 <= stats.p50_ms <= 11.0
    assert stats.p95_ms is not None and 19.0 <= stats.p95_ms <= 20.0
    empty = store.stats("ws_1", "in_none")
    assert (empty.total, empty.p50_ms, empty.counts) == (0, None, {})


def test_idempotency_layer_skips_repeats(delivery: DeliveryBackend):
    calls: list[str] = []
    config = IdempotencyConfig(
        event_key_jmespath="[instance_id, message_id]", expires_after_seconds=3600
    )

    @idempotent_function(
        data_keyword_argument="job", persistence_store=delivery.idempotency, config=config
    )
    def deliver(job: dict[str, str]) -> dict[str, str]:
        calls.append(job["message_id"])
        return {"outcome": "delivered"}

    assert deliver(job={"instance_id": "in_1", "message_id": "m1"}) == {"outcome": "delivered"}
    assert deliver(job={"instance_id": "in_1", "message_id": "m1"}) == {"outcome": "delivered"}
    deliver(job={"instance_id": "in_2", "message_id": "m1"})
    assert calls == ["m1", "m1"]  # once per instance
