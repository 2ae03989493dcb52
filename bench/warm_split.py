"""``python -m bench.warm_split``: whose CPU a warm HTTP event costs, host and worker.

Issue 11 §5 compares the warm scenario's handler (``bench/handler.py``: build a
payload, sign it, ``fetch`` it to the local sink) through the sandbox with the same
handler in-process on a pooled urllib3 client. This splits the sandboxed event's cost:
per event, in batches of ``--batch``, the wall time, the CPU of the host thread that
calls ``WorkerPool.invoke`` and, within it, of ``Session.answer`` (the broker's whole
answer to one fetch frame: checks, records, masking) and of ``Broker.send`` (resolve,
address check, the request written and its answer parsed, bounded), and the worker's CPU (from
``/proc``); then the in-process path's wall and CPU on the same events. The two paths
run alternately ``--repeat`` times; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from functions_runtime.sandbox.host.broker import Broker, Session
from functions_runtime.sandbox.host.pool import WorkerPool
from functions_runtime.sandbox.host.records import CheckedRequest
from functions_runtime.sandbox.host.ssrf import NetworkPolicy
from functions_sdk._masking import masker_for

from . import workload
from .paths import BenchError, PlainPath
from .procstat import cpu_seconds
from .sink import Sink

__all__ = ["main", "measure"]


class _Clock:
    """CPU seconds of the calling thread spent in the broker, by part."""

    def __init__(self) -> None:
        self.fetch = 0.0
        self.send = 0.0


class _TimedSession(Session):
    clock = _Clock()

    def answer(
        self, message: Mapping[str, Any], deadline: float | None = None
    ) -> tuple[Any, Callable[[], dict[str, Any]]]:
        started = time.thread_time()
        try:
            answer, record = super().answer(message, deadline)
        finally:
            self.clock.fetch += time.thread_time() - started

        def timed_record() -> dict[str, Any]:
            started = time.thread_time()
            try:
                return record()
            finally:
                self.clock.fetch += time.thread_time() - started

        return answer, timed_record


class _TimedBroker(Broker):
    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def session(
        self,
        instance: str,
        *,
        allow: Sequence[str],
        secrets: Sequence[str],
        mocks: list[dict[str, Any]] | None = None,
    ) -> Session:
        session = _TimedSession(self, instance, tuple(allow), masker_for(tuple(secrets)), mocks)
        session.clock = self.clock
        return session

    def send(
        self, instance: str, policy: NetworkPolicy, request: CheckedRequest, timeout: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        started = time.thread_time()
        try:
            return super().send(instance, policy, request, timeout)
        finally:
            self.clock.send += time.thread_time() - started


def _sandboxed(
    pool: WorkerPool, clock: _Clock, calls: Sequence[list[dict[str, Any]]], spec: Any
) -> dict[str, float]:
    events = sum(len(chunk) for chunk in calls)
    pids = pool.worker_pids()
    clock.fetch = clock.send = 0.0
    worker_before = cpu_seconds(pids)
    host_before = time.thread_time()
    started = time.perf_counter()
    for chunk in calls:
        for result in pool.invoke(spec, chunk, batch=True):
            if result["outcome"] != "delivered":
                raise BenchError(f"sandbox: {result['outcome']}: {result['error']}")
    wall = time.perf_counter() - started
    host = time.thread_time() - host_before
    worker = cpu_seconds(pids) - worker_before
    us = 1e6 / events
    return {
        "wall_us": wall * us,
        "host_us": host * us,
        "fetch_us": clock.fetch * us,
        "send_us": clock.send * us,
        "worker_us": worker * us,
    }


def _plain(path: PlainPath, calls: Any, events: int) -> dict[str, float]:
    cpu_before, started = time.process_time(), time.perf_counter()
    if path.run(calls) != events:
        raise BenchError("plain: not every event was delivered")
    us = 1e6 / events
    return {
        "wall_us": (time.perf_counter() - started) * us,
        "cpu_us": (time.process_time() - cpu_before) * us,
    }


def measure(events: int = 1000, batch: int = 20, repeat: int = 3) -> list[dict[str, Any]]:
    """One row per repeat: the sandboxed split and the in-process figures."""
    rows = []
    clock = _Clock()
    with Sink() as sink, WorkerPool(max_workers=2, broker=_TimedBroker(clock)) as pool:
        spec = workload.instance_spec(sink.url)
        sample = workload.events(events)
        chunks = [sample[i : i + batch] for i in range(0, len(sample), batch)]
        plain = PlainPath(workload.settings_for(sink.url))
        plain_calls = plain.prepare(sample, batch)
        _sandboxed(pool, clock, chunks[:2], spec)  # worker start, first connection
        plain.run(plain.prepare(sample[: 2 * batch], batch))
        for _ in range(repeat):
            row: dict[str, Any] = {"sandbox": _sandboxed(pool, clock, chunks, spec)}
            row["plain"] = _plain(plain, plain_calls, len(sample))
            row["wall_ratio"] = row["plain"]["wall_us"] / row["sandbox"]["wall_us"]
            rows.append(row)
    return rows


def render(rows: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "sandbox wall | host CPU (Session.answer and its record, of it Broker.send) | worker CPU"
        " || plain wall | plain CPU || ratio (plain wall / sandbox wall), µs per event"
    )
    lines = [head]
    for row in rows:
        s, p = row["sandbox"], row["plain"]
        lines.append(
            f"{s['wall_us']:7.0f} | {s['host_us']:5.0f} ({s['fetch_us']:4.0f}, {s['send_us']:4.0f})"
            f" | {s['worker_us']:5.0f} || {p['wall_us']:5.0f} | {p['cpu_us']:5.0f}"
            f" || {row['wall_ratio']:.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_split", description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(render(measure(args.events, args.batch, args.repeat)))


if __name__ == "__main__":
    main()
