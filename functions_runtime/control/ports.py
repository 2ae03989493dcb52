"""The storage interfaces the control plane depends on.

Each has two implementations (embedded: SQLite + files + a local key; AWS: DynamoDB +
S3 + KMS) that pass one contract suite (``tests/contract/``). Every read that takes a
``workspace_id`` returns nothing for records of another workspace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from .models import ApiKey, AuditEntry, Function, Instance, Source, Version, Workspace

__all__ = [
    "BlobStore",
    "ConflictError",
    "MetadataStore",
    "NotFoundError",
    "SecretBox",
    "StoreError",
]


class StoreError(Exception):
    """Base class of store errors."""


class ConflictError(StoreError):
    """A conditional write lost: the record exists, or changed since it was read."""


class NotFoundError(StoreError):
    """The record does not exist (in this workspace)."""


class BlobStore(Protocol):
    """Content-addressed bytes (function code)."""

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its key, the hex SHA-256 of the bytes. Idempotent."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``NotFoundError`` when absent."""
        ...


class SecretBox(Protocol):
    """Authenticated encryption of secret settings, bound to a context."""

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> str:
        """An opaque text blob; decrypting needs the same ``context``."""
        ...

    def decrypt(self, blob: str, context: dict[str, str]) -> bytes:
        """The plaintext; ``StoreError`` when the blob was tampered with or the
        context differs."""
        ...


class MetadataStore(Protocol):
    """Workspaces, keys, functions, versions, instances, sources and the audit log."""

    # workspaces and API keys
    def create_workspace(self, workspace: Workspace) -> None: ...
    def get_workspace(self, workspace_id: str) -> Workspace | None: ...
    def list_workspaces(self) -> list[Workspace]: ...
    def put_api_key(self, key: ApiKey) -> None: ...
    def find_api_key(self, key_hash: str) -> ApiKey | None: ...
    def has_admin_key(self) -> bool: ...
    # the key stops working at once; nothing happens when it is not there
    def delete_api_key(self, key_hash: str) -> None: ...

    # functions: names are unique per workspace (ConflictError)
    def create_function(self, function: Function) -> None: ...
    def get_function(self, workspace_id: str, function_id: str) -> Function | None: ...
    def find_function(self, workspace_id: str, name: str) -> Function | None: ...
    def list_functions(self, workspace_id: str) -> list[Function]: ...
    # soft delete: the record keeps its versions and is still read by id (with
    # deleted_at set; list_functions still lists it), its name is free for a new
    # function (find_function no longer finds it); NotFoundError when absent
    def delete_function(self, workspace_id: str, function_id: str, at: datetime) -> None: ...

    # versions: add_version also advances the function's latest_version and
    # version_count, atomically; ConflictError when version.number is not
    # function.version_count + 1 (a concurrent upload won).
    def add_version(self, version: Version) -> None: ...
    def get_version(self, workspace_id: str, version_id: str) -> Version | None: ...
    def list_versions(self, workspace_id: str, function_id: str) -> list[Version]: ...

    # instances: update_instance writes only if the stored revision equals
    # ``expected_revision`` (ConflictError otherwise); the new record carries
    # expected_revision + 1.
    def create_instance(self, instance: Instance) -> None: ...
    def get_instance(self, workspace_id: str, instance_id: str) -> Instance | None: ...
    def list_instances(
        self, workspace_id: str, function_id: str | None = None
    ) -> list[Instance]: ...
    def update_instance(self, instance: Instance, expected_revision: int) -> None: ...

    # sources: names unique per workspace (ConflictError)
    def create_source(self, source: Source) -> None: ...
    def get_source(self, workspace_id: str, source_id: str) -> Source | None: ...
    def find_source(self, workspace_id: str, name: str) -> Source | None: ...
    def find_source_by_write_key(self, write_key_hash: str) -> Source | None: ...
    def list_sources(self, workspace_id: str) -> list[Source]: ...
    # replaces the stored source (same id, workspace, name and write key);
    # NotFoundError when it is not in source.workspace_id
    def update_source(self, source: Source) -> None: ...
    # a new write key hash: the old key finds the source no more (ConflictError when
    # the new hash is taken, NotFoundError when the source is absent); returns the source
    def replace_write_key(
        self, workspace_id: str, source_id: str, write_key_hash: str
    ) -> Source: ...
    # soft delete: read by id with deleted_at set, its name and write key freed
    # (find_source and find_source_by_write_key no longer find it); NotFoundError
    def delete_source(self, workspace_id: str, source_id: str, at: datetime) -> None: ...

    # audit log, newest first
    def append_audit(self, entry: AuditEntry) -> None: ...
    def list_audit(self, workspace_id: str, limit: int = 100) -> list[AuditEntry]: ...
