"""Per-invocation state the SDK records into: logs, outgoing requests, secrets to mask.

The runtime activates a fresh :class:`InvocationContext` around every handler call.
Outside the runtime (plain unit tests in an integration repo) a default context is
used, which still records, so tests can look at what a handler logged or sent.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InvocationContext", "activate", "current"]

MASK = "***"
DEFAULT_LOG_LIMIT_BYTES = 64 * 1024
DEFAULT_REQUEST_LIMIT = 100


@dataclass
class InvocationContext:
    """What one invocation produced besides its result."""

    secrets: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    log_limit_bytes: int = DEFAULT_LOG_LIMIT_BYTES
    request_limit: int = DEFAULT_REQUEST_LIMIT
    logs: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    log_bytes: int = 0
    logs_truncated: bool = False
    # Canned HTTP answers for tests: when a list, ``fetch`` opens no socket and
    # answers from it (see ``functions_sdk.testing``).
    mocks: list[dict[str, Any]] | None = None
    # Events a source function emitted (``functions_sdk.emit``), already validated,
    # and the size of their JSON together.
    emitted: list[dict[str, Any]] = field(default_factory=list)
    emitted_bytes: int = 0
    requests_truncated: bool = False

    def redact(self, text: str) -> str:
        """Replace every secret value in ``text`` with ``***``."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text

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
