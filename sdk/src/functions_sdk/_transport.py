"""Sockets, TLS and HTTP for ``fetch``: imported on the first real request only, so a
worker that never calls out does not carry ``http.client`` and ``ssl`` (about 6 MB)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import time

from . import http as _http
from ._context import InvocationContext
from ._network import NetworkPolicy, Target
from .errors import FetchError, FunctionError, RetryError
from .http import (
    _READ_CHUNK,
    Response,
    _check_size,
    _fail,
)

# --------------------------------------------------------------------------- connections


_TLS_CONTEXT: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """The shared client TLS context: system CAs, certificate and host name checked."""
    global _TLS_CONTEXT
    if _TLS_CONTEXT is None:
        _TLS_CONTEXT = ssl.create_default_context()
    return _TLS_CONTEXT


def _open_socket(addresses: list[str], port: int, deadline: float) -> socket.socket:
    """Connect to the first reachable pinned address (no DNS: they are IPs) by ``deadline``."""
    last: OSError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock = socket.create_connection((address, port), remaining)
        except OSError as exc:
            last = exc
            continue
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last if last is not None else TimeoutError("timed out")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to ``host`` (used for the Host header) at a pre-checked IP address."""

    def __init__(
        self, host: str, port: int, addresses: list[str], timeout: float, deadline: float
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses
        self._deadline = deadline
        self.raw_socket: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.raw_socket = _open_socket(self._addresses, self.port, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS at a pre-checked IP; SNI and certificate checks use the URL's host name."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: list[str],
        timeout: float,
        deadline: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses
        self._deadline = deadline
        self._tls = context
        self.raw_socket: socket.socket | None = None

    def connect(self) -> None:
        sock = _open_socket(self._addresses, self.port, self._deadline)
        try:
            self.sock = self.raw_socket = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def send(
    ctx: InvocationContext,
    target: Target,
    method: str,
    url: str,
    headers: dict[str, str],
    payload: bytes | None,
    timeout: float,
) -> Response:
    limit = _http.MAX_RESPONSE_BYTES  # read per call (tests lower it)
    deadline = time.monotonic() + timeout
    try:
        policy = NetworkPolicy(tuple(ctx.allow))
    except ValueError as exc:
        _fail(FetchError, f"invalid HTTP allow list: {exc}")
    try:
        addresses = policy.resolve(target.host, target.port)
    except FunctionError as exc:
        _fail(type(exc), exc.message)

    conn: _PinnedHTTPConnection | _PinnedHTTPSConnection
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(
            target.host, target.port, addresses, timeout, deadline, _tls_context()
        )
    else:
        conn = _PinnedHTTPConnection(target.host, target.port, addresses, timeout, deadline)
    response: http.client.HTTPResponse | None = None
    try:
        encoded = {name: value.encode("utf-8") for name, value in headers.items()}
        conn.request(method, target.request_target, body=payload, headers=encoded)
        _set_timeout(conn.raw_socket, deadline, timeout)
        response = conn.getresponse()
        declared = response.getheader("content-length")
        if method != "HEAD" and declared is not None and declared.strip().isdigit():
            _check_size(target, int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        while not response.isclosed():
            _set_timeout(conn.raw_socket, deadline, timeout)
            chunk = response.read1(min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            _check_size(target, size, limit)
        return Response(response.status, response.getheaders(), b"".join(chunks), url)
    except TimeoutError as exc:
        _fail(RetryError, f"timed out after {timeout} s", exc)
    except ssl.SSLCertVerificationError as exc:
        _fail(RetryError, f"TLS certificate check failed: {exc.verify_message}", exc)
    except ssl.SSLError as exc:
        _fail(RetryError, f"TLS error: {exc.reason or exc}", exc)
    except ConnectionRefusedError as exc:
        _fail(RetryError, f"connection refused by {target.host}:{target.port}", exc)
    except http.client.RemoteDisconnected as exc:
        _fail(RetryError, f"{target.host} closed the connection without answering", exc)
    except ConnectionResetError as exc:
        _fail(RetryError, f"connection reset by {target.host}", exc)
    except http.client.IncompleteRead as exc:
        _fail(RetryError, f"incomplete response from {target.host}", exc)
    except http.client.InvalidURL as exc:
        _fail(FetchError, f"invalid URL: {exc}", exc)
    except http.client.HTTPException as exc:
        _fail(RetryError, f"invalid HTTP response from {target.host}: {type(exc).__name__}", exc)
    except OSError as exc:
        _fail(RetryError, exc.strerror or str(exc) or type(exc).__name__, exc)
    finally:
        if response is not None:
            response.close()
        conn.close()


def _set_timeout(sock: socket.socket | None, deadline: float, timeout: float) -> None:
    """Give the next socket operation only what is left of the overall timeout."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"timed out after {timeout} s")
    if sock is not None and sock.fileno() != -1:
        sock.settimeout(remaining)
