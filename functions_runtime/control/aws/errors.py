"""How the AWS stores turn botocore errors into the store exception tree (``ports``).

Each store method handles the error codes it expects (a lost conditional write, a
missing object) itself; whatever is left becomes a ``StoreError`` that names the
operation, the AWS error code and, for configuration mistakes, what to check next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..ports import StoreError

__all__ = ["ClientError", "cancellation_reasons", "error_code", "lost_race", "translate_errors"]

# What to check next, for the codes that mean "misconfigured" rather than "try again".
_HINTS = {
    "ResourceNotFoundException": "does the table in FUNCTIONS_TABLE exist in this region?",
    "NoSuchBucket": "does the bucket in FUNCTIONS_CODE_BUCKET exist?",
    "NotFoundException": "does the key in FUNCTIONS_KMS_KEY_ID exist?",
    "DisabledException": "the KMS key in FUNCTIONS_KMS_KEY_ID is disabled",
    "KMSInvalidStateException": "the KMS key in FUNCTIONS_KMS_KEY_ID is not usable",
    "AccessDenied": (
        "the role lacks an IAM permission listed in functions_runtime/control/aws/__init__.py"
    ),
    "AccessDeniedException": (
        "the role lacks an IAM permission listed in functions_runtime/control/aws/__init__.py"
    ),
}

# Cancellation reasons that mean another writer got there first.
_LOST = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def error_code(exc: Any) -> str:
    """The AWS error code of a ``ClientError`` (``"Unknown"`` when absent)."""
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def cancellation_reasons(exc: Any) -> list[dict[str, Any]]:
    """One reason per item of a cancelled ``TransactWriteItems``, in request order."""
    if error_code(exc) != "TransactionCanceledException":
        return []
    return list(exc.response.get("CancellationReasons") or [])


def lost_race(exc: Any) -> bool:
    """Did a conditional write fail because of the data, not because of a fault?

    True for a failed condition and for a concurrent transaction on the same item; a
    cancelled transaction counts only if every reason it gives is one of those.
    """
    code = error_code(exc)
    if code in ("ConditionalCheckFailedException", "TransactionConflictException"):
        return True
    codes = {str(r.get("Code")) for r in cancellation_reasons(exc)} - {"None"}
    return bool(codes) and codes <= _LOST


@contextmanager
def translate_errors(operation: str, hints: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn any botocore error raised inside into a ``StoreError`` naming ``operation``
    and, for configuration mistakes, what to check next (``hints`` by error code).

    Store errors raised inside (``ConflictError``, ``NotFoundError``) pass through.
    """
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message") or "").strip()
        text = f"{operation} failed: {code}" + (f": {message}" if message else "")
        hint = (_HINTS if hints is None else hints).get(code)
        raise StoreError(text + (f" ({hint})" if hint else "")) from exc
    except BotoCoreError as exc:
        raise StoreError(f"{operation} failed: {exc}") from exc
