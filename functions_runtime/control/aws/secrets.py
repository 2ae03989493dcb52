"""``SecretBox`` with KMS envelope encryption: a fresh data key per blob, AES-256-GCM.

A blob is ``base64url(JSON {"v": 1, "k": <KMS-encrypted data key>, "n": <nonce>,
"c": <ciphertext and tag>})`` with the three values base64url too. The context is bound
twice: as the KMS encryption context of the data key, and (as canonical JSON) as the
AES-GCM associated data, so a blob opens only with the context it was sealed with.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..ports import StoreError
from .errors import ClientError, error_code, translate_errors

__all__ = ["KmsSecretBox"]

_VERSION = 1
_NONCE_BYTES = 12
_UNOPENABLE = "cannot decrypt secrets: the blob was tampered with, or its context differs"


class KmsSecretBox:
    """Encrypts under ``key_id``; one KMS request per ``encrypt`` and per ``decrypt``."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> str:
        aad = _canonical(context)
        with translate_errors("encrypt secrets"):
            data_key = self._kms.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", **_kms_context(context)
            )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext, aad)
        envelope = {
            "v": _VERSION,
            "k": _b64(data_key["CiphertextBlob"]),
            "n": _b64(nonce),
            "c": _b64(sealed),
        }
        return _b64(json.dumps(envelope, separators=(",", ":")).encode("ascii"))

    def decrypt(self, blob: str, context: dict[str, str]) -> bytes:
        aad = _canonical(context)
        encrypted_key, nonce, sealed = _parse(blob)
        with translate_errors("decrypt secrets"):
            try:
                data_key = self._kms.decrypt(
                    CiphertextBlob=encrypted_key, KeyId=self._key_id, **_kms_context(context)
                )["Plaintext"]
            except ClientError as exc:
                if error_code(exc) in ("InvalidCiphertextException", "IncorrectKeyException"):
                    raise StoreError(_UNOPENABLE) from None
                raise
        try:
            plaintext: bytes = AESGCM(data_key).decrypt(nonce, sealed, aad)
        except (InvalidTag, ValueError):
            raise StoreError(_UNOPENABLE) from None
        return plaintext


def _canonical(context: dict[str, str]) -> bytes:
    if not isinstance(context, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in context.items()
    ):
        raise StoreError("an encryption context maps strings to strings")
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _kms_context(context: dict[str, str]) -> dict[str, Any]:
    return {"EncryptionContext": context} if context else {}


def _parse(blob: str) -> tuple[bytes, bytes, bytes]:
    """The encrypted data key, nonce and ciphertext of a blob; ``StoreError`` if malformed."""
    try:
        envelope = json.loads(_unb64(blob))
        if not isinstance(envelope, dict) or envelope.get("v") != _VERSION:
            raise ValueError("unknown envelope")
        parts = _unb64(envelope["k"]), _unb64(envelope["n"]), _unb64(envelope["c"])
    except (KeyError, TypeError, ValueError):  # binascii.Error and JSON errors included
        raise StoreError(_UNOPENABLE) from None
    if len(parts[1]) != _NONCE_BYTES or not parts[0]:
        raise StoreError(_UNOPENABLE)
    return parts


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not text")
    return base64.b64decode(text, altchars=b"-_", validate=True)
