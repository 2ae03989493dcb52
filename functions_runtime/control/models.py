"""The product model (DESIGN.md): the records the stores keep.

Ids are opaque strings with a type prefix (``ws_``, ``fn_``, ``in_``, ``src_``, ``key_``,
``au_``). A version's id is derived from the hash of its content (code + manifest),
so uploading the same content twice yields the same version.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Function",
    "Instance",
    "Source",
    "Version",
    "Workspace",
    "new_id",
    "utcnow",
]

# A "library" is shared helper code of a workspace: stored like a function (its name
# is unique among the workspace's functions and libraries), never deployed.
FunctionKind = Literal["destination", "insert", "source", "library"]


def new_id(prefix: str) -> str:
    """A random, URL-safe id such as ``fn_3kq9x0c1m2v8a7pd``."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return prefix + "_" + "".join(secrets.choice(alphabet) for _ in range(16))


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Workspace(_Record):
    id: str
    name: str
    created_at: datetime


class ApiKey(_Record):
    """An API key, stored as a SHA-256 hash; ``workspace_id`` is None for admin keys."""

    id: str
    key_hash: str
    prefix: str  # the first characters, to recognise a key in listings
    workspace_id: str | None
    admin: bool = False
    created_at: datetime


class Function(_Record):
    id: str
    workspace_id: str
    name: str
    kind: FunctionKind = "destination"
    created_at: datetime
    updated_at: datetime
    latest_version: str | None = None
    version_count: int = 0
    # Soft delete: the record stays (its versions, audit and deliveries refer to it),
    # its name is free again, and the API finds it no more.
    deleted_at: datetime | None = None


class Version(_Record):
    """One immutable upload: code blob + manifest, validated before it is stored."""

    id: str  # "ver_" + first 20 hex digits of the content hash
    function_id: str
    workspace_id: str
    number: int  # 1, 2, 3 ... per function
    code_key: str  # the blob store key (sha256 of the code)
    content_hash: str
    manifest: dict[str, Any]
    handlers: list[str]
    warnings: list[str] = Field(default_factory=list)
    # The folder's other files (helper modules; a library's modules): path -> blob key.
    files: dict[str, str] = Field(default_factory=dict)
    # Top-level names the code imports that are neither its own modules nor the
    # sandbox's: the workspace libraries it may use, pinned at deploy.
    imports: list[str] = Field(default_factory=list)
    author: str  # the API key id that uploaded it
    created_at: datetime


class Instance(_Record):
    """A version deployed with settings, attached to a source.

    ``settings`` holds the non-secret values; ``secrets`` holds the secret ones,
    encrypted (an opaque, base64 text blob from the secret box). ``revision`` grows by
    one on every change and guards concurrent updates.
    """

    id: str
    workspace_id: str
    function_id: str
    version_id: str
    source_id: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: str | None = None
    enabled: bool = True
    # An insert function's instance that runs first and returns the event to forward.
    insert_id: str | None = None
    # Batching for functions with on_batch: up to this many events per call, waiting at
    # most this long to fill a batch.
    batch_max_count: int = Field(default=20, ge=1, le=400)
    batch_wait_seconds: float = Field(default=1.0, ge=0, le=30)
    # The library versions pinned at deploy (library name -> version id): a later push
    # of a library changes nothing here until the instance is deployed again.
    libraries: dict[str, str] = Field(default_factory=dict)
    revision: int = 1
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None  # soft delete: disabled, and found no more


class Source(_Record):
    """Where events come from; the write key is returned once and stored hashed."""

    id: str
    workspace_id: str
    name: str
    write_key_hash: str
    created_at: datetime
    # SHA-256 of the webhook token (``/v1/webhooks/{token}``), None until one is issued.
    webhook_token_hash: str | None = None
    deleted_at: datetime | None = None  # soft delete: name and write key freed


class AuditEntry(_Record):
    id: str
    workspace_id: str
    actor: str  # api key id
    action: str  # e.g. "function.create", "version.upload", "instance.deploy"
    target: str  # the id acted on
    at: datetime
    details: dict[str, Any] = Field(default_factory=dict)
