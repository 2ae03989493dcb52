"""The instances' key-value stores (``functions_sdk.store``) in DynamoDB.

Table (``FUNCTIONS_STORE_TABLE``): on-demand, string keys ``pk`` (hash) = the instance's
scope (``<workspace>/<instance>``, chosen by the host) and ``sk`` (range) = the key; TTL
on ``expires_at``::

    pk          sk      v (S, the value's JSON)   n (N, bytes of key and value)
                        expires_at (N, epoch s; absent: no expiry)

DynamoDB deletes expired items within a day or two, so every read also compares
``expires_at`` with the clock: an expired item is never returned, nor counted.

Calls: ``GetItem`` (``get``, ``incr``), ``PutItem`` (``put``, ``incr``: conditional on the
value read, retried a few times, so concurrent ``incr`` never lose a count),
``DeleteItem`` (``delete``), ``Query`` on one partition (the instance's usage before a
write). The limits of an instance are checked against that query: two processes writing
the same instance at the same moment can pass the byte or key limit by one value each
(one worker serves an instance at a time on each host, so this is rare and bounded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from functions_sdk.store import MAX_KEYS, MAX_TOTAL_BYTES, check_room, entry_size, incremented

from .faults import ClientError, error_code

__all__ = ["STORE_ENV_VAR", "DynamoStore", "provision_store"]

STORE_ENV_VAR = "FUNCTIONS_STORE_TABLE"
_INCR_ATTEMPTS = 8


class StoreContention(Exception):
    """``incr`` lost the race too many times (the host answers: retry the event)."""


class DynamoStore:
    """A :class:`~functions_runtime.sandbox.host.store.KeyValueStore` in one table."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        clock: Callable[[], float] = time.time,
        limits: tuple[int, int] = (MAX_KEYS, MAX_TOTAL_BYTES),
    ) -> None:
        self.limits = limits
        self._db = dynamodb
        self._table = table
        self.clock = clock

    def _item(self, scope: str, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": scope}, "sk": {"S": key}},
            ConsistentRead=True,
        ).get("Item")
        if item is None or not _live(item, self.clock()):
            return None
        return item

    def get(self, scope: str, key: str) -> str | None:
        item = self._item(scope, key)
        return None if item is None else str(item["v"]["S"])

    def put(self, scope: str, key: str, text: str, ttl: float | None) -> None:
        now = self.clock()
        self._room(scope, key, text, now)
        self._db.put_item(
            TableName=self._table,
            Item=_new_item(scope, key, text, None if ttl is None else now + ttl),
        )

    def delete(self, scope: str, key: str) -> bool:
        old = self._db.delete_item(
            TableName=self._table,
            Key={"pk": {"S": scope}, "sk": {"S": key}},
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        return old is not None and _live(old, self.clock())

    def incr(self, scope: str, key: str, by: int) -> int:
        for _ in range(_INCR_ATTEMPTS):
            now = self.clock()
            item = self._db.get_item(
                TableName=self._table,
                Key={"pk": {"S": scope}, "sk": {"S": key}},
                ConsistentRead=True,
            ).get("Item")
            live = item is not None and _live(item, now)
            text = incremented(str(item["v"]["S"]) if item is not None and live else None, by)
            self._room(scope, key, text, now)
            expires = _expires(item) if item is not None and live else None
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(pk)"}
                if item is None
                else {
                    "ConditionExpression": "v = :old",
                    "ExpressionAttributeValues": {":old": item["v"]},
                }
            )
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=_new_item(scope, key, text, expires),
                    **condition,
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    continue  # someone else changed it: read again
                raise
            return int(text)
        raise StoreContention(f"incr of {key!r}: too many concurrent changes")

    def _room(self, scope: str, key: str, text: str, now: float) -> None:
        count = total = 0
        start: dict[str, Any] | None = None
        while True:
            page = self._db.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": scope}},
                ProjectionExpression="sk, n, expires_at",
                ConsistentRead=True,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            for item in page.get("Items", []):
                if item["sk"]["S"] != key and _live(item, now):
                    count += 1
                    total += int(item["n"]["N"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        check_room(count, total, key, text, self.limits)


def _new_item(scope: str, key: str, text: str, expires: float | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": scope},
        "sk": {"S": key},
        "v": {"S": text},
        "n": {"N": str(entry_size(key, text))},
    }
    if expires is not None:
        item["expires_at"] = {"N": str(Decimal(repr(expires)))}
    return item


def _expires(item: dict[str, Any]) -> float | None:
    raw = item.get("expires_at")
    return None if raw is None else float(raw["N"])


def _live(item: dict[str, Any], now: float) -> bool:
    expires = _expires(item)
    return expires is None or expires > now


def provision_store(dynamodb: Any, *, prefix: str) -> str:
    """Create ``<prefix>-functions-store`` as template.yaml declares it (tests, local use)."""
    from . import _provision_table

    table = f"{prefix}-functions-store"
    _provision_table(dynamodb, table, ["pk", "sk"], ttl="expires_at")
    return table
