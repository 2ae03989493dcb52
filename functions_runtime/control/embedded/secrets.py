"""The embedded secret box: AES-256-GCM under a key kept in the data directory."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..ports import StoreError
from .files import fsync_dir

__all__ = ["KEY_BYTES", "LocalSecretBox", "load_or_create_key"]

KEY_BYTES = 32
_FORMAT = 1  # the first byte of every blob: how the rest is laid out
_NONCE_BYTES = 12
_TAG_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def load_or_create_key(path: Path) -> bytes:
    """The 32-byte key at ``path``, created (mode 0o600) on first use.

    Creation is atomic and exclusive: the key is written to a temporary file, then
    hard-linked into place, which fails if another process got there first (its key
    is then used). A key file of the wrong size is refused, never replaced.
    """
    key = _read_key(path)
    if key is None:
        _create_key(path)
        key = _read_key(path)
    if key is None:
        raise StoreError(f"the secret key {path} vanished while it was being created")
    return key


def _read_key(path: Path) -> bytes | None:
    """The key at ``path``, None when there is no file."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the secret key {path}: {exc}") from exc
    if len(key) != KEY_BYTES:
        raise StoreError(
            f"the secret key {path} holds {len(key)} bytes, not {KEY_BYTES}: restore the "
            "original file (secret settings encrypted with it cannot be read without it), "
            "or, only if no secrets were ever stored, delete it to have a new key generated"
        )
    return key


def _create_key(path: Path) -> None:
    """Publish a fresh random key at ``path`` unless a key file already exists."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret.key.")  # mode 0o600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return  # another process created it first: use theirs
            fsync_dir(path.parent)
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise StoreError(f"cannot create the secret key {path}: {exc}") from exc


class LocalSecretBox:
    """Authenticated encryption of secret settings, bound to a context.

    A blob is base64url (unpadded) of: format byte, 96-bit random nonce, AES-256-GCM
    ciphertext and tag. The context, serialised canonically, is the associated data,
    so a blob only decrypts for the context it was sealed for.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the secret key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> str:
        """An opaque text blob; decrypting needs the same ``context``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, _associated_data(context))
        raw = bytes([_FORMAT]) + nonce + sealed
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decrypt(self, blob: str, context: dict[str, str]) -> bytes:
        """The plaintext; ``StoreError`` when the blob was tampered with or the
        context (or the key) differs."""
        raw = _decode(blob)
        if len(raw) < 1 + _NONCE_BYTES + _TAG_BYTES:
            raise _undecryptable("the blob is too short")
        if raw[0] != _FORMAT:
            raise _undecryptable(f"unknown blob format {raw[0]}")
        nonce, sealed = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, _associated_data(context))
        except InvalidTag:
            raise _undecryptable(
                "it was altered, or sealed for another context or with another key"
            ) from None


def _associated_data(context: dict[str, str]) -> bytes:
    """The canonical bytes of ``context``: sorted keys, no whitespace, ASCII."""
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode("ascii")


def _decode(blob: str) -> bytes:
    """The bytes of a base64url blob (padding optional)."""
    if not isinstance(blob, str) or _BASE64URL.fullmatch(blob) is None:
        raise _undecryptable("the blob is not base64url text")
    try:
        return base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    except (binascii.Error, ValueError):
        raise _undecryptable("the blob is not valid base64url") from None


def _undecryptable(reason: str) -> StoreError:
    return StoreError(f"secret settings could not be decrypted: {reason}")
