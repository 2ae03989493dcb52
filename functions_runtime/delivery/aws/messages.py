"""SQS messages of the AWS delivery backend: send batches, bodies, and the attributes
that a dead letter carries (layout in ``aws.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ...json_limits import loads_plain
from ..ports import DeadLetter

__all__ = [
    "DEAD_ATTRIBUTES",
    "MAX_BATCH",
    "MAX_BATCH_BYTES",
    "MAX_REASON",
    "REDRIVE_REASON",
    "batches",
    "dead_attributes",
    "dead_letter_of",
    "from_millis",
    "json_object",
    "plain_object",
]

MAX_BATCH = 10  # messages per SendMessageBatch / ReceiveMessage
MAX_BATCH_BYTES = 1_048_576  # total payload of one SendMessageBatch
MAX_REASON = 1000  # characters of a dead-letter reason kept in its message attribute
REDRIVE_REASON = "redrive: receive count exceeded"
DEAD_ATTRIBUTES = ["reason", "dead_at", "job_id"]


def batches(texts: list[str]) -> Iterator[list[str]]:
    """Consecutive runs of at most 10 texts and 1 MiB (a larger text goes alone, for SQS
    to refuse with its own message)."""
    batch: list[str] = []
    size = 0
    for text in texts:
        length = len(text.encode())
        if batch and (len(batch) == MAX_BATCH or size + length > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += length
    if batch:
        yield batch


def json_object(text: str) -> dict[str, Any] | None:
    """The body as a dict, or None when it is not a JSON object."""
    return plain_object(text)[0]


def plain_object(text: str) -> tuple[dict[str, Any] | None, bool]:
    """The body as a dict and whether its values are plain (``Job.plain``, told by
    ``json_limits.loads_plain``); ``(None, False)`` when it is not a JSON object."""
    try:
        value, plain = loads_plain(text)
    except ValueError:
        return None, False
    return (value, plain) if isinstance(value, dict) else (None, False)


def from_millis(value: str | None) -> datetime | None:
    """An SQS timestamp attribute (epoch milliseconds) as a UTC datetime."""
    try:
        return datetime.fromtimestamp(int(value or "") / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _from_iso(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dead_attributes(job_id: str, reason: str, dead_at: datetime) -> dict[str, Any]:
    """The message attributes of a dead letter that the worker moved itself."""

    def text(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": value}

    return {
        "reason": text(reason.strip()[:MAX_REASON] or "unknown"),
        "dead_at": text(dead_at.astimezone(UTC).isoformat()),
        "job_id": text(job_id),
    }


def dead_letter_of(message: dict[str, Any], now: datetime) -> DeadLetter | None:
    """A message received from the dead-letter queue, or None if its body is unreadable.

    One moved by the redrive policy has no attributes: its id is its MessageId (SQS
    keeps it), its reason ``REDRIVE_REASON``, its time of death its SentTimestamp.
    """
    body = json_object(message["Body"])
    if body is None:
        return None
    attributes = {
        name: str(value.get("StringValue", ""))
        for name, value in message.get("MessageAttributes", {}).items()
    }
    sent = from_millis(message.get("Attributes", {}).get("SentTimestamp"))
    return DeadLetter(
        id=attributes.get("job_id") or message["MessageId"],
        body=body,
        reason=attributes.get("reason") or REDRIVE_REASON,
        dead_at=_from_iso(attributes.get("dead_at")) or sent or now,
    )
