"""The local adapter: HTTP in, API Gateway v2 events to the Powertools resolver.

``functions serve`` uses it so the routes run exactly as they do behind API Gateway.

The HTTP layer is waitress (a WSGI server), chosen over the other servers of the
ecosystem for these reasons:

* the resolver is synchronous: a WSGI server calls it directly on a thread of a fixed
  pool, with no event loop and no thread hop per request (an ASGI server, uvicorn or
  hypercorn, would add both for nothing);
* it runs inside the serve process, as threads: it forks no workers (gunicorn and
  granian do; every such process would hold the admin-key hashes and the secret box's
  key, and ``serve`` already runs its own delivery processes);
* its I/O loop reads each request completely (headers and body, chunked bodies
  decoded) before a pool thread sees it, so slow clients hold no thread; we add a
  deadline for the whole request on top of its idle timeout (slow-loris);
* backlog, connection limit, body and header limits are settings; it is pure Python,
  imports in a few milliseconds, and is widely deployed (Pyramid, Flask, Django docs).

cheroot would also fit, but it holds a pool thread per open connection.
Resolvers keep per-request state, so each pool thread gets its own.
"""

from __future__ import annotations

import base64
import functools
import http
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["LocalApiServer", "LocalContext", "ServerLimits", "to_apigw_event", "wsgi_app"]

MAX_BODY_BYTES = 6 * 1024 * 1024  # API Gateway's own payload limit for Lambda


@dataclass(frozen=True)
class ServerLimits:
    """What one client may take of the server."""

    threads: int = 8
    """Pool threads running the resolver (requests are read before they get one). More
    cost CPU per request in wake-ups; fewer shrink ingest's group commits."""
    backlog: int = 1024
    connection_limit: int = 1000
    idle_timeout: float = 60.0
    """A connection with no traffic for this long is closed (keep-alive included)."""
    read_timeout: float = 30.0
    """A request (headers and body) must arrive within this long of its first byte."""
    max_body: int = MAX_BODY_BYTES
    """Bodies over this are answered 413, as API Gateway does."""
    drain_limit: int = 4 * MAX_BODY_BYTES
    """Bodies up to this are still read before the 413, so the client reads the answer
    instead of a reset; over it the server answers and closes straight away."""
    cleanup_interval: float = 1.0
    """How often connections are checked against the two timeouts."""
    shutdown_grace: float = 10.0
    """On shutdown, requests in progress get this long to finish and be answered."""


class LocalContext:
    """The few Lambda context attributes Powertools reads."""

    function_name = "functions-serve"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:functions-serve"
    aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def to_apigw_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2.0) event for one request."""
    parsed = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True) if parsed.query else {}
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    lowered = {k.lower(): v for k, v in headers.items()}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parsed.path or "/",
        "rawQueryString": parsed.query,
        "headers": lowered,
        "queryStringParameters": {k: ",".join(v) for k, v in query.items()} or None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "requestId": f"local-{now:.6f}",
            "routeKey": "$default",
            "stage": "$default",
            "time": _request_time(int(now)),
            "timeEpoch": int(now * 1000),
            "http": {
                "method": method,
                "path": parsed.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
        },
        "body": text if body else None,
        "isBase64Encoded": is_b64,
    }


@functools.lru_cache(maxsize=4)
def _request_time(second: int) -> str:
    """API Gateway's ``requestContext.time`` for this second (formatted once per second)."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


def _headers(environ: WSGIEnvironment) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key[:5] == "HTTP_":
            headers[key[5:].replace("_", "-").title()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = environ[key]
    return headers


def _status(code: int) -> str:
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def wsgi_app(
    app_factory: Callable[[], APIGatewayHttpResolver], max_body: int = MAX_BODY_BYTES
) -> WSGIApplication:
    """A WSGI application that hands every request to a resolver (one per thread)."""
    local = threading.local()

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)  # the server checked it
        if length > max_body:
            data = _error("payload_too_large", f"body over {max_body // (1024 * 1024)} MB")
            start_response(
                _status(413),
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            )
            return [data]
        body = environ["wsgi.input"].read(length) if length else b""
        target = environ.get("REQUEST_URI") or urllib.parse.quote(environ.get("PATH_INFO", "/"))
        if "?" not in target and environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
        event = to_apigw_event(
            environ["REQUEST_METHOD"],
            target,
            _headers(environ),
            body,
            str(environ.get("REMOTE_ADDR") or ""),
        )
        app: APIGatewayHttpResolver | None = getattr(local, "app", None)
        if app is None:
            app = local.app = app_factory()
        result = app.resolve(event, LocalContext())  # type: ignore[arg-type]
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        headers = [
            (name, str(value))
            for name, value in dict(result.get("headers") or {}).items()
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}
        ]
        headers.append(("Content-Length", str(len(data))))
        start_response(_status(int(result["statusCode"])), headers)
        return [data]

    return application


_serving = threading.local()  # .channel: the connection a pool thread is answering


