"""Outgoing HTTP for handlers: :func:`fetch` and the :class:`Response` it returns.

``fetch`` is the only way a function reaches the outside world::

    response = fetch("https://api.example.com/v1/events", method="POST",
                     headers={"Authorization": f"Bearer {settings.get_str('api_key')}"},
                     json={"event": event.event}, retry_on_status=True)
    data = response.json()

What to expect:

* Connection failures and timeouts raise :class:`~functions_sdk.errors.RetryError`
  (the event is retried later). HTTP error statuses do not raise by themselves:
  check ``response.ok``, call ``response.raise_for_status()``, or pass
  ``retry_on_status=True`` to retry on 429 and 5xx answers.
* Redirects are **not** followed: a 3xx answer is returned as it is (read its
  ``location`` header and fetch again if you mean to follow it).
* Loopback, private, link-local and cloud metadata addresses are refused with
  :class:`~functions_sdk.errors.RequestBlocked` unless the operator allowed them.
* Responses larger than 1 MiB raise :class:`~functions_sdk.errors.FetchError`.
* Every request and its answer are recorded (secrets masked) so tests and the runtime
  can show what a handler sent and what the endpoint answered.

How: the handler's process has no network. ``fetch`` checks that its arguments can
be sent, hands the request to the invocation's transport (in a sandbox worker: a frame
on the worker's pipe) and waits for the answer. The host performs the request: URL and
header checks, the address policy, the timeout, the size limit, connection reuse and
the record all live there (``functions_runtime/sandbox/host/``), out of the handler's
reach.
"""

from __future__ import annotations

import base64
import json as _json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from ._context import MASK, InvocationContext, current
from .errors import FetchError, RequestBlocked, RetryError

__all__ = ["Response", "fetch"]

DEFAULT_TIMEOUT = 5.0
"""Seconds ``fetch`` waits when no ``timeout`` is given."""
MAX_TIMEOUT = 30.0
"""Longer timeouts are cut down to this."""
MAX_RESPONSE_BYTES = 1024 * 1024
"""Largest response body ``fetch`` accepts (1 MiB)."""

_SECRET_NAME_PARTS = ("key", "token", "secret", "password", "signature", "auth")
# Built once (``json.dumps`` with options builds an encoder per call).
_COMPACT = _json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_NOT_RETRYABLE_5XX = frozenset({501, 505})
_ERRORS: dict[str, type[FetchError] | type[RetryError]] = {
    "FetchError": FetchError,
    "RequestBlocked": RequestBlocked,
    "RetryError": RetryError,
}
NO_NETWORK = (
    "fetch has no network here: handlers reach the network through the runtime; in a "
    "test, run the handler with functions_sdk.testing.run_function(..., responses=[...])"
)


def _is_retryable(status: int) -> bool:
    return status == 429 or (500 <= status <= 599 and status not in _NOT_RETRYABLE_5XX)


# --------------------------------------------------------------------------- Response


class Response:
    """The answer to a :func:`fetch` call. Read-only.

    ``status``
        The HTTP status code, e.g. ``200``.
    ``ok``
        ``True`` for a 2xx status.
    ``headers``
        The response headers as a ``dict`` with lower-case names
        (repeated headers are joined with ``", "``).
    ``text``
        The body decoded as UTF-8 (undecodable bytes become ``"\\ufffd"``).
    ``content``
        The body as ``bytes``.
    ``url``
        The URL that was fetched (redirects are not followed, so it is the one
        you passed).
    """

    __slots__ = ("_body", "_headers", "_status", "_url")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        url: str,
    ) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        merged: dict[str, str] = {}
        for name, value in pairs:
            key = str(name).lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else str(value)
        self._status = int(status)
        self._headers = merged
        self._body = bytes(body)
        self._url = url

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._status

    @property
    def ok(self) -> bool:
        """``True`` when the status is 2xx."""
        return 200 <= self._status <= 299

    @property
    def headers(self) -> dict[str, str]:
        """A copy of the response headers, names in lower case."""
        return dict(self._headers)

    @property
    def content(self) -> bytes:
        """The raw response body."""
        return self._body

    @property
    def text(self) -> str:
        """The response body decoded as UTF-8 (invalid bytes replaced)."""
        return self._body.decode("utf-8", errors="replace")

    @property
    def url(self) -> str:
        """The URL that was fetched."""
        return self._url

    def json(self) -> Any:
        """Parse the body as JSON; raise :class:`FetchError` when it is not JSON."""
        try:
            return _json.loads(self._body)
        except RecursionError:
            raise FetchError(
                f"response from {_mask_url(self._url)} is not JSON: nested too deeply"
            ) from None
        except ValueError as exc:
            raise FetchError(f"response from {_mask_url(self._url)} is not JSON: {exc}") from None

    def raise_for_status(self) -> None:
        """Raise for an error status; do nothing for 1xx-3xx.

        429 and 5xx (except 501 and 505, which will not get better) raise
        :class:`RetryError` (the event is retried, ``.status`` is set); any
        other status >= 400 raises :class:`FetchError`.
        """
        if self._status < 400:
            return
        message = f"{_mask_url(self._url)} answered {self._status}"
        if _is_retryable(self._status):
            raise RetryError(message, status=self._status)
        raise FetchError(message)

    def __repr__(self) -> str:
        return f"<Response [{self._status}] {_mask_url(self._url)}>"


# --------------------------------------------------------------------------- URL masking


