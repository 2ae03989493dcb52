"""Scenario 3, many instances: one pool of at most ``max_workers`` serving N instances.

Each instance is the bench handler deployed with its own settings (a distinct
``InstanceSpec`` key, one shared version). Each count runs once per entry of
``per_workspace``, the number of instances in each workspace: ``0`` puts every instance
in one workspace (one customer's catalogue: a function deployed to many sources; the
pool may serve them all from the same warm workers, ``pool.worker_key``), ``30`` spreads
them over ``count / 30`` workspaces (instance ``i`` in workspace ``i % workspaces``, so
each holds busy and quiet ones), ``1`` gives each instance a workspace of its own (every
instance another tenant: no worker is ever shared, one warm worker per instance, as
before workers were shared). A spread that gives a count the same number of workspaces
as an earlier one is not run again. The instances receive a mix of events
(70 % track, 20 % identify, 10 % page), one ``invoke`` per event, spread over them
by a Zipf law: the instance of popularity rank r gets a share proportional to
1 / r**skew, as traffic across customers' sources usually is.

* **warm-up** (not timed): ``warmup_events`` events fill the pool the way the traffic
  itself would; past ``max_workers`` the least recently used worker is evicted.
* **steady**: ``rounds`` timed rounds of ``events_per_round`` events. A round's
  throughput includes the worker starts its misses cause (an event for an instance
  without a live worker starts one: compile, exec, imports).
* **admitted** (after the steady rounds, on the same pool): ``rounds`` more rounds of
  the same traffic as the delivery loop takes it. Each round's events are one window,
  what ``run_worker`` receives at once (``max_messages``, 100 by default); they are
  grouped per instance in arrival order, as ``Dispatcher.process`` groups a window's
  jobs, and each group is one ``invoke`` (one result per event); ``callers`` threads
  run the groups, as a delivery process runs that many loops (``functions serve``
  runs two processes of two loops). An event's wait is from its window's start to
  its group's results. The steady rounds above stay the issue's shape (one caller,
  one invoke per event); this row is what the product's delivery path makes of the
  same traffic, on one pool.

The sink's share of the steady rounds is reported too (connections accepted and its
CPU per event): every instance here posts to the one local sink, which pays on this
machine what each customer's endpoint would pay on its own (a new connection for
each instance whose kept-alive ones the broker has closed, past ``INSTANCES``).

Then the RSS of every live worker is read from ``/proc/<pid>/statm``, and its PSS
(shared pages divided among the processes sharing them, so the sum is what the
workers really cost together) from ``/proc/<pid>/smaps_rollup``; the zygote the
workers are forked from is reported apart (its PSS is the rest of the shared pages).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool

from . import workload
from .paths import BenchError
from .procstat import MiB, pss_bytes, rss_bytes
from .stats import summary

__all__ = ["ManyParams", "run_many"]


@dataclass(frozen=True)
class ManyParams:
    counts: tuple[int, ...] = (1, 10, 100, 500, 1000, 3000)
    max_workers: int = 64
    rounds: int = 5
    events_per_round: int = 100
    warmup_events: int = 200
    skew: float = 1.1
    per_workspace: tuple[int, ...] = (0, 30, 1)
    callers: int = 2
    """Threads running the admitted rounds' groups (0: no admitted rounds)."""


def _deliver(pool: WorkerPool, spec: InstanceSpec, event: dict[str, Any]) -> None:
    _deliver_group(pool, spec, [event])


def _deliver_group(pool: WorkerPool, spec: InstanceSpec, events: list[dict[str, Any]]) -> float:
    """One invoke of ``events`` (every one must be delivered); when it ended."""
    for result in pool.invoke(spec, events):
        if result["outcome"] != "delivered":
            raise BenchError(f"many instances: {result['outcome']}: {result['error']}")
    return time.perf_counter()


