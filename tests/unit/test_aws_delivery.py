"""The AWS delivery backend on moto, beyond the queue contract: provisioning, layout,
batching, failures, redrive and dead-letter replay, pagination, idempotency."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from moto import mock_aws

from functions_runtime.control.ports import StoreError
from functions_runtime.delivery.aws import (
    REDRIVE_REASON,
    DeliveryNames,
    SqsQueue,
    aws_delivery,
    delivery_names_from_env,
    provision_delivery,
)
from functions_runtime.delivery.aws.records import (
    EXPIRED,
    SET_MARGIN,
    TRUNCATED,
    TTL,
    DynamoDeliveryStore,
    nearest_rank,
    sort_key,
)
from functions_runtime.delivery.ports import Delivery, DeliveryBackend, QueueCounts

ENV = {
    "FUNCTIONS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
    "FUNCTIONS_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
    "FUNCTIONS_DELIVERIES_TABLE": "deliveries",
    "FUNCTIONS_IDEMPOTENCY_TABLE": "idempotency",
}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now


class Client:
    """A boto3 client that records the operations called through it, and can make the
    next SendMessageBatch calls fail their first two entries (as SQS reports a fault)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failing_sends = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**params: Any) -> Any:
            self.calls.append((name, params))
            return method(**params)

        return call

    def send_message_batch(self, **params: Any) -> Any:
        self.calls.append(("send_message_batch", params))
        entries = params["Entries"]
        if self.failing_sends <= 0:
            return self._client.send_message_batch(**params)
        self.failing_sends -= 1
        failed, sent = entries[:2], entries[2:]
        response = (
            self._client.send_message_batch(QueueUrl=params["QueueUrl"], Entries=sent)
            if sent
            else {}
        )
        return {
            "Successful": response.get("Successful", []),
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "x"}
                for e in failed
            ],
        }

    def named(self, name: str) -> list[dict[str, Any]]:
        return [params for called, params in self.calls if called == name]


@dataclass
class Aws:
    sqs: Client
    dynamodb: Any
    names: DeliveryNames
    clock: Clock
    backend: DeliveryBackend

    @property
    def queue(self) -> SqsQueue:
        assert isinstance(self.backend.queue, SqsQueue)
        return self.backend.queue


@pytest.fixture(scope="module")
def session() -> Iterator[boto3.Session]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with mock_aws():
            yield boto3.Session(region_name="us-east-1")


@pytest.fixture(scope="module")
def clients(session: boto3.Session) -> tuple[Any, Any]:
    return session.client("sqs"), session.client("dynamodb")


_prefixes = itertools.count()


@pytest.fixture
def aws(clients: tuple[Any, Any]) -> Aws:
    sqs, dynamodb = clients
    names = provision_delivery(sqs, dynamodb, prefix=f"unit{next(_prefixes)}")
    recording, clock = Client(sqs), Clock()
    backend = aws_delivery(recording, dynamodb, names, clock=clock, dead_wait_seconds=0)
    return Aws(recording, dynamodb, names, clock, backend)


def body(n: int, instance: str = "in_1") -> dict[str, Any]:
    return {"instance_id": instance, "message_id": f"m{n}"}


def record(n: int, outcome: str = "delivered", ms: float = 1.0, **fields: Any) -> Delivery:
    values: dict[str, Any] = {
        "id": f"in_1:m{n}:1",
        "workspace_id": "ws_1",
        "instance_id": "in_1",
        "message_id": f"m{n}",
        "outcome": outcome,
        "duration_ms": ms,
        "at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
    }
    return Delivery(**(values | fields))


# configuration and provisioning


def test_names_from_env() -> None:
    assert delivery_names_from_env({**ENV, "OTHER": "x"}) == DeliveryNames(
        queue_url=ENV["FUNCTIONS_QUEUE_URL"],
        dlq_url=ENV["FUNCTIONS_DLQ_URL"],
        deliveries_table="deliveries",
        idempotency_table="idempotency",
    )


