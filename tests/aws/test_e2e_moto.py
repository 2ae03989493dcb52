"""End to end on moto: the two Lambda entry points, driven in-process with real-shaped
API Gateway v2 and SQS events, on the resources template.yaml declares.

The resources are created with the runtime's own ``provision``/``provision_delivery``
under names that fill the variables the template gives each function; the handler
modules are imported fresh with exactly that environment (they build their clients at
import, once per cold start). SQS is played by the test: it receives the queued
messages as the event source mapping would, hands them to the worker, deletes the ones
the worker did not report as failures, and fast-forwards the backoff of those it did.

Every AWS call each handler makes is recorded and checked against that function's IAM
role in the template (see aws_support's evaluator).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.handlers
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws

from tests.aws import aws_support as aws

pytestmark = pytest.mark.filterwarnings(
    # Powertools warns when an invocation published no metric but the cold start one.
    "ignore:No application metrics to publish:UserWarning"
)

MAX_ATTEMPTS = 3
HANDLER_MODULES = {
    "ApiFunction": "functions_runtime.lambdas.api",
    "WorkerFunction": "functions_runtime.lambdas.worker",
}
HANDLER = """\
from functions_sdk import DropEvent, RetryError, ValidationError, fetch, logger


def on_track(event, settings):
    case = event.properties.get("case")
    if case == "drop":
        raise DropEvent("not this one")
    if case == "reject":
        raise ValidationError("the order has no total")
    if case == "retry":
        raise RetryError("downstream is busy")
    response = fetch(
        settings.get_str("url"),
        method="POST",
        json={"event": event.event, "user": event.userId},
        headers={"Authorization": "Bearer " + settings.get_str("token")},
    )
    logger.info("sent %s", event.event)
    return {"status": response.status}
"""
MANIFEST = """\
name = "e2e-webhook"
kind = "destination"

[settings.url]
type = "string"
required = true

[settings.token]
type = "string"
required = true
secret = true
"""


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _SinkHandler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(
            {"auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Recorder:
    """Every API call made while ``current`` names a function, by function."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

    def __call__(self, params: dict[str, Any], model: Any, event_name: str, **_: Any) -> None:
        if self.current is not None:
            service = event_name.split(".")[1]
            self.calls.setdefault(self.current, []).append((service, model.name, dict(params)))


