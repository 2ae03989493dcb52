"""The network broker: the host performs every ``fetch`` a handler makes.

A sandbox worker has no network of its own. Its ``fetch`` sends the request as a frame
on the worker's pipe; the host (``invoker.py``) hands it to a :class:`Session` of this
module's :class:`Broker` and writes the answer back. Everything that protects the
network runs here, in the trusted process, where handler code cannot reach it:

* the request checks (method, URL, headers, body, timeout: ``records.py``);
* the address policy (``ssrf.py``): a new connection's host name is resolved once,
  every address is checked, and the connection goes to a checked address (the URL's
  host name is still sent as ``Host`` and used for TLS: SNI and the certificate check);
  a request that finds a kept-alive connection of its instance to its origin goes on
  it without a lookup, once the policy as it is now still admits that address (as an
  HTTP client resolves only to connect; no lookup means nothing to rebind);
* the timeout (also cut to what is left of the handler's own), the 1 MiB response cap
  (checked on ``Content-Length`` and while reading), no redirects followed;
* the record of the request and of the answer, masked (``records.py``).

Connections are kept alive per instance and origin (``connections.py``: made by the
standard library's ``http.client`` to the checked address; the request is written and
its answer parsed by llhttp in ``wire.py``; at most
:data:`CONNECTIONS_PER_ORIGIN` idle ones per origin, :data:`ORIGINS_PER_INSTANCE`
origins per instance, :data:`INSTANCES` instances, the least recently used closed
first). They are never shared between instances; :meth:`Broker.forget` closes an
instance's connections when its worker goes.

A session answers from canned responses instead when it has ``mocks``
(``functions_sdk.testing``): the same checks and records, no network.
"""

from __future__ import annotations

import base64
import functools
import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from functions_sdk._masking import Masker, masker_for
from functions_sdk.errors import FetchError, FunctionError, RetryError
from functions_sdk.http import MAX_RESPONSE_BYTES

from .connections import Connection, Connections
from .failures import failure_for
from .mocks import mock_answer
from .records import (
    CheckedRequest,
    Failure,
    check_request,
    clip,
    masked_url,
    new_record,
    note_record,
    record_request,
    record_response,
)
from .ssrf import NetworkPolicy, Resolver, Target
from .wire import TooLarge, exchange, request_bytes

__all__ = ["Broker", "Session"]

CONNECTIONS_PER_ORIGIN = 2
ORIGINS_PER_INSTANCE = 16
# Instances with kept-alive connections; the least recently used one's are closed past
# it (a warm worker may serve many instances of one workspace, so the workers' count
# no longer bounds this).
INSTANCES = 256
RECORD_LIMIT = 100
_NOT_RETRYABLE_5XX = frozenset({501, 505})

Answer = dict[str, Any]


def _retryable(status: int) -> bool:
    return status == 429 or (500 <= status <= 599 and status not in _NOT_RETRYABLE_5XX)


@functools.lru_cache(maxsize=64)
def _policy(allow: tuple[str, ...]) -> NetworkPolicy:
    return NetworkPolicy(allow)


