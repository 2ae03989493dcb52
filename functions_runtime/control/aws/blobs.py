"""``BlobStore`` on S3: content-addressed code under ``code/<sha256>``, SSE-KMS."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from ..ports import NotFoundError, StoreError
from .errors import ClientError, error_code, translate_errors

__all__ = ["S3BlobStore"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class S3BlobStore:
    """Bytes stored once per SHA-256, encrypted at rest with the runtime's KMS key.

    S3 checks the SHA-256 on upload (``ChecksumSHA256``) and this store checks it again
    on every read, so corrupt or substituted bytes never reach the sandbox.
    """

    def __init__(self, s3: Any, bucket: str, key_id: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key_id = key_id

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data)
        key = digest.hexdigest()
        with translate_errors("put blob"):
            # Same key, same bytes: writing again is harmless, so put is idempotent.
            self._s3.put_object(
                Bucket=self._bucket,
                Key=_object_key(key),
                Body=data,
                ContentType="application/octet-stream",
                ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self._key_id,
            )
        return key

    def get(self, key: str) -> bytes:
        if not _SHA256.fullmatch(key):
            raise NotFoundError(f"no blob {key!r}: blob keys are 64 lowercase hex digits")
        with translate_errors("get blob"):
            try:
                response = self._s3.get_object(Bucket=self._bucket, Key=_object_key(key))
            except ClientError as exc:
                if error_code(exc) == "NoSuchKey":
                    raise NotFoundError(f"no blob {key} in bucket {self._bucket}") from exc
                raise
            body = response["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        if hashlib.sha256(data).hexdigest() != key:
            raise StoreError(f"blob {key} is corrupt: its bytes do not hash to its key")
        return data


def _object_key(key: str) -> str:
    return f"code/{key}"
