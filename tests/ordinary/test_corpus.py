"""Every corpus handler gives the same result in the production sandbox as in CPython.

One worker pool serves the module (real workers, OS confinement as configured by
default, like tests/security). Each case is also accepted by ``compile_function`` (what
``validate`` and upload run): what validate accepts must run, not be refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool

from .harness import CORPUS, DEFAULT_EVENT, DEFAULT_SETTINGS, header, run_plain

CASES = sorted(CORPUS.glob("[0-9][0-9][0-9]_*.py"))


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 80
    integrations = [c for c in CASES if "_integration_" in c.name]
    assert len(integrations) >= 3


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(max_workers=4, spares=2)
    try:
        yield workers
    finally:
        workers.close()


def run_sandboxed(pool: WorkerPool, path: Path, source: str, event: Any, settings: Any) -> Any:
    spec = InstanceSpec(
        key=f"ordinary-{path.stem}",
        source=source,
        filename="handler.py",
        timeout=5.0,
        memory_mb=256,
        settings=settings,
        secret_names=(),
    )
    [result] = pool.invoke(spec, [json.loads(json.dumps(event))])
    return result


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_same_result_as_cpython(pool: WorkerPool, path: Path) -> None:
    source = path.read_text()
    report = compile_function(source)
    assert report.ok, [str(p) for p in report.errors]
    event = header(source, "event", DEFAULT_EVENT)
    settings = header(source, "settings", DEFAULT_SETTINGS)
    expected = run_plain(source, event, settings)
    result = run_sandboxed(pool, path, source, event, settings)
    assert result["outcome"] == "delivered", result
    assert result["result"] == expected


def test_response_content_and_event_extras(pool: WorkerPool) -> None:
    """``Response.content`` and ``event.model_extra`` (the SDK's docstrings use both)."""
    from functions_sdk.testing import MockResponse

    source = (
        "from functions_sdk import fetch\n\n"
        "def on_track(event, settings):\n"
        "    response = fetch('https://crm.example.com/api/ping')\n"
        "    body = response.content\n"
        "    return {'type': type(body).__name__, 'len': len(body), 'head': body[:4].decode(),\n"
        "            'extra': (event.model_extra or {}).get('note')}\n"
    )
    spec = InstanceSpec(key="ordinary-content", source=source, filename="handler.py")
    mock = MockResponse(method="GET", url="https://crm.example.com/api/ping", body="pong!")
    event = dict(DEFAULT_EVENT, note="kept")
    [result] = pool.invoke(spec, [event], mocks=[mock.to_dict()])
    assert result["outcome"] == "delivered", result
    assert result["result"] == {"type": "bytes", "len": 5, "head": "pong", "extra": "kept"}


def test_logging_lands_in_the_delivery_log(pool: WorkerPool) -> None:
    [path] = [c for c in CASES if c.name.endswith("_logging_getlogger.py")]
    result = run_sandboxed(pool, path, path.read_text(), DEFAULT_EVENT, DEFAULT_SETTINGS)
    logs = result["logs"]
    assert "INFO processing Order Completed for user-42" in logs, logs
    assert "WARNING plan=pro" in logs, logs
    assert any(line.startswith("ERROR division failed") for line in logs), logs
    assert "ZeroDivisionError: division by zero" in "\n".join(logs), logs
