"""Per-invocation state the SDK records into: logs, outgoing requests, secrets to mask.

The runtime activates a fresh :class:`InvocationContext` around every handler call.
Outside the runtime (plain unit tests in an integration repo) a default context is
used, which still records logs, so tests can look at what a handler logged; it has no
network (``fetch`` needs a transport: the runtime's, or ``functions_sdk.testing``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._masking import MASK, masker_for

__all__ = ["MASK", "InvocationContext", "Transport", "activate", "current"]

DEFAULT_LOG_LIMIT_BYTES = 64 * 1024
DEFAULT_REQUEST_LIMIT = 100

Transport = Callable[[dict[str, Any]], dict[str, Any]]
"""Carries one ``fetch`` request (a plain dict) to whoever performs it and returns the
answer (a plain dict). In a worker it is the pipe to the host: the worker itself has no
network."""


@dataclass
class InvocationContext:
    """What one invocation produced besides its result."""

    secrets: tuple[str, ...] = ()
    transport: Transport | None = None
    log_limit_bytes: int = DEFAULT_LOG_LIMIT_BYTES
    request_limit: int = DEFAULT_REQUEST_LIMIT
    logs: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    log_bytes: int = 0
    logs_truncated: bool = False
    # Events a source function emitted (``functions_sdk.emit``), already validated,
    # and the size of their JSON together.
    emitted: list[dict[str, Any]] = field(default_factory=list)
    emitted_bytes: int = 0
    requests_truncated: bool = False

    def redact(self, text: str) -> str:
        """``text`` with the secrets masked (see ``functions_sdk._masking``)."""
        return masker_for(self.secrets).mask(text)

    def log(self, line: str) -> None:
        """Append one log line, masked, unless the size cap is reached."""
        if self.logs_truncated:
            return
        line = self.redact(line)
        # Every line counts its newline: empty lines are not free.
        size = len(line.encode("utf-8", "replace")) + 1
        if self.log_bytes + size > self.log_limit_bytes:
            self.logs_truncated = True
            self.logs.append(f"[logs truncated at {self.log_limit_bytes} bytes]")
            return
        self.log_bytes += size
        self.logs.append(line)

    def record_request(self, record: dict[str, Any]) -> None:
        """Record one outgoing request (already redacted by the caller); past the
        limit, one marker record says that the rest were not recorded."""
        if len(self.requests) < self.request_limit:
            self.requests.append(record)
        elif not self.requests_truncated:
            self.requests_truncated = True
            self.requests.append(
                {
                    "method": None,
                    "url": None,
                    "status": None,
                    "duration_ms": 0.0,
                    "request_headers": {},
                    "request_body": None,
                    "error": (
                        f"[requests truncated: only the first {self.request_limit} "
                        "requests of an invocation are recorded]"
                    ),
                }
            )


_CURRENT: contextvars.ContextVar[InvocationContext | None] = contextvars.ContextVar(
    "functions_sdk_invocation", default=None
)
_DEFAULT = InvocationContext()


def current() -> InvocationContext:
    """The active invocation's context (a process-wide default outside the runtime)."""
    ctx = _CURRENT.get()
    return ctx if ctx is not None else _DEFAULT


@contextlib.contextmanager
def activate(ctx: InvocationContext) -> Iterator[InvocationContext]:
    """Make ``ctx`` the current context for the duration of the ``with`` block."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
