"""Test helpers: run a function through the production sandbox, HTTP mocked.

Needs the runtime distribution (``functions-runtime``), installed from the wheels that
``make dist`` builds or from your private index (see the README, "An integration
repository"). Each call runs the function in a real worker process under the same
compiler, guards and limits as production::

    from functions_sdk.testing import MockResponse, run_function

    result = run_function(
        "user_functions/signed_webhook",
        {"type": "track", "event": "Signed Up", "userId": "u1"},
        settings={"url": "https://hooks.example.com/in", "signing_secret": "s3cret"},
        responses=[MockResponse(method="POST", url="https://hooks.example.com/in")],
    )
    assert result.outcome == "delivered", result.explain()
    assert result.requests[0].method == "POST"

No request leaves the worker unless the test asks for it (``network=True``, or an
``allow`` list): every ``fetch`` is answered by the first matching
:class:`MockResponse`, or fails with ``FetchError`` ("no mock response ..."). Mocks no
request used are listed in ``result.unused_mocks``. Events get ``messageId`` and
``receivedAt`` when they have none, as ingest gives them in production. Settings are
checked against ``function.toml`` first: a missing required setting comes back as an
``invalid`` result whose ``error.type`` is ``SettingsError``.

``functions_sdk.store`` is answered from ``store=``, a :class:`MemoryStore` the test
can seed and inspect (one call's events share it; without ``store=`` each call gets an
empty one)::

    store = MemoryStore({"token": "cached"})
    run_function("user_functions/oauth_token", event, store=store, responses=[...])
    assert store.data["token"] == "cached"
"""

from __future__ import annotations

import atexit
import copy
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from os import PathLike
from typing import Any

from ._memory_store import MemoryStore

__all__ = [
    "ErrorInfo",
    "InvocationResult",
    "MemoryStore",
    "MockResponse",
    "Request",
    "RuntimeMissing",
    "run_batch",
    "run_function",
    "sample_event",
]

OUTCOMES = ("delivered", "filtered", "rejected", "retry", "failed", "invalid")
FunctionPath = str | PathLike[str]


class RuntimeMissing(RuntimeError):
    """The runtime distribution is not installed, so nothing can run in the sandbox."""


@dataclass(frozen=True)
class MockResponse:
    """A canned answer for ``fetch``: matched by method and URL (``*`` suffix = prefix).

    ``times`` limits how many requests it answers (``None``: any number).
    """

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

    def matches(self, method: str, url: str) -> bool:
        """Whether a request to ``url`` with ``method`` would be answered by this mock."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.url is None:
            return True
        if self.url.endswith("*"):
            return url.startswith(self.url[:-1])
        return url == self.url


@dataclass(frozen=True)
class Request:
    """One outgoing ``fetch`` as recorded (secrets masked as ``***``)."""

    method: str
    url: str
    status: int | None  # None: no answer (refused, blocked, no mock, timeout)
    duration_ms: float
    headers: dict[str, str]
    body: str | None
    error: str | None

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Request:
        status = data.get("status")
        return cls(
            method=str(data.get("method") or ""),
            url=str(data.get("url") or ""),
            status=None if status is None else int(status),
            duration_ms=float(data.get("duration_ms") or 0.0),
            headers={str(k): str(v) for k, v in (data.get("request_headers") or {}).items()},
            body=data.get("request_body"),
            error=data.get("error"),
        )

    def line(self) -> str:
        answer = str(self.status) if self.status is not None else f"no answer ({self.error})"
        return f"{self.method} {self.url} -> {answer}"


@dataclass(frozen=True)
class ErrorInfo:
    """Why an event was not delivered: the exception's type, its message (masked) and
    the handler's line that raised it, when known."""

    type: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (handler.py line {self.line})" if self.line is not None else ""
        return f"{self.type}: {self.message}{where}"


@dataclass(frozen=True)
class InvocationResult:
    """What one event's run produced (the fields ``functions invoke`` prints, typed)."""

    outcome: str  # one of OUTCOMES
    result: Any
    error: ErrorInfo | None
    logs: list[str]
    requests: list[Request]
    duration_ms: float
    emitted: list[Any] = field(default_factory=list)  # source functions' emit(...)
    unused_mocks: list[MockResponse] = field(default_factory=list)
    event: Any = None  # the event as the handler got it (messageId, receivedAt filled)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvocationResult:
        error = data.get("error")
        return cls(
            outcome=str(data["outcome"]),
            result=data.get("result"),
            error=None
            if error is None
            else ErrorInfo(str(error.get("type")), str(error.get("message")), error.get("line")),
            logs=[str(line) for line in data.get("logs") or []],
            requests=[Request.from_record(r) for r in data.get("requests") or []],
            duration_ms=float(data.get("duration_ms") or 0.0),
            emitted=list(data.get("emitted") or []),
        )

    def explain(self) -> str:
        """Outcome, error, logs and requests, for an assertion message."""
        lines = [f"outcome: {self.outcome}"]
        if self.error is not None:
            lines.append(f"error: {self.error}")
        lines += [f"log: {line}" for line in self.logs]
        lines += [f"request: {r.line()}" for r in self.requests]
        lines += [f"unused mock: {m.method or '*'} {m.url or '*'}" for m in self.unused_mocks]
        return "\n".join(lines)


