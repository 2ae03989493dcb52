"""A worker's life as the host sees it (``sandbox/host/worker.py``), pinned.

Written for mutation testing (docs/TESTING.md, issue 18): how a worker's load is
answered or refused, how its death is named, the frames it sends besides records
(``fetch``, ``store``, an early ``done``), its deadlines, stderr, and the ``Worker``
methods the pool relies on (``alive``, ``kill``, ``rss``). The worker is the stand-in of
``hostile_worker.py``, told what to do by the ``# mode:`` line of the instance's source.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_harness import DEFAULT_EVENT
from stand_in import use_stand_in

from functions_runtime.sandbox.host.broker import Broker
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_runtime.sandbox.host.worker import Worker, WorkerLost
from functions_runtime.sandbox.host.zygote_client import Launcher
from functions_runtime.sandbox.loadable import unpack

MiB = 1024 * 1024


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Launcher]:
    """Starts the stand-in instead of the worker (exec'ed, as in test_hostile_worker)."""
    use_stand_in(tmp_path, monkeypatch)
    launched = Launcher(fork=False)
    yield launched
    launched.close()


@pytest.fixture
def pool(launcher: Launcher) -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=2, spares=0, launcher=launcher) as p:
        yield p


def spec(mode: str, **extra: Any) -> InstanceSpec:
    source = f"# mode: {mode}\n\ndef on_track(event, settings):\n    return None\n"
    extra.setdefault("timeout", 1.0)
    extra.setdefault("memory_mb", 128)
    return InstanceSpec(key=f"stand-in-{mode}", source=source, filename="handler.py", **extra)


def run(
    pool: WorkerPool, mode: str, events: int = 1, *, batch: bool = False, **extra: Any
) -> list[dict[str, Any]]:
    return pool.invoke(spec(mode, **extra), [dict(DEFAULT_EVENT)] * events, batch=batch)


def lost(error_type: str, message: str, duration_ms: float) -> dict[str, Any]:
    return {
        "outcome": "retry",
        "result": None,
        "error": {"type": error_type, "message": message, "line": None},
        "logs": [],
        "requests": [],
        "duration_ms": duration_ms,
    }


# -- how a lost worker is named -----------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "error_type", "message"),
    [
        ("early_exit", "WorkerCrashed", "the worker exited with status 3"),
        ("exit_zero", "WorkerCrashed", "the worker exited with status 0"),
        ("killed_by_signal", "WorkerCrashed", "the worker was stopped by SIGKILL"),
        ("cpu_limit", "WorkerCrashed", "the handler used up its CPU time limit (SIGXCPU)"),
        # alive, but its end of the pipe is closed: the host's write fails at once
        ("stdin_closed", "WorkerCrashed", "the worker stopped answering"),
        ("silence", "TimeoutError", "the handler did not finish within 1 s"),
    ],
)
def test_a_lost_worker_is_a_retry_that_names_what_happened(
    pool: WorkerPool, mode: str, error_type: str, message: str
) -> None:
    [record] = run(pool, mode)
    assert record == lost(error_type, message, record["duration_ms"])
    assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    assert pool.worker_pids() == [], "the lost worker was kept"


def test_a_timeout_record_says_how_long_it_waited(pool: WorkerPool) -> None:
    [record] = run(pool, "silence", timeout=0.5)
    assert record["error"]["message"] == "the handler did not finish within 0.5 s"
    assert record["duration_ms"] >= 500  # a lower bound only


def test_the_limit_counts_from_what_the_loaded_worker_holds(pool: WorkerPool) -> None:
    """A worker holding more than the instance's limit once loaded (its baseline) is
    not over the limit: the watchdog is off during the load and counts from there."""
    [record] = run(pool, "load_hog", timeout=5.0, memory_mb=64)
    assert record["outcome"] == "delivered", record


# -- the load ---------------------------------------------------------------------------------


def test_a_refused_load_gives_each_event_the_workers_problems(pool: WorkerPool) -> None:
    invalid = {
        "outcome": "invalid",
        "result": None,
        "error": {"type": "InvalidFunction", "message": "handler.py:3: no\n4", "line": None},
        "problems": ["handler.py:3: no", "4"],
        "logs": [],
        "requests": [],
        "duration_ms": 0.0,
    }
    assert run(pool, "refuse", 2) == [invalid, invalid]
    assert run(pool, "refuse") == [invalid]
    # The host compiled the code: a worker that refuses it says nothing about the code,
    # so it is not remembered (each call tries a worker again) and none is kept.
    assert pool.starts == 2
    assert pool.worker_pids() == []


def test_a_refusal_without_problems_says_the_worker_refused(pool: WorkerPool) -> None:
    [record] = run(pool, "refuse_silently")
    assert record["problems"] == ["the worker refused the code"]


def test_the_load_frame_carries_the_code_and_its_limits(pool: WorkerPool) -> None:
    instance = spec(
        "echo",
        kind="insert",
        memory_mb=96,
        modules=(("lib/util.py", "X = 1\n"),),
        settings={"token": "t0ken", "n": 1},
        secret_names=("token",),
    )
    [record] = pool.invoke(instance, [dict(DEFAULT_EVENT)])
    code = unpack(record["result"]["load"].pop("code"))  # compiled by the host
    assert code.handlers == ("on_track",)
    assert list(code.modules) == ["lib.util"]
    assert record["result"]["load"] == {
        "op": "load",
        "source": instance.source,
        "filename": "handler.py",
        "modules": {"lib/util.py": "X = 1\n"},
        "kind": "insert",
        "memory_mb": 96,
        "cpu_seconds": 600,
    }
    assert record["result"]["invoke"] == {
        "op": "invoke",
        "events": [DEFAULT_EVENT],
        "batch": False,
        "settings": {"token": "t0ken", "n": 1},
        "secret_names": ["token"],
        "hold": True,  # records of events that call nothing on the host may wait
    }


def test_a_worker_that_names_no_handlers_still_runs(pool: WorkerPool) -> None:
    [record] = run(pool, "no_handlers")
    assert record["result"] == {"honest": True}


# -- what a worker sends besides records ----------------------------------------------------


def test_a_fetch_is_answered_and_recorded_by_the_host(pool: WorkerPool) -> None:
    [record] = run(pool, "fetch_refused")
    answer = record["result"]
    assert answer["op"] == "answer" and "record" not in answer, answer
    assert answer["error"]["type"] == "FetchError", answer
    assert "BREW" in answer["error"]["message"], answer
    [request] = record["requests"]  # the broker's record, not the worker's forged one
    assert (request["method"], request["url"]) == ("BREW", "http://127.0.0.1:9/pot")


def test_a_fetch_after_the_deadline_is_refused_without_being_sent(pool: WorkerPool) -> None:
    """The broker is given the handler's deadline: a fetch read after it has passed is
    refused as such (it is not sent, nor checked against the allow-list)."""
    [record] = run(pool, "fetch_first", timeout=1e-6)
    assert record["error"]["type"] == "TimeoutError", record
    [request] = record["requests"]
    assert request["url"] == "http://127.0.0.1:9/"
    assert "time limit" in request["error"], request


def test_a_store_call_is_answered_from_the_pools_store(pool: WorkerPool) -> None:
    [record] = run(pool, "store_call")
    assert record["result"] == {"op": "answer", "value": 2}


def test_without_a_store_a_store_call_is_answered_with_an_error(launcher: Launcher) -> None:
    worker = Worker(launcher)
    try:
        assert worker.load(spec("store_call")) == []
        results: list[dict[str, Any]] = []
        session = Broker().session("k", allow=(), secrets=())
        worker.invoke([dict(DEFAULT_EVENT)], batch=False, session=session, results=results)
        error = {"type": "StoreError", "message": "no store here"}
        assert [r["result"] for r in results] == [{"op": "answer", "error": error}]
    finally:
        worker.kill()


def test_an_early_end_of_invocation_is_a_protocol_error(pool: WorkerPool) -> None:
    [record] = run(pool, "early_done")
    assert (record["outcome"], record["error"]["type"]) == ("rejected", "WorkerProtocolError")
    assert record["error"]["message"] == "the worker sent a malformed or early end of invocation"


def test_a_second_record_for_one_event_is_refused(launcher: Launcher) -> None:
    """The pool keeps the first record and drops the error; the worker raises it."""
    worker = Worker(launcher)
    try:
        worker.load(spec("two_records"))
        results: list[dict[str, Any]] = []
        session = Broker().session("k", allow=(), secrets=())
        with pytest.raises(WorkerLost) as caught:
            worker.invoke([dict(DEFAULT_EVENT)], batch=False, session=session, results=results)
        error = caught.value
        assert (error.outcome, error.error_type) == ("rejected", "WorkerProtocolError")
        assert error.message == "the worker sent more results than events"
        assert str(error) == error.message
        assert len(results) == 1
    finally:
        worker.kill()


@pytest.mark.parametrize("mode", ["stderr_flood", "stderr_closed"])
def test_stderr_is_drained_and_its_end_is_no_crash(pool: WorkerPool, mode: str) -> None:
    for _ in range(2):
        [record] = run(pool, mode, timeout=10.0)
        assert record["result"] == {"honest": True}, record
    assert pool.starts == 1


@pytest.mark.parametrize(
    ("mode", "starts"),
    [("done_without_cpu", 1), ("cpu_spent", 2), ("recycle", 2), ("honest", 1)],
)
def test_the_end_of_invocation_decides_whether_the_worker_is_reused(
    pool: WorkerPool, mode: str, starts: int
) -> None:
    for _ in range(2):
        [record] = run(pool, mode)
        assert record["outcome"] == "delivered", record
    assert pool.starts == starts


# -- deadlines and batches ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["trickle", "trickle_on_batch"])
def test_each_event_has_its_own_deadline(pool: WorkerPool, mode: str) -> None:
    """Four records half a second apart, with a 1.5 s timeout: each event is within it
    (also in a worker that has on_batch, when the events are not sent as a batch)."""
    results = run(pool, mode, 4, timeout=1.5)
    assert [r["outcome"] for r in results] == ["delivered"] * 4, results


def test_an_on_batch_call_has_one_deadline_for_the_whole_batch(pool: WorkerPool) -> None:
    """A worker running on_batch cannot stretch its deadline by trickling records."""
    results = run(pool, "trickle_on_batch", 4, batch=True, timeout=1.5)
    message = "the handler did not finish within 1.5 s"
    assert [r["error"] for r in results] == [
        {"type": "TimeoutError", "message": message, "line": None}
    ] * 4


def test_batches_run_one_after_another_on_one_worker(pool: WorkerPool) -> None:
    for _ in range(2):
        results = run(pool, "honest_on_batch", 2, batch=True)
        assert [(r["result"], r["requests"]) for r in results] == [({"batch": True}, [])] * 2
    assert pool.starts == 1


# -- the Worker methods the pool relies on ----------------------------------------------------


def test_alive_kill_and_rss(launcher: Launcher) -> None:
    worker = Worker(launcher)
    try:
        assert worker.load(spec("load_hog", memory_mb=64)) == []
        with pytest.raises(AssertionError) as bound:
            worker.load(spec("honest"))
        assert str(bound.value) == "a worker is bound to one code only"
        assert worker.alive()
        assert worker.rss() >= 96 * MiB  # the resident set, in bytes (the hoard is resident)
        assert worker.baseline_rss >= 96 * MiB
    finally:
        worker.kill()
    assert not worker.alive()
    assert worker.rss() == 0  # no process: nothing to read
    worker.kill()  # a second kill is harmless
    with pytest.raises(WorkerLost) as caught:
        worker._receive(time.monotonic() + 5)
    died = ("retry", "WorkerCrashed", "the worker was stopped by SIGKILL")
    assert (caught.value.outcome, caught.value.error_type, caught.value.message) == died


def test_a_worker_without_a_launcher_is_exec_ed(launcher: Launcher) -> None:
    worker = Worker()
    try:
        assert worker.namespaces == 0  # not forked from a zygote: none of its namespaces
        assert worker.load(spec("honest")) == []
        results: list[dict[str, Any]] = []
        session = Broker().session("k", allow=(), secrets=())
        worker.invoke([dict(DEFAULT_EVENT)], batch=False, session=session, results=results)
        assert [r["result"] for r in results] == [{"honest": True}]
    finally:
        worker.kill()


def test_a_worker_that_reports_no_confinement_lacks_every_layer(launcher: Launcher) -> None:
    with WorkerPool(spares=0, launcher=launcher, require=("seccomp", "uid")) as strict:
        [record] = run(strict, "honest")
    message = "strict isolation: the worker lacks seccomp, uid; no code was run"
    assert record == lost("IsolationError", message, 0.0)


# -- held records (guest/held.py: records of events that called nothing on the host) ----

CRASHED = ("retry", "WorkerCrashed")


def _outcomes(records: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(r["outcome"], (r["error"] or {}).get("type") or r["result"]) for r in records]


@pytest.mark.parametrize(
    ("mode", "ran", "starts"),
    [
        # The first worker died holding the first two records: each event without one
        # is run again, one record per frame, and only the one that crashes again is
        # charged (workers: the one that held, the one run again, one for the rest).
        ("crash_while_holding", "again", 3),
        # It sent them, and which event runs (its timer), before it died: that event is
        # charged at once and nothing is run again (the last event's own worker, the
        # same stand-in, delivers it with its first record).
        ("crash_after_saying_which_runs", "once", 2),
    ],
)
def test_only_the_event_that_crashed_is_charged_when_records_were_held(
    pool: WorkerPool, mode: str, ran: str, starts: int
) -> None:
    records = run(pool, mode, events=4)
    assert _outcomes(records) == [
        ("delivered", {"run": ran}),
        ("delivered", {"run": ran}),
        CRASHED,
        ("delivered", {"run": ran}),
    ]
    assert records[2]["error"]["message"] == "the worker exited with status 3"
    assert pool.starts == starts


def test_events_after_a_host_call_are_never_run_again(pool: WorkerPool) -> None:
    store = pool.store if spec("crash_after_a_store_call").store_scope else pool.scratch
    records = run(pool, "crash_after_a_store_call", events=2)
    assert [r["outcome"] for r in records] == ["retry", "retry"]
    assert pool.starts == 2  # one worker per event, each charged: nothing run again
    # One store call per worker: the event that made it was not run a second time.
    assert store.get(spec("crash_after_a_store_call").scope, "calls") in (2, "2")


def test_a_running_event_out_of_range_is_a_protocol_error(pool: WorkerPool) -> None:
    [record] = run(pool, "running_out_of_range")
    assert (record["outcome"], record["error"]["type"]) == ("rejected", "WorkerProtocolError")
    assert record["error"]["message"] == "the worker sent a running event out of range"
