"""records.db keeps a record's outgoing requests apart, once per workspace and list.

Every record of an ``on_batch`` call carries the call's requests; the embedded store
writes them once (``request_sets``) and each record names them. What is read back must
be exactly what was recorded, whichever way it was stored.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.delivery.embedded import RECORDS_FILE, open_delivery
from functions_runtime.delivery.embedded.database import RECORDS_SCHEMA_VERSION
from functions_runtime.delivery.ports import Delivery, DeliveryBackend
from functions_runtime.delivery.request_sets import RequestSets

SIGNED_POST: dict[str, Any] = {
    "method": "POST",
    "url": "https://hooks.example.com/events",
    "status": 200,
    "duration_ms": 6.5,
    "request_headers": {"Content-Type": "application/json", "X-Signature": "***"},
    "request_body": '[{"type":"track","event":"Order Completed","revenue":25.0}]',
    "response_body": '{"ok":true}',
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def backend(data_dir: Path) -> DeliveryBackend:
    return open_delivery(data_dir)


def record(n: int, workspace: str = "ws_1", **changes: Any) -> Delivery:
    fields: dict[str, Any] = {
        "id": f"in_1:m{n}:1",
        "workspace_id": workspace,
        "instance_id": "in_1",
        "message_id": f"m{n}",
        "outcome": "delivered",
        "duration_ms": float(n),
        "at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        "logs": [f"line {n}"],
        "requests": [SIGNED_POST, {**SIGNED_POST, "status": 202}],
        "event": {"type": "track", "messageId": f"m{n}", "properties": {"n": n}},
    }
    return Delivery(**{**fields, **changes})


def rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / RECORDS_FILE) as conn:
        return conn.execute(sql).fetchall()


def test_the_records_of_one_call_share_one_copy_of_its_requests(
    backend: DeliveryBackend, data_dir: Path
) -> None:
    call = [record(n) for n in range(1, 21)]
    with backend.deferred():
        for delivery in call:
            backend.deliveries.record(delivery)
    assert backend.deliveries.list("ws_1", "in_1") == call[::-1]
    [(stored,)] = rows(data_dir, "SELECT data FROM request_sets")
    assert json.loads(stored) == call[0].requests
    for (data,) in rows(data_dir, "SELECT data FROM deliveries"):
        assert "request_body" not in data and '"line ' in data


def test_each_workspace_has_its_own_copy_of_equal_requests(
    backend: DeliveryBackend, data_dir: Path
) -> None:
    backend.deliveries.record(record(1, workspace="ws_1"))
    backend.deliveries.record(record(2, workspace="ws_2"))
    assert rows(data_dir, "SELECT COUNT(*) FROM request_sets") == [(2,)]
    ids = rows(data_dir, "SELECT requests FROM deliveries ORDER BY workspace_id")
    assert len({row[0] for row in ids}) == 2
    assert backend.deliveries.list("ws_2", "in_1") == [record(2, workspace="ws_2")]


def test_requests_that_differ_in_any_way_are_kept_apart(backend: DeliveryBackend) -> None:
    """1, 1.0 and True are equal in Python, not in the record."""
    variants = [
        record(1, requests=[{**SIGNED_POST, "status": 1}]),
        record(2, requests=[{**SIGNED_POST, "status": 1.0}]),
        record(3, requests=[{**SIGNED_POST, "status": True}]),
        record(4, requests=[SIGNED_POST]),
        record(5, requests=[]),
    ]
    for delivery in variants:
        backend.deliveries.record(delivery)
    listed = backend.deliveries.list("ws_1", "in_1")
    assert listed == variants[::-1]
    assert [type(d.requests[0]["status"]) for d in listed[1:]] == [int, bool, float, int]


def test_a_record_recorded_again_reads_with_its_new_requests(backend: DeliveryBackend) -> None:
    store = backend.deliveries
    store.record(record(1, outcome="retry"))
    again = record(1, requests=[{**SIGNED_POST, "status": 500}])
    store.record(again)
    assert store.list("ws_1", "in_1") == [again]
    assert store.list("ws_1", "in_1", outcome="delivered") == [again]


def test_a_records_db_of_schema_1_is_upgraded_and_its_records_still_read(
    data_dir: Path,
) -> None:
    open_delivery(data_dir)
    old = record(1)
    with sqlite3.connect(data_dir / RECORDS_FILE) as conn:  # as release 1 left it
        conn.execute("DROP TABLE request_sets")
        conn.execute("DROP TABLE deliveries")
        conn.execute(
            "CREATE TABLE deliveries (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL,"
            " instance_id TEXT NOT NULL, outcome TEXT NOT NULL, at INTEGER NOT NULL,"
            " duration_ms REAL NOT NULL, data TEXT NOT NULL)"
        )
        conn.execute(
            "CREATE INDEX deliveries_by_instance ON deliveries (workspace_id, instance_id, at)"
        )
        conn.execute(
            "INSERT INTO deliveries VALUES ('in_1:m1:1', 'ws_1', 'in_1', 'delivered', 1, 1.0, ?)",
            (old.model_dump_json(),),
        )
        conn.execute("PRAGMA user_version = 1")
    backend = open_delivery(data_dir)
    assert rows(data_dir, "PRAGMA user_version") == [(RECORDS_SCHEMA_VERSION,)] == [(2,)]
    new = record(2)
    backend.deliveries.record(new)
    assert backend.deliveries.list("ws_1", "in_1") == [new, old]
    assert rows(data_dir, "SELECT id, requests IS NULL FROM deliveries ORDER BY id") == [
        ("in_1:m1:1", 1),
        ("in_1:m2:1", 0),
    ]
    assert backend.deliveries.stats("ws_1", "in_1").events == 2


def test_names_are_worked_out_once_per_call_and_equal_is_not_enough() -> None:
    sets = RequestSets()
    first = [{"url": "https://a.example", "headers": {"X": "1"}}]
    name, text = sets.name("ws_1", first)
    copied = [dict(first[0])]  # a record's copy of its call's list: the same values
    assert sets.name("ws_1", copied)[1] is text
    rebuilt = [{"url": "https://a.example", "headers": {"X": "1"}}]
    again = sets.name("ws_1", rebuilt)
    assert again == (name, text) and again[1] is not text  # worked out anew, same name
    assert sets.name("ws_2", rebuilt)[0] != name
    names = {sets.name("ws_1", [{"n": n}])[0] for n in (1, 1.0, True)}
    value = "x"
    keyed = [[{"a": value, "b": value}], [{"b": value, "a": value}], [{"c": value, "b": value}]]
    reordered = {sets.name("ws_1", requests)[0] for requests in keyed}
    assert len(names) == 3 and len(reordered) == 3