def test_names_from_env_names_every_missing_variable() -> None:
    with pytest.raises(StoreError) as caught:
        delivery_names_from_env({"FUNCTIONS_QUEUE_URL": "u", "FUNCTIONS_DLQ_URL": " "})
    message = str(caught.value)
    assert "FUNCTIONS_DLQ_URL, FUNCTIONS_DELIVERIES_TABLE, FUNCTIONS_IDEMPOTENCY_TABLE not set" in (
        message
    )


def test_provision_rejects_a_bad_prefix(clients: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="prefix"):
        provision_delivery(*clients, prefix="Bad_Prefix")


def test_provision_creates_the_queues(aws: Aws) -> None:
    def attributes(url: str) -> dict[str, str]:
        found: dict[str, str] = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        return found

    main, dead = attributes(aws.names.queue_url), attributes(aws.names.dlq_url)
    assert main["VisibilityTimeout"] == "60"
    assert main["MessageRetentionPeriod"] == str(4 * 24 * 3600)
    assert json.loads(main["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead["QueueArn"],
        "maxReceiveCount": 10,
    }
    assert dead["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    assert "RedrivePolicy" not in dead


def test_provision_creates_the_tables(aws: Aws) -> None:
    def described(table: str) -> tuple[list[dict[str, str]], str, str]:
        t = aws.dynamodb.describe_table(TableName=table)["Table"]
        ttl = aws.dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        return t["KeySchema"], ttl["TimeToLiveStatus"], ttl["AttributeName"]

    keys, status, ttl = described(aws.names.deliveries_table)
    assert keys == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert (status, ttl) == ("ENABLED", "expires_at")
    keys, status, ttl = described(aws.names.idempotency_table)
    assert keys == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert (status, ttl) == ("ENABLED", "expiration")


def test_provision_is_idempotent(clients: tuple[Any, Any]) -> None:
    first = provision_delivery(*clients, prefix="again")
    assert provision_delivery(*clients, prefix="again") == first


# sending


def test_send_batches_of_ten(aws: Aws) -> None:
    aws.queue.send([body(n) for n in range(25)], delay_seconds=3)
    batches = aws.sqs.named("send_message_batch")
    assert [len(b["Entries"]) for b in batches] == [10, 10, 5]
    entry = batches[0]["Entries"][0]
    assert json.loads(entry["MessageBody"]) == body(0)
    assert entry["DelaySeconds"] == 3


def test_send_retries_failed_entries_once(aws: Aws) -> None:
    aws.sqs.failing_sends = 1
    aws.queue.send([body(n) for n in range(5)])
    retried = aws.sqs.named("send_message_batch")[1]["Entries"]
    assert [e["Id"] for e in retried] == ["0", "1"]
    jobs = aws.queue.receive(10)
    assert sorted(j.body["message_id"] for j in jobs) == [f"m{n}" for n in range(5)]


def test_send_raises_when_entries_fail_twice(aws: Aws) -> None:
    aws.sqs.failing_sends = 2
    with pytest.raises(StoreError, match="2 of 5 messages not queued"):
        aws.queue.send([body(n) for n in range(5)])


def test_send_refuses_bad_input_before_queueing_anything(aws: Aws) -> None:
    with pytest.raises(ValueError, match="900"):
        aws.queue.send([body(1)], delay_seconds=901)
    with pytest.raises(TypeError):
        aws.queue.send([body(1), {"at": datetime.now(UTC)}])
    with pytest.raises(ValueError):
        aws.queue.send([body(1), {"n": float("nan")}])
    aws.queue.send([])
    assert aws.sqs.named("send_message_batch") == []


def test_send_to_a_missing_queue_names_the_variable(aws: Aws) -> None:
    queue = SqsQueue(aws.sqs, aws.names.queue_url + "-gone", aws.names.dlq_url)
    with pytest.raises(StoreError, match="FUNCTIONS_QUEUE_URL"):
        queue.send([body(1)])


# receiving and settling


def test_receive_fills_asks_over_ten(aws: Aws) -> None:
    aws.queue.send([body(n) for n in range(25)])
    jobs = aws.queue.receive(25, visibility_timeout=30)
    assert len({j.id for j in jobs}) == 25
    receives = aws.sqs.named("receive_message")
    assert [r["MaxNumberOfMessages"] for r in receives] == [10, 10, 5]
    assert receives[0]["MessageSystemAttributeNames"] == [
        "ApproximateReceiveCount",
        "SentTimestamp",
    ]
    assert aws.queue.counts().in_flight == 25


def test_counts_put_delayed_and_retried_messages_in_flight(aws: Aws) -> None:
    aws.queue.send([body(1), body(2), body(3)])
    aws.queue.send([body(4)], delay_seconds=60)
    one, two = aws.queue.receive(2)
    aws.queue.retry(one, delay_seconds=10)
    aws.queue.dead_letter(two, "rejected")
    assert aws.queue.counts() == QueueCounts(visible=1, in_flight=2, dead=1)


def test_receive_with_no_visibility_returns_each_message_once(aws: Aws) -> None:
    aws.queue.send([body(1)])
    assert len(aws.queue.receive(10, visibility_timeout=0)) == 1


def test_a_malformed_body_goes_to_the_dead_letter_queue(aws: Aws) -> None:
    aws.sqs.send_message(QueueUrl=aws.names.queue_url, MessageBody="[1, 2]")
    aws.queue.send([body(1)])
    assert [j.body for j in aws.queue.receive(10)] == [body(1)]
    assert aws.queue.counts().dead == 1
    [dead] = aws.sqs.receive_message(QueueUrl=aws.names.dlq_url, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert dead["Body"] == "[1, 2]"
    assert dead["MessageAttributes"]["reason"]["StringValue"].startswith("malformed body")
    assert aws.queue.take_dead(lambda b: True) == []  # unreadable: left in place


def test_stale_receipts_are_ignored(aws: Aws) -> None:
    aws.queue.send([body(1)])
    [job] = aws.queue.receive(1)
    aws.queue.ack(job)
    aws.queue.ack(job)
    aws.queue.retry(job, delay_seconds=5)
    aws.queue.dead_letter(job, "late")  # the body is kept: at least once
    assert aws.queue.counts() == QueueCounts(visible=0, in_flight=0, dead=1)


def test_retry_past_twelve_hours_hides_for_what_is_left(aws: Aws) -> None:
    aws.queue.send([body(1)])
    [job] = aws.queue.receive(1)
    aws.queue.retry(job, delay_seconds=10**6)
    hides = aws.sqs.named("change_message_visibility")
    assert hides[0]["VisibilityTimeout"] == 43_200
    assert 43_000 < hides[-1]["VisibilityTimeout"] < 43_200
    assert aws.queue.counts().in_flight == 1


def test_dead_letter_keeps_reason_time_and_job_id(aws: Aws) -> None:
    aws.queue.send([body(1)])
    [job] = aws.queue.receive(1)
    aws.queue.dead_letter(job, "retries exhausted: " + "x" * 5000)
    [dead] = aws.queue.take_dead(lambda b: True)
    assert (dead.id, dead.body, dead.dead_at) == (job.id, body(1), aws.clock.now)
    assert dead.reason.startswith("retries exhausted: ") and len(dead.reason) == 1000


def test_the_redrive_policy_is_a_backstop(aws: Aws) -> None:
    aws.queue.send([body(1)])
    first = None
    for attempt in range(1, 11):
        [job] = aws.queue.receive(1, visibility_timeout=0)
        assert job.receive_count == attempt
        first = first or job
    assert aws.queue.receive(1, visibility_timeout=0) == []  # the 11th: redriven
    [dead] = aws.queue.take_dead(lambda b: True)
    assert first is not None
    assert (dead.id, dead.reason, dead.body) == (first.id, REDRIVE_REASON, body(1))
    assert abs(dead.dead_at - first.sent_at) < timedelta(seconds=1)


# dead letters


def test_take_dead_respects_the_limit_and_looks_at_each_letter_once(aws: Aws) -> None:
    aws.queue.send([body(n, "in_a" if n < 3 else "in_b") for n in range(25)])
    jobs = aws.queue.receive(25)
    for job in jobs:
        aws.clock.now -= timedelta(seconds=1)  # each dead before the one before
        aws.queue.dead_letter(job, "retries exhausted")
    taken = aws.queue.take_dead(lambda b: b["instance_id"] == "in_a", limit=2)
    assert len(taken) == 2
    assert taken == sorted(taken, key=lambda dead: dead.dead_at)
    aws.sqs.calls.clear()
    assert aws.queue.take_dead(lambda b: b["instance_id"] == "nobody") == []
    assert len(aws.sqs.named("receive_message")) <= 5  # 23 letters, 10 at a time
    released = [e for b in aws.sqs.named("change_message_visibility_batch") for e in b["Entries"]]
    assert len(released) == 23 and {e["VisibilityTimeout"] for e in released} == {0}
    assert aws.queue.counts().dead == 23
    assert len(aws.queue.take_dead(lambda b: True)) == 23  # visible again at once


def test_take_dead_releases_letters_when_match_raises(aws: Aws) -> None:
    aws.queue.send([body(1)])
    [job] = aws.queue.receive(1)
    aws.queue.dead_letter(job, "r")

    def explode(_: dict[str, Any]) -> bool:
        raise RuntimeError("bad matcher")

    with pytest.raises(RuntimeError):
        aws.queue.take_dead(explode)
    assert len(aws.queue.take_dead(lambda b: True)) == 1


# delivery records


def test_record_layout(aws: Aws) -> None:
    aws.backend.deliveries.record(record(1, ms=12.5))
    [item] = aws.dynamodb.scan(TableName=aws.names.deliveries_table)["Items"]
    at = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert item["pk"] == {"S": "INST#in_1"}
    assert item["sk"] == {"S": f"{int(at.timestamp()) * 10**6:020d}#in_1:m1:1"}
    assert item["sk"]["S"] == sort_key(at.replace(tzinfo=None), "in_1:m1:1")
    assert (item["workspace_id"], item["outcome"]) == ({"S": "ws_1"}, {"S": "delivered"})
    assert float(item["duration_ms"]["N"]) == 12.5
    assert int(item["expires_at"]["N"]) == int((aws.clock.now + TTL).timestamp())
    assert Delivery.model_validate_json(item["data"]["S"]) == record(1, ms=12.5)


def test_list_pages_through_filtered_records(aws: Aws) -> None:
    store = aws.backend.deliveries
    for n in range(300):
        store.record(record(n, "delivered" if n % 10 == 0 else "rejected"))
    listed = store.list("ws_1", "in_1", outcome="delivered", limit=25)
    assert [d.message_id for d in listed] == [f"m{n}" for n in range(290, 40, -10)]
    assert len(store.list("ws_1", "in_1", limit=1000)) == 300
    assert store.list("ws_1", "in_1", limit=0) == []
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=295)
    assert [d.message_id for d in store.list("ws_1", "in_1", since=since)] == [
        f"m{n}" for n in range(299, 294, -1)
    ]


def test_stats_nearest_rank_since_and_workspace(aws: Aws) -> None:
    store = aws.backend.deliveries
    for n in range(1, 101):
        store.record(record(n, "delivered" if n > 10 else "failed", ms=float(n)))
    store.record(record(500, ms=1000.0, workspace_id="ws_2", id="other"))
    stats = store.stats("ws_1", "in_1")
    assert (stats.total, stats.counts) == (100, {"delivered": 90, "failed": 10})
    assert (stats.p50_ms, stats.p95_ms) == (50.0, 95.0)
    recent = store.stats("ws_1", "in_1", since=datetime(2026, 1, 1, 0, 1, 31, tzinfo=UTC))
    assert (recent.total, recent.p50_ms) == (10, 95.0)
    assert store.stats("ws_2", "in_1").counts == {"delivered": 1}


def test_nearest_rank() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7.0], 95) == 7.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 95) == 4.0


