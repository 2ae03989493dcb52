"""The network broker: the host performs every ``fetch`` a handler makes.

A sandbox worker has no network of its own. Its ``fetch`` sends the request as a frame
on the worker's pipe; the host (``invoker.py``) hands it to a :class:`Session` of this
module's :class:`Broker` and writes the answer back. Everything that protects the
network runs here, in the trusted process, where handler code cannot reach it:

* the request checks (method, URL, headers, body, timeout: ``records.py``);
* the address policy (``ssrf.py``): the host name is resolved once, every address is
  checked, and the connection goes to a checked address (the URL's host name is still
  sent as ``Host`` and used for TLS: SNI and the certificate check);
* the timeout (also cut to what is left of the handler's own), the 1 MiB response cap
  (checked on ``Content-Length`` and while reading), no redirects followed;
* the record of the request and of the answer, masked (``records.py``).

Connections are kept alive in urllib3 pools: one pool per (instance, scheme, host, port,
address), at most :data:`CONNECTIONS_PER_ORIGIN` idle connections each and at most
:data:`ORIGINS_PER_INSTANCE` pools per instance (the least recently used is closed).
Pools are never shared between instances; :meth:`Broker.forget` closes an instance's
pools when its worker goes. urllib3 rather than httpx: it is already installed with
boto3 (no new distribution on Lambda), its pool takes the address to connect to and
the TLS ``server_hostname`` separately, which is exactly address pinning, and it is
synchronous, which matches the invoker's thread per delivery.

A session answers from canned responses instead when it has ``mocks``
(``functions_sdk.testing``): the same checks and records, no network.
"""

from __future__ import annotations

import base64
import collections
import functools
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
)

from functions_sdk._masking import Masker, masker_for
from functions_sdk.errors import FetchError, FunctionError, RetryError
from functions_sdk.http import MAX_RESPONSE_BYTES

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

__all__ = ["Broker", "Session"]

CONNECTIONS_PER_ORIGIN = 2
ORIGINS_PER_INSTANCE = 16
# Instances with kept-alive connections; the least recently used one's are closed past
# it (a warm worker may serve many instances of one workspace, so the workers' count
# no longer bounds this).
INSTANCES = 256
RECORD_LIMIT = 100
_READ_CHUNK = 64 * 1024
_NOT_RETRYABLE_5XX = frozenset({501, 505})

