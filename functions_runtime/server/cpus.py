"""Which CPU each of ``functions serve``'s processes runs on (``--cpu-affinity``).

serve's threads (the HTTP server's, ingest's commits, the API) hand work to each other
all the time and run Python under one interpreter lock: only one of them runs Python at
a time. Spread over several CPUs, every hand-off wakes a thread asleep on another CPU
first, and on a virtual machine that costs more than the work handed over (a one-byte
pipe round trip between two processes: 80-130 µs across this project's two vCPUs,
7-10 µs on one; ``bench/calibration.py``). Kept on one CPU, the hand-offs are
switches on that CPU. The same holds for each delivery process and its sandbox
workers, which hand the turn back and forth: the zygote and the workers inherit the
delivery process's CPU.

So with ``on`` (the default) and two or more CPUs to use, serve runs on the first of the
CPUs it may use, and the delivery processes on the others: split into one group each
when there are at least as many others as processes (the kernel places a process's
threads and workers within its group), else one CPU each, round the whole list. With
two CPUs and two delivery processes, serve and the second delivery process share the
first CPU and the first delivery process has the second; with eight CPUs, serve has
one and each delivery process three or four. Measured on two vCPUs, three pairs against
the kernel's placement: ingest accepted 1.44 times the events/s at batch 1 and 1.58
times at batch 20 (docs/PERFORMANCE.md). ``off`` leaves every process to the kernel,
as does a machine with one CPU; a process started with a narrower CPU set
(``taskset``) is laid out within it.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["CHOICES", "Layout", "layout", "parse", "pin_to", "spelled"]

CHOICES = ("on", "off")


@dataclass(frozen=True)
class Layout:
    serve: frozenset[int] | None
    """serve's CPUs (None: not pinned)."""
    deliveries: tuple[frozenset[int] | None, ...]
    """Each delivery process's CPUs, by slot."""


def layout(choice: str, processes: int, available: Collection[int] | None = None) -> Layout:
    """The CPUs for serve and its ``processes`` delivery processes, ``available`` being
    the CPUs this process may use (by default, what the kernel says)."""
    if choice not in CHOICES:
        raise ValueError(f"--cpu-affinity must be one of {', '.join(CHOICES)}, got {choice!r}")
    if available is None:
        available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
    cpus = sorted(available)
    if choice == "off" or len(cpus) < 2:
        return Layout(None, (None,) * processes)
    others = cpus[1:]
    if len(others) >= processes > 0:
        size, extra = divmod(len(others), processes)
        groups, at = [], 0
        for k in range(processes):
            end = at + size + (1 if k < extra else 0)
            groups.append(frozenset(others[at:end]))
            at = end
        return Layout(frozenset(cpus[:1]), tuple(groups))
    return Layout(
        frozenset(cpus[:1]),
        tuple(frozenset({cpus[(k + 1) % len(cpus)]}) for k in range(processes)),
    )


def pin_to(cpus: Collection[int] | None) -> str | None:
    """Run this thread, and the threads and processes it starts from now on, on
    ``cpus`` (None: leave it). Call it first, before any thread starts. Returns why it
    could not (a sandbox that refuses the call, a CPU taken away since), or None: the
    process then runs where the kernel places it, as with ``off``."""
    if cpus is None:
        return None
    try:
        os.sched_setaffinity(0, set(cpus))
    except OSError as exc:
        return f"could not run on CPU {spelled(cpus)} ({exc.strerror or exc}); the kernel places it"
    return None


def parse(text: str) -> frozenset[int]:
    """A ``--cpus`` value (``3`` or ``1,2``), as :func:`spelled` writes it."""
    return frozenset(int(part) for part in text.split(","))


def spelled(cpus: Collection[int]) -> str:
    """``cpus`` as a ``--cpus`` value."""
    return ",".join(str(c) for c in sorted(cpus))