def test_an_oversized_record_is_trimmed_to_fit(aws: Aws) -> None:
    big = record(1, logs=[f"{i:04d}" + "x" * 2000 for i in range(300)], event={"x": "y" * 1000})
    aws.backend.deliveries.record(big)
    [stored] = aws.backend.deliveries.list("ws_1", "in_1")
    assert stored.event is None and stored.requests == []
    assert stored.logs[-1] == TRUNCATED and stored.logs[0] == big.logs[0]
    assert 50 < len(stored.logs) < 100


SIGNED_POST: dict[str, Any] = {
    "method": "POST",
    "url": "https://hooks.example.com/events",
    "status": 200,
    "request_headers": {"Content-Type": "application/json", "X-Signature": "***"},
    "request_body": '[{"type":"track","event":"Order Completed","revenue":25.0}]',
}


def recorded_store(aws: Aws, client: Any = None) -> tuple[DynamoDeliveryStore, Client]:
    """A deliveries store on the fixture's table whose DynamoDB calls are recorded."""
    recording = client or Client(aws.dynamodb)
    store = DynamoDeliveryStore(recording, aws.names.deliveries_table, clock=aws.clock)
    return store, recording


def test_the_records_of_one_call_share_one_request_set(aws: Aws) -> None:
    store, client = recorded_store(aws)
    call = [record(n, requests=[SIGNED_POST, {**SIGNED_POST, "status": 202}]) for n in range(20)]
    for delivery in call:
        store.record(delivery)
    assert len(client.named("put_item")) == 21
    items = aws.dynamodb.scan(TableName=aws.names.deliveries_table)["Items"]
    [shared] = [item for item in items if item["pk"]["S"].startswith("REQS#")]
    assert json.loads(shared["data"]["S"]) == call[0].requests
    assert int(shared["expires_at"]["N"]) >= int((aws.clock.now + TTL).timestamp())
    for item in items:
        if item is not shared:
            assert item["requests"]["S"] == shared["pk"]["S"].removeprefix("REQS#")
            assert "request_body" not in item["data"]["S"]
    assert store.list("ws_1", "in_1") == call[::-1]
    assert [type(d.requests[0]["status"]) for d in store.list("ws_1", "in_1")] == [int] * 20
    batch, _ = client.named("batch_get_item")  # one per list, for the one set
    assert len(batch["RequestItems"][aws.names.deliveries_table]["Keys"]) == 1
    assert batch["RequestItems"][aws.names.deliveries_table]["ConsistentRead"] is True


