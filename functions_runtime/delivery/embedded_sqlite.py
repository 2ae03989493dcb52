"""The delivery database: one SQLite file (WAL, ``synchronous=FULL``) beside functions.db.

It reuses the control plane's connection pool (``control.embedded_db.Database``: WAL,
busy timeout, ``BEGIN IMMEDIATE`` writes, sqlite errors mapped to ``StoreError``) with
its own schema, so that ingest and delivery writes never wait on control-plane writes.

Several processes write to it (``functions serve``'s API and its delivery processes, a
CLI replaying dead letters). SQLite alone would make a writer that finds the file locked
poll with growing sleeps (up to 100 ms); here writers also queue on an ``flock`` of
``delivery.db.lock``, which the kernel hands over the moment it is released.

Every commit is a ``fsync``: the delivery loop therefore groups the writes that settle
a group of events (idempotency claims; then delivery records, idempotency results and
queue acks) into one :meth:`DeliveryDatabase.transaction` instead of one commit each.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..control.embedded_db import Database, translate_errors
from ..control.ports import StoreError

__all__ = ["SCHEMA_VERSION", "DeliveryDatabase"]

SCHEMA_VERSION = 1

_SCHEMA = (
    # rowid breaks ties between jobs that became visible at the same instant: FIFO.
    """CREATE TABLE jobs (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, visible_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0, sent_at REAL NOT NULL, receipt TEXT)""",
    "CREATE INDEX jobs_by_visible_at ON jobs (visible_at)",
    """CREATE TABLE dead_letters (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, reason TEXT NOT NULL,
        dead_at REAL NOT NULL, receive_count INTEGER NOT NULL)""",
    "CREATE INDEX dead_letters_by_dead_at ON dead_letters (dead_at)",
    """CREATE TABLE deliveries (
        id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, instance_id TEXT NOT NULL,
        outcome TEXT NOT NULL, at INTEGER NOT NULL, duration_ms REAL NOT NULL,
        data TEXT NOT NULL)""",
    "CREATE INDEX deliveries_by_instance ON deliveries (workspace_id, instance_id, at)",
    # Column meanings follow Powertools' DynamoDB layer: expiration in epoch seconds
    # (NULL: never, as for a DataRecord without one), in_progress_expiry in milliseconds.
    """CREATE TABLE idempotency (
        id TEXT PRIMARY KEY, expiration INTEGER, in_progress_expiry INTEGER,
        status TEXT NOT NULL, data TEXT, validation TEXT)""",
)


class DeliveryDatabase(Database):
    """The control plane's pool and transactions over the delivery schema."""

    schema = _SCHEMA
    schema_version = SCHEMA_VERSION
    schema_label = "delivery schema"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._open = threading.local()  # this thread's open transaction, if any
        try:
            fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the delivery database's lock file: {exc}") from exc
        self._lock_fd = fd
        weakref.finalize(self, os.close, fd)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Other processes' writers wait here (in the kernel) rather than poll SQLite."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every write this thread does inside the block part of one transaction.

        One ``BEGIN IMMEDIATE ... COMMIT`` (one ``fsync``) for the lot: all of it is
        committed, or none of it. A write that fails inside dooms the transaction: even
        if the block catches its error, nothing is committed and the block ends with
        ``StoreError``. Nested blocks join the outer one. Reads through :meth:`read` use
        other connections and so do not see the uncommitted writes.
        """
        if getattr(self._open, "conn", None) is not None:
            yield
            return
        with super().write("a delivery transaction conflicted") as conn:
            self._open.conn, self._open.failed = conn, None
            try:
                yield
            finally:
                self._open.conn, failed = None, self._open.failed
            if failed is not None:
                raise StoreError(f"{failed}; nothing in its transaction was saved")

    @contextmanager
    def write(self, conflict: str) -> Iterator[sqlite3.Connection]:
        """A write transaction of its own, or a part of this thread's open
        :meth:`transaction` (whose failure then fails that transaction)."""
        conn: sqlite3.Connection | None = getattr(self._open, "conn", None)
        if conn is None:
            with super().write(conflict) as own:
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
