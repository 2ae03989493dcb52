"""Where a pool miss goes (issue 16 §1): ``python -m bench.miss [N]``.

A pool of 8 with the production zygote and no spare; ``N`` new instances of the bench
handler (default 40). Timed from the host, median of ``N``, wall and host CPU:

* **miss**: ``pool.invoke`` of a new instance (a worker started, one evicted);
* **hit**: the same instance's next event;
* **spawn**: ``Worker(pool.launcher)``, the fork from the zygote and its handshake;
* **load**: ``worker.load(spec, code)``, the code the pool compiled (once, for every
  instance: they share one source) sent, unpacked and bound in the new worker;
* **first event**: miss - spawn - load (what a fresh worker's first event costs);
* **compile**: ``compile_function`` of the same source in this process (CPU): what
  each load cost before the pool compiled once (a worker compiled it);
* **spare miss**: ``pool.invoke`` of a new instance in a pool of 8 whose spare is
  ready (started and rehearsed, ``guest/rehearsal.py``): what a miss costs when the
  machine has had a moment to prepare for it.

The pool's ``Worker`` and ``launcher`` are used as the pool uses them; nothing in the
pool is changed. Every event must be delivered (to the bench's sink).
"""

from __future__ import annotations

import statistics
import sys
import time

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.host.pool import WorkerPool
from functions_runtime.sandbox.host.worker import Worker

from . import workload
from .paths import BenchError
from .sink import Sink

__all__ = ["measure_miss"]


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def measure_miss(count: int, sink_url: str) -> dict[str, float]:
    """The medians above, in ms (``*_cpu``: this process's CPU)."""
    rows: dict[str, list[float]] = {}

    def add(name: str, wall: float, cpu: float | None = None) -> None:
        rows.setdefault(name, []).append(wall * 1000)
        if cpu is not None:
            rows.setdefault(f"{name}_cpu", []).append(cpu * 1000)

    specs = [workload.instance_spec(sink_url, i) for i in range(count * 2 + 1)]
    events = workload.mixed_events(count * 2 + 1)
    with WorkerPool(max_workers=8, spares=0) as pool:
        pool.invoke(specs[-1], [events[-1]])  # the zygote is up
        for i in range(count):
            t0, c0 = time.perf_counter(), time.process_time()
            worker = Worker(pool.launcher)
            t1, c1 = time.perf_counter(), time.process_time()
            code = pool._loadable(specs[i])
            problems = worker.load(specs[i], code if isinstance(code, str) else None)
            t2, c2 = time.perf_counter(), time.process_time()
            worker.kill()
            if problems:
                raise BenchError(f"miss: the worker refused the code: {problems}")
            add("spawn", t1 - t0, c1 - c0)
            add("load", t2 - t1, c2 - c1)
        for i in range(count):
            spec = specs[count + i]
            t0, c0 = time.perf_counter(), time.process_time()
            [first] = pool.invoke(spec, [events[2 * i]])
            t1, c1 = time.perf_counter(), time.process_time()
            [second] = pool.invoke(spec, [events[2 * i + 1]])
            t2, c2 = time.perf_counter(), time.process_time()
            for result in (first, second):
                if result["outcome"] != "delivered":
                    raise BenchError(f"miss: {result['outcome']}: {result['error']}")
            add("miss", t1 - t0, c1 - c0)
            add("hit", t2 - t1, c2 - c1)
    with WorkerPool(max_workers=8, spares=1) as pool:
        pool.invoke(specs[-1], [events[-1]])
        for i in range(count):
            pool._spares_settled()  # the spare is started and has rehearsed
            time.sleep(0.01)
            t0, c0 = time.perf_counter(), time.process_time()
            [first] = pool.invoke(specs[count + i], [events[2 * i]])
            t1, c1 = time.perf_counter(), time.process_time()
            if first["outcome"] != "delivered":
                raise BenchError(f"miss: {first['outcome']}: {first['error']}")
            add("spare_miss", t1 - t0, c1 - c0)
    for _ in range(count):
        c0 = time.process_time()
        compile_function(specs[0].source, "handler.py", "destination")
        rows.setdefault("compile_cpu", []).append((time.process_time() - c0) * 1000)
    found = {name: _median(values) for name, values in rows.items()}
    found["first_event"] = round(found["miss"] - found["spawn"] - found["load"], 2)
    return found


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with Sink() as sink:
        found = measure_miss(count, sink.url)
    print(f"pool miss, {count} new instances: median ms, wall (host CPU)")
    for name in ("miss", "hit", "spawn", "load", "spare_miss"):
        print(f"  {name:12s} {found[name]:8.2f} ({found[name + '_cpu']:.2f})")
    print(f"  {'first event':12s} {found['first_event']:8.2f} (miss - spawn - load)")
    print(f"  {'compile':12s} {found['compile_cpu']:8.2f} (CPU, in process)")


if __name__ == "__main__":
    main()
