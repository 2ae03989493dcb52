"""The delivery databases: two SQLite files (WAL, ``synchronous=FULL``) beside functions.db.

``delivery.db`` holds the queue (jobs and dead letters); ``records.db`` holds the
delivery records and the idempotency table. Both reuse the control plane's connection
pool (``control.embedded_db.Database``: WAL, busy timeout, ``BEGIN IMMEDIATE`` writes,
sqlite errors mapped to ``StoreError``) with schemas of their own, so that ingest and
delivery writes never wait on control-plane writes, and ingest's durable sends wait only
on the delivery loops' queue writes (receive, ack, retry), never on their records and
idempotency claims: SQLite has one writer per file, and with one file for all of it the
writer lock was busy all the time under load (ingest waited about 5 ms per commit).

Several processes write to each file (``functions serve``'s API and its delivery
processes, a CLI replaying dead letters). SQLite alone would make a writer that finds
the file locked poll with growing sleeps (up to 100 ms); here writers also queue on an
``flock`` of the file's ``.lock`` companion, which the kernel hands over the moment it
is released.

SQLite would checkpoint the write-ahead log inside whichever commit crosses 1,000 pages,
holding every writer up for that long (10 to 15 ms here); instead a background thread
checkpoints (``PASSIVE``, beside the writers) every ``CHECKPOINT_SECONDS``. Under steady
load that never lets the log start over (some reader or writer is always in it), so it
grew by 20 to 40 MB a second; past ``WAL_RESTART_BYTES`` (about 10 s of that) the thread also runs a
``RESTART`` checkpoint, holding the writers back for it, after which the next commit
writes the log from its beginning again.

The delivery loop groups its writes instead of committing each: idempotency claims a
few per :meth:`DeliveryDatabase.transaction`, then a part's delivery records,
idempotency results and queue acks in :meth:`DeliveryDatabase.deferred` blocks (one per
file, the records' committed first: see ``open_delivery``). Those commits skip their
own ``fsync`` (``durable=False``); sends stay durable.

Opening a file runs ``PRAGMA quick_check``: a damaged file is refused at start with
what to do, rather than failing every write of the delivery loop afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from ...control.embedded.db import Database, translate_errors
from ...control.ports import StoreError

__all__ = [
    "RECORDS_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "DeliveryDatabase",
    "RecordsDatabase",
    "move_records",
]

SCHEMA_VERSION = 2  # 1: the records and idempotency tables were in this file too
RECORDS_SCHEMA_VERSION = 2  # 1: every record held its own copy of its call's requests
CHECKPOINT_SECONDS = 0.5
WAL_RESTART_BYTES = 256 * 1024 * 1024

_QUEUE_SCHEMA = (
    # rowid breaks ties between jobs that became visible at the same instant: FIFO.
    """CREATE TABLE jobs (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, visible_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0, sent_at REAL NOT NULL, receipt TEXT)""",
    "CREATE INDEX jobs_by_visible_at ON jobs (visible_at)",
    """CREATE TABLE dead_letters (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, reason TEXT NOT NULL,
        dead_at REAL NOT NULL, receive_count INTEGER NOT NULL)""",
    "CREATE INDEX dead_letters_by_dead_at ON dead_letters (dead_at)",
)
# A record's outgoing requests are stored once per distinct list (an ``on_batch`` call's
# records all carry the call's): ``deliveries.requests`` names a ``request_sets`` row
# and ``data`` then leaves them out; NULL: ``data`` holds them (schema 1 rows too).
_REQUEST_SETS = "CREATE TABLE request_sets (id TEXT PRIMARY KEY, data TEXT NOT NULL)"
_RECORDS_SCHEMA = (
    """CREATE TABLE deliveries (
        id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, instance_id TEXT NOT NULL,
        outcome TEXT NOT NULL, at INTEGER NOT NULL, duration_ms REAL NOT NULL,
        data TEXT NOT NULL, requests TEXT)""",
    "CREATE INDEX deliveries_by_instance ON deliveries (workspace_id, instance_id, at)",
    _REQUEST_SETS,
    # Column meanings follow Powertools' DynamoDB layer: expiration in epoch seconds
    # (NULL: never, as for a DataRecord without one), in_progress_expiry in milliseconds.
    """CREATE TABLE idempotency (
        id TEXT PRIMARY KEY, expiration INTEGER, in_progress_expiry INTEGER,
        status TEXT NOT NULL, data TEXT, validation TEXT)""",
)


class DeliveryDatabase(Database):
    """The control plane's pool and transactions over the queue's schema
    (``delivery.db``); :class:`RecordsDatabase` is the same over the records'."""

    schema: tuple[str, ...] = _QUEUE_SCHEMA
    schema_version = SCHEMA_VERSION
    schema_label = "delivery schema"
    kind = "delivery database"
    holds = "the events queued in it"
    restart_bytes = WAL_RESTART_BYTES

    def __init__(self, path: Path) -> None:
        try:
            super().__init__(path)
            _quick_check(self, path)
        except StoreError as exc:
            raise StoreError(
                f"the {self.kind} {path} cannot be used: "
                f"{str(exc).removeprefix('the metadata database failed: ')}. If it is damaged, "
                "stop every process using it, move it aside (with its -wal and -shm files) "
                f"and restore a backup, or start without it ({self.holds} are lost)"
            ) from exc
        self._open = threading.local()  # this thread's open transaction, if any
        try:
            fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the delivery database's lock file: {exc}") from exc
        self._lock_fd = fd
        weakref.finalize(self, os.close, fd)
        stop = threading.Event()
        weakref.finalize(self, stop.set)
        threading.Thread(
            target=_checkpoints, args=(weakref.ref(self), stop), daemon=True, name="checkpoint"
        ).start()

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # see _checkpoints
        return conn

    @property
    def closed(self) -> bool:
        return self._closed

    def checkpoint(self) -> None:
        """Copy what the write-ahead log holds into the database, without waiting for or
        holding up readers and writers (``PRAGMA wal_checkpoint(PASSIVE)``); then, if
        the log holds more than ``restart_bytes`` of pages since it last started over,
        make the next commit start it over (``RESTART``: it waits for the readers, and
        this process's and the other processes' writers wait for it, as for a write).
        The file keeps its size and is written again from its beginning."""
        with self.read() as conn:
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        if int(frames) * page <= self.restart_bytes:
            return
        with (
            translate_errors("the write-ahead log could not be restarted"),
            self._writer,
            self._exclusive(),
            self._connection() as conn,
        ):
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Other processes' writers wait here (in the kernel) rather than poll SQLite."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """Make every write this thread does inside the block part of one transaction.

        One ``BEGIN IMMEDIATE ... COMMIT`` for the lot: all of it is committed, or none
        of it. A write that fails inside dooms the transaction: even if the block
        catches its error, nothing is committed and the block ends with ``StoreError``.
        Nested blocks (and :meth:`deferred` ones) join the outer one. Reads through
        :meth:`read` use other connections and so do not see the uncommitted writes.
        ``durable=False``: no ``fsync`` of its own (see ``Database.write``).
        """
        if self.in_transaction():
            yield
            return
        with super().write("a delivery transaction conflicted", durable=durable) as conn:
            self._open.conn, self._open.failed = conn, None
            try:
                yield
            finally:
                self._open.conn, failed = None, self._open.failed
            if failed is not None:
                raise StoreError(f"{failed}; nothing in its transaction was saved")

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Collect the writes this thread makes inside the block; run them at its end, in
        order, in one short transaction without an ``fsync`` of its own.

        For blind writes only (inserts, updates and deletes whose results nobody reads):
        the writer lock is held for the SQL alone, not for the Python work between the
        writes. If the block raises, nothing is written; if the writes fail, the block
        ends with ``StoreError`` and none of them is saved.
        """
        if self.in_transaction():
            yield
            return
        statements = _Statements()
        self._open.deferred = statements
        try:
            yield
        finally:
            self._open.deferred = None
        if not statements.pending:
            return
        with super().write("delivery writes conflicted", durable=False) as conn:
            for sql, params, many in statements.pending:
                if many:
                    conn.executemany(sql, params)
                else:
                    conn.execute(sql, params)

    def in_transaction(self) -> bool:
        """Whether this thread is inside a :meth:`transaction` or :meth:`deferred` block."""
        open_ = self._open
        return (
            getattr(open_, "conn", None) is not None or getattr(open_, "deferred", None) is not None
        )

    @contextmanager
    def write(self, conflict: str, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction of its own, or a part of this thread's open
        :meth:`transaction` (whose failure then fails that transaction) or
        :meth:`deferred` block (whose statements are run at its end)."""
        statements: _Statements | None = getattr(self._open, "deferred", None)
        if statements is not None:
            yield cast(sqlite3.Connection, statements)
            return
        conn: sqlite3.Connection | None = getattr(self._open, "conn", None)
        if conn is None:
            with super().write(conflict, durable=durable) as own:
                yield own
            return
        if self._open.failed is not None:
            raise StoreError(f"{self._open.failed}; nothing in its transaction was saved")
        try:
            with translate_errors(conflict):
                yield conn
        except BaseException as exc:
            self._open.failed = str(exc) if isinstance(exc, StoreError) else conflict
            raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A connection inside a read transaction: every statement sees the same data."""
        with self.read() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")


class RecordsDatabase(DeliveryDatabase):
    """``records.db``: the delivery records and the idempotency table."""

    schema = _RECORDS_SCHEMA
    schema_version = RECORDS_SCHEMA_VERSION
    upgrades = MappingProxyType(
        {1: ("ALTER TABLE deliveries ADD COLUMN requests TEXT", _REQUEST_SETS)}
    )
    schema_label = "records schema"
    kind = "delivery records database"
    holds = "the delivery records and idempotency keys in it"


_MOVED = (
    ("deliveries", "id, workspace_id, instance_id, outcome, at, duration_ms, data"),
    ("idempotency", "id, expiration, in_progress_expiry, status, data, validation"),
)


def move_records(queue: DeliveryDatabase, records: RecordsDatabase) -> int:
    """Bring a ``delivery.db`` of schema 1 (records and idempotency in it too) to schema
    2: copy those two tables into ``records.db`` (a row already there wins), then drop
    them from ``delivery.db``. Returns the rows copied (0 when there was nothing to do).

    It runs inside ``delivery.db``'s write transaction, so processes that open the
    directory together move the rows once. The copy commits first: a crash before the
    drop copies again at the next start, and the copy keeps what is already there.
    """
    moved = 0
    with queue.write("upgrading the delivery schema conflicted") as conn:
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) != 1:
            return 0
        with records.write("moving the delivery records conflicted") as target:
            for table, columns in _MOVED:
                marks = ", ".join("?" * len(columns.split(", ")))
                cursor = conn.execute(f"SELECT {columns} FROM {table}")
                while rows := cursor.fetchmany(500):
                    target.executemany(
                        f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})", rows
                    )
                    moved += len(rows)
        for table, _ in _MOVED:
            conn.execute(f"DROP TABLE {table}")  # and its index
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return moved


def _quick_check(db: DeliveryDatabase, path: Path) -> None:
    """``PRAGMA quick_check``: refuse a damaged file at start rather than fail on every
    write later (it reads the whole file once: about a second per gigabyte)."""
    with db.read() as conn:
        found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
    if found != ["ok"]:
        db.close()
        damage = "; ".join(" ".join(line.split()) for line in found)
        raise StoreError(f"PRAGMA quick_check found damage ({damage})")


class _Statements:
    """Stands in for the connection inside :meth:`DeliveryDatabase.deferred`: it takes
    ``execute`` / ``executemany`` and keeps them for later; it returns no cursor, so
    code that reads a result cannot run in a deferred block by mistake."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, Any, bool]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.pending.append((sql, tuple(params), False))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.pending.append((sql, [tuple(row) for row in rows], True))


def _checkpoints(ref: weakref.ReferenceType[DeliveryDatabase], stop: threading.Event) -> None:
    while not stop.wait(CHECKPOINT_SECONDS):
        db = ref()
        if db is None or db.closed:
            return
        with contextlib.suppress(StoreError):
            db.checkpoint()
        del db