def _looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def _mask_params(text: str, is_secret: Any = None) -> str:
    """Mask ``name=value`` pairs whose name looks secret or whose value is a secret."""
    if not text:
        return text
    fields = []
    for field in text.split("&"):
        name, eq, value = field.partition("=")
        if (
            eq
            and value
            and (
                _looks_secret(unquote_plus(name)) or (is_secret and is_secret(unquote_plus(value)))
            )
        ):
            fields.append(f"{name}={MASK}")
        else:
            fields.append(field)
    return "&".join(fields)


def mask_url(url: str, redact: Any = None, is_secret: Any = None) -> str:
    """``url`` with its password and secret-looking (or secret) query values masked,
    then ``redact`` applied to the whole (when given)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url) if redact else url
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = _mask_params(parts.query, is_secret)
    fragment = _mask_params(parts.fragment, is_secret)
    masked = parts._replace(netloc=netloc, query=query, fragment=fragment).geturl()
    if not parts.query and url.endswith("?"):
        masked += "?"
    return redact(masked) if redact else masked


def _mask_url(url: str) -> str:
    ctx = current()
    return mask_url(url, ctx.redact)


# --------------------------------------------------------------------------- fetch


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    json: object = None,
    body: str | bytes | None = None,
    timeout: float | None = None,
    retry_on_status: bool = False,
) -> Response:
    """Send one HTTP request and return the :class:`Response`.

    :param url: an ``http://`` or ``https://`` URL.
    :param method: ``GET``, ``HEAD``, ``POST``, ``PUT``, ``PATCH``, ``DELETE`` or
        ``OPTIONS`` (any case).
    :param headers: request headers; names and values must be ``str``.
        ``Host``, ``Content-Length`` and ``Transfer-Encoding`` are set by ``fetch``.
    :param json: a value to send as JSON (sets ``Content-Type: application/json``
        unless you set it). ``None`` means no JSON body.
    :param body: a raw body (``str`` is sent as UTF-8). Use ``json`` or ``body``, not both.
    :param timeout: seconds allowed for connecting, sending and receiving the whole
        response (default 5, at most 30, and never past the handler's own timeout;
        the DNS lookup is not counted).
    :param retry_on_status: raise :class:`RetryError` (with ``.status``) for 429
        and 5xx answers except 501 and 505, so the event is retried.

    Redirects are not followed: a 3xx response is returned as it is.

    :raises RetryError: connection refused or reset, timeout, DNS failure, or a
        retryable status with ``retry_on_status=True``.
    :raises RequestBlocked: the destination is a loopback, private, link-local or
        metadata address the operator did not allow.
    :raises FetchError: a bad URL, method, header or body, or a response over 1 MiB.
    """
    ctx = current()
    request = _request(url, method, headers, json, body, timeout, retry_on_status)
    if ctx.transport is None:
        raise FetchError(NO_NETWORK)
    return _answer(ctx, ctx.transport(request))


def _request(
    url: object,
    method: object,
    headers: object,
    json_value: object,
    body: object,
    timeout: object,
    retry_on_status: object,
) -> dict[str, Any]:
    """The request as a plain message; only what cannot be sent is refused here (the
    host checks everything else, and records it)."""
    if not isinstance(url, str):
        raise FetchError(f"URL must be a str, not {type(url).__name__}")
    if not isinstance(method, str):
        raise FetchError(f"method must be a str, not {type(method).__name__}")
    pairs: list[list[str]] = []
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise FetchError(f"headers must be a dict of str to str, not {type(headers).__name__}")
        for name, value in headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise FetchError(
                    f"header names and values must be str, got {type(name).__name__}: "
                    f"{type(value).__name__} for {name!r}"
                )
            pairs.append([name, value])
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        raise FetchError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if json_value is not None and body is not None:
        raise FetchError("pass either json= or body=, not both")
    text: str | None = None
    binary = False
    if json_value is not None:
        try:
            text = _COMPACT.encode(json_value)
        except (TypeError, ValueError, RecursionError) as exc:
            raise FetchError(f"json= value cannot be sent as JSON: {exc}") from None
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(["Content-Type", "application/json"])
    elif isinstance(body, str):
        text = body
    elif isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text, binary = base64.b64encode(raw).decode("ascii"), True
    elif body is not None:
        raise FetchError(f"body must be str or bytes, not {type(body).__name__}")
    if isinstance(text, str) and not binary:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise FetchError("body is not valid text (lone surrogates); pass bytes") from None
    return {
        "op": "fetch",
        "url": url,
        "method": method,
        "headers": pairs,
        "body": text,
        "body_b64": binary,
        "timeout": None if timeout is None else float(timeout),
        "retry_on_status": bool(retry_on_status),
    }


def _answer(ctx: InvocationContext, answer: Mapping[str, Any]) -> Response:
    """The transport's answer as a :class:`Response`, or the error it carries, raised."""
    record = answer.get("record")
    if isinstance(record, dict):
        ctx.record_request(record)
    error = answer.get("error")
    if isinstance(error, Mapping):
        kind = _ERRORS.get(str(error.get("type")), FetchError)
        message = str(error.get("message") or "fetch failed")
        status = error.get("status")
        if kind is RetryError:
            raise RetryError(message, status=status if isinstance(status, int) else None)
        raise kind(message)
    try:
        raw = answer.get("body") or ""
        content = base64.b64decode(raw) if answer.get("body_b64") else str(raw).encode("utf-8")
        return Response(int(answer["status"]), answer.get("headers") or (), content, answer["url"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FetchError(f"malformed answer from the network broker: {exc}") from None
