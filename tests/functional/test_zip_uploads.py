"""Zip uploads that are built to hurt: bombs, repeated and overlapping entries.

Every zip is built here, byte by byte where ``zipfile`` would refuse to write it.
"""

from __future__ import annotations

import base64
import io
import struct
import warnings
import zipfile
import zlib

import pytest

from functions_runtime.control.errors import ServiceError
from functions_runtime.control.uploads import MAX_ZIP_ENTRIES, read_upload
from tests.functional.conftest import GREETER_HANDLER

KIB = 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    """A zip written by ``zipfile`` (duplicate names allowed)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def shared_kernel_zip(plain: bytes, names: list[str]) -> bytes:
    """One deflated stream, and a central directory entry per name that points at it:
    every entry inflates the same bytes (the overlapping-entries zip bomb)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(plain) + packer.flush()
    crc = zlib.crc32(plain)
    first = names[0].encode()
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), len(plain), len(first), 0
    )
    local += first + data
    central = b""
    for name in names:
        raw = name.encode()
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(data),
            len(plain),
            len(raw),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        central += raw
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(names), len(names), len(central), len(local), 0
    )
    return local + central + end


def refused(data: bytes) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        read_upload(None, b64(data))
    return caught.value


def test_an_overlapping_entries_bomb_is_refused_before_inflating():
    # 200 entries x 255 KiB of one kernel: 51 MB from a few hundred bytes.
    names = [f"d{n}/handler.py" for n in range(200)]
    error = refused(shared_kernel_zip(b"#" * (255 * KIB), names))
    assert (error.status, error.code) == (413, "payload_too_large")
    assert f"at most {MAX_ZIP_ENTRIES}" in error.message


def test_two_entries_sharing_their_data_are_refused():
    error = refused(shared_kernel_zip(GREETER_HANDLER.encode(), ["handler.py", "notes.txt"]))
    assert error.status == 400
    assert "overlap" in error.message


def test_a_repeated_entry_is_refused():
    error = refused(zip_of([("handler.py", b"x = 1\n"), ("handler.py", GREETER_HANDLER.encode())]))
    assert error.status == 400
    assert "more than one entry for 'handler.py'" in error.message


def test_two_folders_each_with_a_handler_are_refused():
    data = zip_of([("a/handler.py", b"x = 1\n"), ("b/handler.py", GREETER_HANDLER.encode())])
    error = refused(data)
    assert error.status == 400
    assert "outside the function's folder 'a/'" in error.message


def test_a_highly_compressed_extra_file_is_refused_by_its_declared_size():
    data = zip_of([("handler.py", GREETER_HANDLER.encode()), ("blob.bin", bytes(5 * KIB * KIB))])
    assert len(data) < 64 * KIB
    error = refused(data)
    assert (error.status, error.code) == (413, "payload_too_large")
    assert "inflates to" in error.message


def test_too_many_entries_are_refused():
    entries = [("handler.py", GREETER_HANDLER.encode())]
    entries += [(f"extra/{n}.txt", b"") for n in range(MAX_ZIP_ENTRIES)]
    error = refused(zip_of(entries))
    assert error.status == 413


def test_an_ordinary_zip_in_a_folder_is_still_accepted():
    data = zip_of([("fn/", b""), ("fn/handler.py", GREETER_HANDLER.encode())])
    upload = read_upload(None, b64(data))
    assert upload.code == GREETER_HANDLER
    assert "on_track" in upload.handlers