class _Channel(HTTPChannel):
    """A connection that also knows since when its current request has been arriving,
    and whether the I/O thread is waiting for its next request (see ``_Server``)."""

    partial_since: float | None = None
    polled = False
    """The I/O thread's last look at this connection left it polled for something that
    brings the thread back by itself: input (the next request) or output room (the
    socket is writable, so that poll returns at once and the thread looks again)."""

    def readable(self) -> bool:
        # The I/O thread asks readable() then writable() as it builds its poll. The flag
        # is cleared before the look and set after it: a pool thread that reads it while
        # a look is under way sees False and wakes the thread (at worst needlessly).
        self.polled = False
        readable = bool(super().readable())
        self.polled = readable
        return readable

    def writable(self) -> bool:
        writable = bool(super().writable())
        if writable:
            self.polled = True
        return writable

    def service(self) -> None:
        _serving.channel = self
        try:
            super().service()
        finally:
            _serving.channel = None

    def needs_io_thread(self) -> bool:
        """Whether the I/O thread has something to do for this connection that its poll
        would not wake it for: output left to send, a close, or input it is not polling."""
        return bool(
            not self.polled
            or not self.connected
            or self.will_close
            or self.close_when_flushed
            or self.total_outbufs_len
        )

    def received(self, data: bytes) -> bool:
        before = self.request
        result = super().received(data)
        if self.request is None:
            self.partial_since = None
        elif self.request is not before or self.partial_since is None:
            self.partial_since = time.monotonic()
        return result


class _Server(TcpWSGIServer):
    """waitress's server with one wake-up less per request.

    A pool thread that has answered a request wakes the I/O thread (a byte down a pipe)
    so that it polls that connection again; but in the usual case, a keep-alive
    connection whose answer went out whole, the I/O thread is already polling it for the
    next request. Under load each such wake-up costs the I/O thread a poll, a read and
    turns of the interpreter lock against the pool threads (skipping them cut the I/O
    thread's CPU per single-event ingest request by about a quarter, serve's by a tenth
    or more). It is skipped exactly when the connection
    needs nothing from the I/O thread (``_Channel.needs_io_thread``); every other wake-up
    (output left to send, a close, pipelined requests, shutdown) still happens.
    """

    channel_class = _Channel
    read_timeout = 30.0

    def pull_trigger(self) -> None:
        channel: _Channel | None = getattr(_serving, "channel", None)
        if channel is not None and not channel.needs_io_thread():
            return
        super().pull_trigger()

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # type: ignore[arg-type]  # idle connections (the stub says int)
        cutoff = time.monotonic() - self.read_timeout
        for channel in list(self.active_channels.values()):  # type: ignore[attr-defined]
            since = getattr(channel, "partial_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True  # a slow request: closed, its data dropped


class LocalApiServer:
    """An HTTP server in this process that hands every request to a Powertools resolver.

    ``serve_forever`` runs the I/O loop on the calling thread until ``shutdown`` (from
    any thread or a signal handler); it then stops accepting, lets the requests in
    progress finish and be answered (within ``limits.shutdown_grace``), and closes.
    """

    def __init__(
        self,
        address: tuple[str, int],
        app_factory: Callable[[], APIGatewayHttpResolver],
        limits: ServerLimits | None = None,
    ) -> None:
        self.limits = limits = limits or ServerLimits()
        self._map: dict[int, Any] = {}
        adjustments = Adjustments(
            host=address[0],
            port=address[1],
            threads=limits.threads,
            backlog=limits.backlog,
            connection_limit=limits.connection_limit,
            channel_timeout=limits.idle_timeout,
            cleanup_interval=limits.cleanup_interval,
            max_request_body_size=max(limits.drain_limit, limits.max_body),
            # Read the next request while one runs: a client that hangs up is noticed,
            # logged in one line, and not answered.
            channel_request_lookahead=1,
            log_socket_errors=False,  # a client's reset is not our error
            asyncore_use_poll=True,  # no select() limit on file descriptors
            expose_tracebacks=False,
            ident="functions",
        )
        # "Task queue depth is N": requests waiting for a thread are normal under load.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server = _Server(
            wsgi_app(app_factory, limits.max_body), map=self._map, adj=adjustments
        )
        self._server.read_timeout = limits.read_timeout
        self._stop = threading.Event()
        self._started = threading.Event()
        self._stopped = threading.Event()
        self._closed = False

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self._server.getsockname()
        return (str(host), int(port))

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        self._started.set()
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=poll_interval, map=self._map, use_poll=True, count=1)
            self._drain()
        finally:
            self._stopped.set()

    def _drain(self) -> None:
        """Stop accepting; answer what is in progress; then close every connection."""
        self._server.accepting = False
        deadline = time.monotonic() + self.limits.shutdown_grace
        while time.monotonic() < deadline and self._busy():
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)
        self.server_close()

    def _busy(self) -> bool:
        channels = list(self._server.active_channels.values())  # type: ignore[attr-defined]
        return any(ch.requests or ch.total_outbufs_len for ch in channels)

    def open_connections(self) -> int:
        """Connections whose client is still there (a request may still hold a closed one)."""
        channels = list(self._server.active_channels.values())  # type: ignore[attr-defined]
        return sum(1 for ch in channels if ch.connected)

    def shutdown(self) -> None:
        """Ask ``serve_forever`` to finish; returns once it has (if it is running)."""
        self._stop.set()
        self._server.pull_trigger()  # now, not at the end of the I/O thread's poll
        if self._started.is_set():
            self._stopped.wait()

    def request_shutdown(self) -> None:
        """Ask ``serve_forever`` to finish, without waiting (safe in a signal handler)."""
        self._stop.set()

    def server_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        # A connection's own close also closes its output buffers: an answer over 1 MB
        # overflows into a temporary file, which close_all alone would leave open.
        for channel in list(self._server.active_channels.values()):  # type: ignore[attr-defined]
            channel.handle_close()
        wasyncore.close_all(self._map)
