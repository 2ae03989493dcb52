"""The embedded backend: SQLite, files and a local key under one data directory.

Layout of ``data_dir`` (0o700 when created here)::

    functions.db            metadata (SQLite, WAL mode), with -wal and -shm beside it
    code/<2 hex>/<sha256>   code blobs, content-addressed, written atomically
    secret.key              32 random bytes (0o600): the AES-256-GCM key of secret
                            settings; losing it loses every stored secret

Several processes may open the same directory: SQLite serialises their writes and the
key is created exclusively, so they all use the same one.

Imports: the control core (ports, models) and the standard library; never boto3, the
AWS backend, ``delivery`` or anything above ``control``.
"""

from __future__ import annotations

from pathlib import Path

from ..backend import Backend
from .files import FileBlobStore, make_private_dir
from .metadata import EmbeddedMetadataStore
from .secrets import LocalSecretBox, load_or_create_key

__all__ = [
    "DATABASE_FILE",
    "KEY_FILE",
    "EmbeddedMetadataStore",
    "FileBlobStore",
    "LocalSecretBox",
    "open_embedded",
]

DATABASE_FILE = "functions.db"
KEY_FILE = "secret.key"
CODE_DIR = "code"


def open_embedded(data_dir: str | Path) -> Backend:
    """The embedded backend over ``data_dir``, created (0o700) if missing.

    Raises ``StoreError`` with what to do when the directory, key or database cannot
    be used (for instance, a ``secret.key`` that is not 32 bytes).
    """
    root = Path(data_dir).expanduser()
    make_private_dir(root)
    box = LocalSecretBox(load_or_create_key(root / KEY_FILE))
    blobs = FileBlobStore(root / CODE_DIR)
    metadata = EmbeddedMetadataStore(root / DATABASE_FILE)
    return Backend(metadata=metadata, blobs=blobs, box=box)
