"""Scenario coldstart: a cold worker Lambda's first event, end to end (issue 16 §2).

Local AWS (a moto server in this process, ``functions_runtime.lambdas.local_aws``) with
the template's resources; the sink function of ``lambda-invoke --pipeline`` deployed to
the sample source and pointed at the bench's sink. Per repeat, one track event goes in
through the runtime's ``Ingest`` and is received from the queue as the event source
mapping would; then a fresh ``python -c`` (the template's environment, local AWS's
endpoint) imports ``functions_runtime.lambdas.worker`` and calls its ``handler`` on that
SQS event: the import (init: the zygote and isolation probe included) and the first
event are timed in the child, wall and CPU (the child's own CPU; the zygote and the
worker it forks are other processes), and the child's whole life from the parent.
A second fresh process imports ``functions_runtime.lambdas.api`` and calls its ``handler``
on one API Gateway (payload 2.0) request, ``GET /v1/sources`` with the sample admin key
(an authenticated DynamoDB read): the API Lambda's import and first request.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cold import ROOT, lambda_environment
from .paths import BenchError
from .stats import summary

__all__ = ["Stack", "local_stack", "render_coldstart", "run_coldstart"]

_CHILD = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import {module} as m
t1, c1 = time.perf_counter(), time.process_time()
out = {{"import_ms": (t1 - t0) * 1000, "import_cpu_ms": (c1 - c0) * 1000}}
class Ctx:
    function_name = "BenchFunction"; memory_limit_in_mb = 2048; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def get_remaining_time_in_millis(self): return 300000
event = json.load(open(sys.argv[1]))
reply = m.handler(event, Ctx())
t2, c2 = time.perf_counter(), time.process_time()
out.update(event_ms=(t2 - t1) * 1000, event_cpu_ms=(c2 - c1) * 1000, reply=reply)
m.runtime.pool.close()
print("BENCH " + json.dumps(out))
"""


def _child(module: str, event_path: str, env: dict[str, str]) -> dict[str, Any]:
    import time

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(module=module), event_path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    total = (time.perf_counter() - started) * 1000
    lines = [x for x in done.stdout.splitlines() if x.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"cold {module} failed: {done.stderr.strip()[-800:]}")
    found: dict[str, Any] = json.loads(lines[-1][6:])
    found["process_ms"] = total
    return found


@dataclass
class Stack:
    """Local AWS with the sink function deployed: the Lambdas' environment, and each
    call of :meth:`sqs_event` queues one track event through the runtime's ingest and
    writes the SQS event that delivers it to a file."""

    aws: Any
    env: dict[str, str]
    tmp: Path
    api_request: Path
    queue_one: Callable[[int], list[dict[str, Any]]]

    def sqs_event(self, i: int) -> Path:
        from functions_runtime.lambdas.local_pipeline import sqs_event

        url = self.aws.variables["FUNCTIONS_QUEUE_URL"]
        path = Path(self.tmp, f"event-{i}.json")
        path.write_text(json.dumps(sqs_event(self.queue_one(i), url, self.aws.region)))
        return path


@contextmanager
def local_stack(sink_url: str) -> Iterator[Stack]:
    from functions_runtime.api.local import to_apigw_event
    from functions_runtime.control.aws import aws_backend, names_from_env
    from functions_runtime.delivery.aws import aws_delivery, delivery_names_from_env
    from functions_runtime.delivery.ingest import Ingest
    from functions_runtime.lambdas.local_aws import ADMIN_KEY, SAMPLE_SOURCE, WRITE_KEY, local_aws
    from functions_runtime.lambdas.local_pipeline import _deploy

    with local_aws() as aws, tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        _deploy(aws, sink_url)
        env = {**lambda_environment(), **aws.environ(), **aws.variables}
        env["FUNCTIONS_HTTP_ALLOW"] = "127.0.0.1"
        sqs = aws.client("sqs")
        auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        dynamodb, s3, kms = (aws.client(n) for n in ("dynamodb", "s3", "kms"))
        backend = aws_backend(dynamodb, s3, kms, names_from_env(env))
        delivery = aws_delivery(sqs, dynamodb, delivery_names_from_env(env))
        ingest = Ingest(backend.metadata, delivery.queue, delivery.deliveries)
        request = Path(tmp, "request.json")
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        request.write_text(
            json.dumps(to_apigw_event("GET", "/v1/sources", headers, b"", "127.0.0.1"))
        )

        def queue_one(i: int) -> list[dict[str, Any]]:
            body = json.dumps(
                {"type": "track", "event": "Cold", "userId": f"u{i}", "messageId": f"c{i}"}
            ).encode()
            ingest.accept(
                "track",
                body,
                authorization=auth,
                content_type="application/json",
                content_encoding=None,
            )
            messages: list[dict[str, Any]] = sqs.receive_message(
                QueueUrl=aws.variables["FUNCTIONS_QUEUE_URL"],
                MaxNumberOfMessages=10,
                VisibilityTimeout=120,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                raise BenchError(f"coldstart: nothing queued for {SAMPLE_SOURCE}")
            return messages

        yield Stack(aws, env, Path(tmp), request, queue_one)


def run_coldstart(repeat: int, sink_url: str) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {"worker": [], "api": []}
    with local_stack(sink_url) as stack:
        for i in range(repeat):
            path = stack.sqs_event(i)
            found = _child("functions_runtime.lambdas.worker", str(path), stack.env)
            if found["reply"].get("batchItemFailures"):
                raise BenchError(f"coldstart: not delivered: {found['reply']}")
            rows["worker"].append(found)
            api = _child("functions_runtime.lambdas.api", str(stack.api_request), stack.env)
            if api["reply"].get("statusCode") != 200:
                raise BenchError(f"coldstart: API request failed: {api['reply']}")
            rows["api"].append(api)
        from .coldstart_rie import run_coldstart_rie

        emulated = run_coldstart_rie(repeat, stack)
    figures: dict[str, Any] = {}
    for name, runs in rows.items():
        for key in ("import_ms", "import_cpu_ms", "event_ms", "event_cpu_ms", "process_ms"):
            values = [r[key] for r in runs if key in r]
            if values:
                figures[f"{name}_{key}"] = summary(values, digits=1)
    for name in rows:
        first = [r["import_ms"] + r["event_ms"] for r in rows[name]]
        figures[f"{name}_first_event_ms"] = summary(first, digits=1)
        first_cpu = [r["import_cpu_ms"] + r["event_cpu_ms"] for r in rows[name]]
        figures[f"{name}_first_event_cpu_ms"] = summary(first_cpu, digits=1)
    figures.update(emulated)
    return figures


def render_coldstart(figures: dict[str, Any]) -> str:
    lines = ["Lambda cold start (fresh python -c per run, local AWS): median [min-max]"]
    for key, value in figures.items():
        if isinstance(value, dict):
            lines.append(
                f"  {key:36s} {value['median']:9.1f} [{value['min']:.1f}-{value['max']:.1f}]"
            )
    if "skipped" in figures:
        lines.append(f"  under the Lambda emulator: skipped ({figures['skipped']})")
    lines.append("  targets: import < 300 ms each; worker import + first event < 600 ms")
    lines.append("  (api_event: its first request, GET /v1/sources; reported, no target)")
    lines.append(
        "  (rie_*: a fresh emulator's first invoke, Python 3.12, code as built for Lambda)"
    )
    return "\n".join(lines) + "\n"
