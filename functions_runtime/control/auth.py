"""API keys: generated once, stored as SHA-256 hashes, scoped to a workspace or admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .errors import ServiceError
from .models import ApiKey, Workspace, new_id, utcnow
from .ports import MetadataStore

__all__ = ["Principal", "authenticate", "hash_key", "issue_key", "new_secret"]

KEY_PREFIX = "fk_"
WRITE_KEY_PREFIX = "wk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its workspace (None for admin) and whether admin."""

    key_id: str
    workspace_id: str | None
    admin: bool


def new_secret(prefix: str = KEY_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_key(store: MetadataStore, workspace: Workspace | None, *, key: str | None = None) -> str:
    """Store a new key (or the given one) for ``workspace`` (None: admin); returns it."""
    plain = key or new_secret()
    store.put_api_key(
        ApiKey(
            id=new_id("key"),
            key_hash=hash_key(plain),
            prefix=plain[:7],
            workspace_id=workspace.id if workspace else None,
            admin=workspace is None,
            created_at=utcnow(),
        )
    )
    return plain


def authenticate(store: MetadataStore, authorization: str | None) -> Principal:
    """The principal for an ``Authorization: Bearer <key>`` header, or a 401 error."""
    if not authorization:
        raise ServiceError(401, "unauthorized", "missing Authorization: Bearer <api key> header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(401, "unauthorized", "the Authorization header must be 'Bearer <key>'")
    record = store.find_api_key(hash_key(token.strip()))
    if record is None or not hmac.compare_digest(record.key_hash, hash_key(token.strip())):
        raise ServiceError(401, "unauthorized", "unknown API key")
    return Principal(record.id, record.workspace_id, record.admin)
