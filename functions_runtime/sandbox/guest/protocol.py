"""Length-prefixed JSON frames over pipes: the only channel between host and worker.

AWS Lambda has no ``/dev/shm``, so no multiprocessing queues: plain pipes, one JSON
document per frame, each preceded by its length as four big-endian bytes.

The worker reads its pipe through a :class:`FrameReader` (one ``read`` usually brings a
whole frame, where reading the header and then the body took two), and writes frames
that follow each other with nothing run in between (an event's last record and the end
of the invocation) in one ``write`` (:func:`write_frames`): on a VM every wake-up of the
peer costs tens of microseconds of CPU.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

from ...json_limits import COMPACT

__all__ = [
    "MAX_FRAME",
    "FrameError",
    "FrameReader",
    "compact",
    "encode",
    "read_frame",
    "write_frame",
    "write_frames",
]

MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")
compact = COMPACT.encode
"""Compact, strict JSON text (``ValueError`` for NaN and infinities), ASCII-only: the
platform's one prebuilt encoder (``json_limits.COMPACT``), not one per call."""


class FrameError(Exception):
    """The peer sent something that is not a frame, or closed the pipe."""


def encode(message: Any) -> bytes:
    body = compact(message).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise FrameError(f"frame of {len(body)} bytes over the {MAX_FRAME} limit")
    return _HEADER.pack(len(body)) + body


def _read_exact(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise FrameError("pipe closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Any:
    """Read one frame from ``fd`` (blocking)."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    if size > MAX_FRAME:
        raise FrameError(f"frame of {size} bytes over the {MAX_FRAME} limit")
    return _decode(_read_exact(fd, size))


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None


class FrameReader:
    """Frames from ``fd`` (blocking), read in chunks of up to 64 KiB: one ``read`` per
    frame where :func:`read_frame` makes two. Frames are returned in order; the bytes of
    a frame that arrived early wait in the buffer for the next :meth:`read`."""

    CHUNK = 64 * 1024

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def _fill(self, size: int) -> None:
        """Read until the buffer holds at least ``size`` bytes."""
        while len(self._buffer) < size:
            chunk = os.read(self.fd, max(self.CHUNK, min(size - len(self._buffer), 1 << 20)))
            if not chunk:
                raise FrameError("pipe closed")
            self._buffer += chunk

    def read(self) -> Any:
        self._fill(_HEADER.size)
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > MAX_FRAME:
            raise FrameError(f"frame of {size} bytes over the {MAX_FRAME} limit")
        end = _HEADER.size + size
        self._fill(end)
        body = bytes(self._buffer[_HEADER.size : end])
        del self._buffer[:end]
        return _decode(body)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_frame(fd: int, message: Any) -> None:
    """Write one frame to ``fd`` (blocking)."""
    _write_all(fd, encode(message))


def write_frames(fd: int, *messages: Any, encoded: tuple[bytes, ...] = ()) -> None:
    """Write several frames to ``fd`` in one ``write`` (blocking): ``encoded`` (frames
    :func:`encode` made earlier) first, then ``messages``, each encoded (and checked)
    before any byte is written."""
    _write_all(fd, b"".join([*encoded, *[encode(m) for m in messages]]))
