"""Run a check in a forked child of the test process, for what would change the test
process itself (a seccomp filter, namespaces, a uid drop, Landlock: all irreversible).

``job(fd)`` runs in the child; each value it passes to :func:`report` on ``fd``, and the
value it returns, come back as one JSON value each (an exception as ``{"raised": repr}``)
with the child's wait status. The child never returns into pytest: it ends with
``os._exit``, 0 after a normal return, 3 after an exception.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
from collections.abc import Callable
from typing import Any

# ``unshare`` per architecture (the numbers the tests' seccomp filters refuse).
UNSHARE = {"x86_64": 272, "aarch64": 97}
PRCTL = {"x86_64": 157, "aarch64": 167}


def report(fd: int, value: object) -> None:
    os.write(fd, json.dumps(value).encode() + b"\n")


def run_forked(job: Callable[[int], object]) -> tuple[list[Any], int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 0
        try:
            os.close(read_fd)
            report(write_fd, job(write_fd))
        except BaseException as exc:
            code = 3
            report(write_fd, {"raised": repr(exc)})
        os._exit(code)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    lines = b"".join(chunks).decode().splitlines()
    return [json.loads(line) for line in lines], status


def refuse_calls(number: int, err: int, *more: int) -> None:
    """A seccomp filter in this process (a forked child: it is irreversible) that fails
    system call ``number`` (and ``more``) with ``err`` and allows everything else."""
    ins = struct.Struct("=HBBI")
    program = ins.pack(0x20, 0, 0, 0)
    for nr in (number, *more):
        program += ins.pack(0x15, 0, 1, nr) + ins.pack(0x06, 0, 0, 0x00050000 | err)
    program += ins.pack(0x06, 0, 0, 0x7FFF0000)
    _install(program)


def refuse_prctl(option: int, err: int) -> None:
    """A seccomp filter in this process that fails ``prctl(option, ...)`` with ``err``
    and allows every other call, other ``prctl`` options included."""
    ins = struct.Struct("=HBBI")
    nr = PRCTL[os.uname().machine]
    program = b"".join(
        (
            ins.pack(0x20, 0, 0, 0),  # A = the call's number
            ins.pack(0x15, 0, 3, nr),  # not prctl: allow
            ins.pack(0x20, 0, 0, 16),  # A = low word of the first argument
            ins.pack(0x15, 0, 1, option),
            ins.pack(0x06, 0, 0, 0x00050000 | err),
            ins.pack(0x06, 0, 0, 0x7FFF0000),
        )
    )
    _install(program)


def _install(program: bytes) -> None:
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = Fprog(len(program) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, filter


def errno_of(call: Callable[[], object]) -> object:
    """The errno ``call`` fails with, or ``"ok"``."""
    try:
        call()
    except OSError as exc:
        return exc.errno
    return "ok"
