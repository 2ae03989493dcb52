"""The local adapter: plain HTTP in, API Gateway v2 events to the Powertools resolver.

``functions serve`` uses it so the routes run exactly as they do behind API Gateway.
Resolvers keep per-request state, so each server thread gets its own.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

__all__ = ["LocalApiServer", "LocalContext", "to_apigw_event"]

MAX_BODY_BYTES = 6 * 1024 * 1024  # API Gateway's own payload limit for Lambda


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
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parsed.path or "/",
        "rawQueryString": parsed.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": {k: ",".join(v) for k, v in query.items()} or None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "requestId": f"local-{now:.6f}",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(now * 1000),
            "http": {
                "method": method,
                "path": parsed.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
        },
        "body": text if body else None,
        "isBase64Encoded": is_b64,
    }


class LocalApiServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to a Powertools resolver."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], app_factory: Callable[[], APIGatewayHttpResolver]
    ) -> None:
        self._factory = app_factory
        self._local = threading.local()
        super().__init__(address, _Handler)

    def app(self) -> APIGatewayHttpResolver:
        app: APIGatewayHttpResolver | None = getattr(self._local, "app", None)
        if app is None:
            app = self._local.app = self._factory()
        return app


class _Handler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (~40 ms per keep-alive request).
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(
                400,
                {"content-type": "application/json"},
                b'{"error":{"code":"bad_request","message":"bad Content-Length"}}',
            )
            self.close_connection = True
            return
        if length > MAX_BODY_BYTES:
            self._send(
                413,
                {"content-type": "application/json"},
                b'{"error":{"code":"payload_too_large","message":"body over 6 MB"}}',
            )
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        event = to_apigw_event(
            self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
        )
        result = self.server.app().resolve(event, LocalContext())  # type: ignore[arg-type]
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        self._send(int(result["statusCode"]), dict(result.get("headers") or {}), data)

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in {"content-length", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass
