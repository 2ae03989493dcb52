"""How the AWS delivery backend turns botocore errors into ``StoreError``.

The same idea as ``control/aws_errors.translate_errors`` (whose ``error_code`` this
reuses), with hints that name the delivery resources: a queue URL or a table that
does not exist points at the ``FUNCTIONS_*`` variable to check, not at the control
plane's table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError

from ...control.aws.errors import ClientError, error_code, translate_errors

__all__ = ["BotoCoreError", "ClientError", "error_code", "translate"]

_IAM = "the role lacks an IAM permission listed in functions_runtime/delivery/aws/__init__.py"
_QUEUE = "do the queues in FUNCTIONS_QUEUE_URL and FUNCTIONS_DLQ_URL exist in this region?"
_HINTS = {
    "QueueDoesNotExist": _QUEUE,
    "AWS.SimpleQueueService.NonExistentQueue": _QUEUE,
    "ResourceNotFoundException": (
        "do the tables in FUNCTIONS_DELIVERIES_TABLE and FUNCTIONS_IDEMPOTENCY_TABLE exist "
        "in this region?"
    ),
    "AccessDenied": _IAM,
    "AccessDeniedException": _IAM,
    "KMS.AccessDeniedException": "the role may not use the queue's KMS key",
}


@contextmanager
def translate(operation: str) -> Iterator[None]:
    """Turn any botocore error raised inside into a ``StoreError`` naming ``operation``,
    the AWS error code and, for configuration mistakes, what to check next."""
    with translate_errors(operation, _HINTS):
        yield
