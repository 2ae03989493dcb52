"""``python -m bench.overhead``: the sandbox's own cost per event, CPU-only handler.

Issue 16 item 3: a handler that does a little computing and no ``fetch``, run warm
through ``WorkerPool.invoke`` (one invoke per event, and batches) against the same
source run as plain Python in this process (``parse_event``, the handler inside an
invocation context: what the sandbox does too, minus the sandbox). The figure is CPU
time per event (this process plus the worker, from ``/proc``), so other load on the
machine moves it little; runs of both paths alternate and the overhead is paired per
repeat (sandbox minus plain), then the median.

``--profile`` runs the worker's per-event work (``Runner.run_one``, the result frame)
in this process under cProfile instead, and prints where it goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest.protocol import encode
from functions_runtime.sandbox.guest.worker import Runner
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_sdk import Settings
from functions_sdk._context import InvocationContext, activate
from functions_sdk.events import parse_event

from . import workload
from .paths import BenchError
from .procstat import cpu_seconds

__all__ = ["CPU_SOURCE", "main", "measure"]

CPU_SOURCE = (
    "def on_track(event, settings):\n"
    "    return {'total': sum(i * i for i in range(200)), 'event': event.event}\n"
)
"""A handler that computes a little and returns a small result (no fetch, no import)."""


def _spec() -> InstanceSpec:
    settings = {"signing_secret": "whsec_bench_cpu_s3cr3t", "instance": 0}
    return InstanceSpec(
        key=InstanceSpec.key_for(CPU_SOURCE, settings, "cpu.py"),
        source=CPU_SOURCE,
        filename="cpu.py",
        settings=settings,
        secret_names=("signing_secret",),
    )


def _plain(spec: InstanceSpec) -> Callable[[list[dict[str, Any]]], int]:
    namespace: dict[str, Any] = {}
    exec(compile(spec.source, spec.filename, "exec"), namespace)
    handle = namespace["on_track"]
    settings = Settings(spec.settings, secret_names=spec.secret_names)

    def run(chunk: list[dict[str, Any]]) -> int:
        for raw in chunk:
            event = parse_event(raw)
            with activate(InvocationContext(secrets=settings.secret_values())):
                handle(event, settings)
        return len(chunk)

    return run


def _sandboxed(
    pool: WorkerPool, spec: InstanceSpec, batch: bool
) -> Callable[[list[dict[str, Any]]], int]:
    def run(chunk: list[dict[str, Any]]) -> int:
        results = pool.invoke(spec, chunk, batch=batch)
        for result in results:
            if result["outcome"] != "delivered":
                raise BenchError(f"sandbox: {result['outcome']}: {result['error']}")
        return len(results)

    return run


def _cpu_per_event(
    run: Callable[[list[dict[str, Any]]], int],
    chunks: Sequence[list[dict[str, Any]]],
    pids: list[int],
) -> float:
    before = time.process_time() + cpu_seconds(pids)
    delivered = sum(run(chunk) for chunk in chunks)
    used = time.process_time() + cpu_seconds(pids) - before
    return used * 1e6 / delivered


def measure(events: int, batch: int, repeat: int) -> dict[str, Any]:
    """Paired CPU µs per event: sandbox, plain, and their difference (median)."""
    raws = workload.events(events)
    spec = _spec()
    size = batch or 1
    chunks = [raws[i : i + size] for i in range(0, len(raws), size)]
    with WorkerPool(max_workers=1) as pool:
        sandbox = _sandboxed(pool, spec, batch > 0)
        plain = _plain(spec)
        sandbox(raws[:20])
        plain(raws[:20])
        pids = pool.worker_pids()
        sandbox_us: list[float] = []
        plain_us: list[float] = []
        for r in range(repeat):
            order = [(sandbox, sandbox_us), (plain, plain_us)]
            for run, out in order if r % 2 == 0 else order[::-1]:
                out.append(_cpu_per_event(run, chunks, pids))
    gaps = [s - p for s, p in zip(sandbox_us, plain_us, strict=True)]
    return {
        "mode": f"batch-{batch}" if batch else "single",
        "sandbox_us": round(statistics.median(sandbox_us), 1),
        "plain_us": round(statistics.median(plain_us), 1),
        "overhead_us": round(statistics.median(gaps), 1),
        "overhead_runs": [round(g, 1) for g in gaps],
    }


def profile(events: int, top: int) -> None:
    """cProfile of the worker's per-event work, replayed in this process."""
    spec = _spec()
    report = compile_function(spec.source, spec.filename, spec.kind)
    if report.code is None:
        raise BenchError(f"the handler does not compile: {report.errors}")
    runner = Runner(report.code, spec.filename, spec.kind, freeze=True)
    message = {"settings": spec.settings, "secret_names": list(spec.secret_names)}
    raws = workload.events(events)

    def serve() -> None:
        for i, raw in enumerate(raws):
            encode({"index": i, "result": runner.run_one(raw, message)})

    serve()
    gc.freeze()  # the zygote's state: its heap is frozen before a worker forks
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    serve()
    prof.disable()
    wall = time.perf_counter() - started
    print(f"worker, in process, under cProfile: {wall * 1e6 / events:.1f} µs/event")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def profile_host(events: int, batch: int, top: int) -> None:
    """cProfile of ``WorkerPool.invoke`` in this process (the worker runs apart)."""
    raws = workload.events(events)
    spec = _spec()
    size = batch or 1
    chunks = [raws[i : i + size] for i in range(0, len(raws), size)]
    with WorkerPool(max_workers=1) as pool:
        run = _sandboxed(pool, spec, batch > 0)
        run(raws[:20])
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        for chunk in chunks:
            run(chunk)
        prof.disable()
        wall = time.perf_counter() - started
    print(f"host, WorkerPool.invoke under cProfile: {wall * 1e6 / events:.1f} µs/event")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, nargs="*", default=[0, 20])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-host", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    if args.profile_host:
        profile_host(args.events, args.batch[-1] if args.batch else 0, args.top)
        return 0
    if args.profile:
        profile(args.events, args.top)
        return 0
    for batch in args.batch:
        print(json.dumps(measure(args.events, batch, args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
