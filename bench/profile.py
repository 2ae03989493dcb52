"""``python -m bench.profile``: where the sandboxed path spends its time.

Two cProfile runs over the warm scenario's events, against the local sink:

* **host**: ``WorkerPool.invoke`` as the runtime calls it (time spent waiting for
  the worker shows up as ``select``);
* **worker**: what the worker process does per event, replayed in this process:
  decode the invoke frame, ``Runner.run_one`` (parse the event, fresh sandboxed
  module, guards, handler, ``fetch``), check and encode the result frame. (The real
  worker sets rlimits on itself, so it is not profiled in place.)

Prints the top functions by own time, and the project's functions by cumulative time,
with their share of the profiled wall time. ``--no-network`` answers ``fetch`` from a
mock in the worker profile, leaving the sandbox's and the SDK's own cost.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import time
from collections.abc import Callable, Sequence
from typing import Any

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest.protocol import encode
from functions_runtime.sandbox.guest.worker import Runner
from functions_runtime.sandbox.host.broker import Broker
from functions_runtime.sandbox.host.pool import WorkerPool
from functions_sdk import Settings

from . import workload
from .paths import BenchError, SandboxPath
from .sink import Sink

__all__ = ["cumulative_spots", "hot_spots", "main", "profile_host", "profile_worker"]


def hot_spots(profile: cProfile.Profile, wall: float, top: int) -> list[dict[str, Any]]:
    """The ``top`` functions by own time (all when ``top`` is 0): ``file:line:function``,
    calls, own time, and own and cumulative shares of ``wall``."""
    stats = pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in raw.items():
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append(
            {
                "function": f"{short}:{line}:{name}",
                "calls": calls,
                "own_s": round(own, 4),
                "own_share": round(own / wall, 3),
                "cumulative_share": round(cumulative / wall, 3),
            }
        )
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:top] if top else rows


_PROJECT = ("functions_runtime/", "functions_sdk/", "handler.py:")


def cumulative_spots(profile: cProfile.Profile, wall: float, top: int) -> list[dict[str, Any]]:
    """The project's own functions (runtime, SDK, bench handler) by cumulative time."""
    rows = [
        r for r in hot_spots(profile, wall, 0) if any(part in r["function"] for part in _PROJECT)
    ]
    rows.sort(key=lambda r: r["cumulative_share"], reverse=True)
    return rows[:top]


def _profiled(work: Callable[[], object]) -> tuple[cProfile.Profile, float]:
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    work()
    profile.disable()
    return profile, time.perf_counter() - started


def profile_host(
    url: str, events: Sequence[dict[str, Any]], batch: int | None
) -> tuple[cProfile.Profile, float]:
    with WorkerPool(max_workers=1) as pool:
        path = SandboxPath(pool, workload.instance_spec(url))
        path.run(path.prepare(events[:20], None))  # start the worker outside the profile
        calls = path.prepare(events, batch)
        return _profiled(lambda: path.run(calls))


def profile_worker(
    url: str, events: Sequence[dict[str, Any]], *, mocked: bool = False
) -> tuple[cProfile.Profile, float]:
    """The worker's code in this process; its ``fetch`` performed by an in-process host
    broker (no pipe). ``mocked``: the broker answers from a canned response (no
    socket), which leaves the sandbox's and the SDK's own CPU cost."""
    spec = workload.instance_spec(url)
    report = compile_function(spec.source, spec.filename, spec.kind)
    if report.code is None:
        raise BenchError(f"the bench handler does not compile: {report.errors}")
    mocks = [{"method": "POST", "url": url, "status": 200, "json": {"ok": True}}]
    session = Broker().session(
        spec.key,
        allow=spec.allow,
        secrets=Settings(spec.settings, secret_names=spec.secret_names).secret_values(),
        mocks=mocks if mocked else None,
    )
    runner = Runner(report.code, spec.filename, spec.kind, session.fetch, freeze=True)
    frame = encode(
        {
            "op": "invoke",
            "events": list(events),
            "batch": True,
            "settings": spec.settings,
            "secret_names": list(spec.secret_names),
        }
    )

    def serve() -> None:
        message = json.loads(frame[4:])
        for i, raw in enumerate(message["events"]):
            result = runner.run_one(raw, message)
            if result["outcome"] != "delivered":
                raise BenchError(f"worker replay: {result['outcome']}: {result['error']}")
            encode(result)  # the worker checks that the result serialises ...
            encode({"index": i, "result": result})  # ... then writes its frame

    serve()  # warm: first connections, lazy imports
    gc.freeze()  # as in a worker: the zygote's heap and each event's survivors are frozen
    return _profiled(serve)


def _print(title: str, rows: list[dict[str, Any]], wall: float, count: int) -> None:
    print(f"\n{title}: {wall:.3f} s for {count} events ({wall * 1000 / count:.3f} ms/event)")
    print(f"{'own %':>6} {'cum %':>6} {'calls':>8}  function")
    for row in rows:
        print(
            f"{row['own_share'] * 100:6.1f} {row['cumulative_share'] * 100:6.1f} "
            f"{row['calls']:8d}  {row['function']}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--events", type=int, default=400, help="events per profile")
    parser.add_argument(
        "--batch", type=int, default=20, help="events per invoke on the host (0: one by one)"
    )
    parser.add_argument("--top", type=int, default=15, help="functions to list")
    parser.add_argument(
        "--no-network",
        action="store_true",
        help="worker profile with fetch answered from a mock (no socket): sandbox and SDK only",
    )
    args = parser.parse_args(argv)
    events = workload.events(args.events)
    with Sink() as sink:
        host, host_wall = profile_host(sink.url, events, args.batch or None)
        worker, worker_wall = profile_worker(sink.url, events, mocked=args.no_network)
    mode = f"batch {args.batch}" if args.batch else "one event per invoke"
    for title, profile, wall in (
        (f"host, WorkerPool.invoke ({mode})", host, host_wall),
        (
            "worker, per event (replayed in-process"
            + (", fetch mocked)" if args.no_network else ")"),
            worker,
            worker_wall,
        ),
    ):
        _print(f"{title}, by own time", hot_spots(profile, wall, args.top), wall, len(events))
        _print(
            f"{title}, project code by cumulative time",
            cumulative_spots(profile, wall, args.top),
            wall,
            len(events),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
