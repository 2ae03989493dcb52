"""Files under the embedded data directory: private directories, atomic writes, code blobs."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import suppress
from pathlib import Path

from ..ports import NotFoundError, StoreError

__all__ = ["FileBlobStore", "atomic_write", "fsync_dir", "make_private_dir"]

_BLOB_KEY = re.compile(r"[0-9a-f]{64}")


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if absent; the directory itself gets 0o700.

    An existing directory keeps its permissions: they are the operator's choice.
    """
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise StoreError(f"{path} exists but is not a directory") from None
        return
    except OSError as exc:
        raise StoreError(f"cannot create the directory {path}: {exc}") from exc
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or link into ``path``) to disk, where supported."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0o600) so readers see the old file or the new one.

    The bytes go to a temporary file in the same directory, are fsynced, then renamed
    over ``path``; the directory is fsynced so the rename survives a crash.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0o600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


class FileBlobStore:
    """Content-addressed code blobs under ``root/<first 2 hex>/<sha256>``.

    Writes are atomic and idempotent; reads check the content against its hash, so a
    blob damaged on disk is reported (``StoreError``) instead of being run.
    """

    def __init__(self, root: Path) -> None:
        make_private_dir(root)
        self._root = root

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its key, the hex SHA-256 of the bytes."""
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        try:
            if not _holds(path, data):  # absent, or damaged: (re)write it
                make_private_dir(path.parent)
                atomic_write(path, data)
        except OSError as exc:
            raise StoreError(f"cannot write code blob {key}: {exc}") from exc
        return key

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``NotFoundError`` when absent."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no code blob {key}") from None
        except OSError as exc:
            raise StoreError(f"cannot read code blob {key}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != key:
            raise StoreError(
                f"code blob {key} is corrupt (its content does not match its hash): "
                f"restore {path} from a backup or upload the code again"
            )
        return data

    def _path(self, key: str) -> Path:
        """Where ``key`` lives; a key that is not a SHA-256 hex digest cannot exist."""
        if not isinstance(key, str) or _BLOB_KEY.fullmatch(key) is None:
            raise NotFoundError(f"no code blob {key!r}: keys are 64 lowercase hex digits")
        return self._root / key[:2] / key


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` already holds exactly ``data``."""
    try:
        return path.read_bytes() == data
    except FileNotFoundError:
        return False
