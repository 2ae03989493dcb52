"""What the Lambda entry points build at a cold start: the tracer only when tracing is
on, AWS clients and the runtime's services only when first used (once), the pool from a
thread with its errors, and which heavy modules init leaves to the first event."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any
from unittest.mock import MagicMock

import pytest

from functions_runtime.lambdas.observe import traced, tracing_enabled
from functions_runtime.lambdas.runtime import LambdaRuntime, LazyClient, LazyStore, start_pool

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


NAMES = {
    "FUNCTIONS_TABLE": "t",
    "FUNCTIONS_CODE_BUCKET": "b",
    "FUNCTIONS_KMS_KEY_ID": "k",
    "FUNCTIONS_QUEUE_URL": "https://sqs.example/q",
    "FUNCTIONS_DLQ_URL": "https://sqs.example/dlq",
    "FUNCTIONS_DELIVERIES_TABLE": "d",
    "FUNCTIONS_IDEMPOTENCY_TABLE": "i",
}


class _Session:
    """A boto3 session stand-in: counts the clients built; each is a MagicMock."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self._lock = threading.Lock()

    def client(self, name: str) -> Any:
        with self._lock:
            self.built.append(name)
        return MagicMock(name=name)


def _runtime(session: _Session) -> LambdaRuntime:
    return LambdaRuntime(NAMES, session, pool=MagicMock(name="pool"))


def test_the_runtime_builds_nothing_until_asked() -> None:
    session = _Session()
    runtime = _runtime(session)
    assert session.built == []
    assert not {"backend", "delivery", "plane", "ingest", "dispatcher"} & set(vars(runtime))
    runtime.backend  # noqa: B018 (the access builds it)
    assert session.built == []  # its clients are built on their first call
    assert "plane" not in vars(runtime) and "dispatcher" not in vars(runtime)


def test_the_runtime_builds_each_service_once_when_threads_race() -> None:
    session = _Session()
    runtime = _runtime(session)
    start = threading.Barrier(8)
    seen: list[tuple[int, int, int]] = []

    def use() -> None:
        start.wait()
        seen.append((id(runtime.dispatcher), id(runtime.plane), id(runtime.ingest)))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert runtime.dispatcher.delivery is runtime.delivery
    assert len(session.built) == len(set(session.built))  # each client built once


@pytest.mark.parametrize(
    ("module", "deferred"),
    [
        (
            "functions_runtime.lambdas.worker",
            [
                "boto3",
                "pydantic",  # the store's module brings it: a LazyStore
                "functions_runtime.delivery.dispatch",
                # Powertools' parser models: never (the batch utility comes first).
                "aws_lambda_powertools.utilities.parser",
            ],
        ),
        (
            "functions_runtime.lambdas.api",
            [
                "boto3",
                "pydantic",
                "functions_runtime.api.app",
                "aws_lambda_powertools.event_handler",
            ],
        ),
    ],
)
def test_a_cold_start_imports_only_what_init_needs(module: str, deferred: list[str]) -> None:
    """The handler module's import (the thread Lambda's init runs) starts the pool and
    Powertools' logger and metrics (and the worker's batch processor); the clients, the
    dispatcher, the API's resolver are built by the warm-up thread it starts last, or by
    the first event (docs/PERFORMANCE.md). An import hook notes which thread imported
    each module."""
    code = (
        "import sys, threading\n"
        "seen = {}\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        seen.setdefault(name, threading.current_thread().name)\n"
        "sys.meta_path.insert(0, Spy())\n"
        f"import {module} as m\n"
        "main = threading.current_thread().name\n"
        f"print(sorted(n for n in {deferred!r} if seen.get(n) == main))\n"
        # The warm-up thread ends before the interpreter does: the exit stopped it once
        # inside native code and glibc aborted the process ("FATAL: exception not
        # rethrown", status -6). A Lambda's process is never finalized that way.
        "[t.join(60) for t in threading.enumerate() if t.name == 'functions-warm']\n"
        "m.runtime.pool.close()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCTIONS_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **NAMES, "AWS_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line for line in done.stdout.splitlines() if line.startswith("[")] == ["[]"]


def test_the_warm_up_builds_what_the_first_event_needs_once() -> None:
    session = _Session()
    runtime = _runtime(session)
    runtime.warm("dispatcher", clients=("dynamodb", "s3"))
    assert {"backend", "delivery", "dispatcher"} <= set(vars(runtime))
    assert sorted(session.built) == ["dynamodb", "s3"]
    dispatcher = runtime.dispatcher
    runtime.warm("dispatcher", clients=("dynamodb", "s3"))
    assert runtime.dispatcher is dispatcher and sorted(session.built) == ["dynamodb", "s3"]


def test_the_pool_is_waited_for_on_first_use_and_gets_its_store_once() -> None:
    from concurrent.futures import Future

    pending: Future[Any] = Future()
    given: list[Any] = []
    runtime = LambdaRuntime(NAMES, _Session(), pending, on_pool=given.append)
    pool = MagicMock(name="pool")
    pending.set_result(pool)
    assert runtime.pool is pool and runtime.pool is pool
    assert given == [pool]


def test_a_strict_isolation_failure_surfaces_at_the_first_use_of_the_pool() -> None:
    from concurrent.futures import Future

    pending: Future[Any] = Future()
    pending.set_exception(RuntimeError("isolation required and missing"))
    runtime = LambdaRuntime(NAMES, _Session(), pending)
    for _ in range(2):  # and at every use after it
        with pytest.raises(RuntimeError, match="isolation required"):
            runtime.pool  # noqa: B018


def test_the_dispatcher_does_not_import_the_compiler_or_the_event_models() -> None:
    """The worker Lambda's first event imports the dispatcher: not RestrictedPython, the
    sandbox's module table or the SDK's event models, which only the worker template
    (its own process) and uploads need."""
    code = (
        "import sys, functions_runtime.delivery.dispatch\n"
        "print(sorted(n for n in ('functions_sdk.events', 'functions_sdk.source',\n"
        "    'functions_runtime.sandbox.compiler', 'RestrictedPython') if n in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_handlers_store_is_built_on_its_first_call_and_only_once() -> None:
    from functions_sdk._memory_store import MemoryStore

    built: list[MemoryStore] = []

    def build() -> MemoryStore:
        built.append(MemoryStore())
        return built[-1]

    store = LazyStore(build)
    assert built == []
    store.put("s", "k", '"v"', None)
    assert store.get("s", "k") == '"v"'
    assert store.incr("s", "n", 2) == 2
    assert store.delete("s", "k") is True
    assert len(built) == 1 and store.target is built[0]
