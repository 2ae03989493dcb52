"""The embedded metadata store: the product model's records in one SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..models import ApiKey, AuditEntry, Function, Instance, Source, Version, Workspace
from ..ports import ConflictError, NotFoundError, StoreError
from .db import Database, time_key

__all__ = ["EmbeddedMetadataStore"]

R = TypeVar("R", bound=BaseModel)
_KEYS_REMEMBERED = 10_000
Params = Sequence[str | int | None]
Columns = Mapping[str, str | int | None]


class EmbeddedMetadataStore:
    """Workspaces, keys, functions, versions, instances, sources and the audit log.

    Safe to share between threads and processes: every operation is one statement or
    one ``BEGIN IMMEDIATE`` transaction. Records read back equal the records written.
    """

    def __init__(self, path: Path) -> None:
        self._db = Database(path)
        self._keys: dict[str, Source | None] = {}  # write key hash -> its source
        self._keys_version = -1
        self._keys_lock = threading.Lock()

    def close(self) -> None:
        """Release the database connections; the store cannot be used afterwards."""
        self._db.close()

    # -- workspaces and API keys ---------------------------------------------------------

    def create_workspace(self, workspace: Workspace) -> None:
        """Store a new workspace; ``ConflictError`` if its id is taken."""
        columns: Columns = {"id": workspace.id, "created_us": time_key(workspace.created_at)}
        self._insert("workspaces", columns, workspace, f"workspace {workspace.id} exists")

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        """The workspace, or None."""
        return self._one(Workspace, "SELECT body FROM workspaces WHERE id = ?", [workspace_id])

    def list_workspaces(self) -> list[Workspace]:
        """Every workspace, oldest first."""
        return self._all(Workspace, "SELECT body FROM workspaces ORDER BY created_us, id", [])

    def put_api_key(self, key: ApiKey) -> None:
        """Store a new API key; ``ConflictError`` if its id or hash is taken."""
        columns = {
            "id": key.id,
            "key_hash": key.key_hash,
            "workspace_id": key.workspace_id,
            "admin": int(key.admin),
        }
        self._insert("api_keys", columns, key, "an API key with this id or hash exists")

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The key with this SHA-256 hash, or None."""
        return self._one(ApiKey, "SELECT body FROM api_keys WHERE key_hash = ?", [key_hash])

    def has_admin_key(self) -> bool:
        """Whether any admin key exists."""
        with self._db.read() as conn:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM api_keys WHERE admin = 1)")
            return bool(row.fetchone()[0])

    def delete_api_key(self, key_hash: str) -> None:
        """The key stops working; nothing happens when there is none."""
        with self._db.write("the API key cannot be deleted") as conn:
            conn.execute("DELETE FROM api_keys WHERE key_hash = ?", [key_hash])

    # -- functions and versions ----------------------------------------------------------

    def create_function(self, function: Function) -> None:
        """Store a new function; ``ConflictError`` if its id or (workspace, name) is taken."""
        columns = {"id": function.id, "workspace_id": function.workspace_id, "name": function.name}
        conflict = f"a function named {function.name!r} (or with id {function.id}) exists"
        self._insert("functions", columns, function, conflict)

    def get_function(self, workspace_id: str, function_id: str) -> Function | None:
        """The function in this workspace, or None."""
        sql = "SELECT body FROM functions WHERE id = ? AND workspace_id = ?"
        return self._one(Function, sql, [function_id, workspace_id])

    def find_function(self, workspace_id: str, name: str) -> Function | None:
        """The function of this name in this workspace, or None."""
        sql = "SELECT body FROM functions WHERE workspace_id = ? AND name = ?"
        return self._one(Function, sql, [workspace_id, name])

    def list_functions(self, workspace_id: str) -> list[Function]:
        """The workspace's functions, by name."""
        sql = "SELECT body FROM functions WHERE workspace_id = ? ORDER BY name, id"
        return self._all(Function, sql, [workspace_id])

    def delete_function(self, workspace_id: str, function_id: str, at: datetime) -> None:
        """Mark the function deleted and free its name; ``NotFoundError`` when absent."""
        where = "WHERE id = ? AND workspace_id = ?"
        with self._db.write(f"function {function_id} cannot be deleted") as conn:
            row = conn.execute(f"SELECT body FROM functions {where}", [function_id, workspace_id])
            found = row.fetchone()
            if found is None:
                raise NotFoundError(f"no function {function_id} in workspace {workspace_id}")
            function = _parse(Function, found[0])
            deleted = function.model_copy(update={"deleted_at": function.deleted_at or at})
            conn.execute(
                f"UPDATE functions SET name = ?, body = ? {where}",
                [_freed(function_id), deleted.model_dump_json(), function_id, workspace_id],
            )

    def add_version(self, version: Version) -> None:
        """Store a version and advance its function, atomically.

        ``ConflictError`` unless ``version.number`` is the function's count + 1 (or when
        the version id exists); ``NotFoundError`` when the function is not in the
        version's workspace. The function's ``updated_at`` becomes the version's
        ``created_at``.
        """
        conflict = f"version {version.number} of function {version.function_id} exists"
        with self._db.write(conflict) as conn:
            function = self._locked_function(conn, version)
            if version.number != function.version_count + 1:
                raise ConflictError(
                    f"version {version.number} cannot follow version {function.version_count} "
                    f"of function {function.id}: another upload won; retry"
                )
            columns: Columns = {
                "id": version.id,
                "workspace_id": version.workspace_id,
                "function_id": version.function_id,
                "number": version.number,
            }
            _insert(conn, "versions", columns, version)
            advanced = function.model_copy(
                update={
                    "latest_version": version.id,
                    "version_count": version.number,
                    "updated_at": version.created_at,
                }
            )
            sql = "UPDATE functions SET body = ? WHERE id = ?"
            conn.execute(sql, [advanced.model_dump_json(), function.id])

    def get_version(self, workspace_id: str, version_id: str) -> Version | None:
        """The version in this workspace, or None."""
        sql = "SELECT body FROM versions WHERE id = ? AND workspace_id = ?"
        return self._one(Version, sql, [version_id, workspace_id])

    def list_versions(self, workspace_id: str, function_id: str) -> list[Version]:
        """The function's versions, by number."""
        sql = "SELECT body FROM versions WHERE workspace_id = ? AND function_id = ? ORDER BY number"
        return self._all(Version, sql, [workspace_id, function_id])

    # -- instances -----------------------------------------------------------------------

    def create_instance(self, instance: Instance) -> None:
        """Store a new instance; ``NotFoundError`` if its version or source is not in its
        workspace (and function), ``ConflictError`` if its id is taken."""
        self._insert("instances", _instance_columns(instance), instance, f"{instance.id} exists")

    def get_instance(self, workspace_id: str, instance_id: str) -> Instance | None:
        """The instance in this workspace, or None."""
        sql = "SELECT body FROM instances WHERE id = ? AND workspace_id = ?"
        return self._one(Instance, sql, [instance_id, workspace_id])

    def list_instances(self, workspace_id: str, function_id: str | None = None) -> list[Instance]:
        """The workspace's instances (of one function, if given), oldest first."""
        if function_id is None:
            sql = "SELECT body FROM instances WHERE workspace_id = ? ORDER BY created_us, id"
            return self._all(Instance, sql, [workspace_id])
        sql = (
            "SELECT body FROM instances WHERE workspace_id = ? AND function_id = ?"
            " ORDER BY created_us, id"
        )
        return self._all(Instance, sql, [workspace_id, function_id])

    def update_instance(self, instance: Instance, expected_revision: int) -> None:
        """Replace the instance if its stored revision is ``expected_revision``.

        ``ConflictError`` when the revision moved on, ``NotFoundError`` when the instance
        is not in ``instance.workspace_id``. The record is stored as given: the caller
        sets its ``revision`` to ``expected_revision + 1``.
        """
        columns = _instance_columns(instance)
        del columns["id"], columns["workspace_id"]
        assignments = ", ".join(f"{name} = ?" for name in [*columns, "body"])
        sql = (
            f"UPDATE instances SET {assignments} WHERE id = ? AND workspace_id = ? AND revision = ?"
        )
        params = [*columns.values(), instance.model_dump_json()]
        params += [instance.id, instance.workspace_id, expected_revision]
        with self._db.write(f"instance {instance.id} cannot be updated") as conn:
            if conn.execute(sql, params).rowcount == 1:
                return
            found = conn.execute(
                "SELECT revision FROM instances WHERE id = ? AND workspace_id = ?",
                [instance.id, instance.workspace_id],
            ).fetchone()
        if found is None:
            raise NotFoundError(f"no instance {instance.id} in workspace {instance.workspace_id}")
        raise ConflictError(
            f"instance {instance.id} is at revision {found[0]}, not {expected_revision}: "
            "it changed since it was read; read it again and retry"
        )

    # -- sources -------------------------------------------------------------------------

    def create_source(self, source: Source) -> None:
        """Store a new source; ``ConflictError`` if its id, (workspace, name) or write key
        hash is taken."""
        columns = {
            "id": source.id,
            "workspace_id": source.workspace_id,
            "name": source.name,
            "write_key_hash": source.write_key_hash,
        }
        conflict = f"a source named {source.name!r} (or with this id or write key) exists"
        self._insert("sources", columns, source, conflict)

    def get_source(self, workspace_id: str, source_id: str) -> Source | None:
        """The source in this workspace, or None."""
        sql = "SELECT body FROM sources WHERE id = ? AND workspace_id = ?"
        return self._one(Source, sql, [source_id, workspace_id])

    def find_source(self, workspace_id: str, name: str) -> Source | None:
        """The source of this name in this workspace, or None."""
        sql = "SELECT body FROM sources WHERE workspace_id = ? AND name = ?"
        return self._one(Source, sql, [workspace_id, name])

    def find_source_by_write_key(self, write_key_hash: str) -> Source | None:
        """The source whose write key has this SHA-256 hash, or None.

        Ingest asks this for every request, so answers are remembered until anything
        commits to the file (any connection, any process: ``Database.changes_seen``):
        a key created, rotated or deleted counts from the next request on, as without
        the memory. An answer is kept only under the version read before its query.
        """
        version = self._db.changes_seen()
        with self._keys_lock:
            if version != self._keys_version:
                self._keys.clear()
                self._keys_version = version
            elif write_key_hash in self._keys:
                return self._keys[write_key_hash]
        sql = "SELECT body FROM sources WHERE write_key_hash = ?"
        source = self._one(Source, sql, [write_key_hash])
        with self._keys_lock:
            if version == self._keys_version:
                if len(self._keys) >= _KEYS_REMEMBERED:  # a flood of unknown keys
                    self._keys.clear()
                self._keys[write_key_hash] = source
        return source

    def update_source(self, source: Source) -> None:
        """Replace the source's record; ``NotFoundError`` if it is not in its workspace."""
        sql = "UPDATE sources SET body = ? WHERE id = ? AND workspace_id = ?"
        params = [source.model_dump_json(), source.id, source.workspace_id]
        with self._db.write(f"source {source.id} cannot be updated") as conn:
            if conn.execute(sql, params).rowcount == 1:
                return
        raise NotFoundError(f"no source {source.id} in workspace {source.workspace_id}")

    def replace_write_key(self, workspace_id: str, source_id: str, write_key_hash: str) -> Source:
        """Give the source a new write key hash; the old key finds it no more."""
        with self._db.write("this write key hash is taken") as conn:
            source = self._locked_source(conn, workspace_id, source_id)
            changed = source.model_copy(update={"write_key_hash": write_key_hash})
            conn.execute(
                "UPDATE sources SET write_key_hash = ?, body = ? WHERE id = ? AND workspace_id = ?",
                [write_key_hash, changed.model_dump_json(), source_id, workspace_id],
            )
        return changed

    def delete_source(self, workspace_id: str, source_id: str, at: datetime) -> None:
        """Mark the source deleted; its name and write key are freed."""
        with self._db.write(f"source {source_id} cannot be deleted") as conn:
            source = self._locked_source(conn, workspace_id, source_id)
            deleted = source.model_copy(update={"deleted_at": source.deleted_at or at})
            conn.execute(
                "UPDATE sources SET name = ?, write_key_hash = ?, body = ?"
                " WHERE id = ? AND workspace_id = ?",
                [
                    _freed(source_id),
                    _freed(source_id),
                    deleted.model_dump_json(),
                    source_id,
                    workspace_id,
                ],
            )

    def list_sources(self, workspace_id: str) -> list[Source]:
        """The workspace's sources, by name."""
        sql = "SELECT body FROM sources WHERE workspace_id = ? ORDER BY name, id"
        return self._all(Source, sql, [workspace_id])

    # -- audit log -----------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry) -> None:
        """Append an entry; ``ConflictError`` if its id is taken."""
        columns: Columns = {
            "id": entry.id,
            "workspace_id": entry.workspace_id,
            "at_us": time_key(entry.at),
        }
        self._insert("audit", columns, entry, f"audit entry {entry.id} exists")

    def list_audit(self, workspace_id: str, limit: int = 100) -> list[AuditEntry]:
        """The workspace's latest ``limit`` entries, newest first (ties: last appended)."""
        sql = "SELECT body FROM audit WHERE workspace_id = ? ORDER BY at_us DESC, seq DESC LIMIT ?"
        return self._all(AuditEntry, sql, [workspace_id, max(limit, 0)])

    # -- helpers -------------------------------------------------------------------------

    def _insert(self, table: str, columns: Columns, record: BaseModel, conflict: str) -> None:
        with self._db.write(conflict) as conn:
            _insert(conn, table, columns, record)

    def _one(self, model: type[R], sql: str, params: Params) -> R | None:
        with self._db.read() as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else _parse(model, row[0])

    def _all(self, model: type[R], sql: str, params: Params) -> list[R]:
        with self._db.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_parse(model, row[0]) for row in rows]

    def _locked_source(self, conn: sqlite3.Connection, workspace_id: str, source_id: str) -> Source:
        row = conn.execute(
            "SELECT body FROM sources WHERE id = ? AND workspace_id = ?", [source_id, workspace_id]
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no source {source_id} in workspace {workspace_id}")
        return _parse(Source, row[0])

    def _locked_function(self, conn: sqlite3.Connection, version: Version) -> Function:
        """The version's function, read inside the caller's write transaction."""
        row = conn.execute(
            "SELECT body FROM functions WHERE id = ? AND workspace_id = ?",
            [version.function_id, version.workspace_id],
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"no function {version.function_id} in workspace {version.workspace_id}"
            )
        return _parse(Function, row[0])


def _insert(conn: sqlite3.Connection, table: str, columns: Columns, record: BaseModel) -> None:
    """INSERT the indexed ``columns`` plus the record's JSON as ``body``."""
    names = ", ".join([*columns, "body"])
    marks = ", ".join("?" * (len(columns) + 1))
    conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({marks})",
        [*columns.values(), record.model_dump_json()],
    )


def _freed(record_id: str) -> str:
    """What a deleted record's unique name (or write key) column holds: no name or
    SHA-256 hex can equal it, so the freed value can be taken again."""
    return f"deleted:{record_id}"


def _instance_columns(instance: Instance) -> dict[str, str | int | None]:
    return {
        "id": instance.id,
        "workspace_id": instance.workspace_id,
        "function_id": instance.function_id,
        "version_id": instance.version_id,
        "source_id": instance.source_id,
        "revision": instance.revision,
        "created_us": time_key(instance.created_at),
    }


def _parse(model: type[R], body: str) -> R:
    """The record stored as ``body``; ``StoreError`` if it no longer fits the model."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise StoreError(
            f"a stored {model.__name__} record is unreadable ({exc.error_count()} errors)"
        ) from exc