class Broker:
    """Performs requests for sandbox workers; owns the per-instance connection pools."""

    def __init__(
        self,
        *,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        resolver: Resolver = socket.getaddrinfo,
        tls_context: ssl.SSLContext | None = None,
        connections_per_origin: int = CONNECTIONS_PER_ORIGIN,
        origins_per_instance: int = ORIGINS_PER_INSTANCE,
        instances: int = INSTANCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: how long kept-alive connections have waited is read from it."""
        self.max_response_bytes = max_response_bytes
        self._resolver = resolver
        self._tls = tls_context
        self._connections = Connections(
            per_origin=connections_per_origin,
            origins=origins_per_instance,
            instances=instances,
            tls_context=self._tls_context,
            clock=clock,
        )

    def session(
        self,
        instance: str,
        *,
        allow: Sequence[str],
        secrets: Sequence[str],
        mocks: list[dict[str, Any]] | None = None,
    ) -> Session:
        """The broker as one invocation of ``instance`` sees it."""
        return Session(self, instance, tuple(allow), masker_for(tuple(secrets)), mocks)

    # -- connections ---------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()  # system CAs; names and chains checked
        return self._tls

    def forget(self, instance: str) -> None:
        """Close ``instance``'s connections (its worker is gone)."""
        self._connections.forget(instance)

    def close(self) -> None:
        self._connections.close()

    def idle_connections(self, instance: str) -> int:
        """How many kept-alive connections ``instance`` has (for tests and the bench)."""
        return self._connections.idle(instance)

    # -- one request ---------------------------------------------------------------------

    def send(
        self, instance: str, policy: NetworkPolicy, request: CheckedRequest, timeout: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """On a kept-alive connection of this origin whose address the policy still
        admits; else resolve, check, connect to a checked address. Send, read (bounded)."""
        target = request.target
        kept = self._connections.take_kept(
            instance, target, lambda address: policy.admits(target.host, address)
        )
        if kept is not None:  # no lookup: its address was checked when it was made
            conn, address = kept
            deadline = time.monotonic() + timeout
            return self._exchange(instance, address, conn, request, deadline, timeout)
        try:
            addresses = policy.resolve(target.host, target.port, self._resolver)
        except FunctionError as exc:
            raise Failure(type(exc), exc.message) from None
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            conn = self._connections.take(instance, target, address, remaining)
            if conn.sock is None:
                try:
                    conn.connect()  # TCP to the checked address (then TLS): or the next
                except ssl.SSLError as exc:
                    conn.close()
                    raise failure_for(exc, target, timeout) from None
                except OSError as exc:
                    conn.close()
                    last = exc
                    continue
            return self._exchange(instance, address, conn, request, deadline, timeout)
        raise failure_for(last or TimeoutError(), target, timeout)

    def _exchange(
        self,
        instance: str,
        address: str,
        conn: Connection,
        request: CheckedRequest,
        deadline: float,
        timeout: float,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request on ``conn`` (connected to ``address``) and its whole answer,
        within the deadline and the size cap (``wire.py``); the connection is kept for
        the next request only when its answer was read to the end and the server did
        not ask to close, and closed on any failure (a half-read one is not reused)."""
        target = request.target
        try:
            sock = conn.sock
            if sock is None:
                raise http.client.RemoteDisconnected("the connection is closed")
            status, headers, body, keep = exchange(
                sock,
                request_bytes(
                    request.method,
                    target.request_target,
                    _host_header(target),
                    request.headers,
                    request.body,
                ),
                head_only=request.method == "HEAD",
                limit=self.max_response_bytes,
                deadline=deadline,
            )
        except TooLarge:
            conn.close()
            raise Failure(
                FetchError, f"response from {target.host} exceeded {self.max_response_bytes} bytes"
            ) from None
        except BaseException as exc:
            conn.close()
            raise failure_for(exc, target, timeout) from None
        if keep:
            self._connections.give_back(instance, target, address, conn)
        else:
            conn.close()
        return status, headers, body


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = {"http": 80, "https": 443}[target.scheme]
    return host if target.port == default else f"{host}:{target.port}"


class Session:
    """One invocation's use of the broker: its instance, allow list, secrets, records."""

    def __init__(
        self,
        broker: Broker,
        instance: str,
        allow: tuple[str, ...],
        masker: Masker,
        mocks: list[dict[str, Any]] | None,
    ) -> None:
        self._broker = broker
        self._instance = instance
        self._allow = allow
        self._masker = masker
        self._mocks = mocks
        self.records: list[dict[str, Any]] = []
        self.dropped = 0

    def take_records(self) -> list[dict[str, Any]]:
        """The records so far (at most :data:`RECORD_LIMIT`, then one marker); cleared."""
        records, self.records = self.records, []
        if self.dropped:
            records.append(_dropped_marker(self.dropped))
            self.dropped = 0
        return records

    def fetch(self, message: Mapping[str, Any], deadline: float | None = None) -> Answer:
        """Perform one request message; the answer carries its ``record``."""
        answer, record = self.answer(message, deadline)
        answer["record"] = record()
        return answer

    def answer(
        self, message: Mapping[str, Any], deadline: float | None = None
    ) -> tuple[Answer, Callable[[], dict[str, Any]]]:
        """Perform one request message: its answer for the worker, and a call that
        makes the request's record (masked, clipped) and keeps it with the session's.

        The host makes that call once the answer is on its way, so the masking of
        the record does not stand between a handler and its answer; it must be made
        before the session's next message and before its records are taken.
        ``deadline`` (``time.monotonic()``): the handler's own end; the request's
        timeout is cut to it."""
        started = time.perf_counter()
        masker = self._masker
        request: CheckedRequest | None = None
        response: tuple[int, list[tuple[str, str]], bytes] | None = None
        failure: Failure | None = None
        made: dict[str, Any] | None = None  # the record, begun early only for an error
        try:
            request = check_request(message)
            timeout = request.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    raise Failure(RetryError, "the handler's time limit was reached")
            response = self._perform(request, timeout)
            status = response[0]
            if request.retry_on_status and _retryable(status):
                raise Failure(RetryError, f"answered {status}", status=status)
            answer = _answer(*response, request.url)
        except Failure as caught:
            failure = caught
            made = new_record(message, masker)
            shown = f"{made['method']} {made['url']}"
            if caught.message is not None:
                text = caught.message
            elif response is not None:  # refused for its status (retry_on_status)
                text = f"{shown} answered {caught.status}"
            else:
                text = f"{shown} failed: {caught.cause}"
            answer = {
                "error": {
                    "type": caught.kind.__name__,
                    "message": masker.mask(text),
                    "status": caught.status,
                }
            }
        duration_ms = round((time.perf_counter() - started) * 1000, 2)

        def record() -> dict[str, Any]:
            kept = made if made is not None else new_record(message, masker)
            if request is not None:
                record_request(kept, request, masker)
            if response is not None:
                record_response(kept, *response, masker)
            if failure is not None:
                kept["error"] = masker.mask(failure.cause)
                if failure.status is not None:
                    kept["status"] = failure.status
            kept["duration_ms"] = duration_ms
            kept = clip(kept)
            if len(self.records) < RECORD_LIMIT:
                self.records.append(kept)
            else:
                self.dropped += 1
            return kept

        return answer, record

    def _perform(
        self, request: CheckedRequest, timeout: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if self._mocks is not None:
            shown = masked_url(request.url, self._masker)
            return mock_answer(self._mocks, request, shown, self._broker.max_response_bytes)
        try:
            policy = _policy(self._allow)
        except ValueError as exc:
            raise Failure(FetchError, f"invalid HTTP allow list: {exc}") from None
        return self._broker.send(self._instance, policy, request, timeout)


def _answer(status: int, headers: list[tuple[str, str]], body: bytes, url: str) -> Answer:
    try:
        text, binary = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, binary = base64.b64encode(body).decode("ascii"), True
    return {
        "status": status,
        "headers": [[name, value] for name, value in headers],
        "body": text,
        "body_b64": binary,
        "url": url,
    }


def _dropped_marker(count: int) -> dict[str, Any]:
    return note_record(
        f"[{count} more requests not recorded: at most {RECORD_LIMIT} per invocation]"
    )
