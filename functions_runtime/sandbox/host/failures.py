"""Client errors as the causes a handler sees (host side of ``fetch``).

``http.client`` and the socket and TLS layers under it raise many kinds of error; the
handler gets one short cause and an SDK error class: connection problems, timeouts,
TLS failures and answers that are not HTTP are :class:`~functions_sdk.errors.RetryError`
(the event is retried), a URL the client cannot use is
:class:`~functions_sdk.errors.FetchError`.
"""

from __future__ import annotations

import http.client
import ssl

from functions_sdk.errors import FetchError, RetryError

from .records import Failure
from .ssrf import Target

__all__ = ["failure_for"]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def failure_for(exc: BaseException, target: Target, timeout: float) -> Failure:
    """A client error as the cause the handler sees (connection problems: retry)."""
    chain = _chain(exc)
    where = f"{target.host}:{target.port}"
    for item in chain:
        if isinstance(item, Failure):
            return item
        if isinstance(item, TimeoutError):  # socket.timeout too
            return Failure(RetryError, f"timed out after {timeout:g} s")
        if isinstance(item, ssl.SSLCertVerificationError):
            return Failure(RetryError, f"TLS certificate check failed: {item.verify_message}")
        if isinstance(item, http.client.RemoteDisconnected):  # a ConnectionResetError too
            return Failure(RetryError, f"{target.host} closed the connection without answering")
        if isinstance(item, ConnectionRefusedError):
            return Failure(RetryError, f"connection refused by {where}")
        if isinstance(item, ConnectionResetError):
            return Failure(RetryError, f"connection reset by {target.host}")
    for item in chain:
        if isinstance(item, http.client.IncompleteRead):
            return Failure(RetryError, f"incomplete response from {target.host}")
        if isinstance(item, ssl.SSLError):
            reason = getattr(item, "reason", None) or item
            return Failure(RetryError, f"TLS error: {reason}")
        if isinstance(item, http.client.InvalidURL):
            return Failure(FetchError, f"invalid URL: {item}")
    if isinstance(exc, http.client.HTTPException):
        return Failure(
            RetryError, f"invalid HTTP response from {target.host}: {type(exc).__name__}"
        )
    if isinstance(exc, OSError):
        return Failure(RetryError, exc.strerror or str(exc) or type(exc).__name__)
    return Failure(RetryError, f"request to {target.host} failed: {type(exc).__name__}")
