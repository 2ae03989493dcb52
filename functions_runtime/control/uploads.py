"""Function uploads: the folder's files as JSON or a zip, validated before storing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import zipfile
from dataclasses import dataclass

from ..manifest import (
    HANDLER_NAME,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_SOURCE_BYTES,
    Manifest,
    ManifestError,
    parse_manifest,
)
from ..sandbox.compiler import compile_function
from .errors import ServiceError, bad_request, invalid

__all__ = ["MAX_ZIP_BYTES", "Upload", "read_upload"]

MAX_ZIP_BYTES = 1024 * 1024
ALLOWED_FILES = frozenset({HANDLER_NAME, MANIFEST_NAME})


@dataclass(frozen=True)
class Upload:
    """A validated function: code, manifest, and what the compiler found."""

    code: str
    manifest_text: str | None
    manifest: Manifest
    handlers: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256(self.code.encode("utf-8"))
        digest.update(b"\0" + (self.manifest_text or "").encode("utf-8"))
        return digest.hexdigest()


def _files_from_zip(data: str) -> dict[str, str]:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("zip must be base64-encoded") from None
    if len(raw) > MAX_ZIP_BYTES:
        raise ServiceError(413, "payload_too_large", f"zip is over {MAX_ZIP_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        files: dict[str, str] = {}
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or name not in ALLOWED_FILES:
                continue
            limit = MAX_SOURCE_BYTES if name == HANDLER_NAME else MAX_MANIFEST_BYTES
            if info.file_size > limit:
                raise ServiceError(413, "payload_too_large", f"{name} is over {limit} bytes")
            files[name] = archive.read(info).decode("utf-8")
        return files
    except ServiceError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError...
        raise bad_request(f"zip could not be read: {type(exc).__name__}: {exc}") from None


def read_upload(files: dict[str, str] | None, zip_data: str | None) -> Upload:
    """Validate an upload (``files`` or a base64 ``zip``); every problem is reported."""
    if (files is None) == (zip_data is None):
        raise bad_request(
            'send either \'files\' ({"handler.py": ..., "function.toml": ...}) '
            "or 'zip' (base64), not both or neither"
        )
    contents = _files_from_zip(zip_data) if zip_data is not None else dict(files or {})
    unknown = sorted(set(contents) - ALLOWED_FILES)
    if unknown:
        raise bad_request(
            f"unexpected files {unknown}; a function is handler.py and an optional function.toml"
        )
    code = contents.get(HANDLER_NAME)
    if code is None:
        raise bad_request("the upload has no handler.py")
    for name, text in contents.items():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(
                "the function failed validation; nothing was stored",
                [f"{name}:1: not valid UTF-8 text (a lone surrogate)"],
            ) from None
    if len(code.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise ServiceError(
            413, "payload_too_large", f"handler.py is over the {MAX_SOURCE_BYTES}-byte limit"
        )
    manifest_text = contents.get(MANIFEST_NAME)
    if manifest_text is not None and len(manifest_text.encode("utf-8")) > MAX_MANIFEST_BYTES:
        raise ServiceError(
            413, "payload_too_large", f"function.toml is over the {MAX_MANIFEST_BYTES}-byte limit"
        )
    problems: list[str] = []
    manifest = Manifest()
    if manifest_text is not None:
        try:
            manifest = parse_manifest(manifest_text, MANIFEST_NAME)
        except ManifestError as exc:
            problems.extend(exc.problems)
    report = compile_function(code, HANDLER_NAME, manifest.kind)
    problems.extend(str(p) for p in report.errors)
    if problems:
        raise invalid("the function failed validation; nothing was stored", problems)
    return Upload(
        code, manifest_text, manifest, report.handlers, tuple(str(w) for w in report.warnings)
    )
