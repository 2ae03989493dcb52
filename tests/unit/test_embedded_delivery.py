"""The embedded delivery backend beyond the queue contract: time, receipts, crashes,
delivery records and the SQLite idempotency layer."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.embedded.db import time_key
from functions_runtime.control.ports import StoreError
from functions_runtime.delivery.dispatch import wait_for
from functions_runtime.delivery.embedded import (
    DATABASE_FILE,
    RECORDS_FILE,
    EmbeddedQueue,
    SQLitePersistenceLayer,
    open_delivery,
)
from functions_runtime.delivery.embedded.database import DeliveryDatabase, RecordsDatabase
from functions_runtime.delivery.embedded.deliveries import nearest_rank
from functions_runtime.delivery.ports import Delivery, DeliveryBackend, Job, Queue, QueueCounts

ROOT = Path(__file__).resolve().parents[2]
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend(data_dir: Path, clock: Clock) -> DeliveryBackend:
    return open_delivery(data_dir, clock=clock)


def drain(queue: Queue, visibility_timeout: int = 30) -> list[Job]:
    jobs: list[Job] = []
    while batch := queue.receive(100, visibility_timeout=visibility_timeout):
        jobs.extend(batch)
    return jobs


# -- the database file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tables"),
    [
        (DATABASE_FILE, {"jobs", "dead_letters"}),
        (RECORDS_FILE, {"deliveries", "request_sets", "idempotency"}),
    ],
)
def test_the_queue_and_the_records_are_wal_files_of_their_own_with_full_sync(
    data_dir: Path, name: str, tables: set[str]
) -> None:
    open_delivery(data_dir)
    assert len({DATABASE_FILE, RECORDS_FILE, "functions.db", "store.db"}) == 4
    with sqlite3.connect(data_dir / name) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        found = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert found == tables
    db = DeliveryDatabase(data_dir / DATABASE_FILE)
    with db.read() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    db.close()


def test_job_ids_grow_in_the_order_jobs_were_sent_and_never_repeat(data_dir: Path) -> None:
    """Ids that grow with time keep the primary-key index's writes at its end (random
    ids scattered them over the whole index and doubled the write-ahead log)."""
    queue = open_delivery(data_dir).queue
    for n in range(50):
        queue.send([{"n": n}, {"n": n, "second": True}])
    jobs = drain(queue)
    assert [job.body["n"] for job in jobs] == [n for n in range(50) for _ in range(2)]
    ids = [job.id for job in jobs]
    times = [id_[:16] for id_ in ids]  # two sends in one nanosecond tie: the rest is random
    assert times == sorted(times) and len(set(ids)) == 100
    assert all(len(id_) == 32 and int(id_, 16) >= 0 for id_ in ids)


def _log_frames(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_a_long_write_ahead_log_is_started_over_when_its_readers_are_done(
    data_dir: Path,
) -> None:
    """Under steady load some reader is always in the log, so a passive checkpoint never
    lets it start over and it grows without end. Past ``restart_bytes`` the checkpoint
    waits for the readers then, and the next commit writes the log from its start."""
    queue = open_delivery(data_dir).queue
    path = data_dir / DATABASE_FILE
    db = DeliveryDatabase(path)
    db.restart_bytes = 64 * 1024
    for n in range(40):
        queue.send([{"n": n, "pad": "x" * 2000}] * 5)
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM jobs").fetchone()  # a snapshot at the log's end
    done = threading.Timer(0.3, lambda: reader.execute("COMMIT"))
    done.start()
    try:
        db.checkpoint()  # waits for the reader (0.3 s) before it returns
        queue.send([{"n": "after"}])  # the log starts over: a few frames
    finally:
        done.join()
        reader.close()
    assert _log_frames(path) < 10
    db.close()


def test_a_short_write_ahead_log_is_left_to_the_passive_checkpoint(data_dir: Path) -> None:
    queue = open_delivery(data_dir).queue
    path = data_dir / DATABASE_FILE
    db = DeliveryDatabase(path)
    for n in range(40):
        queue.send([{"n": n, "pad": "x" * 2000}] * 5)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM jobs").fetchone()
    try:
        db.checkpoint()  # passive: does not wait for the reader
        queue.send([{"n": "after"}])  # appended: the reader is still in the log
        assert _log_frames(path) > 100
    finally:
        reader.execute("COMMIT")
        reader.close()
    db.close()


def test_sends_do_not_wait_for_the_records_writers(data_dir: Path) -> None:
    """The delivery loops' records and idempotency claims hold their own file's writer
    lock, not the queue's: ingest's durable send goes through while one is held."""
    backend = open_delivery(data_dir)
    records = sqlite3.connect(data_dir / RECORDS_FILE, isolation_level=None)
    records.execute("BEGIN IMMEDIATE")  # a delivery loop in the middle of its claims
    try:
        backend.queue.send([{"n": 1}])  # with one file, this waited for the lock
        assert backend.queue.counts().visible == 1
    finally:
        records.execute("ROLLBACK")
        records.close()


def test_a_part_whose_records_fail_settles_nothing(backend: DeliveryBackend) -> None:
    """A part's records are committed before its acks (two files, two commits): when
    the records' commit fails, the acks are not written and the jobs come back, so no
    job is ever acknowledged without its record."""
    backend.queue.send([{"n": 1}])
    [job] = backend.queue.receive(1, visibility_timeout=30)
    with pytest.raises(StoreError), backend.deferred():
        backend.deliveries.record(record(1))
        backend.queue.ack(job)
        with sqlite3.connect(backend_path(backend) / RECORDS_FILE) as conn:
            conn.execute("DROP TABLE deliveries")  # the records' commit will fail
    assert backend.queue.counts() == QueueCounts(visible=0, in_flight=1, dead=0)


def test_a_part_is_settled_when_both_commits_succeed(backend: DeliveryBackend) -> None:
    backend.queue.send([{"n": 1}])
    [job] = backend.queue.receive(1, visibility_timeout=30)
    with backend.deferred():
        backend.deliveries.record(record(1))
        backend.queue.ack(job)
        assert backend.deliveries.list("ws_1", "in_1") == []  # nothing written yet
    assert backend.deliveries.list("ws_1", "in_1") == [record(1)]
    assert backend.queue.counts() == QueueCounts(visible=0, in_flight=0, dead=0)


_SCHEMA_1 = (
    "CREATE TABLE jobs (id TEXT PRIMARY KEY, body TEXT NOT NULL, visible_at REAL NOT NULL,"
    " receive_count INTEGER NOT NULL DEFAULT 0, sent_at REAL NOT NULL, receipt TEXT)",
    "CREATE INDEX jobs_by_visible_at ON jobs (visible_at)",
    "CREATE TABLE dead_letters (id TEXT PRIMARY KEY, body TEXT NOT NULL, reason TEXT NOT NULL,"
    " dead_at REAL NOT NULL, receive_count INTEGER NOT NULL)",
    "CREATE INDEX dead_letters_by_dead_at ON dead_letters (dead_at)",
    "CREATE TABLE deliveries (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL,"
    " instance_id TEXT NOT NULL, outcome TEXT NOT NULL, at INTEGER NOT NULL,"
    " duration_ms REAL NOT NULL, data TEXT NOT NULL)",
    "CREATE INDEX deliveries_by_instance ON deliveries (workspace_id, instance_id, at)",
    "CREATE TABLE idempotency (id TEXT PRIMARY KEY, expiration INTEGER,"
    " in_progress_expiry INTEGER, status TEXT NOT NULL, data TEXT, validation TEXT)",
)


def _release_1_directory(data_dir: Path) -> None:
    """A data directory as the release before the split left it: one delivery.db (schema
    1) with a queued job, a dead letter, 1,200 delivery records and an idempotency key."""
    data_dir.mkdir(parents=True)
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        for statement in _SCHEMA_1:
            conn.execute(statement)
        conn.execute("INSERT INTO jobs VALUES ('j1', '{\"n\": 1}', 0, 0, 0, NULL)")
        conn.execute("INSERT INTO dead_letters VALUES ('d1', '{\"n\": 2}', 'boom', 0, 3)")
        for n in range(1, 1201):
            _insert_schema_1(conn, record(n))
        conn.execute("INSERT INTO idempotency VALUES ('k', NULL, NULL, 'COMPLETED', '{}', NULL)")
        conn.execute("PRAGMA user_version = 1")


def _insert_schema_1(conn: sqlite3.Connection, r: Delivery) -> None:
    row = (r.id, r.workspace_id, r.instance_id, r.outcome, time_key(r.at), r.duration_ms)
    conn.execute("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?)", (*row, r.model_dump_json()))


def test_a_delivery_db_of_schema_1_has_its_records_moved_once(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _release_1_directory(data_dir)
    backend = open_delivery(data_dir)
    [note] = [r.getMessage() for r in caplog.records if r.name == "functions.delivery"]
    assert "moved 1201 delivery records and idempotency keys to records.db" in note
    assert len(backend.deliveries.list("ws_1", "in_1", limit=5000)) == 1200
    assert backend.deliveries.list("ws_1", "in_1", limit=1) == [record(1200)]
    assert backend.idempotency._get_record("k").status == "COMPLETED"
    assert [job.body for job in backend.queue.receive(10)] == [{"n": 1}]
    assert [d.body for d in backend.queue.take_dead(lambda body: True)] == [{"n": 2}]
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert not tables & {"deliveries", "idempotency", "deliveries_by_instance"}
    backend.deliveries.record(record(1, outcome="failed"))
    again = open_delivery(data_dir)  # nothing left to move: the newer record stays
    assert again.deliveries.list("ws_1", "in_1", outcome="failed") == [record(1, outcome="failed")]


def test_a_move_cut_short_before_the_drop_is_finished_at_the_next_open(
    data_dir: Path,
) -> None:
    """The copy commits before the old tables are dropped: a process killed between the
    two leaves both, and the next open copies again, keeping what records.db has."""
    _release_1_directory(data_dir)
    open_delivery(data_dir).deliveries.record(record(1, outcome="failed"))
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:  # back to before the drop
        for statement in _SCHEMA_1[4:]:
            conn.execute(statement)
        _insert_schema_1(conn, record(2000))
        _insert_schema_1(conn, record(1))  # copied before; records.db has a newer one
        conn.execute("PRAGMA user_version = 1")
    backend = open_delivery(data_dir)
    listed = backend.deliveries.list("ws_1", "in_1", limit=5000)
    assert len(listed) == 1201 and listed[0] == record(2000)
    assert backend.deliveries.list("ws_1", "in_1", outcome="failed") == [
        record(1, outcome="failed")
    ]


def backend_path(backend: DeliveryBackend) -> Path:
    queue = backend.queue
    assert isinstance(queue, EmbeddedQueue)
    return Path(queue._db._path).parent


def test_sends_do_not_wait_for_control_plane_writes(data_dir: Path) -> None:
    open_embedded(data_dir)
    queue = open_delivery(data_dir).queue
    control = sqlite3.connect(data_dir / "functions.db", isolation_level=None)
    control.execute("BEGIN IMMEDIATE")  # a control-plane writer holding its lock
    try:
        # Sharing the control plane's database would raise "database is locked" here.
        queue.send([{"n": 1}])
        assert queue.counts().visible == 1
    finally:
        control.execute("ROLLBACK")
        control.close()
    assert [job.body for job in queue.receive()] == [{"n": 1}]


def test_a_database_from_a_newer_release_is_refused(data_dir: Path) -> None:
    open_delivery(data_dir)
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer release"):
        open_delivery(data_dir)


# -- the queue ---------------------------------------------------------------------------


def test_visibility_follows_the_clock_and_old_receipts_go_stale(
    backend: DeliveryBackend, clock: Clock
) -> None:
    q = backend.queue
    q.send([{"n": 1}])
    [first] = q.receive(1, visibility_timeout=30)
    assert first.sent_at == datetime.fromtimestamp(START, UTC)
    clock.advance(29.9)
    assert q.receive(1) == []
    clock.advance(0.1)
    [second] = q.receive(1, visibility_timeout=30)
    assert (second.id, second.receive_count, second.sent_at) == (first.id, 2, first.sent_at)
    assert second.receipt != first.receipt
    q.ack(first)  # the first worker lost the job: its ack is ignored
    q.retry(first, delay_seconds=0)
    q.dead_letter(first, "too late")
    assert (q.counts().in_flight, q.counts().dead) == (1, 0)
    q.ack(second)
    assert q.counts() == QueueCounts(visible=0, in_flight=0, dead=0)


def test_jobs_come_out_in_order_of_visibility_then_sending(
    backend: DeliveryBackend, clock: Clock
) -> None:
    q = backend.queue
    q.send([{"n": 3}], delay_seconds=5)
    q.send([{"n": n} for n in range(3)])
    assert [job.body["n"] for job in q.receive(10)] == [0, 1, 2]
    clock.advance(5)
    assert [job.body["n"] for job in q.receive(10)] == [3]


def test_counts_put_every_job_that_is_not_visible_yet_in_flight(
    backend: DeliveryBackend, clock: Clock
) -> None:
    q = backend.queue
    q.send([{"n": 1}, {"n": 2}, {"n": 3}])
    q.send([{"n": 4}], delay_seconds=60)
    one, two = q.receive(2)
    q.retry(one, delay_seconds=10)
    q.dead_letter(two, "rejected")
    counts = q.counts()
    assert (counts.visible, counts.in_flight, counts.dead) == (1, 2, 1)
    clock.advance(60)
    assert q.counts().visible == 3


def test_dead_letters_keep_their_reason_time_and_leave_oldest_first(
    backend: DeliveryBackend, clock: Clock
) -> None:
    q = backend.queue
    q.send([{"n": n} for n in range(5)])
    for job in q.receive(5):
        clock.advance(1)
        q.dead_letter(job, f"reason {job.body['n']}")
    taken = q.take_dead(lambda body: body["n"] % 2 == 0, limit=2)
    assert [(d.body, d.reason) for d in taken] == [({"n": 0}, "reason 0"), ({"n": 2}, "reason 2")]
    assert taken[0].dead_at == datetime.fromtimestamp(START + 1, UTC)

    def explode(body: dict[str, Any]) -> bool:
        raise RuntimeError("bad matcher")

    with pytest.raises(RuntimeError):
        q.take_dead(explode)
    assert q.counts().dead == 3  # nothing was taken
    assert q.take_dead(lambda body: True, limit=0) == []
    assert [d.body["n"] for d in q.take_dead(lambda body: True)] == [1, 3, 4]


def test_a_retry_without_a_delay_is_visible_at_once_and_limits_take_that_many(
    backend: DeliveryBackend, clock: Clock
) -> None:
    q = backend.queue
    q.send([{"n": 1}, {"n": 2}])
    one, two = q.receive(2)
    q.retry(one, delay_seconds=0)
    q.retry(two, delay_seconds=-5)  # never in the past: now
    again = q.receive(2)
    assert [(job.id, job.receive_count) for job in again] == [(one.id, 2), (two.id, 2)]
    for job in again:
        clock.advance(1)
        q.dead_letter(job, "done")
    [oldest] = q.take_dead(lambda body: True, limit=1)
    assert (oldest.body, oldest.reason) == ({"n": 1}, "done")
    assert q.counts().dead == 1
    q.send([{"n": 3}])
    [peek] = q.receive(1, visibility_timeout=0)  # not hidden at all
    assert [(job.id, job.receive_count) for job in q.receive(1)] == [(peek.id, 2)]


def test_a_batch_with_a_body_that_is_not_json_queues_nothing(backend: DeliveryBackend) -> None:
    q = backend.queue
    with pytest.raises(TypeError):
        q.send([{"n": 1}, {"n": {1, 2}}])
    with pytest.raises(ValueError):
        q.send([{"n": 1}, {"n": math.nan}])
    q.send([])
    assert q.counts().visible == 0
    assert q.receive(0) == []


def test_bodies_round_trip_exactly(backend: DeliveryBackend) -> None:
    body = {
        "text": "héllo ✓ \U0001f680 \ud800 \x00",
        "big": 2**70,
        "float": 0.1,
        "nested": {"list": [1, None, True, False, {"a": []}]},
        "": "",
    }
    backend.queue.send([body])
    [job] = backend.queue.receive()
    assert job.body == body
    assert json.dumps(job.body) == json.dumps(body)


def test_jobs_survive_a_reopen_with_their_state(data_dir: Path, clock: Clock) -> None:
    first = open_delivery(data_dir, clock=clock).queue
    first.send([{"n": 1}, {"n": 2}])
    [held] = first.receive(1, visibility_timeout=30)
    second = open_delivery(data_dir, clock=clock).queue  # a restarted process
    [other] = second.receive(10)
    assert other.body == {"n": 2}
    second.ack(other)
    clock.advance(30)
    [again] = second.receive(10)
    assert (again.body, again.receive_count) == (held.body, 2)


def test_threads_and_separate_openers_share_no_job(data_dir: Path) -> None:
    queues = [open_delivery(data_dir).queue for _ in range(2)]  # as two processes would
    sent = [{"n": n} for n in range(200)]
    got: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def produce(part: int) -> None:
        for start in range(part * 50, part * 50 + 50, 10):
            queues[part % 2].send(sent[start : start + 10])

    def consume(queue: Queue) -> None:
        while not (done.is_set() and queue.counts().visible == 0):
            jobs = queue.receive(7, visibility_timeout=60)
            for job in jobs:
                with lock:
                    got.append(job.body["n"])
                queue.ack(job)
            if not jobs:
                time.sleep(0.005)

    consumers = [threading.Thread(target=consume, args=(q,)) for q in queues * 2]
    producers = [threading.Thread(target=produce, args=(part,)) for part in range(4)]
    for thread in consumers + producers:
        thread.start()
    for thread in producers:
        thread.join()
    done.set()
    for thread in consumers:
        thread.join(timeout=20)
    assert sorted(got) == list(range(200))


_SENDER = """
import sys
from functions_runtime.delivery.embedded import open_delivery