def test_request_sets_are_per_workspace_and_exact(aws: Aws) -> None:
    store, _ = recorded_store(aws)
    variants = [
        record(1, requests=[{**SIGNED_POST, "status": 1}]),
        record(2, requests=[{**SIGNED_POST, "status": 1.0}]),
        record(3, requests=[{**SIGNED_POST, "status": True}]),
        record(4, requests=[SIGNED_POST], workspace_id="ws_2", instance_id="in_2"),
        record(5, requests=[SIGNED_POST]),
    ]
    for delivery in variants:
        store.record(delivery)
    items = aws.dynamodb.scan(TableName=aws.names.deliveries_table)["Items"]
    assert len([i for i in items if i["pk"]["S"].startswith("REQS#")]) == 5
    listed = store.list("ws_1", "in_1")
    assert [type(d.requests[0]["status"]) for d in listed] == [int, bool, float, int]
    assert store.list("ws_2", "in_2") == [variants[3]]


def test_a_request_set_is_written_again_once_its_records_would_outlive_it(aws: Aws) -> None:
    store, client = recorded_store(aws)
    store.record(record(1, requests=[SIGNED_POST]))
    store.record(record(2, requests=[SIGNED_POST]))
    assert len(client.named("put_item")) == 3
    aws.clock.now += SET_MARGIN + timedelta(seconds=1)
    store.record(record(3, requests=[SIGNED_POST]))
    puts = client.named("put_item")
    assert len(puts) == 5 and puts[3]["Item"]["pk"]["S"].startswith("REQS#")
    assert int(puts[3]["Item"]["expires_at"]["N"]) > int((aws.clock.now + TTL).timestamp())


