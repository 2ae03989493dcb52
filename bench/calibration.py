"""How fast the machine is right now: two reference figures read before and after a run.

This machine's speed drifts by half and more (the same tree's figures moved by 40 %
within one session), and the load average does not show it: the other work is outside
the machine. Two small, fixed measurements say how fast it was when the run began and
when it ended, so that figures of different runs can be compared, or not. They are
moments: read five times in a row, a few seconds apart, the first figure was 12 µs
three times and 22-23 µs twice.

* **python_us**: the CPU time of a fixed piece of pure-Python work (encoding and parsing
  a Segment track event with ``json``, and building a dict from it), in µs, the fastest
  of eight batches;
* **pipe_round_trip_us**: the median wall time of one byte sent to a child process over
  a pipe and back, in µs: what each hand-off between the host and a sandbox worker
  costs before any work is done (a wake-up of another process, often on another CPU);
* **pipe_round_trip_same_cpu_us** and **pipe_round_trip_cross_cpu_us**: the same with
  both processes pinned to one CPU, and to two (None on a one-CPU machine). On this
  project's virtual machine they read 7-10 and 45-130 µs: an idle vCPU halts at once
  (``haltpoll.guest_halt_poll_ns=0``) and waking it is the cost. The unpinned figure
  is one or the other, as the kernel placed the child; it explains much of what looked
  like the machine's speed drifting (``functions serve --cpu-affinity``,
  ``functions_runtime/server/cpus.py``).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

__all__ = ["calibrate"]

_EVENT = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user_00042",
    "messageId": "0b5b2e4a-7c1d-4f3a-9e60-000000000042",
    "timestamp": "2024-11-24T00:00:00.123Z",
    "context": {"ip": "203.0.113.42", "library": {"name": "analytics-python", "version": "2"}},
    "properties": {"order_id": "50314b8e9bcf", "revenue": 25.0, "currency": "usd"},
}
_ROUNDS = 400
_TRIPS = 400


def _python_us() -> float:
    """CPU µs of one round of the fixed work: the fastest of a few batches (the first
    ones of a fresh process run slower while its caches and allocator warm up)."""
    batches = []
    for _ in range(8):
        started = time.process_time()
        for _ in range(_ROUNDS):
            parsed = json.loads(json.dumps(_EVENT))
            _ = {key: str(value) for key, value in parsed.items()}
        batches.append((time.process_time() - started) / _ROUNDS * 1e6)
    return round(min(batches), 2)


def _pipe_round_trip_us(cpus: tuple[int, int] | None = None) -> float | None:
    """Median wall µs of a one-byte round trip to a forked child (None without fork).
    ``cpus``: (this process's CPU, the child's) for the run; by default the kernel's."""
    if not hasattr(os, "fork"):
        return None
    child_in, parent_out = os.pipe()  # (read end, write end)
    parent_in, child_out = os.pipe()
    before = os.sched_getaffinity(0) if cpus is not None else None
    pid = os.fork()
    if pid == 0:  # the child: echo until the parent closes its end
        os.close(parent_out)
        os.close(parent_in)
        try:
            if cpus is not None:
                os.sched_setaffinity(0, {cpus[1]})
            while os.read(child_in, 1):
                os.write(child_out, b"x")
        finally:
            os._exit(0)
    os.close(child_in)
    os.close(child_out)
    trips = []
    try:
        if cpus is not None:
            os.sched_setaffinity(0, {cpus[0]})
        for _ in range(_TRIPS):
            started = time.perf_counter()
            os.write(parent_out, b"x")
            os.read(parent_in, 1)
            trips.append((time.perf_counter() - started) * 1e6)
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
        os.close(parent_out)
        os.close(parent_in)
        os.waitpid(pid, 0)
    return round(statistics.median(trips), 1)


def _placed_round_trips() -> dict[str, float | None]:
    """The round trip with both processes on one CPU and on two (None with one CPU)."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(usable) < 2:
        return {"same_cpu_us": None, "cross_cpu_us": None}
    first, second = usable[0], usable[1]
    return {
        "same_cpu_us": _pipe_round_trip_us((first, first)),
        "cross_cpu_us": _pipe_round_trip_us((first, second)),
    }


def calibrate() -> dict[str, Any]:
    """The two reference figures (see the module docstring)."""
    return {
        "python_us": _python_us(),
        "pipe_round_trip_us": _pipe_round_trip_us(),
        **{f"pipe_round_trip_{k}": v for k, v in _placed_round_trips().items()},
    }
