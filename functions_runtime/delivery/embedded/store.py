"""The instances' key-value stores (``functions_sdk.store``) in SQLite: ``store.db``.

Its own file beside ``delivery.db`` (a handler's ``store.set`` never waits on the queue's
writes). Each write is one ``BEGIN IMMEDIATE`` transaction, so the limits of an
instance (keys, bytes) hold exactly even with several delivery processes on the same
directory, and ``incr`` is atomic. Expired rows are invisible at once and deleted by
the next write to the same instance.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from functions_sdk.store import MAX_KEYS, MAX_TOTAL_BYTES, check_room, entry_size, incremented

__all__ = ["STORE_FILE", "SQLiteStore", "open_store"]

STORE_FILE = "store.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    scope   TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    size    INTEGER NOT NULL,
    expires REAL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
"""


class SQLiteStore:
    """A :class:`~functions_runtime.sandbox.host.store.KeyValueStore` in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        limits: tuple[int, int] = (MAX_KEYS, MAX_TOTAL_BYTES),
    ) -> None:
        self.clock = clock
        self.limits = limits
        self._db = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get(self, scope: str, key: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM kv WHERE scope = ? AND key = ? "
                "AND (expires IS NULL OR expires > ?)",
                (scope, key, self.clock()),
            ).fetchone()
        return None if row is None else str(row[0])

    def put(self, scope: str, key: str, text: str, ttl: float | None) -> None:
        now = self.clock()
        with self._write() as db:
            self._room(db, scope, key, text, now)
            db.execute(
                "INSERT OR REPLACE INTO kv (scope, key, value, size, expires) "
                "VALUES (?, ?, ?, ?, ?)",
                (scope, key, text, entry_size(key, text), None if ttl is None else now + ttl),
            )

    def delete(self, scope: str, key: str) -> bool:
        now = self.clock()
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM kv WHERE scope = ? AND key = ? AND (expires IS NULL OR expires > ?)",
                (scope, key, now),
            )
            db.execute("DELETE FROM kv WHERE scope = ? AND key = ?", (scope, key))
        return cursor.rowcount > 0

    def incr(self, scope: str, key: str, by: int) -> int:
        now = self.clock()
        with self._write() as db:
            row = db.execute(
                "SELECT value, expires FROM kv WHERE scope = ? AND key = ? "
                "AND (expires IS NULL OR expires > ?)",
                (scope, key, now),
            ).fetchone()
            text = incremented(None if row is None else str(row[0]), by)
            self._room(db, scope, key, text, now)
            db.execute(
                "INSERT OR REPLACE INTO kv (scope, key, value, size, expires) "
                "VALUES (?, ?, ?, ?, ?)",
                (scope, key, text, entry_size(key, text), None if row is None else row[1]),
            )
        return int(text)

    def _room(self, db: sqlite3.Connection, scope: str, key: str, text: str, now: float) -> None:
        """Drop ``scope``'s expired rows, then check the limits (inside the write)."""
        db.execute(
            "DELETE FROM kv WHERE scope = ? AND expires IS NOT NULL AND expires <= ?",
            (scope, now),
        )
        count, total = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM kv WHERE scope = ? AND key != ?",
            (scope, key),
        ).fetchone()
        check_room(int(count), int(total), key, text, self.limits)


def open_store(data_dir: str | Path) -> SQLiteStore:
    """The store of ``data_dir`` (``store.db``; the directory is made by ``open_delivery``)."""
    return SQLiteStore(Path(data_dir).expanduser() / STORE_FILE)