Pool = urllib3.HTTPConnectionPool
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
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self._resolver = resolver
        self._tls = tls_context
        self._per_origin = connections_per_origin
        self._origins = origins_per_instance
        self._instances = instances
        self._pools: collections.OrderedDict[
            str, collections.OrderedDict[tuple[Any, ...], Pool]
        ] = collections.OrderedDict()
        self._lock = threading.Lock()

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

    # -- pools ---------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()  # system CAs; names and chains checked
        return self._tls

    def _pool(self, instance: str, target: Target, address: str) -> Pool:
        key = (target.scheme, target.host, target.port, address)
        with self._lock:
            pools = self._pools.setdefault(instance, collections.OrderedDict())
            self._pools.move_to_end(instance)
            pool = pools.get(key)
            if pool is not None:
                pools.move_to_end(key)
                return pool
            if target.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    address,
                    target.port,
                    maxsize=self._per_origin,
                    block=False,
                    retries=False,
                    ssl_context=self._tls_context(),
                    server_hostname=target.host,
                )
            else:
                pool = urllib3.HTTPConnectionPool(
                    address, target.port, maxsize=self._per_origin, block=False, retries=False
                )
            pools[key] = pool
            evicted = []
            while len(pools) > self._origins:
                evicted.append(pools.popitem(last=False)[1])
            while len(self._pools) > self._instances:
                evicted.extend(self._pools.popitem(last=False)[1].values())
        for old in evicted:
            old.close()
        return pool

    def forget(self, instance: str) -> None:
        """Close ``instance``'s connections (its worker is gone)."""
        with self._lock:
            pools = self._pools.pop(instance, None)
        for pool in (pools or {}).values():
            pool.close()

    def close(self) -> None:
        with self._lock:
            instances = list(self._pools)
        for instance in instances:
            self.forget(instance)

    def idle_connections(self, instance: str) -> int:
        """How many kept-alive connections ``instance`` has (for tests and the bench)."""
        with self._lock:
            pools = list(self._pools.get(instance, {}).values())
        # The pool's queue holds None for each connection not made yet.
        return sum(
            1 for pool in pools if pool.pool for conn in list(pool.pool.queue) if conn is not None
        )

    # -- one request ---------------------------------------------------------------------

    def send(
        self, instance: str, policy: NetworkPolicy, request: CheckedRequest, timeout: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Resolve, check, connect to a checked address, send, read (bounded)."""
        target = request.target
        try:
            addresses = policy.resolve(target.host, target.port, self._resolver)
        except FunctionError as exc:
            raise Failure(type(exc), exc.message) from None
        deadline = time.monotonic() + timeout
        headers = {name: value.encode("utf-8") for name, value in request.headers.items()}
        headers["Host"] = _host_header(target).encode("ascii")
        last: BaseException | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            pool = self._pool(instance, target, address)
            try:
                response = pool.urlopen(
                    request.method,
                    target.request_target,
                    body=request.body,
                    headers=headers,  # type: ignore[arg-type]  # bytes values: UTF-8
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    timeout=urllib3.Timeout(connect=remaining, read=remaining),
                    preload_content=False,
                    decode_content=False,
                )
            except ConnectTimeoutError as exc:  # incl. NewConnectionError: try the next
                last = exc
                continue
            except BaseException as exc:
                raise failure_for(exc, target, timeout) from None
            return self._read(response, request, deadline, timeout)
        raise failure_for(last or TimeoutError(), target, timeout)

    def _read(
        self,
        response: urllib3.BaseHTTPResponse,
        request: CheckedRequest,
        deadline: float,
        timeout: float,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        limit = self.max_response_bytes
        target = request.target
        ok = False
        try:
            declared = response.headers.get("content-length")
            if request.method != "HEAD" and declared and declared.strip().isdigit():
                _check_size(target, int(declared), limit)
            chunks: list[bytes] = []
            size = 0
            while True:
                _set_timeout(response, deadline, timeout)
                chunk = response.read1(min(_READ_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                _check_size(target, size, limit)
            ok = True
            return response.status, list(response.headers.items()), b"".join(chunks)
        except Failure:
            raise
        except BaseException as exc:
            raise failure_for(exc, target, timeout) from None
        finally:
            if not ok:
                response.close()  # a half-read connection is not reused
            response.release_conn()


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = {"http": 80, "https": 443}[target.scheme]
    return host if target.port == default else f"{host}:{target.port}"


def _check_size(target: Target, size: int, limit: int) -> None:
    if size > limit:
        raise Failure(FetchError, f"response from {target.host} exceeded {limit} bytes")


def _set_timeout(response: urllib3.BaseHTTPResponse, deadline: float, timeout: float) -> None:
    """Give the next read only what is left of the request's whole timeout."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    sock = getattr(response.connection, "sock", None)
    if sock is not None and sock.fileno() != -1:
        sock.settimeout(remaining)


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
        """Perform one request message; the answer carries its ``record``.

        ``deadline`` (``time.monotonic()``): the handler's own end; the request's
        timeout is cut to it."""
        started = time.perf_counter()
        record = new_record(message, self._masker)
        shown = f"{record['method']} {record['url']}"
        try:
            request = check_request(message)
            record_request(record, request, self._masker)
            timeout = request.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    raise Failure(RetryError, "the handler's time limit was reached")
            status, headers, body = self._perform(request, timeout)
            record_response(record, status, headers, body, self._masker)
            if request.retry_on_status and _retryable(status):
                raise Failure(
                    RetryError,
                    f"answered {status}",
                    status=status,
                    message=f"{shown} answered {status}",
                )
            answer = _answer(status, headers, body, request.url)
        except Failure as failure:
            record["error"] = self._masker.mask(failure.cause)
            if failure.status is not None:
                record["status"] = failure.status
            text = failure.message or f"{shown} failed: {failure.cause}"
            answer = {
                "error": {
                    "type": failure.kind.__name__,
                    "message": self._masker.mask(text),
                    "status": failure.status,
                }
            }
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        record = clip(record)
        if len(self.records) < RECORD_LIMIT:
            self.records.append(record)
        else:
            self.dropped += 1
        answer["record"] = record
        return answer

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
