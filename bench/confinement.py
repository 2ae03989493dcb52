"""What a new worker spends confining itself: ``python -m bench.confinement [N]``.

Every worker forked from the zygote runs the same steps before it reads its first
frame: ``prctl(PR_SET_DUMPABLE)`` (``zygote._set_dumpable``), the parent-death signal
and :func:`~functions_runtime.sandbox.guest.confine.confine` (no_new_privs, identity,
Landlock, seccomp). This forks ``N`` children (default 40) from this process once it
has done what the zygote does before it forks (the runtime's modules imported, the
heap frozen) and times those steps in each child, where every page it writes must
first be copied: that is where building ctypes objects or the seccomp program in the
child used to cost most. Median and range in ms, and which layers were active (a
layer the machine lacks, such as Landlock outside the zygote's namespaces, is skipped
as the zygote would skip it). Issue 16 §1 (pool misses) and issue 11 §5 (cold start).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time

from functions_runtime.sandbox.guest import confine, zygote

__all__ = ["measure_confinement"]


def _child(out: int) -> None:
    started = time.perf_counter()
    zygote._set_dumpable(True)
    confine.set_parent_death_kill()
    applied = confine.confine()
    took = time.perf_counter() - started
    active = ",".join(name for name, state in applied.layers.items() if state == "active")
    os.write(out, f"{took * 1000:.4f} {active}".encode())


def measure_confinement(count: int) -> tuple[list[float], str]:
    """Milliseconds per child, and the layers that were active."""
    gc.freeze()  # as the zygote does before it serves
    times: list[float] = []
    active = ""
    for _ in range(count):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read)
                _child(write)
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            reply = pipe.read().decode()
        os.waitpid(pid, 0)
        took, _, active = reply.partition(" ")
        times.append(float(took))
    return times, active


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    times, active = measure_confinement(count)
    print(
        f"a forked worker's confinement, {count} children: median "
        f"{statistics.median(times):.3f} ms [{min(times):.3f}-{max(times):.3f}]; "
        f"active: {active or 'none'}"
    )


if __name__ == "__main__":
    main()
