"""Length-prefixed JSON frames over pipes: the only channel between host and worker.

AWS Lambda has no ``/dev/shm``, so no multiprocessing queues: plain pipes, one JSON
document per frame, each preceded by its length as four big-endian bytes.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

__all__ = ["MAX_FRAME", "FrameError", "encode", "read_frame", "write_frame"]

MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The peer sent something that is not a frame, or closed the pipe."""


def encode(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
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
    try:
        return json.loads(_read_exact(fd, size))
    except ValueError as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None


def write_frame(fd: int, message: Any) -> None:
    """Write one frame to ``fd`` (blocking)."""
    data = encode(message)
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
