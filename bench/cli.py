"""``python -m bench``: run the scenarios, print the tables, write ``results.json``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from functions_runtime.server import latency

from .calibration import calibrate
from .cold import run_cold
from .coldstart import run_coldstart
from .ingest import IngestParams, run_ingest
from .machine import machine_info
from .many import ManyParams, run_many
from .paths import BenchError
from .procstat import machine_busy_seconds, own_cpu_seconds
from .report import evaluate_targets, render, write_json
from .sink import Sink
from .warm import WarmParams, run_warm

__all__ = ["SCENARIOS", "Options", "main", "parse_args", "run"]

SCENARIOS = ("warm", "cold", "coldstart", "many", "ingest")
DEFAULT_OUTPUT = Path(__file__).resolve().with_name("results.json")
SCHEMA_VERSION = 1
QUICK_ENTRY_POINTS = ("functions_runtime.sandbox.guest.worker",)


@dataclass(frozen=True)
class Options:
    quick: bool = False
    repeat: int = 5
    only: str | None = None
    output: Path = DEFAULT_OUTPUT
    max_workers: int = 64
    serve_args: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()  # the many scenario's instance counts (empty: its own)
    cpu_latency_qos: str = "off"  # "on": idle CPUs poll during the run (server/latency.py)


def warm_params(options: Options) -> WarmParams:
    if options.quick:
        return WarmParams(events=20, repeat=options.repeat, warmup=5, overhead_events=40)
    return WarmParams(events=400, repeat=options.repeat)


def many_params(options: Options) -> ManyParams:
    if options.quick:
        return ManyParams(
            counts=(1, 10),
            max_workers=options.max_workers,
            rounds=options.repeat,
            events_per_round=10,
            warmup_events=20,
        )
    if options.counts:
        return ManyParams(
            counts=options.counts, max_workers=options.max_workers, rounds=options.repeat
        )
    return ManyParams(max_workers=options.max_workers, rounds=options.repeat)


def ingest_params(options: Options) -> IngestParams:
    if options.quick:
        return IngestParams(
            batch_sizes=(20,),
            clients=2,
            saturate_seconds=0.5,
            light_seconds=0.5,
            paced_seconds=0.5,
            drain_seconds=0.5,
            warmup_events=5,
            start_delay=0.3,
            budget_seconds=9.0,
            serve_args=options.serve_args,
        )
    return IngestParams(serve_args=options.serve_args)


def run(options: Options, out: TextIO | None = None) -> dict[str, Any]:
    """Run the selected scenarios; write ``options.output``; print the tables to ``out``."""
    say = out if out is not None else sys.stdout
    selected = [options.only] if options.only else list(SCENARIOS)
    # Held for the whole run, calibration included: the machine every scenario sees.
    with latency.hold(options.cpu_latency_qos) as qos:
        if qos.line:
            print(f"--cpu-latency-qos: {qos.line}", file=say, flush=True)
        return _run(options, selected, qos.held, say)


def _run(options: Options, selected: list[str], qos_held: bool, say: TextIO) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    durations: dict[str, float] = {}
    load_start = _load_average()
    speed_start = calibrate()
    busy_start, own_start, wall_start = machine_busy_seconds(), own_cpu_seconds(), time.time()
    with Sink() as sink:
        for name in selected:
            print(f"running {name} ...", file=say, flush=True)
            started = time.perf_counter()
            if name == "warm":
                scenarios[name] = run_warm(warm_params(options), sink.url)
            elif name == "cold":
                modules = QUICK_ENTRY_POINTS if options.quick else None
                scenarios[name] = run_cold(options.repeat, sink.url, modules)
            elif name == "coldstart":
                scenarios[name] = run_coldstart(options.repeat, sink.url)
            elif name == "ingest":
                scenarios[name] = run_ingest(ingest_params(options))
            else:
                scenarios[name] = run_many(many_params(options), sink.url, sink.usage)
            durations[name] = round(time.perf_counter() - started, 1)
    # Every child (workers, sink, python -c) has been waited for: its CPU is counted.
    wall = time.time() - wall_start
    foreign = (machine_busy_seconds() - busy_start) - (own_cpu_seconds() - own_start)
    speed_end = calibrate()
    params = asdict(options)
    params["output"] = str(options.output)
    params["serve_args"] = list(options.serve_args)
    params["counts"] = list(options.counts)
    params["cpu_latency_qos_held"] = qos_held
    results: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "machine": machine_info(),
        "options": params,
        "scenario_seconds": durations,
        "load_average": {"start": load_start, "end": _load_average()},
        "calibration": {"start": speed_start, "end": speed_end},
        "other_processes": {
            "cpu_seconds": round(max(foreign, 0.0), 1),
            "share_of_machine": round(max(foreign, 0.0) / (wall * (os.cpu_count() or 1)), 3),
        },
        "scenarios": scenarios,
        "targets": evaluate_targets(scenarios),
    }
    write_json(results, options.output)
    print(file=say)
    print(render(results), file=say, end="")
    print(f"\nwrote {options.output}", file=say)
    return results


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the machine skews the figures."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _counts(text: str) -> tuple[int, ...]:
    return tuple(_positive(part) for part in text.split(","))


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark the functions runtime: warm cost, cold start, many instances, ingest."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="tiny inputs (a smoke run)")
    parser.add_argument(
        "--repeat", type=_positive, default=5, help="timed runs per figure (default 5)"
    )
    parser.add_argument("--only", choices=SCENARIOS, help="run one scenario")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="results file (default bench/results.json)",
    )
    parser.add_argument(
        "--max-workers",
        type=_positive,
        default=64,
        help="WorkerPool size for the many-instances scenario (default 64)",
    )
    parser.add_argument(
        "--counts",
        type=_counts,
        default=(),
        help="instance counts for the many-instances scenario, e.g. 3000 or 100,3000",
    )
    parser.add_argument(
        "--serve-arg",
        dest="serve_args",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for the ingest scenario's functions serve, e.g. "
        "--serve-arg=--delivery-processes=2 (repeatable)",
    )
    parser.add_argument(
        "--cpu-latency-qos",
        choices=latency.CHOICES,
        default="off",
        help="on: hold the kernel's CPU latency limit at 0 us for the whole run, so idle "
        "CPUs poll instead of halting (as functions serve --cpu-latency-qos on; needs "
        "root); default off",
    )
    args = parser.parse_args(argv)
    return Options(
        quick=args.quick,
        repeat=args.repeat,
        only=args.only,
        output=args.output,
        max_workers=args.max_workers,
        serve_args=tuple(args.serve_args),
        counts=args.counts,
        cpu_latency_qos=args.cpu_latency_qos,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        run(options)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    return 0
