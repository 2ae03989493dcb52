"""A Powertools idempotency persistence layer on the delivery database.

It keeps the semantics of Powertools' ``DynamoDBPersistenceLayer``:

- ``_put_record`` succeeds when no record exists, when the existing one has expired
  (``expiration < now``, in seconds), or when it is ``INPROGRESS`` with an
  ``in_progress_expiry`` (milliseconds) that has passed; otherwise it validates the
  payload against the existing record (``IdempotencyValidationError``) and raises
  ``IdempotencyItemAlreadyExistsError`` carrying that record, as DynamoDB does with
  ``ReturnValuesOnConditionCheckFailure``.
- ``_update_record`` sets the response data, expiry, status (and the payload hash when
  validation is on), creating the row if it is missing, as ``UpdateItem`` does.
- ``_get_record`` raises ``IdempotencyItemNotFoundError`` for a missing record and for
  an expired one (DynamoDB's TTL deletes those; here they are simply not read back).

The check and the write of ``_put_record`` are one ``BEGIN IMMEDIATE`` transaction, so
two workers (threads or processes) cannot both take the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

from .database import DeliveryDatabase

__all__ = ["SQLitePersistenceLayer"]

_COLUMNS = "id, expiration, in_progress_expiry, status, data, validation"
_GET = f"SELECT {_COLUMNS} FROM idempotency WHERE id = ?"
_PUT = f"INSERT OR REPLACE INTO idempotency ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?)"
_UPDATE = (
    "INSERT INTO idempotency (id, expiration, status, data, validation) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET"
    " expiration = excluded.expiration, status = excluded.status, data = excluded.data"
)
_Row = tuple[Any, ...]


class SQLitePersistenceLayer(BasePersistenceLayer):
    """Idempotency records in the ``idempotency`` table of the delivery database.

    ``clock`` (epoch seconds) decides what has expired; Powertools itself stamps the
    records' expiry times with the wall clock, so pass anything else only in tests.

    Outside Lambda there is no context to tell how long an invocation may still run, so
    an ``INPROGRESS`` record without one would block the message's redelivery after a
    crash for the whole idempotency window. Here it expires after
    ``in_progress_seconds`` instead (by default the queue's default visibility timeout);
    a context registered on the ``IdempotencyConfig`` still takes precedence.
    """

    def __init__(
        self,
        db: DeliveryDatabase,
        clock: Callable[[], float],
        *,
        in_progress_seconds: float = 30.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._db = db
        self._clock = clock
        self._in_progress_ms = int(in_progress_seconds * 1000)

    def save_inprogress(
        self, data: dict[str, Any], remaining_time_in_millis: int | None = None
    ) -> None:
        """Powertools' ``save_inprogress``, with ``in_progress_seconds`` as the remaining
        time when no Lambda context gives one (rather than a warning and no bound)."""
        if remaining_time_in_millis is None:
            remaining_time_in_millis = self._in_progress_ms
        super().save_inprogress(data, remaining_time_in_millis)

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._db.read() as conn:
            row: _Row | None = conn.execute(_GET, [idempotency_key]).fetchone()
        if row is None or _expired(row, self._clock()):
            raise IdempotencyItemNotFoundError
        return _to_record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = self._clock()
        validation = data_record.payload_hash if self.payload_validation_enabled else None
        values = (
            data_record.idempotency_key,
            data_record.expiry_timestamp,
            data_record.in_progress_expiry_timestamp,
            data_record.status,
            validation or None,
        )
        with self._db.write("an idempotency record could not be saved") as conn:
            row: _Row | None = conn.execute(_GET, [data_record.idempotency_key]).fetchone()
            if row is None or _expired(row, now) or _in_progress_expired(row, now):
                conn.execute(_PUT, values)
                return
        old = _to_record(row)
        self._validate_payload(data_payload=data_record, stored_data_record=old)
        self._save_to_cache(data_record=old)
        raise IdempotencyItemAlreadyExistsError(old_data_record=old)

    def _update_record(self, data_record: DataRecord) -> None:
        sql = _UPDATE
        if self.payload_validation_enabled:
            sql += ", validation = excluded.validation"
        values = (
            data_record.idempotency_key,
            data_record.expiry_timestamp,
            data_record.status,
            data_record.response_data,
            data_record.payload_hash if self.payload_validation_enabled else None,
        )
        with self._db.write("an idempotency record could not be updated") as conn:
            conn.execute(sql, values)

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._db.write("an idempotency record could not be deleted") as conn:
            conn.execute("DELETE FROM idempotency WHERE id = ?", [data_record.idempotency_key])


def _expired(row: _Row, now: float) -> bool:
    """DynamoDB's ``#expiry < :now`` with ``:now`` in whole seconds."""
    expiration = row[1]
    return expiration is not None and int(expiration) < int(now)


def _in_progress_expired(row: _Row, now: float) -> bool:
    """``#status = INPROGRESS AND attribute_exists(#in_progress_expiry) AND
    #in_progress_expiry < :now_in_millis``."""
    in_progress_expiry = row[2]
    return (
        row[3] == STATUS_CONSTANTS["INPROGRESS"]
        and in_progress_expiry is not None
        and int(in_progress_expiry) < int(now * 1000)
    )


def _to_record(row: _Row) -> DataRecord:
    key, expiration, in_progress_expiry, status, data, validation = row
    return DataRecord(
        idempotency_key=key,
        status=status,
        expiry_timestamp=expiration,
        in_progress_expiry_timestamp=in_progress_expiry,
        response_data=data or "",
        payload_hash=validation or "",
    )
