"""``functions lambda-invoke --pipeline -e EVENT``: one event through the whole AWS path
on local AWS, each hop printed:

0. setup: a webhook function deployed to the ``sample-site`` source, pointed at a local
   HTTP sink on 127.0.0.1 (the worker's sandbox may reach it: ``FUNCTIONS_HTTP_ALLOW``);
1. ``ApiFunction`` on the event (an API Gateway event, e.g. ``api-track.json``);
2. the messages it queued, received from the delivery queue as the event source
   mapping receives them;
3. ``WorkerFunction`` on that SQS batch;
4. what the sink received.

Exit status 0 when every hop worked and the sink received the events, else 1.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .local_invoke import LambdaInvokeError

__all__ = ["SINK_FUNCTION", "run_pipeline", "sqs_event"]

SINK_FUNCTION = """
from functions_sdk import IdentifyEvent, Settings, TrackEvent, fetch


def _send(body: dict[str, object], settings: Settings) -> dict[str, int]:
    response = fetch(settings.get_str("url"), method="POST", json=body, retry_on_status=True)
    return {"status": response.status}


def on_track(event: TrackEvent, settings: Settings) -> dict[str, int]:
    return _send({"type": "track", "event": event.event, "id": event.messageId}, settings)


def on_identify(event: IdentifyEvent, settings: Settings) -> dict[str, int]:
    return _send({"type": "identify", "user": event.userId, "id": event.messageId}, settings)
"""


@contextmanager
def _sink() -> Iterator[tuple[str, list[str]]]:
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            received.append(f"{self.command} {self.path} {self.rfile.read(size).decode()}")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/in", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _deploy(aws: Any, url: str) -> str:
    """The sink function on ``sample-site``; returns the instance id."""
    from ..control.auth import Principal
    from ..control.aws import AwsNames, aws_backend
    from ..control.service import ControlPlane
    from ..sandbox.host.pool import WorkerPool

    v = aws.variables
    names = AwsNames(v["FUNCTIONS_TABLE"], v["FUNCTIONS_CODE_BUCKET"], v["FUNCTIONS_KMS_KEY_ID"])
    backend = aws_backend(aws.client("dynamodb"), aws.client("s3"), aws.client("kms"), names)
    who = Principal(key_id="local-pipeline", workspace_id=aws.workspace_id, admin=False)
    with WorkerPool(max_workers=1, spares=0) as pool:
        plane = ControlPlane(backend, pool)
        source = plane.find_source(aws.workspace_id, "sample-site")
        function, _ = plane.create_function(
            who, aws.workspace_id, files={"handler.py": SINK_FUNCTION}, name="pipeline-sink"
        )
        instance = plane.deploy(
            who, aws.workspace_id, function.id, source_id=source.id, settings={"url": url}
        )
    return instance.id


def sqs_event(messages: list[dict[str, Any]], queue_url: str, region: str) -> dict[str, Any]:
    """The event the SQS event source mapping sends for ``messages``."""
    name = queue_url.rstrip("/").rsplit("/", 1)[1]
    arn = f"arn:aws:sqs:{region}:123456789012:{name}"
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def _receive(aws: Any) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=aws.variables["FUNCTIONS_QUEUE_URL"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=120,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return found
        found.extend(batch)


def _hop(number: int, text: str) -> None:
    print(f"{number} {text}", flush=True)


def run_pipeline(session: Any, event: Any) -> int:
    aws = session.aws
    if aws is None:
        raise LambdaInvokeError(
            "--pipeline runs on local AWS: leave out --aws and unset AWS_ENDPOINT_URL"
        )
    with _sink() as (url, received):
        try:
            instance = _deploy(aws, url)
        except Exception as exc:  # setup on local AWS: say what failed, on one line
            raise LambdaInvokeError(f"pipeline setup failed: {exc}") from exc
        _hop(0, f"setup: local AWS at {aws.endpoint}; pipeline-sink ({instance}) -> {url}")
        code = session.call("ApiFunction", event)
        reply = session.result
        body = reply.get("body") if isinstance(reply, dict) else reply
        _hop(1, f"api: ApiFunction -> {reply.get('statusCode')} {body}")
        if code:
            return 1
        messages = _receive(aws)
        _hop(2, f"queue: {len(messages)} message(s) on {aws.variables['FUNCTIONS_QUEUE_URL']}")
        if not messages:
            print("functions: error: the API queued nothing", flush=True)
            return 1
        batch = sqs_event(messages, aws.variables["FUNCTIONS_QUEUE_URL"], session.region)
        code = session.call("WorkerFunction", batch, {"FUNCTIONS_HTTP_ALLOW": "127.0.0.1"})
        _hop(3, f"worker: WorkerFunction -> {json.dumps(session.result)}")
        for line in received:
            _hop(4, f"sink: {line}")
        failures = isinstance(session.result, dict) and session.result.get("batchItemFailures")
        if code or failures or not received:
            print("functions: error: the worker did not deliver to the sink", flush=True)
            return 1
    return 0
