"""A worker runs on the CPU of the host thread that calls it.

The host and a worker hand the turn back and forth: the invocation frame, each
``fetch`` and its answer, the records. Neither runs while the other has the turn, so
nothing is gained by running them on two CPUs, and each hand-off to a process asleep on
another CPU wakes that CPU first. On a virtual machine that is the costly part: a
one-byte pipe round trip between two processes took 80-130 µs across the two vCPUs of
this project's machine and 7-10 µs on one (``bench/calibration.py`` reports it; idle
vCPUs halt at once there, ``haltpoll.guest_halt_poll_ns=0``). The scheduler places a
woken process where it sees fit, on this CPU or the other, run by run.

So before each load and invocation the host moves the worker to the CPU its calling
thread is on (one ``sched_setaffinity`` when that CPU changed since the last call, none
otherwise). The host itself is not pinned: the kernel still balances it, and its
workers follow it. Several host threads calling workers at once each keep theirs on
their own CPU. ``FUNCTIONS_WORKER_AFFINITY=off`` turns it off.

Where ``sched_getcpu`` or ``sched_setaffinity`` is missing or refused (another OS, a
cpuset that excludes the CPU), nothing is pinned and nothing fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Callable, Iterator

__all__ = ["CpuFollower", "current_cpu", "enabled"]

ENV = "FUNCTIONS_WORKER_AFFINITY"


def _getcpu() -> Callable[[], int] | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        getcpu = libc.sched_getcpu
    except (OSError, AttributeError):
        return None
    getcpu.restype = ctypes.c_int
    getcpu.argtypes = []
    return getcpu


_GETCPU = _getcpu()


def current_cpu() -> int | None:
    """The CPU this thread runs on now (None where it cannot be read)."""
    if _GETCPU is None:
        return None
    cpu = _GETCPU()
    return cpu if cpu >= 0 else None


def enabled(environ: dict[str, str] | None = None) -> bool:
    """Whether workers follow their host's CPU (``FUNCTIONS_WORKER_AFFINITY``)."""
    value = (os.environ if environ is None else environ).get(ENV, "on").strip().lower()
    return _GETCPU is not None and value not in ("off", "0", "false", "no")


class CpuFollower:
    """Runs the calling thread and one worker process on one CPU for a while."""

    def __init__(self, pid: int, *, active: bool = True) -> None:
        self._pid = pid
        self._active = active
        self.cpu: int | None = None  # where the worker was last put

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """The calling thread stays on the CPU it is on, and the worker is moved there,
        until the block ends; then the thread may run anywhere it could before."""
        cpu = current_cpu() if self._active else None
        if cpu is None:
            yield
            return
        try:
            before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {cpu})
        except OSError:
            yield
            return
        try:
            self._follow(cpu)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, before)

    def _follow(self, cpu: int) -> None:
        if cpu == self.cpu:
            return
        try:
            os.sched_setaffinity(self._pid, {cpu})
        except OSError:  # gone, or the CPU is not ours to give: leave it be from now on
            self._active = False
            return
        self.cpu = cpu