def workspace_count(count: int, per_workspace: int) -> int:
    """How many workspaces ``count`` instances fill, ``per_workspace`` in each (0: one)."""
    return 1 if per_workspace <= 0 else max(1, -(-count // per_workspace))


SinkUsage = Callable[[], tuple[int, float]]
"""Connections the sink has accepted and its CPU seconds so far (``Sink.usage``)."""


def _run_count(
    count: int, workspaces: int, params: ManyParams, sink_url: str, usage: SinkUsage | None
) -> dict[str, Any]:
    specs = [
        workload.instance_spec(sink_url, i, workspace=f"ws-{i % workspaces:05d}")
        for i in range(count)
    ]
    rng = random.Random(count)
    weights = [1.0 / (rank + 1) ** params.skew for rank in range(count)]
    steady_events = params.rounds * params.events_per_round
    admitted_events = steady_events if params.callers > 0 else 0
    total = params.warmup_events + steady_events + admitted_events
    events = iter(workload.mixed_events(total, seed=count))
    hit: set[int] = set()
    with WorkerPool(max_workers=params.max_workers) as pool:
        targets = rng.choices(range(count), weights, k=params.warmup_events)
        hit.update(targets)
        for rank in targets:
            _deliver(pool, specs[rank], next(events))
        warm_starts, warm_evictions = pool.starts, pool.evictions
        round_eps: list[float] = []
        waits: list[tuple[int, float, bool]] = []  # (rank, ms invoke to result, missed)
        sink_before = usage() if usage else None
        for _ in range(params.rounds):
            targets = rng.choices(range(count), weights, k=params.events_per_round)
            hit.update(targets)
            started = time.perf_counter()
            for rank in targets:
                sent, starts = time.perf_counter(), pool.starts
                _deliver(pool, specs[rank], next(events))
                waits.append((rank, (time.perf_counter() - sent) * 1000, pool.starts > starts))
            round_eps.append(params.events_per_round / (time.perf_counter() - started))
        sink = _sink_share(sink_before, usage() if usage else None, steady_events)
        steady_starts = pool.starts - warm_starts
        steady_evictions = pool.evictions - warm_evictions
        admitted = _admitted(pool, specs, events, rng, weights, params, count)
        pids = pool.worker_pids()  # the workers (forked ones are the zygote's children)
        rss = [rss_bytes(pid) / MiB for pid in pids]
        pss = [pss_bytes(pid) / MiB for pid in pids]
        launcher = getattr(pool, "launcher", None)
        zygote = getattr(launcher, "zygote_pid", None)
        zygote_pss = round(pss_bytes(zygote) / MiB, 1) if zygote else None
        return {
            "instances": count,
            "workspaces": workspaces,
            "max_workers": params.max_workers,
            "instances_hit": len(hit),
            "warmup": {
                "events": params.warmup_events,
                "worker_starts": warm_starts,
                "evictions": warm_evictions,
            },
            "steady": {
                "events": steady_events,
                "events_per_s": summary(round_eps, digits=1),
                "worker_starts": steady_starts,
                "evictions": steady_evictions,
                "miss_rate": round(steady_starts / steady_events, 3) if steady_events else 0.0,
                **_waits(waits, count),
                **sink,
            },
            "admitted": admitted,
            "worker_starts": pool.starts,
            "spare_hits": getattr(pool, "spare_hits", None),
            "evictions": pool.evictions,
            "live_workers": len(rss),
            "total_rss_mb": round(sum(rss), 1),
            "worker_rss_mb": _rss_summary(rss),
            "total_pss_mb": round(sum(pss), 1),
            "worker_pss_mb": _rss_summary(pss),
            # The template the workers are forked from: its PSS is the other share of
            # the pages they have in common (not in total_pss_mb).
            "zygote_pss_mb": zygote_pss,
        }


def _admitted(
    pool: WorkerPool,
    specs: Sequence[InstanceSpec],
    events: Any,
    rng: random.Random,
    weights: Sequence[float],
    params: ManyParams,
    count: int,
) -> dict[str, Any] | None:
    """The admitted rounds (see the module docstring); None when ``callers`` is 0."""
    if params.callers <= 0:
        return None
    round_eps: list[float] = []
    groups: list[int] = []
    waits: list[tuple[int, float, bool]] = []  # (rank, ms window start to results, -)
    starts = pool.starts
    with ThreadPoolExecutor(params.callers, thread_name_prefix="bench-loop") as loops:
        for _ in range(params.rounds):
            window: dict[int, list[dict[str, Any]]] = {}
            for rank in rng.choices(range(count), weights, k=params.events_per_round):
                window.setdefault(rank, []).append(next(events))
            started = time.perf_counter()
            done = {
                rank: loops.submit(_deliver_group, pool, specs[rank], group)
                for rank, group in window.items()
            }
            for rank, future in done.items():
                ms = (future.result() - started) * 1000
                waits += [(rank, ms, False)] * len(window[rank])
            round_eps.append(params.events_per_round / (time.perf_counter() - started))
            groups.append(len(window))
    events_run = params.rounds * params.events_per_round
    waited = _waits(waits, count)
    return {
        "callers": params.callers,
        "events_per_s": summary(round_eps, digits=1),
        "invokes_per_round": round(statistics.mean(groups), 1),
        "worker_starts": pool.starts - starts,
        "miss_rate": round((pool.starts - starts) / events_run, 3),
        "wait_ms_p50": waited["wait_ms_p50"],
        "wait_ms_p99": waited["wait_ms_p99"],
        "tail_wait_ms_p99": waited["tail_wait_ms_p99"],
    }


def _sink_share(
    before: tuple[int, float] | None, after: tuple[int, float] | None, events: int
) -> dict[str, Any]:
    """What the steady rounds cost the sink per event: the connections it accepted
    (the broker keeps connections alive for at most ``INSTANCES`` instances, so past
    that every miss opens one) and its CPU, which a real endpoint would spend on its
    own machine but which the bench's sink spends on this one."""
    if before is None or after is None or not events:
        return {"sink_connections_per_event": None, "sink_cpu_ms_per_event": None}
    return {
        "sink_connections_per_event": round((after[0] - before[0]) / events, 3),
        "sink_cpu_ms_per_event": round((after[1] - before[1]) * 1000 / events, 3),
    }


def _waits(waits: Sequence[tuple[int, float, bool]], count: int) -> dict[str, Any]:
    """Invoke-to-result times: every event's p50 / p99, the p99 of the events of the
    least busy instances (the less popular half of the ranks: the long tail), and the
    median of the events that found their worker (hit) and of those that started one."""

    def p(values: list[float], q: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    every = [ms for _, ms, _ in waits]
    tail = [ms for rank, ms, _ in waits if rank >= count // 2]
    return {
        "wait_ms_p50": p(every, 0.5),
        "wait_ms_p99": p(every, 0.99),
        "tail_events": len(tail),
        "tail_wait_ms_p99": p(tail, 0.99),
        "hit_wait_ms_p50": p([ms for _, ms, missed in waits if not missed], 0.5),
        "miss_wait_ms_p50": p([ms for _, ms, missed in waits if missed], 0.5),
    }


def _rss_summary(rss: Sequence[float]) -> dict[str, Any]:
    if not rss:
        return {"median": None, "min": None, "max": None}
    return {
        "median": round(statistics.median(rss), 1),
        "min": round(min(rss), 1),
        "max": round(max(rss), 1),
    }


def run_many(params: ManyParams, sink_url: str, usage: SinkUsage | None = None) -> dict[str, Any]:
    """Every count at every spread; ``usage`` (the sink's :meth:`~bench.sink.Sink.usage`)
    adds what the sink spent per steady event."""
    return {
        "max_workers": params.max_workers,
        "callers": params.callers,
        "rounds": params.rounds,
        "events_per_round": params.events_per_round,
        "warmup_events": params.warmup_events,
        "skew": params.skew,
        "per_workspace": list(params.per_workspace),
        "rows": [
            _run_count(count, workspaces, params, sink_url, usage)
            for count in params.counts
            for workspaces in sorted({workspace_count(count, per) for per in params.per_workspace})
        ],
    }
