"""What one invocation can hand back to the host is bounded (issue 12).

Through the production pool: a source function's emitted events (count, size of each,
size together), log lines (empty ones count too) and recorded requests (past the
limit, one marker says the rest were not recorded).
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from sandbox_harness import DEFAULT_EVENT, MEMORY_MB, TIMEOUT, Sandbox

from functions_runtime.sandbox.host.pool import InstanceSpec
from functions_sdk._context import DEFAULT_LOG_LIMIT_BYTES, DEFAULT_REQUEST_LIMIT
from functions_sdk.source import MAX_EMITTED_BYTES
from functions_sdk.testing import MockResponse


def _spec(key: str, source: str, kind: str = "destination") -> InstanceSpec:
    return InstanceSpec(
        key=key,
        source=textwrap.dedent(source),
        filename="handler.py",
        kind=kind,
        timeout=TIMEOUT,
        memory_mb=MEMORY_MB,
    )


REQUEST: dict[str, Any] = {"method": "POST", "headers": {}, "query": {}, "body": "{}"}

EMIT_SOURCE = """
from functions_sdk import emit


def on_request(request, settings):
    size = int(request.query["size"])
    for i in range(int(request.query["count"])):
        emit({"type": "track", "event": "Big", "userId": f"u-{i}",
              "properties": {"blob": "x" * size}})
"""


def test_a_source_function_cannot_emit_unbounded_events(sandbox: Sandbox) -> None:
    spec = _spec("bounds-emit", EMIT_SOURCE, kind="source")
    # 500 events of ~30 KB each: 15 MB, each one under the per-event limit.
    many = dict(REQUEST, query={"count": "500", "size": str(30_000)})
    [result] = sandbox.pool.invoke(spec, [many])
    assert result["outcome"] == "rejected", {**result, "emitted": len(result["emitted"])}
    assert result["error"]["type"] == "ValidationError"
    assert "bytes of JSON together" in result["error"]["message"]
    assert result["emitted"] == []  # a failed request emits nothing
    # One event over what ingest accepts for one message.
    [big] = sandbox.pool.invoke(spec, [dict(REQUEST, query={"count": "1", "size": "40000"})])
    assert big["outcome"] == "rejected" and big["error"]["type"] == "ValidationError", big
    # Within the bounds, everything is emitted.
    [fine] = sandbox.pool.invoke(spec, [dict(REQUEST, query={"count": "20", "size": "1000"})])
    assert fine["outcome"] == "delivered", fine
    assert len(fine["emitted"]) == 20
    assert len(json.dumps(fine["emitted"])) < MAX_EMITTED_BYTES


def test_empty_log_lines_count_against_the_log_cap(sandbox: Sandbox) -> None:
    source = """
    from functions_sdk import logger


    def on_track(event, settings):
        for _ in range(200000):
            print("")
        return {"printed": len(printed)}
    """
    [result] = sandbox.pool.invoke(_spec("bounds-empty-logs", source), [dict(DEFAULT_EVENT)])
    assert result["outcome"] == "delivered", result
    logs = result["logs"]
    assert len(logs) <= DEFAULT_LOG_LIMIT_BYTES + 1
    assert logs[-1] == f"[logs truncated at {DEFAULT_LOG_LIMIT_BYTES} bytes]"
    # What `printed` collected is capped the same way.
    assert result["result"]["printed"] <= 64 * 1024 + 1


def test_requests_past_the_limit_leave_a_marker(sandbox: Sandbox) -> None:
    source = """
    from functions_sdk import fetch


    def on_track(event, settings):
        for _ in range(105):
            fetch("https://api.example.com/ping")
        return {"ok": True}
    """
    mocks = [MockResponse(url="https://api.example.com/ping", status=200, json={}).to_dict()]
    [result] = sandbox.pool.invoke(
        _spec("bounds-requests", source), [dict(DEFAULT_EVENT)], mocks=mocks
    )
    assert result["outcome"] == "delivered", result
    requests = result["requests"]
    assert len(requests) == DEFAULT_REQUEST_LIMIT + 1
    assert all(r["status"] == 200 for r in requests[:-1])
    assert requests[-1]["status"] is None
    assert "more requests not recorded" in requests[-1]["error"]
