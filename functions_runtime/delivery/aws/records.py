"""Delivery records of the AWS delivery backend, in DynamoDB (layout in ``aws.py``)."""

from __future__ import annotations

import builtins
import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ...control.ports import StoreError
from ..ports import Delivery, Stats
from .faults import translate

__all__ = ["TTL", "DynamoDeliveryStore", "nearest_rank", "sort_key"]

Item = dict[str, Any]

TTL = timedelta(days=30)  # how long a record is kept after it is written
MAX_DATA_BYTES = 350_000  # of the record JSON: a DynamoDB item holds at most 400 KB
TRUNCATED = (
    "[delivery record truncated: its event and outgoing requests were dropped to fit "
    "DynamoDB's 400 KB item limit]"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WIDTH = 20  # digits of the epoch microseconds in sort keys


def sort_key(at: datetime, delivery_id: str) -> str:
    """``<epoch microseconds, 20 digits>#<delivery id>``: string order is time order."""
    return f"{_micros(at):0{_WIDTH}d}#{delivery_id}"


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive means UTC
    return max(0, (moment - _EPOCH) // timedelta(microseconds=1))


def nearest_rank(ordered: list[float], percent: float) -> float | None:
    """The nearest-rank percentile of an ascending list (None when it is empty)."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


class DynamoDeliveryStore:
    """The ``DeliveryStore`` port on one DynamoDB table.

    Records are partitioned by instance; the workspace is checked by a filter on every
    read, so an instance id given with another workspace's id finds nothing.
    """

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = dynamodb
        self.table = table
        self._clock = clock

    def record(self, delivery: Delivery) -> None:
        """PutItem of the record (a repeat with the same id and time overwrites it)."""
        expires_at = int((self._clock() + TTL).timestamp())
        duration = delivery.duration_ms if math.isfinite(delivery.duration_ms) else 0.0
        item: Item = {
            "pk": {"S": _pk(delivery.instance_id)},
            "sk": {"S": sort_key(delivery.at, delivery.id)},
            "data": {"S": _fit(delivery)},
            "workspace_id": {"S": delivery.workspace_id},
            "outcome": {"S": delivery.outcome},
            "duration_ms": {"N": format(duration, ".3f")},
            "expires_at": {"N": str(expires_at)},
            "message_id": {"S": delivery.message_id},
        }
        with translate("record delivery"):
            self._db.put_item(TableName=self.table, Item=item)

    def list(
        self,
        workspace_id: str,
        instance_id: str,
        *,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Newest first, at most ``limit``; strongly consistent (a record shows at once)."""
        if limit <= 0:
            return []
        names = {"#ws": "workspace_id"}
        values: Item = {":ws": {"S": workspace_id}}
        condition = "#ws = :ws"
        if outcome is not None:
            names["#outcome"] = "outcome"
            values[":outcome"] = {"S": outcome}
            condition += " AND #outcome = :outcome"
        params: Item = {
            "FilterExpression": condition,
            "ExpressionAttributeNames": names,
            "ConsistentRead": True,
        }
        with translate("list deliveries"):
            items = self._query(instance_id, since, params, values, limit=limit)
        return [_read(item) for item in items[:limit]]

    def stats(self, workspace_id: str, instance_id: str, since: datetime | None = None) -> Stats:
        """Counts per outcome and nearest-rank p50 / p95 durations, over every record of
        the instance (since ``since``). Eventually consistent: it reads many items."""
        params: Item = {
            "FilterExpression": "#ws = :ws",
            "ProjectionExpression": "#outcome, #ms, #mid, sk",
            "ExpressionAttributeNames": {
                "#ws": "workspace_id",
                "#outcome": "outcome",
                "#ms": "duration_ms",
                "#mid": "message_id",
            },
        }
        with translate("delivery stats"):
            items = self._query(instance_id, since, params, {":ws": {"S": workspace_id}})
        try:
            counts = Counter(item["outcome"]["S"] for item in items)
            durations = sorted(float(item["duration_ms"]["N"]) for item in items)
            # Records written before message_id was an attribute count as one event each.
            events = {(item.get("message_id") or item["sk"])["S"] for item in items}
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"a stored delivery record is unreadable: {exc!r}") from exc
        return Stats(
            counts=dict(counts),
            p50_ms=nearest_rank(durations, 50),
            p95_ms=nearest_rank(durations, 95),
            total=len(items),
            events=len(events),
        )

    def _query(
        self,
        instance_id: str,
        since: datetime | None,
        params: Item,
        values: Item,
        *,
        limit: int | None = None,
    ) -> builtins.list[Item]:
        """Query one instance's records newest first, following pages until they run out
        or ``limit`` items passed the filter."""
        key = "pk = :pk"
        values = {**values, ":pk": {"S": _pk(instance_id)}}
        if since is not None:
            key += " AND sk >= :since"
            values[":since"] = {"S": f"{_micros(since):0{_WIDTH}d}"}
        request: Item = {
            **params,
            "TableName": self.table,
            "KeyConditionExpression": key,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        found: builtins.list[Item] = []
        while True:
            if limit is not None:  # Limit counts items read, before the filter
                request["Limit"] = min(1000, max(100, limit - len(found)))
            page = self._db.query(**request)
            found.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start or (limit is not None and len(found) >= limit):
                return found
            request["ExclusiveStartKey"] = start


def _pk(instance_id: str) -> str:
    return f"INST#{instance_id}"


def _fit(delivery: Delivery) -> str:
    """The record's JSON, made to fit one item: a record too large loses its event and
    requests, and as many of its last log lines as it takes, with a note saying so."""
    data = delivery.model_dump_json()
    if len(data.encode()) <= MAX_DATA_BYTES:
        return data
    logs: list[str] = []
    budget = MAX_DATA_BYTES // 2
    for line in delivery.logs:
        budget -= len(line.encode()) + 8
        if budget < 0:
            break
        logs.append(line)
    slim = delivery.model_copy(update={"event": None, "requests": [], "logs": [*logs, TRUNCATED]})
    return slim.model_dump_json()


def _read(item: Item) -> Delivery:
    try:
        return Delivery.model_validate_json(item["data"]["S"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise StoreError(f"a stored delivery record is unreadable: {exc}") from exc