class Stack:
    """The handlers, their resources and the SQS side of the event source mapping."""

    def __init__(self, names: aws.Names, recorder: Recorder, sink: Sink) -> None:
        self.names = names
        self.recorder = recorder
        self.sink = sink
        session = boto3.Session(region_name=aws.REGION)
        self.sqs = session.client("sqs")
        self.api: Any = None
        self.worker: Any = None
        self.admin = {"Authorization": f"Bearer {aws.ADMIN_KEY}"}

    def call_api(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        self.recorder.current = "ApiFunction"
        try:
            event = aws.apigw_event(method, path, body, **kw)
            reply = self.api.handler(event, aws.Context("ApiFunction", 29))
        finally:
            self.recorder.current = None
        assert reply["headers"]["Content-Type"] == "application/json"
        return reply["statusCode"], json.loads(reply["body"])

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        code, data = self.call_api(method, path, body, headers=self.admin)
        assert code == status, data
        return data

    def receive(self, url: str | None = None) -> list[dict[str, Any]]:
        """What the event source mapping would get: visible messages, now in flight."""
        return list(
            self.sqs.receive_message(
                QueueUrl=url or self.names.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def run_worker(self, messages: list[dict[str, Any]]) -> list[str]:
        """One worker invocation; deletes what succeeded (as Lambda does) and returns the
        message ids reported as batch item failures."""
        self.recorder.current = "WorkerFunction"
        try:
            reply = self.worker.handler(
                aws.sqs_event(messages, self.names.queue_url), aws.Context("WorkerFunction", 300)
            )
        except BatchProcessingError as exc:
            pytest.fail(
                "the worker raised instead of reporting its batch item failures when every "
                "record is to be retried (Lambda then counts an error and logs an exception); "
                "BatchProcessor(..., raise_on_entire_batch_failure=False) in lambdas/worker.py "
                f"answers with them: {exc}"
            )
        finally:
            self.recorder.current = None
        failed = [f["itemIdentifier"] for f in reply["batchItemFailures"]]
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.names.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return failed

    def fast_forward(self, messages: list[dict[str, Any]]) -> None:
        """The backoff has passed: make retried messages visible again."""
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.names.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )


def bootstrap_snippet() -> str:
    """The admin-key bootstrap block of docs/AWS.md (marked ``# bootstrap.py``)."""
    text = (aws.ROOT / "docs" / "AWS.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    [snippet] = [b for b in blocks if b.startswith("# bootstrap.py")]
    return snippet


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Stack]:
    recorder = Recorder()
    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [*botocore.handlers.BUILTIN_HANDLERS, ("before-parameter-build", recorder)],
    )
    for name, value in aws.FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    sink = Sink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    modules: list[Any] = []
    try:
        with mock_aws():
            names = aws.provision_all(boto3.Session(region_name=aws.REGION), "e2e")
            extra = {
                "FUNCTIONS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
                "FUNCTIONS_HTTP_ALLOW": "127.0.0.1",
            }
            st = Stack(names, recorder, sink)

            # The documented bootstrap, run as an operator would, with the stack's names.
            for name, value in aws.function_env("ApiFunction", names, extra).items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("FUNCTIONS_API_KEY", aws.ADMIN_KEY)
            exec(compile(bootstrap_snippet(), "docs/AWS.md", "exec"), {"__name__": "__main__"})
            assert "admin key" in capsys.readouterr().out
            monkeypatch.delenv("FUNCTIONS_API_KEY")

            # Cold starts: each module with its own function's environment.
            for function, module in HANDLER_MODULES.items():
                for name, value in aws.function_env(function, names, extra).items():
                    monkeypatch.setenv(name, value)
                sys.modules.pop(module, None)
                modules.append(importlib.import_module(module))
            st.api, st.worker = modules
            yield st
    finally:
        for loaded in modules:
            loaded.runtime.pool.close()
        for module in HANDLER_MODULES.values():
            sys.modules.pop(module, None)
        sink.shutdown()
        sink.server_close()


def test_events_flow_from_ingest_through_the_queue_to_deliveries(stack: Stack) -> None:
    # functions_sdk.store: both functions' pools answer from the template's StoreTable.
    from functions_runtime.delivery.aws.store import DynamoStore

    for module in (stack.api, stack.worker):
        store = module.runtime.pool.store.target  # a LazyStore: built on first use
        assert isinstance(store, DynamoStore)
        assert store._table == stack.names.store_table
    # -- control plane: a source, a function with a secret setting, a deployment ------
    write_key = stack.ok("POST", "/v1/sources", {"name": "web"}, 201)["write_key"]
    created = stack.ok(
        "POST",
        "/v1/functions",
        {"files": {"handler.py": HANDLER, "function.toml": MANIFEST}},
        201,
    )
    assert created["version"]["handlers"] == ["on_track"]
    instance = stack.ok(
        "POST",
        "/v1/functions/e2e-webhook/deploy",
        {"source": "web", "settings": {"url": stack.sink.url, "token": "t0ken"}},
    )["instance"]
    assert instance["settings"]["token"] == "***"
    # The test route runs the version in the API function's sandbox, with the
    # instance's settings (its secret decrypted with KMS).
    tested = stack.ok(
        "POST",
        f"/v1/versions/{created['version']['id']}/test",
        {
            "event": {
                "type": "track",
                "event": "T",
                "userId": "u0",
                "properties": {"case": "drop"},
            },
            "instance": instance["id"],
        },
    )
    assert (tested["outcome"], tested["error"]["type"]) == ("filtered", "DropEvent")

    # -- ingest: a batch through the tracking API, with one message that fails the Spec --
    def track(n: int, case: str | None = None) -> dict[str, Any]:
        props = {"case": case} if case else {}
        return {
            "type": "track",
            "event": f"E{n}",
            "userId": f"u{n}",
            "messageId": f"m{n}",
            "properties": props,
        }

    batch = [
        track(1),
        track(2, "drop"),
        track(3, "reject"),
        track(4, "retry"),
        {"type": "identify", "userId": "u5", "messageId": "m5"},  # no handler: filtered
        {"type": "track", "event": "no ids", "messageId": "m6"},  # fails the Spec
    ]
    code, accepted = stack.call_api(
        "POST", "/v1/batch", {"batch": batch}, headers={"Authorization": aws.basic(write_key)}
    )
    assert code == 200, accepted
    assert accepted["queued"] == 5
    assert [r["index"] for r in accepted["rejected"]] == [5]

    # -- the worker: one batch, exactly the retry reported back ---------------------------
    messages = stack.receive()
    assert len(messages) == 5
    by_message = {json.loads(m["Body"])["message_id"]: m for m in messages}
    failed = stack.run_worker(messages)
    assert failed == [by_message["m4"]["MessageId"]]
    assert stack.receive() == []  # the retry is hidden for its backoff, the rest deleted
    assert len(stack.sink.requests) == 1
    assert stack.sink.requests[0] == {"auth": "Bearer t0ken", "body": {"event": "E1", "user": "u1"}}

    # SQS delivers a message twice now and then: the idempotency record absorbs it.
    duplicate = json.loads(by_message["m1"]["Body"])
    stack.sqs.send_message(QueueUrl=stack.names.queue_url, MessageBody=json.dumps(duplicate))
    [again] = stack.receive()
    assert stack.run_worker([again]) == []
    assert len(stack.sink.requests) == 1

    # -- retries until the attempt limit, then the dead-letter queue ----------------------
    retried = [by_message["m4"]]
    for attempt in range(2, MAX_ATTEMPTS + 1):
        stack.fast_forward(retried)
        retried = stack.receive()
        assert [json.loads(m["Body"])["message_id"] for m in retried] == ["m4"]
        assert retried[0]["Attributes"]["ApproximateReceiveCount"] == str(attempt)
        failed = stack.run_worker(retried)
        assert failed == ([] if attempt == MAX_ATTEMPTS else [retried[0]["MessageId"]])
    assert stack.receive() == []
    [dead] = stack.receive(stack.names.dlq_url)
    assert json.loads(dead["Body"])["message_id"] == "m4"
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert (
        reason == f"retries exhausted after {MAX_ATTEMPTS} attempts: RetryError: downstream is busy"
    )
    stack.sqs.change_message_visibility(  # leave it for the replay below
        QueueUrl=stack.names.dlq_url, ReceiptHandle=dead["ReceiptHandle"], VisibilityTimeout=0
    )

    # -- what the API shows ------------------------------------------------------------------
    deliveries = stack.ok("GET", f"/v1/instances/{instance['id']}/deliveries")["deliveries"]
    seen = sorted((d["message_id"], d["attempt"], d["outcome"]) for d in deliveries)
    assert seen == [
        ("m1", 1, "delivered"),
        ("m2", 1, "filtered"),
        ("m3", 1, "rejected"),
        ("m4", 1, "retry"),
        ("m4", 2, "retry"),
        ("m4", 3, "failed"),
        ("m5", 1, "filtered"),
        ("m6", 0, "rejected"),
    ]
    errors = {d["message_id"]: d["error"] for d in deliveries if d["attempt"] == 1}
    assert errors["m1"] is None
    assert errors["m2"]["type"] == "DropEvent"
    assert errors["m3"]["type"] == "ValidationError"
    [delivered] = [d for d in deliveries if d["outcome"] == "delivered"]
    assert delivered["requests"][0]["status"] == 200
    assert delivered["logs"] and "sent E1" in delivered["logs"][0]
    stats = stack.ok("GET", f"/v1/instances/{instance['id']}/stats")
    assert stats["counts"] == {
        "delivered": 1,
        "filtered": 2,
        "rejected": 2,
        "retry": 2,
        "failed": 1,
    }

    # -- replay the dead letter: back on the queue, tagged with the replay ---------------
    replayed = stack.ok("POST", f"/v1/instances/{instance['id']}/replay", {"include": ["failed"]})
    assert replayed["queued"] == 1
    assert stack.receive(stack.names.dlq_url) == []
    [requeued] = stack.receive()
    body = json.loads(requeued["Body"])
    assert (body["message_id"], body["replay_id"]) == ("m4", replayed["replay_id"])

    # -- every call each function made is allowed by its role, and expected -------------
    assert_calls_allowed(stack)


def assert_calls_allowed(stack: Stack) -> None:
    data = aws.template()
    attributes = aws.resource_attributes(stack.names)
    assert set(stack.recorder.calls) == set(aws.FUNCTIONS)
    for function, calls in stack.recorder.calls.items():
        policy = aws.statements(data, function, attributes)
        for service, operation, params in calls:
            for action, arn in aws.permissions_for(service, operation, params, stack.names.key_id):
                assert aws.allowed(policy, action, arn), (function, operation, action, arn)
                resource = aws.logical_resource(arn, attributes)
                assert (action, resource) in aws.EXPECTED_CALLS[function], (function, action, arn)


@pytest.mark.parametrize("body", ["not json {", "[1, 2]", '"a string"'])
def test_a_malformed_message_is_dead_lettered_alone(stack: Stack, body: str) -> None:
    """A queue message whose body is not a JSON object (a hand-sent or truncated one) goes
    to the dead-letter queue with its reason, is not retried, and does not hold up the
    well-formed message in the same batch."""
    write_key = stack.ok("POST", "/v1/sources", {"name": "web"}, 201)["write_key"]
    stack.ok(
        "POST", "/v1/functions", {"files": {"handler.py": HANDLER, "function.toml": MANIFEST}}, 201
    )
    stack.ok(
        "POST",
        "/v1/functions/e2e-webhook/deploy",
        {"source": "web", "settings": {"url": stack.sink.url, "token": "t0ken"}},
    )
    event = {"type": "track", "event": "E1", "userId": "u1", "messageId": "m1"}
    code, _ = stack.call_api(
        "POST", "/v1/batch", {"batch": [event]}, headers={"Authorization": aws.basic(write_key)}
    )
    assert code == 200
    stack.sqs.send_message(QueueUrl=stack.names.queue_url, MessageBody=body)
    messages = stack.receive()
    assert len(messages) == 2
    assert stack.run_worker(messages) == []  # neither is retried
    assert stack.receive() == []
    assert stack.sink.requests == [{"auth": "Bearer t0ken", "body": {"event": "E1", "user": "u1"}}]
    [dead] = stack.receive(stack.names.dlq_url)
    assert json.loads(dead["Body"]) == {"malformed": body}  # the raw body, kept
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason == "malformed body: not a JSON object"


def test_an_event_holding_a_lone_surrogate_is_delivered_and_recorded_escaped(
    stack: Stack,
) -> None:
    """The worker Lambda parses each message with ``json_limits.loads_plain``: an event
    that is valid JSON but not valid UTF-8 is not called plain, so its delivery record
    mends it (escaped) instead of failing to be written; a plain one is taken as it is."""
    write_key = stack.ok("POST", "/v1/sources", {"name": "web"}, 201)["write_key"]
    stack.ok(
        "POST", "/v1/functions", {"files": {"handler.py": HANDLER, "function.toml": MANIFEST}}, 201
    )
    instance = stack.ok(
        "POST",
        "/v1/functions/e2e-webhook/deploy",
        {"source": "web", "settings": {"url": stack.sink.url, "token": "t0ken"}},
    )["instance"]
    batch = [
        {"type": "track", "event": "E1", "userId": "u1", "messageId": "m1"},
        {
            "type": "track",
            "event": "E2",
            "userId": "u2",
            "messageId": "m2",
            "properties": {"name": "Zo\ud800"},
        },
    ]
    code, accepted = stack.call_api(  # sent as ASCII JSON: the surrogate as \\ud800
        "POST", "/v1/batch", {"batch": batch}, headers={"Authorization": aws.basic(write_key)}
    )
    assert code == 200 and accepted["queued"] == 2, accepted
    assert stack.run_worker(stack.receive()) == []
    records = stack.ok("GET", f"/v1/instances/{instance['id']}/deliveries")["deliveries"]
    by_message = {r["message_id"]: r for r in records}
    assert {m: r["outcome"] for m, r in by_message.items()} == {
        "m1": "delivered",
        "m2": "delivered",
    }
    assert by_message["m2"]["event"]["properties"] == {"name": "Zo\\ud800"}
