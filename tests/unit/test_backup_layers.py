"""Each backup layer of the sandbox on its own, with the exact error it gives.

The security cases show that an attack is contained; these show *which* layer stops
it, so that losing one layer fails a test even while another still catches the attack:

* the worker's address-space rlimit: an allocation past it raises ``MemoryError`` in
  the worker (without it the host's watchdog would answer ``MemoryLimitExceeded``);
* the worker is recycled after a ``MemoryError`` (its heap may be fragmented or its
  state half-built): the next event runs in a new process;

The host's RSS watchdog has its own test in tests/security/test_hostile_worker.py (it
needs a worker without an rlimit).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool

EVENT: dict[str, Any] = {"type": "track", "event": "Probe", "userId": "u1"}


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=2, spares=0) as p:
        yield p


def spec(key: str, source: str, memory_mb: int = 64) -> InstanceSpec:
    return InstanceSpec(
        key=key, source=source, filename="handler.py", timeout=20.0, memory_mb=memory_mb
    )


HOG = """
def on_track(event, settings):
    if event.event == "hog":
        data = b"x" * (512 * 1024 * 1024)
        return {"size": len(data)}
    return {"ok": True}
"""


def test_the_rlimit_answers_memory_error_and_the_worker_is_recycled(pool: WorkerPool) -> None:
    hog = spec("backup-rlimit", HOG)
    [warm] = pool.invoke(hog, [dict(EVENT)])
    assert warm["outcome"] == "delivered"
    starts = pool.starts
    [record] = pool.invoke(hog, [dict(EVENT, event="hog")])
    assert (record["outcome"], record["error"]["type"]) == ("retry", "MemoryError"), record
    assert pool.starts == starts, "the rlimit, not a kill: the same worker answered"
    [after] = pool.invoke(hog, [dict(EVENT)])
    assert after["outcome"] == "delivered"
    assert pool.starts == starts + 1, "a worker that hit MemoryError served another event"


# 64 KiB of log text (the SDK logger's own cap) of control characters: each one is six
# bytes of JSON (``\u0001``), so the record is ~384 KiB unless the worker's record cap
# (``MAX_RECORD_BYTES``, 256 KiB of JSON for logs and requests together) cuts it.
ESCAPED_LOGS = """
def on_track(event, settings):
    line = "\\x01" * 1000
    for _ in range(80):
        print(line)
    return {"ok": True}
"""


def test_the_record_cap_bounds_logs_that_grow_when_encoded(pool: WorkerPool) -> None:
    from functions_runtime.sandbox.guest.worker import MAX_RECORD_BYTES

    [record] = pool.invoke(spec("backup-record-cap", ESCAPED_LOGS), [dict(EVENT)])
    assert record["outcome"] == "delivered", record
    logs = record["logs"]
    note = f"[logs truncated: the record is limited to {MAX_RECORD_BYTES} bytes]"
    assert logs[-1] == note, logs[-1][:80]
    kept = sum(len(json.dumps(line)) for line in logs[:-1])
    assert 0 < kept <= MAX_RECORD_BYTES
    assert all(line == "\x01" * 1000 for line in logs[:-1])
