"""The host against a compromised worker (the process layer of the defence in depth).

If handler code ever escapes the guards it owns its worker process and can write
anything to the frame pipe. The host must then still: not raise, return exactly one
record per event with a known outcome, and bound what it accepts. These tests swap
the worker executable for ``hostile_worker.py``, which speaks the protocol and then
misbehaves in the way named by the source's ``# mode:`` line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_harness import DEFAULT_EVENT
from stand_in import use_stand_in

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool, summarise
from functions_runtime.sandbox.host.zygote_client import Launcher

OUTCOMES = {"delivered", "filtered", "rejected", "retry", "invalid"}
RECORD_KEYS = {"outcome", "result", "error", "logs", "requests", "duration_ms"}


@pytest.fixture
def hostile_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerPool]:
    use_stand_in(tmp_path, monkeypatch)
    # Exec'ed, not forked from a zygote: the stand-in replaces the worker process; the
    # host reads a forked worker's frames with the same code.
    with WorkerPool(max_workers=2, spares=0, launcher=Launcher(fork=False)) as pool:
        yield pool


def invoke(pool: WorkerPool, mode: str, events: int = 1) -> list[dict[str, Any]]:
    source = f"# mode: {mode}\n\ndef on_track(event, settings):\n    return None\n"
    spec = InstanceSpec(
        key=f"hostile-{mode}", source=source, filename="handler.py", timeout=1.0, memory_mb=128
    )
    return pool.invoke(spec, [dict(DEFAULT_EVENT) for _ in range(events)])


def test_an_honest_stand_in_works(hostile_pool: WorkerPool) -> None:
    [result] = invoke(hostile_pool, "honest")
    assert result["outcome"] == "delivered"
    assert result["result"] == {"honest": True}


PROTOCOL = ("rejected", "WorkerProtocolError")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("deep_json", PROTOCOL),  # json.loads in the host: RecursionError is not a ValueError
        ("not_an_object", PROTOCOL),  # frame.get(...) on a list
        ("no_result", PROTOCOL),  # frame["result"]
        ("result_not_an_object", PROTOCOL),  # a str where a record belongs
        ("forged_outcome", PROTOCOL),  # an outcome the contract does not know ("pwned")
        ("missing_fields", PROTOCOL),  # a record without error/logs/requests/duration_ms
        ("batch_flood", PROTOCOL),  # an on_batch frame with 200 results for 1 event
        ("batch_not_a_list", PROTOCOL),  # "results" that is not a list
        ("batch_shared_forged", PROTOCOL),  # shared logs / requests of the wrong types
        ("batch_half_shared", PROTOCOL),  # a result with its own logs but no requests
        ("batch_half_shared_requests", PROTOCOL),  # its own requests but no logs
        ("oversize_header", PROTOCOL),
        ("garbage", PROTOCOL),
        ("silence", ("retry", "TimeoutError")),
        ("early_exit", ("retry", "WorkerCrashed")),
        # A well-formed record for the event arrived before the misbehaviour: the event
        # keeps it (the worker only ever serves this one instance) and the worker is
        # discarded (see test_a_worker_that_misbehaves_after_its_records_is_replaced).
        ("flood", ("delivered", None)),  # 200 records for one event
        ("bad_done", ("delivered", None)),  # "cpu": "lots"
    ],
)
def test_the_host_survives_a_hostile_worker(
    hostile_pool: WorkerPool, mode: str, expected: tuple[str, str | None]
) -> None:
    results = invoke(hostile_pool, mode)  # must not raise
    assert isinstance(results, list)
    assert len(results) == 1, f"{len(results)} records for 1 event"
    [record] = results
    assert isinstance(record, dict), record
    assert set(record) >= RECORD_KEYS, record
    assert (record["outcome"], (record["error"] or {}).get("type")) == expected, record
    assert summarise(results) == expected[0]
    assert len(json.dumps(results)) < 1024 * 1024


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("oversize_header", "oversize frame from the worker"),  # 0xFFFFFFFF: not -1
        ("garbage", "the worker sent a bad frame"),
        ("empty_frame", "the worker sent a bad frame"),  # at once, not after the timeout
        ("forged_outcome", "the worker sent a record without a known outcome"),
        ("missing_fields", "the worker sent a record whose logs is malformed"),
        ("record_without_result", "the worker sent a record without a result"),
        ("log_not_text", "the worker sent log lines that are not text"),
        ("request_not_object", "the worker sent request records that are not objects"),
        ("batch_not_a_list", "the worker sent a malformed batch frame"),
        ("batch_flood", "the worker sent more results than events"),
        ("not_an_object", "the worker sent a frame that is not an object"),
    ],
)
def test_each_protocol_error_says_what_the_worker_sent(
    hostile_pool: WorkerPool, mode: str, message: str
) -> None:
    [record] = invoke(hostile_pool, mode)
    assert (record["outcome"], record["error"]["type"]) == PROTOCOL, record
    assert record["error"]["message"] == message


def test_the_stand_in_knows_the_hosts_frame_limit() -> None:
    """The next test's stand-in pads a record to exactly the host's ``MAX_FRAME``."""
    from functions_runtime.sandbox.guest.protocol import MAX_FRAME
    from tests.security import hostile_worker

    assert hostile_worker.MAX_FRAME == MAX_FRAME


def test_a_record_of_exactly_the_frame_limit_is_delivered(hostile_pool: WorkerPool) -> None:
    """The limit is inclusive on the host's side, as on the worker's."""
    source = "# mode: exact_max_frame\n\ndef on_track(event, settings):\n    return None\n"
    spec = InstanceSpec(
        key="hostile-exact", source=source, filename="handler.py", timeout=30.0, memory_mb=1024
    )
    [record] = hostile_pool.invoke(spec, [dict(DEFAULT_EVENT)])
    assert record["outcome"] == "delivered", record["error"]
    assert len(record["result"]) > 60 * 1024 * 1024


@pytest.mark.parametrize("mode", ["flood", "bad_done", "garbage"])
def test_a_worker_that_misbehaves_after_its_records_is_replaced(
    hostile_pool: WorkerPool, mode: str
) -> None:
    invoke(hostile_pool, mode)
    starts = hostile_pool.starts
    invoke(hostile_pool, mode)
    assert hostile_pool.starts == starts + 1, "the misbehaving worker was used again"


def test_the_host_memory_watchdog_kills_a_worker_without_an_rlimit(
    hostile_pool: WorkerPool,
) -> None:
    """The backup layer on its own: a worker past the rlimit (here: a stand-in that has
    none) is killed by the host when its RSS passes the instance's memory limit, well
    before the wall-clock limit (the timeout is 60 s here, so only the watchdog ends it)."""
    source = "# mode: memory_hog\n\ndef on_track(event, settings):\n    return None\n"
    spec = InstanceSpec(
        key="hostile-memory-hog", source=source, filename="handler.py", timeout=60.0, memory_mb=64
    )
    [record] = hostile_pool.invoke(spec, [dict(DEFAULT_EVENT)])
    assert (record["outcome"], record["error"]["type"]) == ("retry", "MemoryLimitExceeded"), record
    assert record["error"]["message"] == "the handler used more than 64 MB of memory"
