"""Function uploads: the folder's files as JSON or a zip, validated before storing.

A zip is checked from its central directory before anything is inflated: at most
``MAX_ZIP_ENTRIES`` entries, at most ``MAX_INFLATED_BYTES`` declared in all, no two
entries with the same name, none of the function's files outside the folder that
holds ``handler.py`` (``a/handler.py`` and ``b/handler.py``), and no two entries whose
data overlap (the trick of zip bombs that make one compressed stream count many
times). Only ``.py`` files and function.toml are inflated, each bounded by its
declared size.

A function is its whole folder: ``handler.py``, its helper modules and packages
(``helpers.py``, ``lib/__init__.py``, ``lib/util.py``; at most ``folder.MAX_FILES``
files, ``folder.MAX_FOLDER_BYTES`` in all) and ``function.toml``. Each module is
compiled like the handler (``sandbox/folder.py``); the content hash covers every file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import itertools
import struct
import zipfile
from dataclasses import dataclass, field

from ..manifest import (
    HANDLER_NAME,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_SOURCE_BYTES,
    Manifest,
    ManifestError,
    parse_manifest,
)
from ..sandbox.folder import MAX_FILES, MAX_FOLDER_BYTES, compile_folder
from .errors import ServiceError, bad_request, invalid

__all__ = ["MAX_ZIP_BYTES", "Upload", "read_upload"]

MAX_ZIP_BYTES = 1024 * 1024
MAX_ZIP_ENTRIES = 2 * MAX_FILES  # its files; room for folders and an OS's extras
MAX_INFLATED_BYTES = 4 * MAX_ZIP_BYTES  # every entry's declared size, added up
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... name length, extra length
ALLOWED_FILES = frozenset({HANDLER_NAME, MANIFEST_NAME})


@dataclass(frozen=True)
class Upload:
    """A validated function: code, manifest, and what the compiler found."""

    code: str
    manifest_text: str | None
    manifest: Manifest
    handlers: tuple[str, ...]
    warnings: tuple[str, ...]
    # The folder's other .py files, path -> source (handler.py is ``code``).
    modules: dict[str, str] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Over every file; a single-file function hashes as it always did."""
        digest = hashlib.sha256(self.code.encode("utf-8"))
        digest.update(b"\0" + (self.manifest_text or "").encode("utf-8"))
        for path in sorted(self.modules):
            text = self.modules[path].encode("utf-8")
            digest.update(b"\0%s\0%d\0" % (path.encode("utf-8"), len(text)) + text)
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
        _check_entries(raw, archive.infolist())
        files: dict[str, str] = {}
        root = _root(archive.infolist())
        for info in archive.infolist():
            if info.is_dir() or not _wanted(info.filename.rsplit("/", 1)[-1]):
                continue
            if not info.filename.startswith(root):
                raise bad_request(
                    f"zip entry {info.filename!r} lies outside the function's folder {root!r}"
                )
            name = info.filename[len(root) :]
            if not _wanted(name):
                continue
            limit = MAX_MANIFEST_BYTES if name == MANIFEST_NAME else MAX_SOURCE_BYTES
            if info.file_size > limit:
                raise ServiceError(413, "payload_too_large", f"{name} is over {limit} bytes")
            files[name] = archive.read(info).decode("utf-8")
        return files
    except ServiceError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError...
        raise bad_request(f"zip could not be read: {type(exc).__name__}: {exc}") from None


def _wanted(name: str) -> bool:
    """A file of the function: function.toml or a .py file outside hidden folders and
    caches (``__pycache__``, ``.venv``)."""
    if name == MANIFEST_NAME:
        return True
    parts = name.split("/")
    return name.endswith(".py") and not any(p.startswith((".", "__pycache__")) for p in parts)


def _root(entries: list[zipfile.ZipInfo]) -> str:
    """The folder the function's files lie in: ``""``, or ``name/`` when the zip holds
    one folder (zipping a folder names it in every entry)."""
    handlers = [i.filename for i in entries if i.filename.rsplit("/", 1)[-1] == HANDLER_NAME]
    if not handlers:
        return ""
    return min(handlers, key=len)[: -len(HANDLER_NAME)]


def _check_entries(raw: bytes, entries: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose entries are too many, too big, repeated or overlapping."""
    if len(entries) > MAX_ZIP_ENTRIES:
        raise ServiceError(
            413,
            "payload_too_large",
            f"zip has {len(entries)} entries; at most {MAX_ZIP_ENTRIES} are accepted",
        )
    declared = sum(info.file_size for info in entries)
    if declared > MAX_INFLATED_BYTES:
        raise ServiceError(
            413,
            "payload_too_large",
            f"zip inflates to {declared} bytes; at most {MAX_INFLATED_BYTES} are accepted",
        )
    seen: set[str] = set()
    for info in entries:
        if info.filename in seen:
            raise bad_request(f"zip has more than one entry for {info.filename!r}")
        seen.add(info.filename)
    spans = sorted((info.header_offset, _data_end(raw, info), info.filename) for info in entries)
    for (_, end, name), (start, _, other) in itertools.pairwise(spans):
        if start < end:
            raise bad_request(f"zip entries {name!r} and {other!r} overlap")


def _data_end(raw: bytes, info: zipfile.ZipInfo) -> int:
    """Where the entry's compressed data ends (its local header read from ``raw``)."""
    header = raw[info.header_offset : info.header_offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise bad_request(f"zip entry {info.filename!r} has no local header")
    name_length: int
    extra_length: int
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    end = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return end + info.compress_size


def read_upload(
    files: dict[str, str] | None,
    zip_data: str | None,
    libraries: frozenset[str] = frozenset(),
) -> Upload:
    """Validate an upload (``files`` or a base64 ``zip``); every problem is reported.
    ``libraries``: the names of the workspace's libraries, which the code may import."""
    if (files is None) == (zip_data is None):
        raise bad_request(
            'send either \'files\' ({"handler.py": ..., "function.toml": ...}) '
            "or 'zip' (base64), not both or neither"
        )
    contents = _files_from_zip(zip_data) if zip_data is not None else dict(files or {})
    unknown = sorted(name for name in contents if not _wanted(name))
    if unknown:
        raise bad_request(
            f"unexpected files {unknown}; a function is handler.py, its other .py files "
            "and an optional function.toml"
        )
    modules = {name: text for name, text in contents.items() if name not in ALLOWED_FILES}
    if len(modules) + 1 > MAX_FILES:
        raise ServiceError(
            413, "payload_too_large", f"{len(modules) + 1} .py files; at most {MAX_FILES}"
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
    for name, text in [(HANDLER_NAME, code), *modules.items()]:
        if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
            raise ServiceError(
                413, "payload_too_large", f"{name} is over the {MAX_SOURCE_BYTES}-byte limit"
            )
    total = sum(len(text.encode("utf-8")) for text in (code, *modules.values()))
    if total > MAX_FOLDER_BYTES:
        raise ServiceError(
            413, "payload_too_large", f"the .py files are over {MAX_FOLDER_BYTES} bytes in all"
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
    report = compile_folder({HANDLER_NAME: code, **modules}, manifest.kind, libraries)
    problems.extend(str(p) for p in report.errors)
    if problems:
        raise invalid("the function failed validation; nothing was stored", problems)
    return Upload(
        code,
        manifest_text,
        manifest,
        report.handlers,
        tuple(str(w) for w in report.warnings),
        modules,
    )
