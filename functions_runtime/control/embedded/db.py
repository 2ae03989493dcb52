"""SQLite plumbing for the embedded metadata store: schema, connections, transactions.

Each table keeps a record's pydantic JSON (``body``, the source of truth) next to the
columns that lookups, ordering and constraints need. Foreign keys include the
workspace, so a record can never point at another workspace's records.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from ..ports import ConflictError, NotFoundError, StoreError

__all__ = ["SCHEMA_VERSION", "Database", "time_key"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
_MAX_IDLE = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = (
    """CREATE TABLE workspaces (
        id TEXT PRIMARY KEY, created_us INTEGER NOT NULL, body TEXT NOT NULL)""",
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE,
        workspace_id TEXT REFERENCES workspaces (id), admin INTEGER NOT NULL,
        body TEXT NOT NULL)""",
    "CREATE INDEX api_keys_admin ON api_keys (admin)",
    """CREATE TABLE functions (
        id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        name TEXT NOT NULL, body TEXT NOT NULL,
        UNIQUE (workspace_id, name), UNIQUE (id, workspace_id))""",
    """CREATE TABLE versions (
        id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, function_id TEXT NOT NULL,
        number INTEGER NOT NULL, body TEXT NOT NULL,
        UNIQUE (function_id, number), UNIQUE (id, function_id, workspace_id),
        FOREIGN KEY (function_id, workspace_id) REFERENCES functions (id, workspace_id))""",
    """CREATE TABLE sources (
        id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        name TEXT NOT NULL, write_key_hash TEXT NOT NULL UNIQUE, body TEXT NOT NULL,
        UNIQUE (workspace_id, name), UNIQUE (id, workspace_id))""",
    """CREATE TABLE instances (
        id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, function_id TEXT NOT NULL,
        version_id TEXT NOT NULL, source_id TEXT, revision INTEGER NOT NULL,
        created_us INTEGER NOT NULL, body TEXT NOT NULL,
        FOREIGN KEY (version_id, function_id, workspace_id)
            REFERENCES versions (id, function_id, workspace_id),
        FOREIGN KEY (source_id, workspace_id) REFERENCES sources (id, workspace_id))""",
    "CREATE INDEX instances_by_workspace ON instances (workspace_id, created_us, id)",
    "CREATE INDEX instances_by_function ON instances (function_id, created_us, id)",
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        workspace_id TEXT NOT NULL, at_us INTEGER NOT NULL, body TEXT NOT NULL)""",
    "CREATE INDEX audit_by_workspace ON audit (workspace_id, at_us, seq)",
)


def time_key(value: datetime) -> int:
    """Microseconds since the epoch: sorts instants correctly whatever their offset.

    A naive datetime is taken to be UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


@contextmanager
def translate_errors(conflict: str) -> Iterator[None]:
    """Turn sqlite3 errors into store errors; ``conflict`` describes a uniqueness clash."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
            raise NotFoundError(
                "the record refers to a workspace, function, version or source that does "
                "not exist in its workspace"
            ) from exc
        raise ConflictError(conflict) from exc
    except sqlite3.Error as exc:
        raise StoreError(f"the metadata database failed: {exc}") from exc


class Database:
    """A pool of connections to one SQLite file in WAL mode.

    A connection serves one operation at a time, on whichever thread asked for it, so
    reads run concurrently. Writes are ``BEGIN IMMEDIATE`` transactions: serialised by a
    lock within this process and by SQLite (waiting up to the busy timeout) across
    processes.
    """

    schema: tuple[str, ...] = _SCHEMA
    schema_version = SCHEMA_VERSION
    schema_label = "schema"
    # Statements that bring a file of schema ``n`` to ``n + 1`` (a file of a version
    # missing here is left as it is, for an upgrade of its own).
    upgrades: Mapping[int, tuple[str, ...]] = MappingProxyType({})

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()  # guards the pool
        self._writer = threading.Lock()  # queues this process's writers (see write)
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._idle)
        self._watch: list[sqlite3.Connection] = []  # the one that asks for data_version
        self._watch_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._watch)
        _create_private_file(path)
        with translate_errors("the schema could not be created"):
            self._initialise()

    def close(self) -> None:
        """Close every idle connection; connections in use close when released."""
        with self._lock:
            self._closed = True
            self._finalizer()
        with self._watch_lock:
            _close_all(self._watch)

    def changes_seen(self) -> int:
        """A number that changes whenever a connection other than the one asked (of this
        process or another) commits to the file: SQLite's ``PRAGMA data_version``, on a
        connection kept for asking only. What was read before it changed may be stale."""
        with self._watch_lock, translate_errors("the database could not be read"):
            if not self._watch:
                if self._closed:
                    raise StoreError("the metadata store is closed")
                self._watch.append(self._connect())
            return int(self._watch[0].execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: each statement sees committed data."""
        with translate_errors("a read conflicted"), self._connection() as conn:
            yield conn

    @contextmanager
    def write(self, conflict: str, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed on success, else rolled back.

        Writers of this process wait their turn on a lock rather than in SQLite's busy
        handler, which polls with sleeps; other processes are still kept out by SQLite.
        ``durable=False`` commits without an ``fsync`` (``synchronous=NORMAL``): safe
        against a crash of the process, not against power loss until the next durable
        commit or checkpoint.
        """
        with (
            translate_errors(conflict),
            self._writer,
            self._exclusive(),
            self._connection() as conn,
        ):
            if not durable:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if not durable:
                    conn.execute("PRAGMA synchronous = FULL")

    def _exclusive(self) -> AbstractContextManager[None]:
        """Held around each write transaction, inside this process's writer lock: a hook
        for keeping other processes' writers out (none here)."""
        return nullcontext()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._checkout()
        try:
            yield conn
        finally:
            self._checkin(conn)

    def _checkout(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StoreError("the metadata store is closed")
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        """A new connection to the file (a hook for per-database settings)."""
        return _connect(self._path)

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and not conn.in_transaction and len(self._idle) < _MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def _initialise(self) -> None:
        """Switch the file to WAL and create the schema if it is new."""
        with self._connection() as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self._path} cannot use write-ahead logging (mode {mode})")
            conn.execute("BEGIN IMMEDIATE")
            try:
                _migrate(conn, self._path, self)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")


def _migrate(conn: sqlite3.Connection, path: Path, db: Database) -> None:
    """Bring the schema to ``db.schema_version``: create it in a new file, or run
    ``db.upgrades`` one version at a time; refuse a file from a newer release."""
    version = db.schema_version
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > version:
        raise StoreError(
            f"{path} was written by a newer release of functions-runtime ({db.schema_label} "
            f"{current}, this release knows {version}): upgrade the package"
        )
    if current == 0:
        for statement in db.schema:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        return
    while current < version and current in db.upgrades:
        for statement in db.upgrades[current]:
            conn.execute(statement)
        current += 1
        conn.execute(f"PRAGMA user_version = {current}")


def _connect(path: Path) -> sqlite3.Connection:
    """A new connection: autocommit (we issue BEGIN ourselves), FKs on, durable commits."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0o600 if absent; SQLite gives its -wal and -shm the same."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        raise StoreError(f"cannot open the metadata database {path}: {exc}") from exc


def _close_all(connections: list[sqlite3.Connection]) -> None:
    while connections:
        connections.pop().close()
