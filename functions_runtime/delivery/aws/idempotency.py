"""Powertools' DynamoDB idempotency layer, with an in-progress window outside Lambda."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

__all__ = ["IN_PROGRESS_SECONDS", "DeliveryIdempotency"]

IN_PROGRESS_SECONDS = 60  # the queue's visibility timeout: when a crashed job comes back


class DeliveryIdempotency(DynamoDBPersistenceLayer):
    """``DynamoDBPersistenceLayer`` in its default table shape (hash key ``id``, TTL on
    ``expiration``) that always bounds an in-progress record.

    Powertools limits how long an INPROGRESS record blocks its key to the Lambda
    invocation's remaining time, once ``IdempotencyConfig.register_lambda_context`` was
    called; without it (``functions serve``, tests, a worker that did not register the
    context) it warns and leaves the record to block the key until the whole idempotency
    window (``expires_after_seconds``) has passed, so a job whose worker crashed could
    not run again for that long. Here the record then blocks it for
    ``in_progress_seconds``: by the time SQS hands the job out again, it may run.
    """

    def __init__(
        self, table_name: str, dynamodb: Any, *, in_progress_seconds: int = IN_PROGRESS_SECONDS
    ) -> None:
        super().__init__(table_name=table_name, boto3_client=dynamodb)
        self.in_progress_seconds = in_progress_seconds

    def save_inprogress(
        self, data: dict[str, Any], remaining_time_in_millis: int | None = None
    ) -> None:
        if remaining_time_in_millis is None:
            remaining_time_in_millis = self.in_progress_seconds * 1000
        super().save_inprogress(data, remaining_time_in_millis)
