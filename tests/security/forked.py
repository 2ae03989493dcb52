"""Run a check in a forked child of the test process, for what would change the test
process itself (a seccomp filter, namespaces, a uid drop, Landlock: all irreversible).

``job(fd)`` runs in the child; each value it passes to :func:`report` on ``fd``, and the
value it returns, come back as one JSON value each (an exception as ``{"raised": repr}``)
with the child's wait status. The child never returns into pytest: it ends with
``os._exit``, 0 after a normal return, 3 after an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any


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
