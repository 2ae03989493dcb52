"""Scenario 1, warm per-event cost: the same handler through the sandbox and in-process."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from functions_runtime.sandbox.host.pool import WorkerPool

from . import overhead, workload
from .paths import BenchError, Path, PlainPath, PowertoolsPath, SandboxPath, powertools_available
from .procstat import cpu_seconds
from .stats import summary

__all__ = ["WarmParams", "run_warm"]


@dataclass(frozen=True)
class WarmParams:
    events: int = 400
    """Events per timed run (each mode processes all of them)."""
    batches: tuple[int, ...] = (1, 20, 400)
    repeat: int = 5
    warmup: int = 20
    overhead_events: int = 2000
    """Events per run of the CPU-only handler (``bench.overhead``; 0: not measured)."""


def _modes(params: WarmParams) -> list[tuple[str, int | None]]:
    modes: list[tuple[str, int | None]] = [("single", None)]
    modes += [(f"batch-{b}", b) for b in params.batches if b <= params.events]
    return modes


def _timed(
    path: Path, calls: Sequence[Any], expected: int, pool: WorkerPool
) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process plus the pool's workers) of one run."""
    pids = pool.worker_pids()
    cpu_before = time.process_time() + cpu_seconds(pids)
    started = time.perf_counter()
    delivered = path.run(calls)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() + cpu_seconds(pids) - cpu_before
    if delivered != expected:
        raise BenchError(f"{path.name}: {delivered} of {expected} events delivered")
    return elapsed, cpu


def run_warm(params: WarmParams, sink_url: str) -> dict[str, Any]:
    """Time every (mode, path) ``params.repeat`` times, interleaved so drift hits all alike.

    Ratios are paired: each repeat's sandbox run against the other path's run of the
    same repeat and mode, then the median over repeats. CPU time (this process plus
    the pool's workers; the sink's is not counted) is recorded too: it moves less than
    wall time when other work shares the machine."""
    events = workload.events(params.events)
    settings = workload.settings_for(sink_url)
    modes = _modes(params)
    with WorkerPool(max_workers=2) as pool:
        paths: list[Path] = [
            SandboxPath(pool, workload.instance_spec(sink_url)),
            PlainPath(settings),
        ]
        if powertools_available():
            paths.append(PowertoolsPath(settings))
        warm = events[: max(1, min(params.warmup, len(events)))]
        for path in paths:  # worker start, imports, first connections: not measured
            path.run(path.prepare(warm, None))
            path.run(path.prepare(warm, len(warm)))
        calls = {(p.name, m): p.prepare(events, b) for p in paths for m, b in modes}
        times: dict[tuple[str, str], list[float]] = defaultdict(list)
        cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in range(params.repeat):
            for mode, _batch in modes:
                shift = r % len(paths)  # rotate the order: no path always runs first
                for path in paths[shift:] + paths[:shift]:
                    key = (path.name, mode)
                    wall, used = _timed(path, calls[key], len(events), pool)
                    times[key].append(wall)
                    cpu[key].append(used)
        starts = pool.starts
    rows = [
        _row(name, mode, batch, params.events, times.get((name, mode)), cpu.get((name, mode)))
        for mode, batch in modes
        for name in ("sandbox", "plain", "powertools")
    ]
    # The sandbox's own cost per event: a CPU-only handler, sandbox minus in-process.
    cpu_only = [
        overhead.measure(params.overhead_events, batch, params.repeat)
        for batch in ((0, 20) if params.overhead_events else ())
    ]
    return {
        "events_per_run": params.events,
        "repeat": params.repeat,
        "worker_starts": starts,
        "rows": rows,
        "ratios": _ratios(times, cpu, modes),
        "cpu_only": cpu_only,
    }


def _row(
    path: str,
    mode: str,
    batch: int | None,
    events: int,
    times: list[float] | None,
    cpu: list[float] | None,
) -> dict[str, Any]:
    row: dict[str, Any] = {"path": path, "mode": mode, "batch": batch, "events": events}
    if not times:
        row.update(
            status="not installed (pip install aws-lambda-powertools)",
            seconds=None,
            events_per_s=None,
            per_event_ms=None,
            cpu_per_event_ms=None,
        )
        return row
    row.update(
        status="ok",
        seconds=summary(times),
        events_per_s=summary([events / t for t in times], digits=1),
        per_event_ms=summary([t * 1000 / events for t in times], digits=4),
        cpu_per_event_ms=summary([c * 1000 / events for c in cpu or ()], digits=4),
    )
    return row


def _paired(
    times: dict[tuple[str, str], list[float]], path: str, mode: str
) -> dict[str, Any] | None:
    """``path``'s seconds over the sandbox's (= sandbox events/s over ``path``'s), run by
    run: runs of one repeat are adjacent in time, so load from elsewhere hits both."""
    sandbox, other = times.get(("sandbox", mode)), times.get((path, mode))
    if not sandbox or not other:
        return None
    return summary([o / s for s, o in zip(sandbox, other, strict=True)], digits=3)


def _ratios(
    times: dict[tuple[str, str], list[float]],
    cpu: dict[tuple[str, str], list[float]],
    modes: list[tuple[str, int | None]],
) -> list[dict[str, Any]]:
    out = []
    for mode, batch in modes:
        vs_plain = _paired(times, "plain", mode)
        vs_powertools = _paired(times, "powertools", mode)
        cpu_vs_plain = _paired(cpu, "plain", mode)
        out.append(
            {
                "mode": mode,
                "batch": batch,
                "sandbox_vs_plain": vs_plain["median"] if vs_plain else None,
                "sandbox_vs_powertools": vs_powertools["median"] if vs_powertools else None,
                "sandbox_vs_plain_runs": vs_plain,
                "sandbox_vs_powertools_runs": vs_powertools,
                "sandbox_vs_plain_cpu": cpu_vs_plain["median"] if cpu_vs_plain else None,
            }
        )
    return out