def test_unread_request_sets_are_asked_again_then_refused(aws: Aws) -> None:
    class Unprocessed(Client):
        def __init__(self, client: Any, times: int) -> None:
            super().__init__(client)
            self.times = times

        def batch_get_item(self, **params: Any) -> Any:
            self.calls.append(("batch_get_item", params))
            if self.times <= 0:
                return self._client.batch_get_item(**params)
            self.times -= 1
            return {"Responses": {}, "UnprocessedKeys": params["RequestItems"]}

    store, client = recorded_store(aws, Unprocessed(aws.dynamodb, 2))
    store._sleep = lambda seconds: None
    store.record(record(1, requests=[SIGNED_POST]))
    assert store.list("ws_1", "in_1") == [record(1, requests=[SIGNED_POST])]
    assert len(client.named("batch_get_item")) == 3
    stuck, _ = recorded_store(aws, Unprocessed(aws.dynamodb, 99))
    stuck._sleep = lambda seconds: None
    with pytest.raises(StoreError, match="request sets unread after 5 attempts"):
        stuck.list("ws_1", "in_1")


def test_a_record_whose_request_set_expired_says_so(aws: Aws) -> None:
    store, _ = recorded_store(aws)
    store.record(record(1, requests=[SIGNED_POST], logs=["sent"]))
    items = aws.dynamodb.scan(TableName=aws.names.deliveries_table)["Items"]
    [shared] = [item for item in items if item["pk"]["S"].startswith("REQS#")]
    aws.dynamodb.delete_item(
        TableName=aws.names.deliveries_table, Key={"pk": shared["pk"], "sk": shared["sk"]}
    )
    [read] = store.list("ws_1", "in_1")
    assert read.requests == [] and read.logs == ["sent", EXPIRED]


