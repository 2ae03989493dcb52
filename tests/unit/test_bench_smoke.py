"""The benchmark harness runs end to end on tiny inputs and reports every figure.

No timing is asserted: only that each scenario ran and its results are complete.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.cli import SCENARIOS, Options, many_params, parse_args, run
from bench.many import ManyParams
from bench.report import render

SUMMARY_KEYS = {"median", "min", "max", "q1", "q3", "n", "runs"}


def _is_summary(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() >= SUMMARY_KEYS and value["n"] >= 1


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    output = tmp_path_factory.mktemp("bench") / "results.json"
    printed = io.StringIO()
    data = run(Options(quick=True, repeat=1, output=output, max_workers=4), out=printed)
    return data, output, printed.getvalue()


def test_results_file_matches_and_names_the_machine(results: tuple[dict[str, Any], Path, str]):
    data, output, _ = results
    assert json.loads(output.read_text()) == data
    assert set(data["scenarios"]) == set(SCENARIOS)
    machine = data["machine"]
    for key in ("cpu_count", "python", "platform", "memory_gib"):
        assert machine[key], key
    for when in ("start", "end"):  # how fast the machine was, before and after
        speed = data["calibration"][when]
        assert speed["python_us"] > 0 and speed["pipe_round_trip_us"] > 0, speed
        if len(os.sched_getaffinity(0)) > 1:  # placed: one CPU, then two
            assert speed["pipe_round_trip_same_cpu_us"] > 0, speed
            assert speed["pipe_round_trip_cross_cpu_us"] > 0, speed
    assert "Machine speed" in results[2] and "pipe round trip" in results[2]


def test_warm_has_every_path_and_mode(results: tuple[dict[str, Any], Path, str]):
    warm = results[0]["scenarios"]["warm"]
    modes = {r["mode"] for r in warm["rows"]}
    assert modes == {"single", "batch-1", "batch-20"}
    for row in warm["rows"]:
        assert row["path"] in {"sandbox", "plain", "powertools"}
        if row["path"] == "powertools" and row["status"] != "ok":
            assert row["status"].startswith("not installed")
            continue
        assert row["status"] == "ok"
        assert _is_summary(row["events_per_s"]) and row["events_per_s"]["median"] > 0
        assert _is_summary(row["per_event_ms"]) and _is_summary(row["cpu_per_event_ms"])
    ratios = {r["mode"]: r for r in warm["ratios"]}
    assert ratios["batch-20"]["sandbox_vs_plain"] > 0
    assert ratios["batch-20"]["sandbox_vs_plain_cpu"] > 0
    assert _is_summary(ratios["batch-20"]["sandbox_vs_plain_runs"])
    cpu_only = {r["mode"]: r for r in warm["cpu_only"]}
    assert set(cpu_only) == {"single", "batch-20"}
    for row in cpu_only.values():
        assert row["sandbox_us"] > 0 and row["plain_us"] > 0
        assert len(row["overhead_runs"]) == 1  # --repeat 1


def test_cold_reports_first_event_memory_and_imports(results: tuple[dict[str, Any], Path, str]):
    cold = results[0]["scenarios"]["cold"]
    for key in (
        "first_event_ms",
        "first_event_spare_ready_ms",
        "idle_worker_rss_mb",
        "idle_worker_pss_mb",
        "compile_ms",
    ):
        assert _is_summary(cold[key]), key
    assert _is_summary(cold["bare_python"]["wall_ms"])
    assert cold["idle_worker_rss_mb"]["median"] > 0
    modules = [entry["module"] for entry in cold["imports"]]
    assert "functions_runtime.sandbox.guest.worker" in modules
    for entry in cold["imports"]:
        assert "error" not in entry, entry
        assert _is_summary(entry["wall_ms"]) and _is_summary(entry["wall_with_bytecode_ms"])
        assert entry["rss_mb"] > 0
        assert entry["heaviest_packages"]


def test_many_reports_memory_evictions_and_throughput(results: tuple[dict[str, Any], Path, str]):
    many = results[0]["scenarios"]["many"]
    rows = {(row["instances"], row["workspaces"]): row for row in many["rows"]}
    # 1 instance: one workspace only; 10: all in one, 30 a workspace (one), one each.
    assert set(rows) == {(1, 1), (10, 1), (10, 10)}
    for row in rows.values():
        assert 1 <= row["live_workers"] <= 4  # max_workers=4
        assert row["worker_starts"] >= row["live_workers"]
        # Every start past the live ones was evicted, except when the admitted rounds'
        # two callers started a worker for one key at once: the pool keeps one of them
        # and kills the other (that one is no eviction).
        assert row["evictions"] <= row["worker_starts"] - row["live_workers"]
        steady_starts = row["worker_starts"] - row["admitted"]["worker_starts"]
        assert row["steady"]["evictions"] <= steady_starts
        assert row["total_rss_mb"] > 0
        assert row["worker_rss_mb"]["median"] > 0
        assert row["total_pss_mb"] > 0 and row["worker_pss_mb"]["median"] > 0
        assert _is_summary(row["steady"]["events_per_s"])
    each = rows[10, 10]  # a workspace each: a worker per instance, evicted past 4
    assert each["worker_starts"] >= each["instances_hit"] >= each["live_workers"]
    assert each["evictions"] > 0
    # One workspace, one code, events one at a time: one warm worker serves them all
    # (then the admitted rounds' two callers may need a second one, never more).
    for count in (1, 10):
        one = rows[count, 1]
        steady_starts = one["worker_starts"] - one["admitted"]["worker_starts"]
        assert (steady_starts, one["evictions"]) == (1, 0)
        assert one["steady"]["miss_rate"] == 0.0
        assert one["admitted"]["worker_starts"] <= 2  # two callers: one more, or a race
        assert 1 <= one["live_workers"] <= one["worker_starts"]
    # The sink's share: its CPU, and the connections it accepted in the steady rounds
    # (none for one instance: the broker keeps them alive; some where workers, and the
    # connections of their instances, were evicted).
    for row in rows.values():  # CPU in clock ticks: a quick run may use less than one
        assert row["steady"]["sink_cpu_ms_per_event"] >= 0
    # The admitted rounds: the same traffic in windows, one invoke per instance in each
    # (every event delivered, or the run would have failed).
    assert many["callers"] == 2
    for (count, _), row in rows.items():
        admitted = row["admitted"]
        assert _is_summary(admitted["events_per_s"]) and admitted["events_per_s"]["median"] > 0
        assert 1 <= admitted["invokes_per_round"] <= min(count, many["events_per_round"])
        assert admitted["wait_ms_p99"] >= admitted["wait_ms_p50"] > 0
    assert rows[1, 1]["admitted"]["invokes_per_round"] == 1  # one instance: one group
    assert rows[1, 1]["admitted"]["worker_starts"] == 0
    assert rows[1, 1]["steady"]["sink_connections_per_event"] == 0.0
    if each["steady"]["evictions"]:
        assert each["steady"]["sink_connections_per_event"] > 0


def test_targets_and_table_are_reported(results: tuple[dict[str, Any], Path, str]):
    data, _, printed = results
    assert [t["met"] is not None for t in data["targets"][:3]] == [True, True, True]
    for title in ("1. Warm", "2. Cold start", "3. Many instances", "Targets"):
        assert title in printed
    tail = {t["name"]: t for t in data["targets"] if t["name"].startswith("long tail")}
    assert sorted(tail) == [  # --quick: the largest count is 10
        "long tail: 10 instances in 10 workspaces, all workers' PSS",
        "long tail: 10 instances in 10 workspaces, steady",
        "long tail: 10 instances in one workspace, all workers' PSS",
        "long tail: 10 instances in one workspace, steady",
    ]
    assert all(t["met"] is not None for t in tail.values())


def test_ingest_reports_accepted_rate_and_latency(results: tuple[dict[str, Any], Path, str]):
    data, _, printed = results
    ingest = data["scenarios"]["ingest"]
    (row,) = ingest["rows"]  # --quick: batch 20 only
    assert row["mode"] == "batch-20"
    saturation = row["saturation"]
    assert saturation["accepted_events"] > 0 and saturation["failed_requests"] == 0
    assert saturation["events_per_s"] > 0 and saturation["request_ms"]["n"] > 0
    assert {"serve_cores", "workers_cores", "machine_busy_share"} <= saturation["cpu"].keys()
    targets = {t["name"]: t for t in data["targets"] if t["name"].startswith("ingest")}
    assert len(targets) == 2
    assert targets["ingest accepted durably, batch-20"]["met"] is not None
    assert "4. Ingest" in printed
    if "skipped" in row:  # the paced phases did not fit --quick's time budget
        return
    for phase in ("light", "paced"):
        paced = row[phase]
        assert paced["accepted_events"] > 0 and paced["offered_rate"] > 0
        assert paced["delivered"] + paced["undelivered"] == paced["accepted_events"]
        latency = paced["latency_ms"]
        assert latency["n"] == paced["accepted_events"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert row["light"]["delivered"] > 0
    assert row["light"]["accept_to_deliver_ms"]["n"] == row["light"]["delivered"]


def test_options_parse():
    options = parse_args(["--quick", "--repeat", "2", "--only", "cold", "--max-workers", "8"])
    assert options == Options(
        quick=True, repeat=2, only="cold", output=options.output, max_workers=8
    )
    with pytest.raises(SystemExit):
        parse_args(["--repeat", "0"])
    counted = parse_args(["--only", "many", "--counts", "100,3000", "--max-workers", "128"])
    assert many_params(counted) == ManyParams(counts=(100, 3000), max_workers=128, rounds=5)
    assert many_params(parse_args([])) == ManyParams()
    for bad in ("0", "3000,", "x"):
        with pytest.raises(SystemExit):
            parse_args(["--counts", bad])
    assert parse_args([]).cpu_latency_qos == "off"
    assert parse_args(["--cpu-latency-qos", "on"]).cpu_latency_qos == "on"
    with pytest.raises(SystemExit):
        parse_args(["--cpu-latency-qos", "yes"])


@pytest.mark.parametrize(("held", "line"), [(True, "Idle CPUs polled"), (False, "was refused")])
def test_the_report_says_whether_idle_cpus_polled(
    results: tuple[dict[str, Any], Path, str], held: bool, line: str
):
    data = json.loads(json.dumps(results[0]))
    assert "CPU latency" not in render(data) and "cpu-latency-qos" not in render(data)
    data["options"].update(cpu_latency_qos="on", cpu_latency_qos_held=held)
    assert line in render(data)


def test_coldstart_times_a_cold_worker_lambdas_first_event(
    results: tuple[dict[str, Any], Path, str],
):
    coldstart = results[0]["scenarios"]["coldstart"]
    for key in ("worker_import_ms", "worker_event_ms", "worker_first_event_ms", "api_import_ms"):
        assert _is_summary(coldstart[key]) and coldstart[key]["median"] > 0, key
    assert "Lambda cold start" in results[2]


def test_warm_split_accounts_for_the_broker_inside_the_host() -> None:
    from bench import warm_split

    [row] = warm_split.measure(events=40, batch=20, repeat=1)
    sandbox = row["sandbox"]
    # nested: the broker's send is part of its answer, which the host thread spends
    assert sandbox["host_us"] >= sandbox["fetch_us"] >= sandbox["send_us"] > 0
    assert sandbox["wall_us"] > 0 and sandbox["worker_us"] >= 0
    assert row["plain"]["wall_us"] > 0 and row["plain"]["cpu_us"] > 0
    assert row["wall_ratio"] == row["plain"]["wall_us"] / sandbox["wall_us"]
    assert warm_split.render([row]).count("\n") == 1


def test_the_delivery_loop_bench_delivers_every_event_it_times() -> None:
    from bench import delivery_loop

    rows = delivery_loop.measure(events=40, repeat=1)
    assert [row["outcomes"] for row in rows] == [{"delivered": 40}]
    assert rows[0]["events"] == 40 and rows[0]["cpu_us"] > 0
    assert delivery_loop.render(rows, "signed_webhook").count("\n") == 1


def test_confinement_times_each_forked_worker_s_steps() -> None:
    from bench.confinement import measure_confinement
    from functions_runtime.sandbox.guest import seccomp

    times, active = measure_confinement(2)
    assert len(times) == 2 and all(ms > 0 for ms in times)
    assert "no_new_privs" in active
    if seccomp.supported():
        assert "seccomp" in active
