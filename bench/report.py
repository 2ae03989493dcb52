"""Targets, the printed tables, and ``results.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .coldstart import render_coldstart

__all__ = ["evaluate_targets", "render", "write_json"]

BATCH_FOR_TARGET = "batch-20"
INGEST_RATE_TARGET = 3000.0
"""The offered rate of the paced phase the p95 target is read at."""
INGEST_ACCEPTED_TARGETS = {"batch-20": 10000.0, "batch-1": 1500.0}
"""Issue 16 §4: accepted events/s at saturation, per batch size (round one: 3,000)."""
INGEST_P95_TARGET_MS = 100.0
"""Issue 16 §4: p95 send-to-delivery at 3,000 events/s offered (round one: 1,000 ms)."""
BUSY_SHARE = 0.15
"""A run during which other processes used more than this share of the machine's CPU
is marked as disturbed."""


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _warm_ratio(warm: Any, mode: str) -> float | None:
    for row in _get(warm, "ratios") or []:
        if row["mode"] == mode:
            value = row["sandbox_vs_plain"]
            return float(value) if value is not None else None
    return None


def _overhead_us(warm: Any, mode: str) -> float | None:
    for row in _get(warm, "cpu_only") or []:
        if row["mode"] == mode:
            return float(row["overhead_us"])
    return None


def _target(
    name: str, goal: str, value: float | None, unit: str, met: bool | None
) -> dict[str, Any]:
    return {"name": name, "goal": goal, "value": value, "unit": unit, "met": met}


def _ingest_row(ingest: Any, mode: str) -> dict[str, Any]:
    for row in _get(ingest, "rows") or []:
        if row["mode"] == mode:
            return dict(row)
    return {}


def _ingest_targets(ingest: Any) -> list[dict[str, Any]]:
    """Accepted events/s (saturation) per batch size that has a target and was run, and
    p95 send-to-delivery at the target rate."""
    row = _ingest_row(ingest, BATCH_FOR_TARGET)
    paced = row.get("paced") or {}
    p95 = _get(paced, "latency_ms", "p95")
    offered = paced.get("offered_rate")
    reached = offered is not None and offered >= 0.99 * INGEST_RATE_TARGET
    note = None
    if p95 is not None:
        note = f"measured at {offered:,.0f} events/s offered" + (
            "" if reached else f", below the {INGEST_RATE_TARGET:,.0f} events/s target rate"
        )
        if _get(paced, "latency_ms", "p95_at_least"):
            note += f"; a lower bound: {paced['undelivered']} events undelivered at the end"
    targets = []
    for mode, goal in INGEST_ACCEPTED_TARGETS.items():
        accepted = _ingest_row(ingest, mode)
        if not accepted:
            continue
        rate = _get(accepted, "saturation", "events_per_s")
        targets.append(
            _target(
                f"ingest accepted durably, {mode}",
                f">= {goal:,.0f} events/s",
                rate,
                "events/s",
                None if rate is None else rate >= goal,
            )
        )
    targets.append(
        {
            **_target(
                f"ingest send-to-delivery p95 at the target rate, {BATCH_FOR_TARGET}",
                f"< {INGEST_P95_TARGET_MS:,.0f} ms",
                p95,
                "ms",
                None if p95 is None else reached and p95 < INGEST_P95_TARGET_MS,
            ),
            "note": note,
        }
    )
    return targets


def _many_targets(many: Any) -> list[dict[str, Any]]:
    """Issue 16 §1 at the largest count, per number of workspaces: steady events/s and
    the workers' total PSS."""
    rows = _get(many, "rows") or []
    if not rows:
        return []
    largest = max(row["instances"] for row in rows)
    targets = []
    for row in rows:
        if row["instances"] != largest:
            continue
        workspaces = int(row.get("workspaces", largest))
        shape = "one workspace" if workspaces == 1 else f"{workspaces:,} workspaces"
        rate = _get(row, "steady", "events_per_s", "median")
        pss = row.get("total_pss_mb")
        targets += [
            _target(
                f"long tail: {largest:,} instances in {shape}, steady",
                ">= 600 events/s",
                rate,
                "events/s",
                None if rate is None else rate >= 600,
            ),
            _target(
                f"long tail: {largest:,} instances in {shape}, all workers' PSS",
                "<= 1,536 MB",
                pss,
                "MB",
                None if pss is None else pss <= 1536,
            ),
        ]
    return targets


