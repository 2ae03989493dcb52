"""The SDK's pytest plugin, registered by the ``pytest11`` entry point: installing the
SDK is enough, nothing to add to ``conftest.py``.

Fixtures:

- ``function_runner``: ``function_runner(path, event, settings=...)`` runs a function
  through the production sandbox (:func:`functions_sdk.testing.run_function`;
  ``function_runner.batch(path, events, ...)`` for batches), answering ``fetch`` from
  ``http_mock``;
- ``http_mock``: ``http_mock.add("POST", "https://api.example.com/*", json={...})``
  adds a canned answer; no request leaves the sandbox unless the test calls
  ``http_mock.allow_network("127.0.0.1")``;
- ``sample_event``: ``sample_event("identify", userId="u1")``, a valid real-shaped
  event of any type; ``event_of_each_type``: a parametrized fixture, one test per type.

- ``store``: the :class:`~functions_sdk.testing.MemoryStore` that ``functions_sdk.store``
  reaches in this test's runs (empty at the start of each test, shared by all its
  runs): seed it with ``store.data``-style values through ``MemoryStore(...)`` or by a
  first run, and look at ``store.data`` afterwards.

When a test that ran functions fails, its report gets a section "functions: handler
runs" with each run's outcome, error, logs, requests and unused mocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .testing import (
    EVENT_TYPES,
    FunctionPath,
    InvocationResult,
    MemoryStore,
    MockResponse,
    run_batch,
    run_function,
)
from .testing import (
    sample_event as _sample_event,
)

__all__ = ["FunctionRunner", "HttpMock"]

_RUNS = pytest.StashKey[list[InvocationResult]]()


class HttpMock:
    """Canned answers for ``fetch`` (first match wins) and whether real requests may go."""

    def __init__(self) -> None:
        self.responses: list[MockResponse] = []
        self.allowed: tuple[str, ...] = ()

    def add(
        self,
        method: str | None = None,
        url: str | None = None,
        *,
        status: int = 200,
        json: Any = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> MockResponse:
        mock = MockResponse(method, url, status, json, body, dict(headers or {}), times)
        self.responses.append(mock)
        return mock

    def allow_network(self, *hosts: str) -> None:
        """Send real requests (to these hosts / CIDRs, e.g. a server the test started on
        127.0.0.1) instead of answering from mocks."""
        self.allowed = hosts


class FunctionRunner:
    """Runs functions for one test and keeps the results for its failure report."""

    def __init__(
        self, http: HttpMock, runs: list[InvocationResult], store: MemoryStore | None = None
    ) -> None:
        self.http = http
        self.runs = runs
        self.store = store if store is not None else MemoryStore()

    def _mocks(self, responses: list[MockResponse] | None) -> list[MockResponse] | None:
        if responses is not None:
            return responses
        return None if self.http.allowed else list(self.http.responses)

    def __call__(
        self,
        path: FunctionPath,
        event: Any,
        *,
        settings: dict[str, Any] | None = None,
        responses: list[MockResponse] | None = None,
        timeout: float | None = None,
    ) -> InvocationResult:
        result = run_function(
            path,
            event,
            settings=settings,
            responses=self._mocks(responses),
            timeout=timeout,
            allow=self.http.allowed,
            store=self.store,
        )
        self.runs.append(result)
        return result

    def batch(
        self,
        path: FunctionPath,
        events: list[Any],
        *,
        settings: dict[str, Any] | None = None,
        responses: list[MockResponse] | None = None,
        timeout: float | None = None,
    ) -> list[InvocationResult]:
        results = run_batch(
            path,
            events,
            settings=settings,
            responses=self._mocks(responses),
            timeout=timeout,
            allow=self.http.allowed,
            store=self.store,
        )
        self.runs.extend(results)
        return results


@pytest.fixture
def http_mock() -> HttpMock:
    return HttpMock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def function_runner(
    request: pytest.FixtureRequest, http_mock: HttpMock, store: MemoryStore
) -> Iterator[FunctionRunner]:
    runs: list[InvocationResult] = []
    request.node.stash[_RUNS] = runs
    yield FunctionRunner(http_mock, runs, store)


@pytest.fixture
def sample_event() -> Any:
    return _sample_event


@pytest.fixture(params=EVENT_TYPES)
def event_of_each_type(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _sample_event(str(request.param))


def _report(runs: list[InvocationResult]) -> str:
    blocks = []
    for number, run in enumerate(runs, 1):
        blocks.append(f"-- run {number} --\n{run.explain()}")
    return "\n".join(blocks)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        runs = item.stash.get(_RUNS, [])
        if runs:
            report.sections.append(("functions: handler runs", _report(runs)))
    return report
