"""The three ways the bench runs the same handler on the same events.

* ``sandbox``: the production path, ``WorkerPool.invoke`` into a worker process.
* ``plain``: ``bench.handler`` imported as plain Python and called in-process (no
  sandbox, no worker), its ``fetch`` sent on a kept-alive urllib3 pool in the same
  process (:func:`pooled_transport`): the fair baseline for the sandbox, whose
  ``fetch`` goes over the worker's pipe to the host's broker (also urllib3 pools).
* ``powertools``: a plain Lambda-style handler over SQS-shaped records, with
  Powertools' ``BatchProcessor`` and ``process_partial_response`` (skipped when
  ``aws_lambda_powertools`` is not installed).

Each path's ``prepare(events, batch)`` turns the events into calls (``batch=None``:
one call per event; otherwise calls of ``batch`` events) before the clock starts;
``run(calls)`` makes them and raises :class:`BenchError`
unless every event was delivered, so a broken setup never reports a fast number.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import urllib3

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_sdk import Settings
from functions_sdk._context import InvocationContext, Transport, activate
from functions_sdk.events import parse_event

from . import handler
from .workload import SECRET_NAMES

__all__ = [
    "BenchError",
    "Path",
    "PlainPath",
    "PowertoolsPath",
    "SandboxPath",
    "pooled_transport",
    "powertools_available",
    "sqs_event",
]


class BenchError(RuntimeError):
    """The bench could not measure what it meant to (an event was not delivered)."""


class Path(Protocol):
    name: str

    def prepare(self, events: Sequence[dict[str, Any]], batch: int | None) -> list[Any]:
        """The calls to make for ``events`` (built before the clock starts)."""
        ...

    def run(self, calls: Sequence[Any]) -> int:
        """Make the prepared calls; return how many events were delivered."""
        ...


def _chunks(events: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(events), size):
        yield list(events[start : start + size])


class SandboxPath:
    """``WorkerPool.invoke``: compile check, worker process, guards, pipes."""

    name = "sandbox"

    def __init__(self, pool: WorkerPool, spec: InstanceSpec) -> None:
        self.pool = pool
        self.spec = spec

    def prepare(
        self, events: Sequence[dict[str, Any]], batch: int | None
    ) -> list[tuple[list[dict[str, Any]], bool]]:
        if batch is None:
            return [([e], False) for e in events]
        return [(chunk, True) for chunk in _chunks(events, batch)]

    def run(self, calls: Sequence[tuple[list[dict[str, Any]], bool]]) -> int:
        delivered = 0
        for chunk, as_batch in calls:
            results = self.pool.invoke(self.spec, chunk, batch=as_batch)
            for result in results:
                if result["outcome"] != "delivered":
                    raise BenchError(f"sandbox: {result['outcome']}: {result['error']}")
            delivered += len(results)
        return delivered


def pooled_transport() -> Transport:
    """``fetch`` performed in-process on one urllib3 pool manager (connections kept
    alive): what a plain Python handler with a pooled HTTP client does. No address
    policy and no records: only the bench's own loopback sink is reached."""
    manager = urllib3.PoolManager(maxsize=2, retries=False)

    def send(request: dict[str, Any]) -> dict[str, Any]:
        body = request["body"]
        response = manager.request(
            request["method"],
            request["url"],
            body=None if body is None else str(body).encode("utf-8"),
            headers=dict(request["headers"]),
            redirect=False,
            timeout=request["timeout"] or 5.0,
        )
        return {
            "status": response.status,
            "headers": list(response.headers.items()),
            "body": response.data.decode("utf-8", "replace"),
            "url": request["url"],
        }

    return send


def _dispatch(raw: dict[str, Any], settings: Settings, transport: Transport) -> Any:
    """What the runtime does for one event, minus the sandbox: parse, context, call."""
    event = parse_event(raw)
    handle: Callable[[Any, Settings], Any] = getattr(handler, f"on_{event.type}")
    with activate(InvocationContext(secrets=settings.secret_values(), transport=transport)):
        return handle(event, settings)


class PlainPath:
    """The handler module imported and called in-process: the cost of the work itself."""

    name = "plain"

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings(settings, secret_names=SECRET_NAMES)
        self.transport = pooled_transport()

    def prepare(
        self, events: Sequence[dict[str, Any]], batch: int | None
    ) -> list[list[dict[str, Any]]]:
        return list(_chunks(events, batch or 1))

    def run(self, calls: Sequence[list[dict[str, Any]]]) -> int:
        delivered = 0
        for chunk in calls:
            for raw in chunk:
                _dispatch(raw, self.settings, self.transport)
                delivered += 1
        return delivered


def powertools_available() -> bool:
    try:
        importlib.import_module("aws_lambda_powertools.utilities.batch")
    except ImportError:
        return False
    return True


def sqs_event(bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A Lambda SQS event carrying ``bodies`` as JSON message bodies."""
    records: list[dict[str, Any]] = []
    for body in bodies:
        text = json.dumps(body)
        message_id = str(body.get("messageId", len(records)))
        records.append(
            {
                "messageId": message_id,
                "receiptHandle": f"AQEB{message_id}",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1732406400000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1732406400001",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # as SQS sends it
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:functions-deliveries",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


class PowertoolsPath:
    """A Lambda handler built the way Powertools recommends, called in-process."""

    name = "powertools"

    def __init__(self, settings: dict[str, Any]) -> None:
        batch_mod: Any = importlib.import_module("aws_lambda_powertools.utilities.batch")
        processor = batch_mod.BatchProcessor(event_type=batch_mod.EventType.SQS)
        process_partial_response = batch_mod.process_partial_response
        values = Settings(settings, secret_names=SECRET_NAMES)  # built once per cold start
        transport = pooled_transport()

        def record_handler(record: Any) -> Any:
            return _dispatch(json.loads(record.body), values, transport)

        def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            response: dict[str, Any] = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
            return response

        self.lambda_handler = lambda_handler

    def prepare(self, events: Sequence[dict[str, Any]], batch: int | None) -> list[dict[str, Any]]:
        """The Lambda events (SQS batches) for ``events``, built before timing."""
        return [sqs_event(chunk) for chunk in _chunks(events, batch or 1)]

    def run(self, calls: Sequence[dict[str, Any]]) -> int:
        delivered = 0
        for event in calls:
            response = self.lambda_handler(event, None)
            failures = response.get("batchItemFailures") or []
            if failures:
                raise BenchError(f"powertools: {len(failures)} records failed: {failures[:3]}")
            delivered += len(event["Records"])
        return delivered