def evaluate_targets(scenarios: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against the figures (reported, never asserted)."""
    ratio = _warm_ratio(scenarios.get("warm"), BATCH_FOR_TARGET)
    cold_ms = _get(scenarios, "cold", "first_event_ms", "median")
    idle_mb = _get(scenarios, "cold", "idle_worker_rss_mb", "median")
    ingest = _ingest_targets(scenarios["ingest"]) if "ingest" in scenarios else []
    single = _warm_ratio(scenarios.get("warm"), "single")
    overhead = _overhead_us(scenarios.get("warm"), BATCH_FOR_TARGET)
    return [
        _target(
            "warm HTTP handler through the broker vs in-process with a pooled client, "
            f"{BATCH_FOR_TARGET}",
            ">= 0.8 x",
            ratio,
            "x",
            None if ratio is None else ratio >= 0.8,
        ),
        _target(
            "warm HTTP handler through the broker vs in-process with a pooled client, "
            "one event per call",
            ">= 0.8 x",
            single,
            "x",
            None if single is None else single >= 0.8,
        ),
        _target(
            "cold start (new version's first event)",
            "< 250 ms",
            cold_ms,
            "ms",
            None if cold_ms is None else cold_ms < 250,
        ),
        _target(
            "idle worker RSS",
            "< 30 MB",
            idle_mb,
            "MB",
            None if idle_mb is None else idle_mb < 30,
        ),
        _target(
            f"sandbox overhead of a CPU-only handler per event (CPU), {BATCH_FOR_TARGET}",
            "< 120 us",
            overhead,
            "us",
            None if overhead is None else overhead < 120,
        ),
        *ingest,
        *_many_targets(scenarios.get("many")),
    ]


# --------------------------------------------------------------------------- tables


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{float(value):,.{digits}f}"


def _spread(stats: Any, digits: int = 0) -> str:
    """``median [min-max]`` of a summary."""
    if not stats:
        return "-"
    return (
        f"{_num(stats['median'], digits)} "
        f"[{_num(stats['min'], digits)}-{_num(stats['max'], digits)}]"
    )


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "NOT met")


def _eps_cell(row: dict[str, Any]) -> str:
    return _spread(row["events_per_s"]) if row["status"] == "ok" else "not installed"


def _cpu_cell(row: dict[str, Any]) -> str:
    stats = row.get("cpu_per_event_ms")
    return _num(stats["median"], 3) if stats else "-"


def _render_warm(warm: dict[str, Any]) -> str:
    by_key = {(r["path"], r["mode"]): r for r in warm["rows"]}
    rows = []
    for ratio in warm["ratios"]:
        mode = ratio["mode"]
        rows.append(
            [
                mode,
                *(_eps_cell(by_key[(p, mode)]) for p in ("sandbox", "plain", "powertools")),
                _spread(ratio["sandbox_vs_plain_runs"], 2),
                _spread(ratio["sandbox_vs_powertools_runs"], 2),
            ]
        )
    title = (
        f"1. Warm per-event cost: events/s, median [min-max] of {warm['repeat']} runs "
        f"of {warm['events_per_run']} events (single = one invoke per event); "
        "ratios paired run by run"
    )
    headers = ["mode", "sandbox", "plain", "powertools", "sandbox/plain", "sandbox/powertools"]
    cpu_rows = [
        [
            ratio["mode"],
            *(_cpu_cell(by_key[(p, ratio["mode"])]) for p in ("sandbox", "plain", "powertools")),
            _num(ratio["sandbox_vs_plain_cpu"], 2),
        ]
        for ratio in warm["ratios"]
    ]
    cpu_title = (
        "   CPU ms per event (this process + its workers; the sink not counted), median; "
        "sandbox/plain as events per CPU-second"
    )
    cpu_headers = ["mode", "sandbox", "plain", "powertools", "sandbox/plain"]
    text = f"{title}\n{_table(headers, rows)}\n\n{cpu_title}\n{_table(cpu_headers, cpu_rows)}"
    if warm.get("cpu_only"):
        only_rows = [
            [r["mode"], _num(r["sandbox_us"]), _num(r["plain_us"]), _num(r["overhead_us"])]
            for r in warm["cpu_only"]
        ]
        only_title = (
            "   CPU-only handler (python -m bench.overhead): CPU us per event, median of "
            "paired runs; overhead = sandbox minus in-process"
        )
        only_headers = ["mode", "sandbox", "in-process", "overhead"]
        text += f"\n\n{only_title}\n{_table(only_headers, only_rows)}"
    return text


def _import_label(entry: dict[str, Any]) -> str:
    kind = " [Lambda handler]" if entry.get("lambda_handler") else ""
    return f"import {entry['module']}{kind}"


def _render_cold(cold: dict[str, Any], targets: dict[str, dict[str, Any]]) -> str:
    first = targets["cold start (new version's first event)"]
    idle = targets["idle worker RSS"]
    rows = [
        [
            "new version's first event, new worker (ms)",
            _spread(cold["first_event_ms"], 1),
            f"{first['goal']}: {_verdict(first['met'])}",
        ],
        [
            "the same in a new pool, zygote start included (ms)",
            _spread(cold["first_event_new_pool_ms"], 1)
            if "first_event_new_pool_ms" in cold
            else "-",
            "the first new version after a process start: python -I -B and its imports",
        ],
        [
            "idle worker RSS after it (MB)",
            _spread(cold["idle_worker_rss_mb"], 1),
            f"{idle['goal']}: {_verdict(idle['met'])}",
        ],
        [
            "idle worker PSS (MB)",
            _spread(cold["idle_worker_pss_mb"], 1),
            "shared pages split among the processes using them",
        ],
        [
            "first event, spare worker ready (ms)",
            _spread(cold["first_event_spare_ready_ms"], 1),
            "a long-lived pool: its pre-started worker has imported already",
        ],
        ["compile the handler (ms)", _spread(cold["compile_ms"], 2), "compile_function"],
    ]
    bare = cold["bare_python"]
    rows.append(
        [
            "python -c pass (ms)",
            _spread(bare["wall_ms"], 1),
            f"RSS {bare['rss_mb']:g} MB; with bytecode cache "
            f"{_num(bare['wall_with_bytecode_ms']['median'])}",
        ]
    )
    for entry in cold["imports"]:
        if "error" in entry:
            state = "not present yet" if entry.get("missing") else "import failed"
            last = entry["error"].strip().splitlines()[-1]
            rows.append([_import_label(entry), state, last[-110:]])
            continue
        heaviest = ", ".join(
            f"{p['package']} {p['self_ms']:g}" for p in entry["heaviest_packages"][:4]
        )
        rows.append(
            [
                f"{_import_label(entry)} (ms)",
                _spread(entry["wall_ms"], 1),
                f"RSS {entry['rss_mb']:g} MB; with bytecode cache "
                f"{_num(entry['wall_with_bytecode_ms']['median'])}; self ms: {heaviest}",
            ]
        )
    title = f"2. Cold start: median [min-max] of {cold['repeat']} runs"
    return f"{title}\n{_table(['measure', 'value', 'note'], rows)}"


def _render_many(many: dict[str, Any]) -> str:
    rows = []
    for row in many["rows"]:
        steady, admitted = row["steady"], row.get("admitted") or {}
        rows.append(
            [
                str(row["instances"]),
                str(row.get("workspaces", row["instances"])),
                str(row["instances_hit"]),
                str(row["worker_starts"]),
                str(row["evictions"]),
                str(row["live_workers"]),
                _num(row["total_rss_mb"]),
                _num(row["worker_rss_mb"]["median"]),
                _num(row["total_pss_mb"]),
                _num(row.get("zygote_pss_mb")),
                _spread(row["steady"]["events_per_s"], 1),
                _num(row["steady"]["miss_rate"], 3),
                f"{_num(steady.get('wait_ms_p50'))} / {_num(steady.get('wait_ms_p99'))}",
                _num(steady.get("tail_wait_ms_p99")),
                f"{_num(steady.get('hit_wait_ms_p50'))} / {_num(steady.get('miss_wait_ms_p50'))}",
                f"{_num(steady.get('sink_connections_per_event'), 3)} / "
                f"{_num(steady.get('sink_cpu_ms_per_event'), 3)}",
                _spread(admitted.get("events_per_s"), 1),
                f"{_num(admitted.get('miss_rate'), 3)} / {_num(admitted.get('wait_ms_p99'))}",
            ]
        )
    headers = [
        "instances",
        "workspaces",
        "hit",
        "starts",
        "evictions",
        "live",
        "total RSS MB",
        "worker RSS MB",
        "total PSS MB",
        "zygote PSS MB",
        "steady events/s",
        "miss rate",
        "wait ms p50 / p99",
        "tail p99 ms",
        "hit / miss p50 ms",
        "sink conn / CPU ms per event",
        "admitted events/s",
        "admitted miss rate / wait p99 ms",
    ]
    callers = many.get("callers") or 0
    admission = (
        f"; admitted: the same traffic in windows of {many['events_per_round']} grouped per "
        f"instance (the delivery loop's receive and grouping), {callers} callers"
        if callers
        else ""
    )
    title = (
        f"3. Many instances: WorkerPool(max_workers={many['max_workers']}), "
        f"{many['warmup_events']} warm-up events, then {many['rounds']} timed rounds of "
        f"{many['events_per_round']} mixed events; Zipf skew {many['skew']:g}; "
        "workspaces: how many the instances are spread over (warm workers are shared by "
        "a workspace's instances of one code, never across workspaces)"
        f"{admission}"
    )
    return f"{title}\n{_table(headers, rows)}"


def _ms(stats: Any, key: str) -> str:
    """A latency percentile cell; ``>=`` when undelivered events make it a lower bound."""
    if not stats or stats.get(key) is None:
        return "-"
    return (">=" if stats.get(f"{key}_at_least") else "") + _num(stats[key], 0)


def _render_ingest(ingest: dict[str, Any]) -> str:
    rows = []
    for row in ingest["rows"]:
        sat = row.get("saturation")
        if not sat:
            rows.append([row["mode"], "skipped (time budget)", *["-"] * 7])
            continue
        cpu = sat["cpu"]
        rows.append(
            [
                row["mode"],
                _num(sat["events_per_s"], 0),
                _num(sat["requests_per_s"], 0),
                f"{_ms(sat['request_ms'], 'p50')} / {_ms(sat['request_ms'], 'p95')}",
                _num(sat["delivered_per_s"], 0),
                f"{cpu['serve_cores']:.2f} + {cpu['workers_cores']:.2f}",
                f"{cpu['machine_busy_share'] * 100:.0f} %",
                _num(sat["serve_cpu_ms_per_event"], 3),
                str(sat["failed_requests"]),
            ]
        )
    headers = [
        "batch",
        "accepted events/s",
        "requests/s",
        "request ms p50 / p95",
        "delivered/s meanwhile",
        "serve + children cores",
        "machine busy",
        "serve CPU ms/event",
        "failed requests",
    ]
    serve_args = "".join(f" {arg}" for arg in ingest.get("serve_args") or [])
    title = (
        f"4. Ingest: functions serve{serve_args} on 127.0.0.1, {ingest['clients']} client "
        f"processes x {ingest['connections_per_client']} keep-alive connections posting "
        "/v1/batch to signed_webhook; serve (API and ingest), its children (delivery "
        "processes, worker templates, sandbox workers), sink and clients share the "
        "machine's CPUs\n"
        f"   Saturation ({ingest['saturate_seconds']:g} s window, clients as fast as "
        "answered; one run)"
    )
    lat_rows = []
    for row in ingest["rows"]:
        for phase in ("light", "paced"):
            data = row.get(phase)
            if not data:
                continue
            total = data["latency_ms"]
            lat_rows.append(
                [
                    row["mode"],
                    "target" if phase == "paced" else "light",
                    _num(data["offered_rate"], 0),
                    _num(data["events_per_s"], 0),
                    f"{data['delivered']:,} / {data['accepted_events']:,}",
                    _ms(total, "p50"),
                    _ms(total, "p95"),
                    _ms(total, "p99"),
                    _ms(data["accept_to_deliver_ms"], "p95"),
                    _num(data["drain_delivered_per_s"], 0),
                    _num(data.get("drain_cpu_ms_per_event"), 2),
                ]
            )
    lat_headers = [
        "batch",
        "phase",
        "offered events/s",
        "accepted events/s",
        "delivered / accepted",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "receivedAt->sink p95",
        "drain events/s",
        "drain CPU ms/event",
    ]
    lat_title = (
        f"   Latency, client send -> sink arrival, over every accepted event: paced "
        f"{ingest['light_seconds']:g} s at a tenth of the target, then "
        f"{ingest['paced_seconds']:g} s at {ingest['target_rate']:,.0f} events/s (both capped "
        f"at 0.9 x the saturation rate), each followed by up to {ingest['drain_seconds']:g} s "
        "for deliveries; >= : a lower bound (events still undelivered)"
    )
    return f"{title}\n{_table(headers, rows)}\n\n{lat_title}\n{_table(lat_headers, lat_rows)}"


def render(results: dict[str, Any]) -> str:
    """The human-readable report of ``results``."""
    m = results["machine"]
    parts = [
        f"Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, {m['platform']}, commit {m['git_commit']}"
        + (" (dirty)" if m["git_dirty"] else "")
    ]
    load = results.get("load_average") or {}
    if load.get("start") is not None:
        parts[0] += f"\nLoad average (1, 5, 15 min) at start {load['start']}, at end {load['end']}"
    other = results.get("other_processes") or {}
    if other:
        share = other["share_of_machine"]
        parts[0] += (
            f"\nOther processes used {other['cpu_seconds']:g} CPU-seconds during the run "
            f"({share * 100:.0f} % of the machine)"
        )
        if share > BUSY_SHARE:
            parts[0] += (
                "\nWARNING: other work kept the machine busy during this run: wall-clock "
                "figures are inflated and noisy; the CPU figures and paired ratios hold up better"
            )
    speed = results.get("calibration") or {}
    if speed.get("start"):
        start, end = speed["start"], speed["end"]
        parts[0] += (
            "\nMachine speed (bench/calibration.py; lower is faster): pure-Python reference "
            f"{start['python_us']:g} / {end['python_us']:g} µs, pipe round trip "
            f"{start['pipe_round_trip_us']} / {end['pipe_round_trip_us']} µs (start / end)"
        )
        if start.get("pipe_round_trip_cross_cpu_us") is not None:
            parts[0] += (
                ", pinned to one CPU / across two "
                f"{start['pipe_round_trip_same_cpu_us']} / "
                f"{start['pipe_round_trip_cross_cpu_us']} µs (start)"
            )
    options = results.get("options") or {}
    if options.get("cpu_latency_qos") == "on":
        held = options.get("cpu_latency_qos_held")
        parts[0] += (
            "\nIdle CPUs polled during the run (--cpu-latency-qos on: the kernel's CPU latency "
            "limit held at 0 µs, as functions serve --cpu-latency-qos on)"
            if held
            else "\n--cpu-latency-qos on was refused: idle CPUs halted as usual"
        )
    scenarios = results["scenarios"]
    targets = {t["name"]: t for t in results["targets"]}
    if "warm" in scenarios:
        parts.append(_render_warm(scenarios["warm"]))
    if "cold" in scenarios:
        parts.append(_render_cold(scenarios["cold"], targets))
    if "coldstart" in scenarios:
        parts.append(render_coldstart(scenarios["coldstart"]))
    if "many" in scenarios:
        parts.append(_render_many(scenarios["many"]))
    if "ingest" in scenarios:
        parts.append(_render_ingest(scenarios["ingest"]))
    lines = [
        f"  {_verdict(t['met']):12} {t['name']}: {_num(t['value'], 2)} {t['unit']} "
        f"(target {t['goal']})" + (f"; {t['note']}" if t.get("note") else "")
        for t in results["targets"]
    ]
    parts.append("Targets (reported, not asserted):\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write ``results`` to ``path`` atomically (a ``.tmp`` file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