queue = open_delivery(sys.argv[1]).queue
n = 0
while True:
    queue.send([{"n": n, "pad": "x" * 3000}, {"n": n, "half": 2}])
    sys.stdout.write(f"{n}\\n")
    sys.stdout.flush()
    n += 1
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize("kill_after", [40, 150])
def test_a_killed_sender_loses_no_acknowledged_send(data_dir: Path, kill_after: int) -> None:
    open_delivery(data_dir)
    with subprocess.Popen(
        [sys.executable, "-c", _SENDER, str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        acknowledged: set[int] = set()
        for line in child.stdout:
            acknowledged.add(int(line))
            if len(acknowledged) >= kill_after:
                break
        child.send_signal(signal.SIGKILL)  # likely inside a send's transaction
        rest = child.stdout.read()
        child.wait(timeout=10)
    acknowledged |= {int(line) for line in rest.splitlines(keepends=True) if line.endswith("\n")}

    queue = open_delivery(data_dir).queue
    halves: dict[int, int] = {}
    for job in drain(queue):
        halves[job.body["n"]] = halves.get(job.body["n"], 0) + 1
    assert acknowledged <= set(halves)
    assert set(halves.values()) == {2}  # every batch whole, or absent
    assert set(halves) - acknowledged <= {max(acknowledged) + 1}
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- delivery records --------------------------------------------------------------------


def record(n: int, **changes: Any) -> Delivery:
    fields: dict[str, Any] = {
        "id": f"in_1:m{n}:1",
        "workspace_id": "ws_1",
        "instance_id": "in_1",
        "message_id": f"m{n}",
        "outcome": "delivered",
        "duration_ms": float(n),
        "at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
    }
    return Delivery(**{**fields, **changes})


def test_recording_an_id_again_replaces_it(backend: DeliveryBackend) -> None:
    store = backend.deliveries
    store.record(record(1, outcome="retry", attempt=1))
    store.record(record(1, outcome="delivered", attempt=2, logs=["ok"]))
    assert store.list("ws_1", "in_1") == [record(1, outcome="delivered", attempt=2, logs=["ok"])]
    assert store.stats("ws_1", "in_1").counts == {"delivered": 1}


def test_datetimes_keep_their_offset_and_sort_by_instant(backend: DeliveryBackend) -> None:
    store = backend.deliveries
    plus_two = timezone(timedelta(hours=2))
    early = record(1, at=datetime(2026, 1, 1, 12, 30, tzinfo=plus_two))  # 10:30Z
    late = record(2, at=datetime(2026, 1, 1, 11, 0, tzinfo=UTC))
    store.record(late)
    store.record(early)
    listed = store.list("ws_1", "in_1")
    assert listed == [late, early]
    assert listed[1].at.utcoffset() == timedelta(hours=2)
    since = datetime(2026, 1, 1, 12, 0, tzinfo=plus_two)  # 10:00Z
    assert store.list("ws_1", "in_1", since=since, limit=0) == []
    assert len(store.list("ws_1", "in_1", since=since)) == 2


def test_stats_use_nearest_rank_over_matching_rows(backend: DeliveryBackend) -> None:
    store = backend.deliveries
    store.record(record(7, duration_ms=7.5))
    one = store.stats("ws_1", "in_1")
    assert (one.p50_ms, one.p95_ms, one.total) == (7.5, 7.5, 1)
    for n in range(10, 20):
        store.record(record(n, outcome="rejected" if n % 2 else "delivered"))
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=10)
    ten = store.stats("ws_1", "in_1", since=since)
    assert ten.counts == {"delivered": 5, "rejected": 5}
    assert (ten.p50_ms, ten.p95_ms) == (14.0, 19.0)
    assert [nearest_rank(p, 20) for p in (0, 50, 95, 100)] == [1, 10, 19, 20]
    assert nearest_rank(50, 0) == 0


# -- idempotency -------------------------------------------------------------------------


# Powertools reads a DataRecord's status against the wall clock, so these tests start
# their clock at the present and keep expiry times well ahead of it.
NOW = float(int(time.time()))


@pytest.fixture
def live_clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def layer(data_dir: Path, live_clock: Clock) -> SQLitePersistenceLayer:
    persistence = open_delivery(data_dir, clock=live_clock).idempotency
    assert isinstance(persistence, SQLitePersistenceLayer)
    return persistence


def in_progress(key: str, expiry: float, in_progress_expiry: float | None = None) -> DataRecord:
    ms = None if in_progress_expiry is None else int(in_progress_expiry * 1000)
    return DataRecord(key, "INPROGRESS", int(expiry), ms)


def test_records_are_put_found_completed_and_deleted(layer: SQLitePersistenceLayer) -> None:
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k")
    layer._put_record(in_progress("k", NOW + 3600, NOW + 30))
    with pytest.raises(IdempotencyItemAlreadyExistsError) as raised:
        layer._put_record(in_progress("k", NOW + 3600, NOW + 30))
    old = raised.value.old_data_record
    assert old is not None and (old.status, old.in_progress_expiry_timestamp) == (
        "INPROGRESS",
        int((NOW + 30) * 1000),
    )
    layer._update_record(DataRecord("k", "COMPLETED", int(NOW + 3600), response_data='{"a":1}'))
    found = layer._get_record("k")
    assert (found.status, found.response_json_as_dict()) == ("COMPLETED", {"a": 1})
    layer._delete_record(DataRecord("k"))
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k")


def test_expired_records_are_absent_and_replaced(
    layer: SQLitePersistenceLayer, live_clock: Clock
) -> None:
    layer._update_record(DataRecord("k", "COMPLETED", int(NOW + 600), response_data="{}"))
    live_clock.advance(601)
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k")
    layer._put_record(in_progress("k", NOW + 3600))
    assert layer._get_record("k").status == "INPROGRESS"


def test_only_an_in_progress_record_past_its_in_progress_expiry_is_taken_over(
    layer: SQLitePersistenceLayer, live_clock: Clock
) -> None:
    layer._put_record(in_progress("running", NOW + 3600, NOW + 5))
    layer._update_record(DataRecord("done", "COMPLETED", int(NOW + 3600)))
    live_clock.advance(6)
    layer._put_record(in_progress("running", NOW + 3600, NOW + 3600))  # taken over
    with pytest.raises(IdempotencyItemAlreadyExistsError):
        layer._put_record(in_progress("running", NOW + 3600, NOW + 3600))
    with pytest.raises(IdempotencyItemAlreadyExistsError):
        layer._put_record(in_progress("done", NOW + 3600, NOW + 3600))


def test_payload_validation_compares_with_the_stored_hash(layer: SQLitePersistenceLayer) -> None:
    layer.configure(IdempotencyConfig(payload_validation_jmespath="body"), "deliver")
    layer._put_record(DataRecord("k", "INPROGRESS", int(NOW + 3600), payload_hash="aaa"))
    with pytest.raises(IdempotencyValidationError):
        layer._put_record(DataRecord("k", "INPROGRESS", int(NOW + 3600), payload_hash="bbb"))
    layer._update_record(DataRecord("k", "COMPLETED", int(NOW + 3600), payload_hash="ccc"))
    assert layer._get_record("k").payload_hash == "ccc"


def deliver_with(
    backend: DeliveryBackend, handler: Callable[[dict[str, str]], dict[str, str]]
) -> Callable[..., dict[str, str]]:
    config = IdempotencyConfig(event_key_jmespath="message_id", expires_after_seconds=3600)
    decorated: Callable[..., dict[str, str]] = idempotent_function(
        data_keyword_argument="job", persistence_store=backend.idempotency, config=config
    )(handler)
    return decorated


def test_a_failed_delivery_clears_its_record_so_a_retry_runs(data_dir: Path) -> None:
    backend = open_delivery(data_dir)
    calls: list[str] = []

    def handler(job: dict[str, str]) -> dict[str, str]:
        calls.append(job["message_id"])
        if len(calls) == 1:
            raise RuntimeError("503")
        return {"outcome": "delivered"}

    deliver = deliver_with(backend, handler)
    with pytest.raises(RuntimeError):
        deliver(job={"message_id": "m1"})
    assert deliver(job={"message_id": "m1"}) == {"outcome": "delivered"}
    assert deliver(job={"message_id": "m1"}) == {"outcome": "delivered"}
    assert calls == ["m1", "m1"]


class Crash(BaseException):
    """Stands for the worker dying mid-delivery: Powertools cleans up nothing."""


def test_a_crashed_delivery_blocks_redelivery_only_while_in_progress(data_dir: Path) -> None:
    clock = Clock(time.time())  # Powertools stamps records with the wall clock
    backend = open_delivery(data_dir, clock=clock)
    calls: list[str] = []

    def handler(job: dict[str, str]) -> dict[str, str]:
        calls.append(job["message_id"])
        if len(calls) == 1:
            raise Crash
        return {"outcome": "delivered"}

    deliver = deliver_with(backend, handler)
    with pytest.raises(Crash):
        deliver(job={"message_id": "m1"})
    with pytest.raises(IdempotencyAlreadyInProgressError):
        deliver(job={"message_id": "m1"})
    clock.advance(31)  # past the default in-progress window (no Lambda context here)
    assert deliver(job={"message_id": "m1"}) == {"outcome": "delivered"}
    assert calls == ["m1", "m1"]


# -- transactions ------------------------------------------------------------------------------


def test_a_transaction_commits_its_writes_together_or_not_at_all(
    backend: DeliveryBackend, data_dir: Path
) -> None:
    layer = backend.idempotency
    assert isinstance(layer, SQLitePersistenceLayer)
    with pytest.raises(RuntimeError), backend.transaction():
        layer._put_record(in_progress("k1", NOW + 3600, NOW + 30))
        backend.deliveries.record(record(1))
        assert backend.deliveries.list("ws_1", "in_1") == []  # other connections: not yet
        raise RuntimeError("the group failed")
    assert backend.deliveries.list("ws_1", "in_1") == []
    with pytest.raises(IdempotencyItemNotFoundError):
        layer._get_record("k1")
    with backend.transaction():
        layer._put_record(in_progress("k2", NOW + 3600, NOW + 30))
        with backend.transaction():  # nested: joins the outer one
            backend.deliveries.record(record(2))
    assert [d.id for d in backend.deliveries.list("ws_1", "in_1")] == ["in_1:m2:1"]
    assert layer._get_record("k2").status == "INPROGRESS"


def test_a_send_inside_a_transaction_is_durable_on_its_own(backend: DeliveryBackend) -> None:
    """The queue is another file: a send inside the records' transaction is its own
    durable commit, and stays queued when the transaction fails."""
    with pytest.raises(RuntimeError), backend.transaction():
        backend.queue.send([{"n": 1}])
        raise RuntimeError("the group failed")
    assert backend.queue.counts().visible == 1


def test_a_failed_write_dooms_its_transaction_even_if_caught(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    db = RecordsDatabase(data_dir / RECORDS_FILE)
    insert = "INSERT INTO idempotency (id, status) VALUES (?, 'COMPLETED')"
    doomed = "nothing in its transaction was saved"
    with pytest.raises(StoreError, match=f"clash; {doomed}"), db.transaction():
        with db.write("first") as conn:
            conn.execute(insert, ["a"])
        with pytest.raises(StoreError, match="clash"), db.write("clash") as conn:
            conn.execute(insert, ["b"])
            conn.execute(insert, ["a"])  # primary key clash
        with pytest.raises(StoreError, match=doomed), db.write("third") as conn:
            conn.execute(insert, ["c"])
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM idempotency").fetchone()[0] == 0
    with db.transaction(), db.write("again") as conn:  # the next one starts clean
        conn.execute(insert, ["a"])
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM idempotency")] == ["a"]


def test_deferred_writes_run_at_the_end_of_the_block_or_not_at_all(
    backend: DeliveryBackend,
) -> None:
    backend.queue.send([{"n": 1}, {"n": 2}])
    first, second = backend.queue.receive(2)
    with backend.deferred():
        backend.deliveries.record(record(1))
        backend.queue.ack(first)
        backend.queue.dead_letter(second, "broken")
        # Nothing has reached the database yet, not even for this thread's reads.
        assert backend.deliveries.list("ws_1", "in_1") == []
        assert backend.queue.counts().in_flight == 2
    assert [d.id for d in backend.deliveries.list("ws_1", "in_1")] == ["in_1:m1:1"]
    assert backend.queue.counts() == QueueCounts(visible=0, in_flight=0, dead=1)
    with pytest.raises(RuntimeError), backend.deferred():
        backend.deliveries.record(record(2))
        raise RuntimeError("the part failed")
    assert [d.id for d in backend.deliveries.list("ws_1", "in_1")] == ["in_1:m1:1"]


def test_a_deferred_block_cannot_hold_a_write_that_reads(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    db = DeliveryDatabase(data_dir / DATABASE_FILE)
    with pytest.raises(AttributeError), db.deferred(), db.write("reads") as conn:
        conn.execute("SELECT COUNT(*) FROM jobs").fetchone()


def test_writes_without_fsync_leave_the_connection_durable(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    db = DeliveryDatabase(data_dir / DATABASE_FILE)
    with db.write("quick", durable=False) as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with db.write("durable") as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0


def test_the_log_is_checkpointed_in_the_background(data_dir: Path) -> None:
    backend = open_delivery(data_dir)
    main = data_dir / DATABASE_FILE
    before = main.stat().st_size
    backend.queue.send([{"n": n, "pad": "x" * 2000} for n in range(500)])
    assert main.stat().st_size == before  # no commit checkpoints (wal_autocheckpoint=0)...
    # ...the background thread copies the log into the database file.
    assert wait_for(lambda: main.stat().st_size > before + 1_000_000, timeout=10)


class CountingDatabase(DeliveryDatabase):
    """Counts write transactions; fails the first ``failures`` of them."""

    def __init__(self, path: Path, failures: int = 0) -> None:
        super().__init__(path)
        self.writes = 0
        self.failures = failures

    @contextmanager
    def write(self, conflict: str, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        self.writes += 1
        if self.failures:
            self.failures -= 1
            time.sleep(0.05)  # let other senders pile up behind this one
            raise StoreError("disk full")
        with super().write(conflict, durable=durable) as conn:
            yield conn


def send_concurrently(queue: EmbeddedQueue, threads: int, sends: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def sender(n: int) -> None:
        start.wait()
        for i in range(sends):
            try:
                queue.send([{"sender": n, "i": i}, {"sender": n, "i": i, "second": True}])
            except StoreError as exc:
                errors.append(exc)

    workers = [threading.Thread(target=sender, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def test_concurrent_sends_share_commits_and_all_arrive(data_dir: Path, clock: Clock) -> None:
    data_dir.mkdir(mode=0o700)
    db = CountingDatabase(data_dir / DATABASE_FILE)
    queue = EmbeddedQueue(db, clock)
    assert send_concurrently(queue, threads=8, sends=40) == []
    bodies = [job.body for job in drain(queue)]
    assert len(bodies) == 8 * 40 * 2
    assert {(b["sender"], b["i"]) for b in bodies} == {(n, i) for n in range(8) for i in range(40)}
    assert db.writes < 8 * 40  # some sends rode along in another thread's commit


def test_a_failed_group_commit_fails_every_send_in_it(data_dir: Path, clock: Clock) -> None:
    data_dir.mkdir(mode=0o700)
    db = CountingDatabase(data_dir / DATABASE_FILE, failures=1)
    queue = EmbeddedQueue(db, clock)
    errors = send_concurrently(queue, threads=4, sends=1)
    assert errors and all(isinstance(e, StoreError) and "disk full" in str(e) for e in errors)
    assert len({id(e) for e in errors}) == len(errors)  # each thread its own exception
    delivered = len(drain(queue))
    assert delivered == 2 * (4 - len(errors))  # whoever failed queued nothing
    queue.send([{"after": True}])
    assert [job.body for job in drain(queue)] == [{"after": True}]
