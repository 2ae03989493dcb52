"""The embedded delivery records: one row per delivery id, newest first per instance."""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime

from pydantic import ValidationError

from ...control.embedded.db import time_key
from ...control.ports import StoreError
from ..ports import Delivery, Stats
from ..request_sets import RequestSets, with_requests, without_requests
from .database import DeliveryDatabase

__all__ = ["EmbeddedDeliveryStore", "nearest_rank"]

_RECORD = (
    "INSERT OR REPLACE INTO deliveries"
    " (id, workspace_id, instance_id, outcome, at, duration_ms, data, requests)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_REQUESTS = "INSERT OR IGNORE INTO request_sets (id, data) VALUES (?, ?)"


class EmbeddedDeliveryStore:
    """Delivery records in SQLite; ``at`` is kept as epoch microseconds for ordering.

    A record's outgoing requests are kept apart (``request_sets``), once per workspace
    and distinct list (``delivery.request_sets``): the records of an ``on_batch`` call
    share one row. Reading puts them back: a record reads as it was written."""

    def __init__(self, db: DeliveryDatabase) -> None:
        self._db = db
        self._sets = RequestSets()

    def record(self, delivery: Delivery) -> None:
        """Store the delivery; recording the same id again replaces the earlier record."""
        shared: str | None = None
        if delivery.requests:
            shared, requests = self._sets.name(delivery.workspace_id, delivery.requests)
        row = (
            delivery.id,
            delivery.workspace_id,
            delivery.instance_id,
            delivery.outcome,
            time_key(delivery.at),
            delivery.duration_ms,
            without_requests(delivery) if shared else delivery.model_dump_json(),
            shared,
        )
        with self._db.write(f"delivery {delivery.id} could not be recorded") as conn:
            if shared is not None:
                conn.execute(_REQUESTS, (shared, requests.decode()))
            conn.execute(_RECORD, row)

    def list(
        self,
        workspace_id: str,
        instance_id: str,
        *,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """The instance's deliveries at or after ``since``, newest first (ties: last
        recorded first), of one ``outcome`` if given."""
        where, params = _filter(workspace_id, instance_id, since)
        if outcome is not None:
            where += " AND outcome = ?"
            params.append(outcome)
        sql = (
            "SELECT d.data, r.data FROM deliveries AS d"
            " LEFT JOIN request_sets AS r ON r.id = d.requests"
            f" WHERE {where} ORDER BY d.at DESC, d.rowid DESC LIMIT ?"
        )
        with self._db.read() as conn:
            rows = conn.execute(sql, [*params, max(limit, 0)]).fetchall()
        return [_parse(data, requests) for data, requests in rows]

    def stats(self, workspace_id: str, instance_id: str, since: datetime | None = None) -> Stats:
        """Counts per outcome and nearest-rank p50 / p95 of ``duration_ms`` (None if none)."""
        where, params = _filter(workspace_id, instance_id, since)
        with self._db.snapshot() as conn:
            counts = {
                str(outcome): int(n)
                for outcome, n in conn.execute(
                    f"SELECT outcome, COUNT(*) FROM deliveries WHERE {where}"
                    " GROUP BY outcome ORDER BY outcome",
                    params,
                )
            }
            total = sum(counts.values())
            p50, p95 = (_ranked(conn, where, params, nearest_rank(p, total)) for p in (50.0, 95.0))
            events = conn.execute(
                "SELECT COUNT(DISTINCT json_extract(data, '$.message_id'))"
                f" FROM deliveries WHERE {where}",
                params,
            ).fetchone()[0]
        return Stats(counts=counts, p50_ms=p50, p95_ms=p95, total=total, events=int(events))


def nearest_rank(percentile: float, count: int) -> int:
    """The 1-based rank of the ``percentile``-th value among ``count`` (0 when none)."""
    if count <= 0:
        return 0
    return min(max(math.ceil(percentile / 100 * count), 1), count)


def _ranked(
    conn: sqlite3.Connection, where: str, params: list[str | int], rank: int
) -> float | None:
    """The ``rank``-th smallest duration among the matching rows (None for rank 0)."""
    if rank <= 0:
        return None
    row = conn.execute(
        f"SELECT duration_ms FROM deliveries WHERE {where} ORDER BY duration_ms LIMIT 1 OFFSET ?",
        [*params, rank - 1],
    ).fetchone()
    return None if row is None else float(row[0])


def _filter(
    workspace_id: str, instance_id: str, since: datetime | None
) -> tuple[str, list[str | int]]:
    where = "workspace_id = ? AND instance_id = ?"
    params: list[str | int] = [workspace_id, instance_id]
    if since is not None:
        where += " AND at >= ?"
        params.append(time_key(since))
    return where, params


def _parse(data: str, requests: str | None) -> Delivery:
    """A stored record, its requests put back in when they were stored apart (``data``
    is then a JSON object without them, as ``model_dump_json`` wrote it)."""
    if requests is not None:
        data = with_requests(data, requests)
    try:
        return Delivery.model_validate_json(data)
    except ValidationError as exc:
        raise StoreError(
            f"a stored delivery record is unreadable ({exc.error_count()} errors)"
        ) from exc
