"""Test helpers: run a function through the production sandbox, HTTP mocked.

Needs the runtime (``pip install functions-sdk[testing]``). Each call runs the
function in a real worker process under the same compiler, guards and limits as
production; outgoing ``fetch`` calls are answered from ``responses`` and recorded::

    from functions_sdk.testing import MockResponse, run_function

    result = run_function(
        "user_functions/signed_webhook",
        {"type": "track", "event": "Signed Up", "userId": "u1"},
        settings={"url": "https://hooks.example.com/in", "signing_secret": "s3cret"},
        responses=[MockResponse(method="POST", url="https://hooks.example.com/in")],
    )
    assert result.outcome == "delivered"
    assert result.requests[0]["method"] == "POST"
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InvocationResult", "MockResponse", "run_batch", "run_function"]


@dataclass(frozen=True)
class MockResponse:
    """A canned answer for ``fetch``: matched by method and URL (``*`` suffix = prefix)."""

    method: str | None = None
    url: str | None = None
    status: int = 200
    json: Any = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "headers": dict(self.headers),
            "times": self.times,
        }
        if self.body is not None:
            out["body"] = self.body
        elif self.json is not None:
            out["json"] = self.json
        return out


@dataclass(frozen=True)
class InvocationResult:
    """What one event's run produced (the same fields ``functions invoke`` prints)."""

    outcome: str
    result: Any
    error: dict[str, Any] | None
    logs: list[str]
    requests: list[dict[str, Any]]
    duration_ms: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvocationResult:
        return cls(
            data["outcome"],
            data["result"],
            data["error"],
            list(data["logs"]),
            list(data["requests"]),
            float(data["duration_ms"]),
        )


_POOL: Any = None


def _pool() -> Any:
    global _POOL
    if _POOL is None:
        try:
            from functions_runtime.sandbox.host.local import WorkerPool
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "functions_sdk.testing needs the runtime: pip install 'functions-sdk[testing]'"
            ) from exc
        _POOL = WorkerPool(max_workers=8)
        atexit.register(_POOL.close)
    return _POOL


def _run(
    path: str,
    events: list[Any],
    batch: bool,
    settings: dict[str, Any] | None,
    responses: list[MockResponse] | None,
    timeout: float | None,
    allow: tuple[str, ...],
) -> list[InvocationResult]:
    from functions_runtime.sandbox.host.local import build_spec

    spec = build_spec(str(path), dict(settings or {}), timeout=timeout, allow=allow)
    mocks = None if responses is None else [r.to_dict() for r in responses]
    results = _pool().invoke(spec, events, batch=batch, mocks=mocks)
    return [InvocationResult.from_dict(r) for r in results]


def run_function(
    path: str,
    event: Any,
    *,
    settings: dict[str, Any] | None = None,
    responses: list[MockResponse] | None = None,
    timeout: float | None = None,
    allow: tuple[str, ...] = (),
) -> InvocationResult:
    """Run the function at ``path`` on one event through the sandbox.

    With ``responses`` given (even an empty list), no request leaves the worker:
    each ``fetch`` is answered by the first matching :class:`MockResponse`.
    """
    return _run(path, [event], False, settings, responses, timeout, allow)[0]


def run_batch(
    path: str,
    events: list[Any],
    *,
    settings: dict[str, Any] | None = None,
    responses: list[MockResponse] | None = None,
    timeout: float | None = None,
    allow: tuple[str, ...] = (),
) -> list[InvocationResult]:
    """Run a batch (``on_batch`` when the function has it); one result per event."""
    return _run(path, events, True, settings, responses, timeout, allow)
