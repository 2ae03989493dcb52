"""What the Lambda entry points build at a cold start: the tracer only when tracing is
on, AWS clients only when first used (once), the pool from a thread with its errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from functions_runtime.lambdas.observe import traced, tracing_enabled
from functions_runtime.lambdas.runtime import LazyClient, start_pool

IN_LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task"}


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),  # not in a Lambda
        (IN_LAMBDA, True),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({**IN_LAMBDA, "AWS_SAM_LOCAL": "true"}, False),
        ({**IN_LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}, False),
    ],
)
def test_tracing_follows_powertools_rule(env: dict[str, str], on: bool) -> None:
    assert tracing_enabled(env) is on


def test_an_untraced_handler_is_the_handler_itself() -> None:
    def handler(event: Any, context: Any) -> str:
        return "ok"

    assert traced(handler, {}) is handler


class _Built:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return type("Client", (), {"put_item": lambda self, **kw: kw})()


def test_a_lazy_client_is_built_on_first_use_and_only_once() -> None:
    build = _Built()
    client = LazyClient(build)
    assert build.calls == 0
    assert client.put_item(Item=1) == {"Item": 1}
    assert client.put_item(Item=2) == {"Item": 2}
    assert build.calls == 1


def test_a_lazy_client_is_built_once_when_threads_race() -> None:
    build = _Built()
    client = LazyClient(build)
    start = threading.Barrier(8)

    def use() -> None:
        start.wait()
        client.put_item()

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert build.calls == 1


def test_the_pools_start_error_reaches_the_importing_thread() -> None:
    pending = start_pool({"FUNCTIONS_ISOLATION": "no-such-mode"})
    with pytest.raises(ValueError, match="must be one of"):
        pending.result(timeout=30)
