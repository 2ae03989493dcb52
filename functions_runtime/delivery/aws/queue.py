"""The SQS queue of the AWS delivery backend (layout and IAM actions in ``aws.py``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from ...control.ports import StoreError
from ..ports import DeadLetter, EncodedBody, Job, QueueCounts, body_text
from .faults import BotoCoreError, ClientError, error_code, translate
from .messages import (
    DEAD_ATTRIBUTES,
    MAX_BATCH,
    REDRIVE_REASON,
    batches,
    dead_attributes,
    dead_letter_of,
    from_millis,
    plain_object,
)

__all__ = ["REDRIVE_REASON", "SqsQueue"]

MAX_DELAY = 900  # DelaySeconds
MAX_VISIBILITY = 43_200  # a message's total visibility timeout: 12 hours
DEAD_VISIBILITY = 30  # how long take_dead holds the dead letters it looks at
_SYSTEM = ["ApproximateReceiveCount", "SentTimestamp"]
# A receipt that no longer settles anything: the message is gone, or back in the queue.
_STALE = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
    }
)


class SqsQueue:
    """The ``Queue`` port on an SQS queue and its dead-letter queue.

    With ``serialize`` (the default) one queue sends one request at a time: SQS needs no
    help, but moto (tests, local runs) receives without a lock, so two threads could get
    the same message. ``dead_wait_seconds`` is the long poll of ``take_dead``: SQS short
    polling samples a subset of its servers and may answer "empty" for a small queue
    that is not, so only a long poll's empty answer ends a scan of the dead letters.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        dlq_url: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        serialize: bool = True,
        dead_wait_seconds: int = 1,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self._clock = clock
        self._dead_wait = dead_wait_seconds
        self._serial: AbstractContextManager[object] = (
            threading.Lock() if serialize else nullcontext()
        )

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        with self._serial:
            response: dict[str, Any] = getattr(self._sqs, method)(**params)
        return response

    # -- sending -------------------------------------------------------------------------

    def send(self, bodies: Sequence[dict[str, Any] | EncodedBody], delay_seconds: int = 0) -> None:
        """Queue every body (JSON) before returning; ``StoreError`` if any was not queued.

        Bodies go in batches of up to 10 (and 1 MiB); entries that SQS refuses are sent
        once more, then the call fails. Earlier batches stay queued: the caller reports a
        failure, its client sends again, and the idempotency layer absorbs the repeat.
        """
        if not 0 <= delay_seconds <= MAX_DELAY:
            raise ValueError(f"delay_seconds must be 0 to {MAX_DELAY} (SQS DelaySeconds)")
        texts = [body_text(body) for body in bodies]  # all or none: raises before sending
        for batch in batches(texts):
            self._send_batch(batch, delay_seconds)

    def _send_batch(self, texts: list[str], delay_seconds: int) -> None:
        entries = {
            str(i): {"Id": str(i), "MessageBody": text, "DelaySeconds": delay_seconds}
            for i, text in enumerate(texts)
        }
        failed: list[dict[str, Any]] = []
        for _ in range(2):  # the first try, and one more for the entries that failed
            with translate("queue send"):
                response = self._call(
                    "send_message_batch", QueueUrl=self.queue_url, Entries=list(entries.values())
                )
            failed = list(response.get("Failed") or [])
            entries = {f["Id"]: entries[f["Id"]] for f in failed if f.get("Id") in entries}
            if not entries:
                return
        first = failed[0]
        raise StoreError(
            f"queue send failed: {len(entries)} of {len(texts)} messages not queued "
            f"({first.get('Code')}: {first.get('Message', '')}); nothing was acknowledged, "
            "send them again"
        )

    # -- receiving and settling ----------------------------------------------------------

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        """Up to ``max_messages`` jobs (several ReceiveMessage calls for more than 10).

        A message whose body is not a JSON object can never be handled: it is moved to
        the dead-letter queue at once instead of being returned.
        """
        if not 0 <= visibility_timeout <= MAX_VISIBILITY:
            raise ValueError(f"visibility_timeout must be 0 to {MAX_VISIBILITY} seconds")
        jobs: list[Job] = []
        seen: set[str] = set()
        while len(jobs) < max_messages:
            ask = min(MAX_BATCH, max_messages - len(jobs))
            with translate("queue receive"):
                messages = self._call(
                    "receive_message",
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=ask,
                    VisibilityTimeout=visibility_timeout,
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=_SYSTEM,
                ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            for message in fresh:
                seen.add(message["MessageId"])
                job = self._job(message)
                if job is not None:
                    jobs.append(job)
            if len(messages) < ask or not fresh:  # drained (for now), or seeing repeats
                break
        return jobs

    def _job(self, message: dict[str, Any]) -> Job | None:
        attributes = message.get("Attributes", {})
        body, plain = plain_object(message["Body"])
        if body is None:
            self._bury(message["MessageId"], message["Body"], "malformed body: not a JSON object")
            self._delete(self.queue_url, message["ReceiptHandle"], "queue ack")
            return None
        return Job(
            id=message["MessageId"],
            body=body,
            receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
            sent_at=from_millis(attributes.get("SentTimestamp")) or self._clock(),
            receipt=message["ReceiptHandle"],
            plain=plain,
        )

    def ack(self, job: Job) -> None:
        self._delete(self.queue_url, job.receipt, "queue ack")

    def retry(self, job: Job, delay_seconds: int) -> None:
        """Hide the job for ``delay_seconds`` (at most 12 hours) from now.

        SQS caps a message's total visibility at 12 hours; if the delay would pass that,
        the job is hidden for what is left. A stale receipt (the job is back in the queue
        or with another receiver) is ignored: it will be received again either way.
        """
        delay = min(max(0, int(delay_seconds)), MAX_VISIBILITY)
        if self._hide(job.receipt, delay) != "InvalidParameterValue":
            return
        # Over the 12-hour cap (counted from the receive on SQS, from the send on moto):
        # the time left measured from the send is within both.
        left = MAX_VISIBILITY - math.ceil((self._clock() - job.sent_at).total_seconds()) - 5
        if 0 < left < delay:
            self._hide(job.receipt, left)

    def _hide(self, receipt: str, seconds: int) -> str | None:
        """ChangeMessageVisibility; the error code when SQS refused the value or the
        receipt (``InvalidParameterValue`` or a stale receipt), else None."""
        try:
            self._call(
                "change_message_visibility",
                QueueUrl=self.queue_url,
                ReceiptHandle=receipt,
                VisibilityTimeout=seconds,
            )
            return None
        except ClientError as exc:
            code = error_code(exc)
            if code in _STALE or code == "InvalidParameterValue":
                return code
            with translate("queue retry"):
                raise

    def dead_letter(self, job: Job, reason: str) -> None:
        """Send the body to the dead-letter queue (with ``reason``, ``dead_at`` and the
        job's id as message attributes), then delete it from the queue."""
        self._bury(job.id, body_text(job.body), reason)
        self._delete(self.queue_url, job.receipt, "queue dead-letter")

    def _bury(self, job_id: str, text: str, reason: str) -> None:
        with translate("queue dead-letter"):
            self._call(
                "send_message",
                QueueUrl=self.dlq_url,
                MessageBody=text,
                MessageAttributes=dead_attributes(job_id, reason, self._clock()),
            )

    def _delete(self, url: str, receipt: str, operation: str) -> None:
        try:
            self._call("delete_message", QueueUrl=url, ReceiptHandle=receipt)
        except ClientError as exc:
            if error_code(exc) not in _STALE:
                with translate(operation):
                    raise

    # -- dead letters ----------------------------------------------------------------------

    def take_dead(
        self, match: Callable[[dict[str, Any]], bool], limit: int = 1000
    ) -> list[DeadLetter]:
        """Delete and return up to ``limit`` dead letters whose body ``match``es.

        Receives from the dead-letter queue until it answers empty (or repeats itself),
        holding the ones that do not match hidden meanwhile so that each is looked at
        once, and makes those visible again at the end. SQS has no order: with a
        ``limit``, which matching letters are taken is arbitrary; they are returned
        oldest first.
        """
        taken: list[DeadLetter] = []
        held: dict[str, str] = {}  # message id -> latest receipt, of letters left in place
        seen: set[str] = set()
        try:
            while len(taken) < limit:
                with translate("dead-letter receive"):
                    messages = self._call(
                        "receive_message",
                        QueueUrl=self.dlq_url,
                        MaxNumberOfMessages=min(MAX_BATCH, limit - len(taken)),
                        VisibilityTimeout=DEAD_VISIBILITY,
                        WaitTimeSeconds=self._dead_wait,
                        MessageSystemAttributeNames=["SentTimestamp"],
                        MessageAttributeNames=DEAD_ATTRIBUTES,
                    ).get("Messages", [])
                fresh = False
                for message in messages:
                    message_id = message["MessageId"]
                    if message_id in seen:  # its hold lapsed during a long scan
                        held[message_id] = message["ReceiptHandle"]
                        continue
                    seen.add(message_id)
                    fresh = True
                    held[message_id] = message["ReceiptHandle"]  # until it is taken
                    dead = dead_letter_of(message, self._clock())
                    if dead is not None and match(dead.body):
                        self._delete(self.dlq_url, held.pop(message_id), "dead-letter take")
                        taken.append(dead)
                if not fresh:
                    break
        finally:
            self._release(list(held.values()))
        return sorted(taken, key=lambda dead: dead.dead_at)

    def _release(self, receipts: list[str]) -> None:
        """Make held dead letters visible again; best effort (their hold lapses anyway)."""
        for start in range(0, len(receipts), MAX_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
                for i, receipt in enumerate(receipts[start : start + MAX_BATCH])
            ]
            try:
                self._call(
                    "change_message_visibility_batch", QueueUrl=self.dlq_url, Entries=entries
                )
            except (ClientError, BotoCoreError):
                continue

    def counts(self) -> QueueCounts:
        """Approximate, as SQS reports them: visible messages; in flight, every message
        not visible yet (received and not settled, waiting for a retry, or sent with a
        delay), as the embedded queue counts them; dead letters, visible or held by a
        replay in progress."""
        with translate("queue counts"):
            main = self._call(
                "get_queue_attributes",
                QueueUrl=self.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            dead = self._call(
                "get_queue_attributes",
                QueueUrl=self.dlq_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
        return QueueCounts(
            visible=int(main.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(main.get("ApproximateNumberOfMessagesNotVisible", 0))
            + int(main.get("ApproximateNumberOfMessagesDelayed", 0)),
            dead=int(dead.get("ApproximateNumberOfMessages", 0))
            + int(dead.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )
