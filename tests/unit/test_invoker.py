"""Worker processes: outcomes, deadlines, memory, isolation, reuse and eviction."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import (
    HELPER_THREADS,
    InstanceSpec,
    WorkerPool,
    summarise,
    worker_environment,
)

TRACK = {"type": "track", "event": "Signed Up", "userId": "u1", "properties": {"n": 1}}


def spec(src: str, key: str = "k", **kw: Any) -> InstanceSpec:
    kw.setdefault("timeout", 2.0)
    return InstanceSpec(key=key, source=textwrap.dedent(src), filename="handler.py", **kw)


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=4) as p:
        yield p


def run(pool: WorkerPool, src: str, events: list[Any] | None = None, **kw: Any) -> list[dict]:
    batch = kw.pop("batch", False)
    return pool.invoke(spec(src, **kw), events if events is not None else [TRACK], batch=batch)


@pytest.mark.parametrize(
    ("body", "outcome", "error_type"),
    [
        ("return {'ok': True}", "delivered", None),
        ("raise DropEvent('no')", "filtered", "DropEvent"),
        ("raise EventNotSupported('no')", "filtered", "EventNotSupported"),
        ("raise InvalidEventPayload('bad')", "rejected", "InvalidEventPayload"),
        ("raise ValidationError('bad')", "rejected", "ValidationError"),
        ("raise RetryError('later')", "retry", "RetryError"),
        ("raise KeyError('x')", "rejected", "KeyError"),
        ("return 1 / 0", "rejected", "ZeroDivisionError"),
        ("return on_track(event, settings)", "retry", "RecursionError"),
    ],
)
def test_outcome_table(pool: WorkerPool, body: str, outcome: str, error_type: str | None):
    src = f"""
    from functions_sdk import (DropEvent, EventNotSupported, InvalidEventPayload,
                               RetryError, ValidationError)
    def on_track(event, settings):
        {body}
    """
    [result] = run(pool, src)
    assert result["outcome"] == outcome
    assert (result["error"] or {}).get("type") == error_type
    if error_type:
        assert result["error"]["line"] == 5


def test_missing_handler_is_filtered_and_bad_event_rejected(pool: WorkerPool):
    src = "def on_identify(event, settings):\n    return 1\n"
    results = run(pool, src, [TRACK, {"type": "track", "userId": "u"}, ["not", "an", "object"]])
    assert [r["outcome"] for r in results] == ["filtered", "rejected", "rejected"]
    assert results[0]["error"]["message"] == "no on_track handler"
    assert "event: field required" in results[1]["error"]["message"]
    assert results[2]["error"]["type"] == "InvalidEventPayload"


def test_invalid_code_is_refused_by_the_host_without_a_worker(pool: WorkerPool):
    src = "import os\ndef on_track(event, settings):\n    return 1\n"
    results = run(pool, src, [TRACK] * 2)
    assert [r["outcome"] for r in results] == ["invalid", "invalid"]
    assert results[0]["problems"] == [
        'handler.py:1: module "os" is not available in functions; available modules: '
        "abc, base64, collections, collections.abc, copy, dataclasses, datetime, decimal, "
        "enum, functions_sdk, functions_sdk.events, functions_sdk.store, functools, "
        "hashlib, hmac, itertools, json, logging, math, random, re, string, time, typing, "
        "urllib, urllib.parse, uuid"
    ]
    assert pool.starts == 0 and pool.worker_pids() == []  # compiled in the host
    run(pool, src, [TRACK])
    assert pool.starts == 0


def test_a_pool_whose_workers_compile_remembers_their_refusal() -> None:
    """``compile_in_host=False`` (the worker Lambda): the first worker compiles the code
    and refuses it; the refusal is remembered, so the same code starts no second one."""
    src = "import os\ndef on_track(event, settings):\n    return 1\n"
    with WorkerPool(max_workers=2, spares=0, compile_in_host=False) as workers_compile:
        results = run(workers_compile, src, [TRACK] * 2)
        assert [r["outcome"] for r in results] == ["invalid", "invalid"]
        assert results[0]["problems"][0].startswith('handler.py:1: module "os" is not available')
        assert workers_compile.starts == 1 and workers_compile.worker_pids() == []
        run(workers_compile, src, [TRACK])
        assert workers_compile.starts == 1
        fine = "def on_track(event, settings):\n    return 2\n"
        assert [r["result"] for r in run(workers_compile, fine, [TRACK])] == [2]


def test_timeout_kills_the_worker_and_the_next_event_runs(pool: WorkerPool):
    src = """
    def on_track(event, settings):
        if event.properties["n"] == 2:
            while True:
                pass
        return event.properties["n"]
    """
    events = [TRACK, {**TRACK, "properties": {"n": 2}}, {**TRACK, "properties": {"n": 3}}]
    started = time.monotonic()
    results = run(pool, src, events, timeout=1.0)
    elapsed = time.monotonic() - started  # a lower bound only: never flaky
    assert [r["outcome"] for r in results] == ["delivered", "retry", "delivered"]
    assert results[1]["error"] == {
        "type": "TimeoutError",
        "message": "the handler did not finish within 1 s",
        "line": None,
    }
    assert results[2]["result"] == 3
    assert elapsed >= 1.0, "the timeout fired early"
    assert pool.starts == 2  # the looping worker was replaced


def test_sleeping_handler_times_out_too(pool: WorkerPool):
    src = "import time\ndef on_track(event, settings):\n    time.sleep(30)\n"
    [result] = run(pool, src, timeout=0.5)
    assert result["outcome"] == "retry"
    assert result["error"]["type"] == "TimeoutError"


def test_memory_over_the_limit_is_a_retry(pool: WorkerPool):
    src = """
    def on_track(event, settings):
        chunks = []
        for _ in range(64):
            chunks.append(bytearray(16 * 1024 * 1024))
        return len(chunks)
    """
    [result] = run(pool, src, memory_mb=128, timeout=10.0)
    assert result["outcome"] == "retry"
    assert result["error"]["type"] in {"MemoryLimitExceeded", "MemoryError"}
    [after] = run(pool, "def on_track(event, settings):\n    return 'fine'\n", key="other")
    assert after["result"] == "fine"


def test_worker_environment_is_allow_listed(monkeypatch: pytest.MonkeyPatch, pool: WorkerPool):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "CANARY-env-secret")
    monkeypatch.setenv("FUNCTIONS_API_KEY", "CANARY-api-key")
    env = worker_environment()
    assert "AWS_SECRET_ACCESS_KEY" not in env and "FUNCTIONS_API_KEY" not in env
    run(pool, "def on_track(event, settings):\n    return 1\n")
    [pid] = pool.worker_pids()
    with open(f"/proc/{pid}/environ", "rb") as fh:
        environ = fh.read()
    assert b"CANARY" not in environ
    assert set(environ.decode().strip("\0").split("\0")) == {f"{k}={v}" for k, v in env.items()}


def test_worker_runs_under_rlimits(pool: WorkerPool):
    run(pool, "def on_track(event, settings):\n    return 1\n")
    [pid] = pool.worker_pids()
    with open(f"/proc/{pid}/limits") as fh:
        limits = {line[:26].strip(): line[26:].split() for line in fh.read().splitlines()[1:]}
    assert limits["Max file size"][:2] == ["0", "0"]
    assert limits["Max core file size"][:2] == ["0", "0"]
    assert limits["Max open files"][:2] == ["64", "64"]
    assert limits["Max processes"][:2] == ["0", "0"]
    assert limits["Max address space"][0] != "unlimited"
    assert limits["Max cpu time"][0] != "unlimited"
    assert os.getpgid(pid) == pid  # its own process group, killed as a whole


def test_warm_worker_reused_for_the_same_instance_only(pool: WorkerPool):
    src = "def on_track(event, settings):\n    return 1\n"
    run(pool, src, key="a")
    first = pool.worker_pids()
    run(pool, src, key="a")
    assert pool.worker_pids() == first
    run(pool, src, key="b")
    assert len(pool.worker_pids()) == 2
    assert pool.starts == 2


def test_least_recently_used_worker_is_evicted():
    src = "def on_track(event, settings):\n    return 1\n"
    with WorkerPool(max_workers=2) as pool:
        for key in ("a", "b", "a", "c"):
            pool.invoke(spec(src, key=key), [TRACK])
        assert pool.evictions == 1
        assert len(pool.worker_pids()) == 2
        pool.invoke(spec(src, key="a"), [TRACK])
        assert pool.starts == 3  # "a" stayed warm, "b" went


def test_module_state_does_not_survive_between_events(pool: WorkerPool):
    src = """
    seen = []
    def on_track(event, settings):
        seen.append(event.event)
        return len(seen)
    """
    results = run(pool, src, [TRACK, TRACK, TRACK])
    assert [r["result"] for r in results] == [1, 1, 1]


def test_module_level_error_is_rejected(pool: WorkerPool):
    [result] = run(pool, "x = {}['missing']\ndef on_track(event, settings):\n    return 1\n")
    assert result["outcome"] == "rejected"
    assert result["error"]["type"] == "KeyError"
    assert result["error"]["line"] == 1


def test_settings_are_copies_and_secrets_are_masked(pool: WorkerPool):
    src = """
    from functions_sdk import logger
    def on_track(event, settings):
        logger.info("key is %s", settings["api_key"])
        print(settings)
        raise ValueError("failed with " + settings["api_key"])
    """
    [result] = run(
        pool, src, settings={"api_key": "sk-live-123", "region": "eu"}, secret_names=("api_key",)
    )
    assert result["logs"] == ["INFO key is ***", "Settings({'api_key': '***', 'region': 'eu'})"]
    assert result["error"]["message"] == "failed with ***"


def test_batch_without_on_batch_runs_each_event(pool: WorkerPool):
    src = "def on_track(event, settings):\n    return event.properties['n']\n"
    events = [{**TRACK, "properties": {"n": i}} for i in range(5)]
    results = run(pool, src, events, batch=True)
    assert [r["result"] for r in results] == [0, 1, 2, 3, 4]


ON_BATCH = """
from functions_sdk import RetryError, ValidationError
def on_track(event, settings):
    return "single"