def test_requests_too_large_for_an_item_go_with_the_trimmed_record(aws: Aws) -> None:
    store, client = recorded_store(aws)
    huge = [{**SIGNED_POST, "request_body": "x" * 400_000}]
    store.record(record(1, requests=huge))
    [put] = client.named("put_item")
    assert "requests" not in put["Item"]
    [read] = store.list("ws_1", "in_1")
    assert read.requests == [] and read.logs[-1] == TRUNCATED


def test_a_missing_table_names_the_variable(aws: Aws) -> None:
    names = DeliveryNames(aws.names.queue_url, aws.names.dlq_url, "gone", "gone")
    backend = aws_delivery(aws.sqs, aws.dynamodb, names)
    with pytest.raises(StoreError, match="FUNCTIONS_DELIVERIES_TABLE"):
        backend.deliveries.record(record(1))


# idempotency


def test_idempotency_layer_bounds_in_progress_records(aws: Aws) -> None:
    layer = aws.backend.idempotency
    assert isinstance(layer, DynamoDBPersistenceLayer)
    assert layer.table_name == aws.names.idempotency_table
    config = IdempotencyConfig(event_key_jmespath="message_id", expires_after_seconds=60)
    seen: list[dict[str, Any]] = []

    @idempotent_function(data_keyword_argument="job", persistence_store=layer, config=config)
    def deliver(job: dict[str, str]) -> str:
        seen.extend(aws.dynamodb.scan(TableName=aws.names.idempotency_table)["Items"])
        return "ok"

    assert deliver(job={"message_id": "m1"}) == "ok"
    [item] = seen
    assert item["status"] == {"S": "INPROGRESS"}
    left = int(item["in_progress_expiration"]["N"]) / 1000 - datetime.now().timestamp()
    assert 50 < left <= 60