_POOL: Any = None


def _local() -> Any:
    try:
        import functions_runtime.sandbox.host.local as local
    except ImportError as exc:
        raise RuntimeMissing(
            "functions_sdk.testing runs functions in the production sandbox, which comes "
            "with the functions-runtime distribution: install it from your wheels "
            "(pip install dist/functions_sdk-*.whl dist/functions_runtime-*.whl) or your "
            "private index; see the README's 'An integration repository'"
        ) from exc
    return local


def _pool() -> Any:
    global _POOL
    if _POOL is None:
        _POOL = _local().WorkerPool(max_workers=8)
        atexit.register(_POOL.close)
    return _POOL


def _stamp(event: Any) -> Any:
    """``messageId`` and ``receivedAt`` as ingest fills them (kept when given)."""
    if not isinstance(event, dict):
        return event
    out = copy.deepcopy(event)
    out.setdefault("messageId", f"fn-{uuid.uuid4()}")
    out.setdefault("receivedAt", datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    return out


def _unused(responses: list[MockResponse], requests: list[Request]) -> list[MockResponse]:
    """Mocks no recorded request matched (first match wins, ``times`` counted)."""
    left = [r.times for r in responses]
    used = [False] * len(responses)
    for request in requests:
        if request.status is None:
            continue
        for index, mock in enumerate(responses):
            if left[index] == 0 or not mock.matches(request.method, request.url):
                continue
            used[index] = True
            if left[index] is not None:
                left[index] = int(left[index] or 0) - 1
            break
    return [mock for mock, hit in zip(responses, used, strict=True) if not hit]


def _run(
    path: FunctionPath,
    events: list[Any],
    batch: bool,
    settings: dict[str, Any] | None,
    responses: list[MockResponse] | None,
    timeout: float | None,
    allow: tuple[str, ...],
    network: bool | None,
    stamp: bool,
    store: MemoryStore | None = None,
) -> list[InvocationResult]:
    local = _local()
    try:
        spec = local.build_spec(str(path), dict(settings or {}), timeout=timeout, allow=allow)
    except local.ManifestError as exc:
        error = ErrorInfo("SettingsError", "; ".join(exc.problems))
        return [InvocationResult("invalid", None, error, [], [], 0.0, event=e) for e in events]
    # A source function's "event" is the webhook request: ingest stamps what it emits.
    stamped = [_stamp(e) for e in events] if stamp and spec.kind != "source" else list(events)
    real = bool(allow) if network is None else network
    given = list(responses or [])
    mocks = None if real and responses is None else [r.to_dict() for r in given]
    backend = store if store is not None else MemoryStore()
    raw = _pool().invoke(spec, stamped, batch=batch, mocks=mocks, store=backend)
    results = [InvocationResult.from_dict(r) for r in raw]
    requests = [req for res in results for req in res.requests]
    unused = _unused(given, requests)
    return [replace(r, unused_mocks=unused, event=e) for r, e in zip(results, stamped, strict=True)]


def run_function(
    path: FunctionPath,
    event: Any,
    *,
    settings: dict[str, Any] | None = None,
    responses: list[MockResponse] | None = None,
    timeout: float | None = None,
    allow: tuple[str, ...] = (),
    network: bool | None = None,
    stamp: bool = True,
    store: MemoryStore | None = None,
) -> InvocationResult:
    """Run the function at ``path`` (a folder, its ``handler.py``, a ``Path``) on one
    event through the sandbox.

    ``fetch`` is answered from ``responses``; real requests are made only with
    ``network=True`` or an ``allow`` list (hosts the test lets ``fetch`` reach, e.g. a
    server it started on 127.0.0.1), and then only when ``responses`` is not given.
    ``stamp=False`` runs the event exactly as given (no ``messageId`` / ``receivedAt``).
    ``store``: what ``functions_sdk.store`` reads and writes (an empty one otherwise).
    """
    return _run(path, [event], False, settings, responses, timeout, allow, network, stamp, store)[0]


def run_batch(
    path: FunctionPath,
    events: list[Any],
    *,
    settings: dict[str, Any] | None = None,
    responses: list[MockResponse] | None = None,
    timeout: float | None = None,
    allow: tuple[str, ...] = (),
    network: bool | None = None,
    stamp: bool = True,
    store: MemoryStore | None = None,
) -> list[InvocationResult]:
    """Run a batch (``on_batch`` when the function has it); one result per event."""
    return _run(path, events, True, settings, responses, timeout, allow, network, stamp, store)


EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias", "delete")


def sample_event(event_type: str = "track", **overrides: Any) -> dict[str, Any]:
    """A valid, real-shaped event of ``event_type`` (the SDK's packaged samples), with
    ``overrides`` applied to its top-level fields; a fresh copy each call."""
    import json
    from importlib.resources import files

    if event_type not in EVENT_TYPES:
        raise ValueError(f"no sample for {event_type!r}; types: {', '.join(EVENT_TYPES)}")
    text = files("functions_sdk").joinpath("samples", f"{event_type}.json").read_text("utf-8")
    event: dict[str, Any] = json.loads(text)
    event.update(overrides)
    return event