def on_batch(events, settings):
    mode = events[0].properties.get("mode")
    if mode == "retry":
        raise RetryError("whole batch later")
    if mode == "short":
        return []
    out = []
    for e in events:
        if e.properties.get("bad"):
            out.append(ValidationError("bad one"))
        else:
            out.append({"n": e.properties["n"]})
    return out
"""


def test_on_batch_gives_one_result_per_event_in_order(pool: WorkerPool):
    events = [{**TRACK, "properties": {"n": i, "bad": i == 1}} for i in range(3)]
    events.insert(2, {"type": "track"})  # fails the Spec: rejected on its own
    results = run(pool, ON_BATCH, events, batch=True)
    assert [r["outcome"] for r in results] == ["delivered", "rejected", "rejected", "delivered"]
    assert results[0]["result"] == {"n": 0}
    assert results[1]["error"]["type"] == "ValidationError"
    assert results[2]["error"]["type"] == "InvalidEventPayload"
    assert results[3]["result"] == {"n": 2}
    assert summarise(results) == "rejected"


def test_on_batch_errors_apply_to_the_whole_batch(pool: WorkerPool):
    retry = [{**TRACK, "properties": {"mode": "retry"}}] * 3
    assert {r["outcome"] for r in run(pool, ON_BATCH, retry, batch=True)} == {"retry"}
    short = [{**TRACK, "properties": {"mode": "short"}}] * 2
    results = run(pool, ON_BATCH, short, batch=True)
    assert {r["outcome"] for r in results} == {"rejected"}
    assert "must return a list of 2 results" in results[0]["error"]["message"]


def test_on_batch_timeout_retries_the_whole_batch(pool: WorkerPool):
    src = "def on_batch(events, settings):\n    while True:\n        pass\n"
    results = run(pool, src, [TRACK] * 3, batch=True, timeout=0.5)
    assert [r["outcome"] for r in results] == ["retry"] * 3


def test_results_leave_as_plain_json_only(pool: WorkerPool):
    src = """
    class Thing:
        def __eq__(self, other):
            return True
    def on_track(event, settings):
        kind = event.properties["n"]
        if kind == 1:
            return {"thing": Thing()}
        if kind == 2:
            return {1: "int key"}
        if kind == 3:
            return float("nan")
        return {"event": event, "t": (1, 2)}
    """
    events = [{**TRACK, "properties": {"n": i}} for i in (1, 2, 3, 4)]
    results = run(pool, src, events)
    assert [r["outcome"] for r in results] == ["rejected", "rejected", "rejected", "delivered"]
    assert "returned a Thing" in results[0]["error"]["message"]
    assert results[3]["result"]["event"]["event"] == "Signed Up"
    assert results[3]["result"]["t"] == [1, 2]


def test_classes_may_not_derive_from_host_types(pool: WorkerPool):
    [result] = run(pool, "class D(dict):\n    pass\ndef on_track(event, settings):\n    return 1\n")
    assert result["outcome"] == "rejected"
    assert result["error"]["message"].startswith("class D cannot derive from dict")


def test_results_are_data_never_masked(pool: WorkerPool):
    # Issue 12: a result may be forwarded (insert functions): masking it corrupts data.
    # Secrets are masked in what the platform records (logs, requests, errors) instead.
    src = (
        "def on_track(event, settings):\n"
        "    print('key=' + settings['api_key'])\n"
        "    return {'echo': 'key=' + settings['api_key']}\n"
    )
    [result] = run(pool, src, settings={"api_key": 'sk"live'}, secret_names=("api_key",))
    assert result["result"] == {"echo": 'key=sk"live'}
    assert result["logs"] == ["key=***"]


def test_oversize_results_are_rejected_not_sent(pool: WorkerPool):
    src = "def on_track(event, settings):\n    return 'x' * (3 * 1024 * 1024)\n"
    [result] = run(pool, src)
    assert result["outcome"] == "rejected"
    assert result["error"]["type"] == "ResultTooLarge"


def test_concurrent_invocations_share_one_worker_safely(pool: WorkerPool):
    import threading

    src = "def on_track(event, settings):\n    return event.properties['n'] * 2\n"
    instance = spec(src, key="shared")
    seen: list[int] = []
    errors: list[BaseException] = []

    def worker(base: int) -> None:
        try:
            for i in range(10):
                event = {**TRACK, "properties": {"n": base * 100 + i}}
                [result] = pool.invoke(instance, [event])
                assert result["result"] == (base * 100 + i) * 2
                seen.append(result["result"])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(seen) == 60
    assert len(pool.worker_pids()) == 1


def test_new_instances_take_a_prestarted_spare():
    src = "def on_track(event, settings):\n    return 1\n"
    with WorkerPool(max_workers=4, spares=1) as pool:
        pool.invoke(spec(src, key="first"), [TRACK])
        [result] = pool.invoke(spec(src, key="second"), [TRACK])
        assert result["outcome"] == "delivered"
        assert (pool.starts, pool.spare_hits) == (2, 1)
    with WorkerPool(max_workers=4, spares=0) as pool:
        pool.invoke(spec(src, key="cold"), [TRACK])
        assert (pool.starts, pool.spare_hits) == (1, 0)


def test_misses_reuse_the_pool_s_helper_threads_and_close_waits_for_them():
    """Evictions and spare starts run on the pool's few long-lived helper threads, not on
    a thread started per miss (whose start each miss waited for), and close() leaves no
    helper behind and no evicted worker alive."""
    src = "def on_track(event, settings):\n    return 1\n"
    before = {t.ident for t in threading.enumerate()}
    with WorkerPool(max_workers=2, spares=1) as pool:
        pids: list[int] = []
        for i in range(8):  # every one a miss past the second: an eviction and a spare
            [result] = pool.invoke(spec(src, key=f"tenant-{i}"), [TRACK])
            assert result["outcome"] == "delivered"
            pids += [p for p in pool.worker_pids() if p not in pids]
        helpers = [t for t in threading.enumerate() if t.ident not in before]
        assert pool.evictions >= 6 and pool.spare_hits >= 1
        assert helpers and len(helpers) <= HELPER_THREADS
        assert all(t.name.startswith("functions-pool") for t in helpers)
    assert not any(t.is_alive() for t in helpers)
    for pid in pids:  # killed and reaped: no such process any more
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_worker_loads_no_pydantic_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A pydantic plugin installed next to the runtime is not imported into the worker
    (PYDANTIC_DISABLE_PLUGINS): no third-party code runs beside the handler."""
    marker = tmp_path / "plugin-was-imported"
    site = tmp_path / "site"
    dist = site / "canary_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: canary-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pydantic]\ncanary = canary_plugin:plugin\n")
    (site / "canary_plugin.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "class Plugin:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = Plugin()\n"
    )
    monkeypatch.syspath_prepend(str(site))
    assert worker_environment()["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    with WorkerPool(max_workers=1, spares=0) as pool:
        [result] = run(pool, "def on_track(event, settings):\n    return 1\n")
    assert result["outcome"] == "delivered", result
    assert not marker.exists()
