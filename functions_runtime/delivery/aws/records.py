"""Delivery records of the AWS delivery backend, in DynamoDB (layout in ``aws.py``)."""

from __future__ import annotations

import builtins
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ...control.ports import StoreError
from ..ports import Delivery, Stats
from ..request_sets import RequestSets, with_requests, without_requests
from .faults import translate

__all__ = ["TTL", "DynamoDeliveryStore", "nearest_rank", "sort_key"]

Item = dict[str, Any]

TTL = timedelta(days=30)  # how long a record is kept after it is written
MAX_DATA_BYTES = 350_000  # of the record JSON: a DynamoDB item holds at most 400 KB
TRUNCATED = (
    "[delivery record truncated: its event and outgoing requests were dropped to fit "
    "DynamoDB's 400 KB item limit]"
)
EXPIRED = "[delivery record: its outgoing requests have expired]"
SET_MARGIN = timedelta(days=7)  # a request set outlives the records written with it
_SETS_REMEMBERED = 256  # request sets this process wrote, not written again while fresh
_BATCH_GET = 100  # keys per BatchGetItem
_BATCH_ATTEMPTS = 5
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

    A record's outgoing requests are an item of their own (``REQS#<hash>``, once per
    workspace and distinct list) that the record names: every record of an ``on_batch``
    call carries the call's requests, and writing them once per call halves the write
    units of a signed batch's records. ``list`` reads them back (``BatchGetItem``).
    """

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = dynamodb
        self.table = table
        self._clock = clock
        self._sleep = sleep
        self._names = RequestSets()
        self._sets: OrderedDict[str, int] = OrderedDict()  # written here: id -> expires_at
        self._sets_lock = threading.Lock()

    def record(self, delivery: Delivery) -> None:
        """PutItem of the record (a repeat with the same id and time overwrites it),
        after its request set's when this process has not written that one lately."""
        expires_at = int((self._clock() + TTL).timestamp())
        duration = delivery.duration_ms if math.isfinite(delivery.duration_ms) else 0.0
        data, shared = _fit(delivery, self._names)
        item: Item = {
            "pk": {"S": _pk(delivery.instance_id)},
            "sk": {"S": sort_key(delivery.at, delivery.id)},
            "data": {"S": data},
            "workspace_id": {"S": delivery.workspace_id},
            "outcome": {"S": delivery.outcome},
            "duration_ms": {"N": format(duration, ".3f")},
            "expires_at": {"N": str(expires_at)},
            "message_id": {"S": delivery.message_id},
        }
        if shared is not None:
            set_id = self._request_set(delivery.workspace_id, *shared, expires_at)
            item["requests"] = {"S": set_id}
        with translate("record delivery"):
            self._db.put_item(TableName=self.table, Item=item)

    def _request_set(self, workspace_id: str, set_id: str, requests: bytes, expires_at: int) -> str:
        """``set_id``, the request set holding ``requests``, written unless this process
        wrote it already with an expiry at least ``expires_at``."""
        with self._sets_lock:
            kept = self._sets.get(set_id)
        if kept is not None and kept >= expires_at:
            return set_id
        kept = expires_at + int(SET_MARGIN.total_seconds())
        item: Item = {
            "pk": {"S": _set_pk(set_id)},
            "sk": {"S": _SET_SK},
            "data": {"S": requests.decode()},
            "workspace_id": {"S": workspace_id},
            "expires_at": {"N": str(kept)},
        }
        with translate("record delivery"):
            self._db.put_item(TableName=self.table, Item=item)
        with self._sets_lock:
            self._sets[set_id] = kept
            self._sets.move_to_end(set_id)
            while len(self._sets) > _SETS_REMEMBERED:
                self._sets.popitem(last=False)
        return set_id

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
            items = self._query(instance_id, since, params, values, limit=limit)[:limit]
            sets = self._request_sets(
                {item["requests"]["S"] for item in items if "requests" in item}
            )
        return [_read(item, sets) for item in items]

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

    def _request_sets(self, ids: Iterable[str]) -> dict[str, str]:
        """The request sets ``ids`` name, as their JSON text (``BatchGetItem``, strongly
        consistent; keys DynamoDB leaves unprocessed are asked again, a few times)."""
        found: dict[str, str] = {}
        wanted = [{"pk": {"S": _set_pk(i)}, "sk": {"S": _SET_SK}} for i in sorted(ids)]
        for start in range(0, len(wanted), _BATCH_GET):
            keys = wanted[start : start + _BATCH_GET]
            for attempt in range(_BATCH_ATTEMPTS):
                page = self._db.batch_get_item(
                    RequestItems={
                        self.table: {
                            "Keys": keys,
                            "ConsistentRead": True,
                            "ProjectionExpression": "pk, #data",
                            "ExpressionAttributeNames": {"#data": "data"},
                        }
                    }
                )
                for item in page.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"].removeprefix(_SET_PREFIX)] = item["data"]["S"]
                keys = page.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if not keys:
                    break
                self._sleep(0.05 * 2**attempt)
            else:
                raise StoreError(
                    f"DynamoDB left {len(keys)} delivery request sets unread after "
                    f"{_BATCH_ATTEMPTS} attempts: try again"
                )
        return found


_SET_PREFIX = "REQS#"
_SET_SK = "requests"


def _pk(instance_id: str) -> str:
    return f"INST#{instance_id}"


def _set_pk(set_id: str) -> str:
    return f"{_SET_PREFIX}{set_id}"


def _fit(delivery: Delivery, names: RequestSets) -> tuple[str, tuple[str, bytes] | None]:
    """The record's JSON, made to fit one item, and its request set's ``(id, JSON)``
    when its requests are kept apart (the record then leaves them out). A record too
    large loses its event and requests, and as many of its last log lines as it takes,
    with a note saying so; requests too large for an item of their own stay in the
    record (and go with it if it is still too large)."""
    requests: tuple[str, bytes] | None = None
    if delivery.requests:
        requests = names.name(delivery.workspace_id, delivery.requests)
        if len(requests[1]) > MAX_DATA_BYTES:
            requests = None
    data = without_requests(delivery) if requests is not None else delivery.model_dump_json()
    if len(data.encode()) <= MAX_DATA_BYTES:
        return data, requests
    logs: list[str] = []
    budget = MAX_DATA_BYTES // 2
    for line in delivery.logs:
        budget -= len(line.encode()) + 8
        if budget < 0:
            break
        logs.append(line)
    slim = delivery.model_copy(update={"event": None, "requests": [], "logs": [*logs, TRUNCATED]})
    return slim.model_dump_json(), None


def _read(item: Item, sets: dict[str, str]) -> Delivery:
    """A stored record, its requests put back in from their set when kept apart (a set
    that expired before its record leaves the record without them, and a note)."""
    try:
        data = item["data"]["S"]
        if "requests" in item:
            requests = sets.get(item["requests"]["S"])
            if requests is None:
                expired = Delivery.model_validate_json(data)
                return expired.model_copy(update={"logs": [*expired.logs, EXPIRED]})
            data = with_requests(data, requests)
        return Delivery.model_validate_json(data)
    except (KeyError, TypeError, ValidationError) as exc:
        raise StoreError(f"a stored delivery record is unreadable: {exc}") from exc
