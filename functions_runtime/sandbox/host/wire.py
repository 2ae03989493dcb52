"""One HTTP/1.1 exchange on a connected socket (the broker's kept-alive connections).

The request goes out in one write; the answer is parsed by llhttp, Node.js's HTTP
parser, through ``httptools`` (the binding uvicorn uses): status line, headers,
``Content-Length`` or chunked bodies, bodies that end when the server closes, 1xx
answers skipped, and whether the connection may carry another request. The request is
written here: the broker checked everything in it already (``records.check_request``:
a method of a fixed set, token header names, no CR, LF or NUL in values, ``Host``,
``Content-Length`` and ``Transfer-Encoding`` never the handler's), and the request
target is checked again below, as ``http.client`` does.

Why not ``http.client``'s ``request`` and ``getresponse``, which the broker used before:
for a kept-alive POST to a local server they took 147-181 µs of CPU against 36-45 µs
here (``docs/PERFORMANCE.md``, twelfth session), most of it ``http.client`` parsing the
answer's headers with the ``email`` package. Every fetch a handler makes pays it on the
host, between the handler's request and its answer. ``http.client`` still makes the
connections (``connections.py``: TCP to the checked address, then TLS).
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Mapping

import httptools

__all__ = ["Answer", "TooLarge", "exchange", "request_bytes"]

Answer = tuple[int, list[tuple[str, str]], bytes, bool]
"""Status, headers (latin-1, as ``http.client`` reads them), body, and whether the
connection may carry another request."""

READ_CHUNK = 64 * 1024
MAX_HEAD_BYTES = 256 * 1024  # status lines and headers, interim answers' too
MAX_HEADERS = 100  # in one answer, as http.client allows
_METHODS_WITH_BODY = frozenset({"PATCH", "POST", "PUT"})  # Content-Length: 0 without one
_BAD_TARGET = re.compile("[\x00-\x20\x7f]")  # as http.client refuses in a request target


class TooLarge(Exception):
    """The answer declared, or sent, more than the limit."""


def request_bytes(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """The request as ``http.client`` would write it: request line, ``Host``,
    ``Accept-Encoding: identity`` unless the handler gave one, the handler's headers in
    order (values UTF-8), ``Content-Length`` (0 for a POST, PUT or PATCH without a body),
    then the body."""
    if _BAD_TARGET.search(target):
        raise http.client.InvalidURL(f"URL can't contain control characters. {target!r}")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    if not any(name.lower() == "accept-encoding" for name in headers):
        lines.append("Accept-Encoding: identity")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    elif method in _METHODS_WITH_BODY:
        lines.append("Content-Length: 0")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + body if body else head


class _Reader:
    """The parser's callbacks: the final answer's parts; 1xx answers are skipped."""

    def __init__(self, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.declared: int | None = None
        self.chunked = False
        self.headers_done = False  # of the final answer
        self.complete = False  # the final answer, read to its end
        self.keep_alive = False
        self.extra = False  # anything after the final answer

    def on_message_begin(self) -> None:
        if self.done():
            self.extra = True  # an answer nobody asked for: ours is kept as it was
            return
        self.headers.clear()
        self.chunks.clear()
        self.size = 0
        self.declared = None
        self.chunked = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.done():
            return
        if len(self.headers) >= MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        text = value.decode("latin-1")
        lowered = name.lower()
        if lowered == b"content-length" and text.strip().isdigit():
            self.declared = int(text)
        elif lowered == b"transfer-encoding" and "chunked" in text.lower():
            self.chunked = True
        self.headers.append((name.decode("latin-1"), text))

    def on_headers_complete(self) -> None:
        if self.done():
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # an interim answer: the final one follows
        self.status = status
        self.headers_done = True
        if self.head_only or status == 101:
            self.keep_alive = status != 101 and self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.head_only or self.status == 101:
            self.extra = True  # no body was to follow
        elif self.headers_done and not self.complete:
            self.size += len(body)
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if not self.headers_done or self.done():
            return  # the end of an interim answer, or of ours read as headers only
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    def done(self) -> bool:
        return self.complete or (self.headers_done and (self.head_only or self.status == 101))

    def answer(self, keep: bool) -> Answer:
        return self.status, self.headers, b"".join(self.chunks), keep


def exchange(
    sock: socket.socket,
    request: bytes,
    *,
    head_only: bool,
    limit: int,
    deadline: float,
) -> Answer:
    """Send ``request`` and read its whole answer, within ``deadline``
    (``time.monotonic()``) and ``limit`` body bytes (:class:`TooLarge` past it, also
    when the answer declares more). Raises ``TimeoutError``, ``OSError``s of the socket
    and ``http.client.HTTPException``s for answers that are not HTTP or end early."""
    _set_timeout(sock, deadline)
    sock.sendall(request)
    reader = _Reader(head_only)
    received = 0
    while not reader.done():
        _set_timeout(sock, deadline)
        data = sock.recv(READ_CHUNK)
        if not data:
            return _at_close(reader, received)
        received += len(data)
        try:
            reader.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            raise exc.__context__ or http.client.HTTPException(str(exc)) from exc
        except httptools.HttpParserError as exc:
            if not reader.done():
                raise _not_http(exc) from exc
            reader.extra = True  # our answer is whole; what followed it is not HTTP
        if not reader.headers_done and received > MAX_HEAD_BYTES:
            raise http.client.LineTooLong(f"answer headers past {MAX_HEAD_BYTES} bytes")
        if reader.headers_done and not head_only and reader.status != 101:
            if reader.declared is not None and reader.declared > limit:
                raise TooLarge(reader.declared)
            if reader.size > limit:
                raise TooLarge(reader.size)
    return reader.answer(reader.keep_alive and not reader.extra)


def _at_close(reader: _Reader, received: int) -> Answer:
    """The server closed the connection: the answer ends here if its body was to run
    until the close; otherwise it is incomplete (or there was none)."""
    if received == 0:
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    if reader.headers_done and reader.declared is None and not reader.chunked:
        return reader.answer(False)
    raise http.client.IncompleteRead(b"", reader.declared)


def _not_http(exc: httptools.HttpParserError) -> http.client.HTTPException:
    """A parse error as the ``http.client`` error it stands for (``failures.py``)."""
    text = str(exc)
    if "Expected HTTP/" in text or "status" in text.lower():
        return http.client.BadStatusLine(text)
    if "overflow" in text.lower() or "too large" in text.lower():
        return http.client.LineTooLong(text)
    return http.client.HTTPException(text)


def _set_timeout(sock: socket.socket, deadline: float) -> None:
    """Give the next send or read only what is left of the request's whole timeout."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    sock.settimeout(remaining)
