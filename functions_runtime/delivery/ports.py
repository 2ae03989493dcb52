"""Queue and delivery-record interfaces, each with an embedded and an AWS implementation.

The embedded queue is SQLite (WAL) with visibility timeouts, receive counts, scheduled
retries and a dead-letter table; the AWS queue is SQS with a redrive policy to a
dead-letter queue. Both pass ``tests/contract/test_queue_contract.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ..json_limits import COMPACT, make_safe

__all__ = [
    "DeadLetter",
    "Delivery",
    "DeliveryBackend",
    "DeliveryStore",
    "EncodedBody",
    "Job",
    "Outcome",
    "Queue",
    "QueueCounts",
    "SafeMemo",
    "Stats",
    "body_text",
]

Outcome = Literal["delivered", "filtered", "rejected", "retry", "failed", "invalid"]


@dataclass(frozen=True)
class Job:
    """A received message: its body, how often it was received, and how to settle it."""

    id: str
    body: dict[str, Any]
    receive_count: int  # 1 on first delivery: the attempt number
    sent_at: datetime  # when it was first queued (the age bound is measured from here)
    receipt: str  # opaque handle for ack / retry / dead_letter
    plain: bool = False
    """The queue checked the body's JSON text as it parsed it (``json_limits.loads_plain``):
    every value in it is one that ``make_safe`` returns unchanged, so its delivery
    records need not check the event again. False when not known."""


@dataclass(frozen=True)
class DeadLetter:
    id: str
    body: dict[str, Any]
    reason: str
    dead_at: datetime


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int
    dead: int


class EncodedBody(str):
    """A queue body that is already compact JSON text (ingest builds them around the
    event's text, which it encoded once to check it): queues store it as it is."""

    __slots__ = ()


def body_text(body: dict[str, Any] | EncodedBody) -> str:
    """A queue body as every queue stores it: compact, strict JSON (``ValueError`` for
    NaN and infinities, which SQS would refuse too), ASCII-only so that any Python
    string (even a lone surrogate) round-trips; an ``EncodedBody`` is that already."""
    if isinstance(body, EncodedBody):
        return str(body)
    return COMPACT.encode(body)


class Queue(Protocol):
    """At-least-once message queue."""

    def send(self, bodies: Sequence[dict[str, Any] | EncodedBody], delay_seconds: int = 0) -> None:
        """Queue every body durably before returning (raises if any was not queued)."""
        ...

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        """Up to ``max_messages`` visible jobs, hidden for ``visibility_timeout`` seconds."""
        ...

    def ack(self, job: Job) -> None:
        """Delete a job that was handled (a stale receipt is ignored)."""
        ...

    def retry(self, job: Job, delay_seconds: int) -> None:
        """Make the job visible again after ``delay_seconds``."""
        ...

    def dead_letter(self, job: Job, reason: str) -> None:
        """Move the job to the dead-letter queue."""
        ...

    def take_dead(
        self, match: Callable[[dict[str, Any]], bool], limit: int = 1000
    ) -> list[DeadLetter]:
        """Remove and return dead letters whose body ``match``es (for replay)."""
        ...

    def counts(self) -> QueueCounts:
        """Approximate numbers of visible, in-flight and dead messages."""
        ...


SafeMemo = dict[int, tuple[Any, Any]]
"""``id(value) -> (value, make_safe(value))``: what the records of one call checked."""


class Delivery(BaseModel):
    """What happened to one event at one instance, on one attempt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    workspace_id: str
    instance_id: str
    version_id: str | None = None
    message_id: str
    event_type: str | None = None
    outcome: Outcome
    attempt: int = 1
    error: dict[str, Any] | None = None
    logs: list[str] = Field(default_factory=list)
    requests: list[dict[str, Any]] = Field(default_factory=list)
    duration_ms: float = 0.0
    at: datetime
    event: Any = None  # the event as received (for replay of filtered / rejected ones)

    @field_validator("error", "logs", "requests", "event", mode="before")
    @classmethod
    def _writable(cls, value: Any, info: ValidationInfo) -> Any:
        """Whatever a handler logged or an event held, a record can always be written:
        lone surrogates escaped, non-finite numbers named, nesting past
        ``json_limits.MAX_DEPTH`` levels cut (see ``json_limits.make_safe``).

        Validation context, both optional: ``plain_event`` True takes the event as it is
        (its job's queue checked it, ``Job.plain``); ``memo``, a :data:`SafeMemo` shared
        by the records of one call, checks a list or dict that several of them hold (an
        ``on_batch`` call's logs and requests) once."""
        context = info.context or {}
        if info.field_name == "event" and context.get("plain_event"):
            return value
        memo: SafeMemo | None = context.get("memo")
        if memo is None or not isinstance(value, list | dict) or not value:
            return make_safe(value)
        seen = memo.get(id(value))
        if seen is None or seen[0] is not value:  # the memo holds the value: ids stay unique
            seen = memo[id(value)] = (value, make_safe(value))
        return seen[1]


@dataclass(frozen=True)
class Stats:
    """``counts`` and ``total`` count attempts (one record each, retries included);
    ``events`` counts the distinct messages they were for."""

    counts: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    total: int
    events: int = 0


class DeliveryStore(Protocol):
    """Delivery records per instance (newest first), with per-outcome statistics."""

    def record(self, delivery: Delivery) -> None: ...

    def list(
        self,
        workspace_id: str,
        instance_id: str,
        *,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Delivery]: ...

    def stats(
        self, workspace_id: str, instance_id: str, since: datetime | None = None
    ) -> Stats: ...


@dataclass(frozen=True)
class DeliveryBackend:
    """The queue, the delivery records and the idempotency table of one deployment.

    ``idempotency`` is a Powertools idempotency persistence layer (DynamoDB on AWS,
    SQLite embedded), used with ``idempotent_function`` so that a message already
    delivered to an instance is not delivered again within the window.

    ``transaction()`` groups the delivery records' and idempotency writes made inside
    it (on this thread) into one all-or-nothing commit where the backend can (SQLite);
    the queue is not part of it. ``deferred()`` holds blind writes (no result read back)
    of all three parts until the block ends, then commits the records' and idempotency
    writes before the queue's, so that no job is settled without its record (embedded:
    two commits, one per file). On AWS each write stays its own request and the blocks
    only mark where a group ends.
    """

    queue: Queue
    deliveries: DeliveryStore
    idempotency: Any
    transaction: Callable[[], AbstractContextManager[None]] = field(default=nullcontext)
    deferred: Callable[[], AbstractContextManager[None]] = field(default=nullcontext)
