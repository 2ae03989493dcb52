"""The AWS delivery backend: SQS with a dead-letter queue, DynamoDB for records and
idempotency.

``aws_delivery(sqs, dynamodb, names)`` bundles the queue, the delivery records and
Powertools' idempotency layer; the boto3 low-level clients are passed in, never created
here. ``delivery_names_from_env`` reads the names that ``template.yaml`` gives the Lambda
functions; ``provision_delivery`` creates the same resources for tests (moto) and local
use, under ``<prefix>-functions-…`` names.

Queue (``FUNCTIONS_QUEUE_URL``): standard SQS, VisibilityTimeout 60 s, retention 4
days, RedrivePolicy to the dead-letter queue with maxReceiveCount 10. The redrive is a
backstop for messages that crash the worker; the worker dead-letters a job itself once
its own attempt limit is reached. Bodies are JSON objects; a body that is not one is
moved to the dead-letter queue when it is received. ``Job.id`` is the SQS MessageId,
``receive_count`` its ApproximateReceiveCount, ``sent_at`` its SentTimestamp.

Dead-letter queue (``FUNCTIONS_DLQ_URL``): retention 14 days. ``dead_letter`` sends the
body unchanged with the String message attributes ``reason`` (at most 1000 characters),
``dead_at`` (ISO 8601, UTC) and ``job_id`` (the MessageId on the main queue), then
deletes the job from the main queue. A message moved by the redrive policy has none of
them: its reason reads ``redrive: receive count exceeded`` and its ``dead_at`` is its
SentTimestamp.

Deliveries table (``FUNCTIONS_DELIVERIES_TABLE``): on-demand, string keys ``pk`` (hash)
and ``sk`` (range), TTL on ``expires_at``::

    pk                  sk                                   other attributes
    INST#<instance>     <at, epoch µs, 20 digits>#<id>       data (the Delivery's JSON),
                                                             workspace_id, outcome,
                                                             duration_ms (N), expires_at
                                                             (N, epoch s, written + 30 d),
                                                             requests (a request set's id)
    REQS#<id>           requests                             data (a record's outgoing
                                                             requests, JSON), workspace_id,
                                                             expires_at (N: no earlier than
                                                             any record naming it)

A record with ``requests`` leaves them out of its ``data``: they are the request set's
(one per workspace and distinct list, the id a hash of both), which every record of an
``on_batch`` call shares; ``list`` reads the sets with ``BatchGetItem``.

Reads Query one instance's partition newest first (``since`` is ``sk >=``) and filter on
``workspace_id`` (and ``outcome``), so another workspace's id finds nothing.

Idempotency table (``FUNCTIONS_IDEMPOTENCY_TABLE``): the shape Powertools'
``DynamoDBPersistenceLayer`` expects by default: on-demand, string hash key ``id``, TTL
on ``expiration``. The layer is ``DeliveryIdempotency``, that class with one change:
outside a registered Lambda context an in-progress record expires after 60 s instead
of blocking its key for the whole idempotency window (and Powertools' warning).

IAM actions the code calls at run time, and nothing else (``SendMessageBatch`` and
``ChangeMessageVisibilityBatch`` are authorized as ``SendMessage`` and
``ChangeMessageVisibility``):

- on the queue: ``sqs:SendMessage`` (``send``), ``sqs:ReceiveMessage`` (``receive``),
  ``sqs:DeleteMessage`` (``ack``, ``dead_letter``), ``sqs:ChangeMessageVisibility``
  (``retry``), ``sqs:GetQueueAttributes`` (``counts``). A Lambda SQS event source
  mapping also needs ``ReceiveMessage``, ``DeleteMessage`` and ``GetQueueAttributes``
  there, in the function's role.
- on the dead-letter queue: ``sqs:SendMessage`` (``dead_letter``, and a malformed body
  met by ``receive``), ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and
  ``sqs:ChangeMessageVisibility`` (``take_dead``), ``sqs:GetQueueAttributes``
  (``counts``).
- on the deliveries table: ``dynamodb:PutItem`` (``record``, its request set too),
  ``dynamodb:Query`` (``list``, ``stats``), ``dynamodb:BatchGetItem`` (``list``: the
  records' request sets).
- on the idempotency table, called by Powertools' idempotency layer:
  ``dynamodb:GetItem``, ``dynamodb:PutItem``, ``dynamodb:UpdateItem``,
  ``dynamodb:DeleteItem``.
- on the store table (``FUNCTIONS_STORE_TABLE``, ``store.py``: ``functions_sdk.store``,
  pk the instance's scope, sk the key, TTL on ``expires_at``): ``dynamodb:GetItem``
  (``get``, ``incr``), ``dynamodb:PutItem`` (``put``, ``incr``), ``dynamodb:DeleteItem``
  (``delete``), ``dynamodb:Query`` (one instance's usage, before a write).
- none for KMS: the queues use SQS-managed encryption (SSE-SQS). With a customer
  managed key instead, senders need ``kms:GenerateDataKey`` and receivers
  ``kms:Decrypt`` on it.

Who calls what: ingest only ``send`` (SendMessage on the queue); the worker ``receive``,
``ack``, ``retry``, ``dead_letter``, ``record`` and the idempotency layer; the control
plane ``list``, ``stats``, ``counts`` and, to replay, ``take_dead`` then ``send``; the
store table: the worker (handlers' ``store`` calls) and the API (webhook source
functions run there); test runs from the API use an in-memory store instead.

``provision_delivery`` alone (tests, local use; never a Lambda role) also calls
``sqs:CreateQueue``, ``sqs:GetQueueUrl`` (``provision_store`` too), ``sqs:GetQueueAttributes``,
``dynamodb:CreateTable``, ``dynamodb:DescribeTable``, ``dynamodb:DescribeTimeToLive``
and ``dynamodb:UpdateTimeToLive``.

Every botocore error becomes a ``StoreError`` (``control.ports``) naming the operation
and the AWS error code, except a stale receipt in ``ack``, ``retry`` and
``dead_letter``, which is ignored: the message is gone or will be received again.

Imports: the delivery and control cores, ``control.aws``, botocore and Powertools; never
the embedded backends or anything above ``delivery``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...control.ports import StoreError
from ..ports import DeliveryBackend
from .faults import ClientError, error_code, translate
from .queue import REDRIVE_REASON, SqsQueue
from .records import DynamoDeliveryStore

if TYPE_CHECKING:
    from .idempotency import DeliveryIdempotency

__all__ = [
    "REDRIVE_REASON",
    "DeliveryIdempotency",
    "DeliveryNames",
    "DynamoDeliveryStore",
    "SqsQueue",
    "aws_delivery",
    "delivery_names_from_env",
    "provision_delivery",
]

# The variables template.yaml sets, by DeliveryNames field.
ENV_VARS = {
    "queue_url": "FUNCTIONS_QUEUE_URL",
    "dlq_url": "FUNCTIONS_DLQ_URL",
    "deliveries_table": "FUNCTIONS_DELIVERIES_TABLE",
    "idempotency_table": "FUNCTIONS_IDEMPOTENCY_TABLE",
}

VISIBILITY_TIMEOUT = 60
QUEUE_RETENTION = 4 * 24 * 3600
DLQ_RETENTION = 14 * 24 * 3600
MAX_RECEIVE_COUNT = 10
_SSE = {"SqsManagedSseEnabled": "true"}  # encrypted at rest with SQS-owned keys

# Lower case, digits and inner hyphens: valid in queue and table names.
_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


@dataclass(frozen=True)
class DeliveryNames:
    """The four resources of the AWS delivery backend."""

    queue_url: str
    dlq_url: str
    deliveries_table: str
    idempotency_table: str


def delivery_names_from_env(env: Mapping[str, str]) -> DeliveryNames:
    """The names from ``FUNCTIONS_QUEUE_URL``, ``FUNCTIONS_DLQ_URL``,
    ``FUNCTIONS_DELIVERIES_TABLE`` and ``FUNCTIONS_IDEMPOTENCY_TABLE``; ``StoreError``
    naming every one that is unset or empty."""
    missing = [var for var in ENV_VARS.values() if not env.get(var, "").strip()]
    if missing:
        raise StoreError(
            f"{', '.join(missing)} not set: the AWS delivery backend needs "
            f"{', '.join(ENV_VARS.values())} (template.yaml sets them on every function)"
        )
    return DeliveryNames(**{field: env[var].strip() for field, var in ENV_VARS.items()})


def aws_delivery(
    sqs: Any,
    dynamodb: Any,
    names: DeliveryNames,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    serialize: bool = True,
    dead_wait_seconds: int = 1,
) -> DeliveryBackend:
    """The queue, records and idempotency layer on AWS. ``serialize`` and
    ``dead_wait_seconds``: see ``SqsQueue``."""
    from .idempotency import DeliveryIdempotency

    return DeliveryBackend(
        queue=SqsQueue(
            sqs,
            names.queue_url,
            names.dlq_url,
            clock=clock,
            serialize=serialize,
            dead_wait_seconds=dead_wait_seconds,
        ),
        deliveries=DynamoDeliveryStore(dynamodb, names.deliveries_table, clock=clock),
        idempotency=DeliveryIdempotency(names.idempotency_table, dynamodb),
    )


def provision_delivery(sqs: Any, dynamodb: Any, *, prefix: str) -> DeliveryNames:
    """Create what template.yaml declares: the queues ``<prefix>-functions-queue`` and
    ``<prefix>-functions-dlq``, the tables ``<prefix>-functions-deliveries`` and
    ``<prefix>-functions-idempotency``.

    For tests and local use. Idempotent: resources that exist are kept as they are.
    """
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"prefix {prefix!r}: use 1 to 40 lower-case letters, digits and inner hyphens"
        )
    base = f"{prefix}-functions"
    dlq_url = _provision_queue(
        sqs, f"{base}-dlq", {"MessageRetentionPeriod": DLQ_RETENTION, **_SSE}
    )
    with translate("provision queue"):
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
    queue_url = _provision_queue(
        sqs,
        f"{base}-queue",
        {
            "VisibilityTimeout": VISIBILITY_TIMEOUT,
            "MessageRetentionPeriod": QUEUE_RETENTION,
            "RedrivePolicy": json.dumps(redrive),
            **_SSE,
        },
    )
    names = DeliveryNames(
        queue_url=queue_url,
        dlq_url=dlq_url,
        deliveries_table=f"{base}-deliveries",
        idempotency_table=f"{base}-idempotency",
    )
    _provision_table(dynamodb, names.deliveries_table, ["pk", "sk"], ttl="expires_at")
    _provision_table(dynamodb, names.idempotency_table, ["id"], ttl="expiration")
    return names


def _provision_queue(sqs: Any, name: str, attributes: Mapping[str, object]) -> str:
    with translate("provision queue"):
        try:
            response = sqs.create_queue(
                QueueName=name, Attributes={k: str(v) for k, v in attributes.items()}
            )
        except ClientError as exc:  # exists with other attributes: keep it
            if error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            response = sqs.get_queue_url(QueueName=name)
        return str(response["QueueUrl"])


def _provision_table(dynamodb: Any, table: str, keys: list[str], *, ttl: str) -> None:
    kinds = ("HASH", "RANGE")
    with translate("provision table"):
        try:
            dynamodb.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                KeySchema=[
                    {"AttributeName": k, "KeyType": t} for k, t in zip(keys, kinds, strict=False)
                ],
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
        dynamodb.get_waiter("table_exists").wait(TableName=table)
        status = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
            )


def __getattr__(name: str) -> Any:
    # Powertools' idempotency imports boto3: only when the layer is built (aws_delivery)
    # or asked for, not when a Lambda imports the store (docs/PERFORMANCE.md).
    if name == "DeliveryIdempotency":
        from .idempotency import DeliveryIdempotency

        return DeliveryIdempotency
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
